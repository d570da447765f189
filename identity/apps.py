from django.apps import AppConfig


class IdentityConfig(AppConfig):
    name = "identity"

    def ready(self):
        from identity import schema  # noqa: F401 - registers the OpenAPI auth extension
