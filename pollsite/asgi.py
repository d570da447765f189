"""ASGI entry point: the app server (uvicorn workers) serves both the sync API views and
the async results stream from here."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pollsite.settings")

application = get_asgi_application()
