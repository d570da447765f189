from django.apps import AppConfig


class MigrationsExtraConfig(AppConfig):
    """Migrations that apply the SQL in sql/ (views and functions), with reverse SQL."""

    name = "migrations_extra"
    verbose_name = "SQL objects from sql/"
