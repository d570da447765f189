from django.core.management.commands import migrate

from migrations_extra.autodetector import PollsAutodetector


class Command(migrate.Command):
    autodetector = PollsAutodetector
