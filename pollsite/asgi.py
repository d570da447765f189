"""ASGI entry point: the stream server (uvicorn) serves the results stream from here;
nginx sends it nothing else (deploy/nginx.conf.template). The API itself runs on the WSGI
server (pollsite/wsgi.py), where database connections persist across requests."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pollsite.settings")

application = get_asgi_application()
