from django.core.management.commands import migrate

from pollsite.autodetector import PollsAutodetector


class Command(migrate.Command):
    autodetector = PollsAutodetector
