from django.core.management.commands import makemigrations

from pollsite.autodetector import PollsAutodetector


class Command(makemigrations.Command):
    autodetector = PollsAutodetector
