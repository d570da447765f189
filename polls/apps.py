from django.apps import AppConfig


class PollsConfig(AppConfig):
    name = "polls"

    def ready(self):
        from polls import errors
        from pollsite.problems import register_database_problems

        register_database_problems(
            sqlstates=errors.SQLSTATE_PROBLEMS, constraints=errors.CONSTRAINT_PROBLEMS
        )
