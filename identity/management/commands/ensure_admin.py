"""Make sure the staff superuser named by ADMIN_USERNAME / ADMIN_PASSWORD exists."""

import os

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Create (or update the password of) the superuser from ADMIN_USERNAME/ADMIN_PASSWORD."

    def handle(self, *args, **options):
        username = os.environ.get("ADMIN_USERNAME", "")
        password = os.environ.get("ADMIN_PASSWORD", "")
        if not username and not password:
            return
        if not (username and password):
            raise CommandError("Set both ADMIN_USERNAME and ADMIN_PASSWORD, or neither.")
        user, created = get_user_model().objects.get_or_create(username=username)
        user.is_staff = user.is_superuser = True
        user.set_password(password)
        user.save()
        self.stdout.write(f"staff superuser {username!r} {'created' if created else 'updated'}")
