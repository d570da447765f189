from django.core.management.commands import makemigrations

from migrations_extra.autodetector import PollsAutodetector


class Command(makemigrations.Command):
    autodetector = PollsAutodetector
