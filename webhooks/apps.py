from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"

    def ready(self):
        from polls import lifecycle
        from webhooks import services

        # Every lifecycle event fans out to the endpoints subscribed to it, in the
        # transaction that records it (polls never names this app).
        lifecycle.event_recorded.connect(services.event_recorded, dispatch_uid="webhooks")
