from django.apps import AppConfig


class PollsiteConfig(AppConfig):
    name = "pollsite"
    verbose_name = "Poll service"
