"""ASGI entry point: the stream server (uvicorn) serves the results stream and GraphQL's
subscriptions (/api/graphql/stream) from here; nginx sends it nothing else
(deploy/nginx.conf.template). The API itself runs on the WSGI
server (pollsite/wsgi.py), where database connections persist across requests.

A stream is a request that lasts as long as its subscriber listens, and a crowd of
subscribers connects at once: the stream server runs none of Django's per-request work
that hops to a thread. Django runs a sync middleware, and every middleware outside it,
in one thread shared by all requests (asgiref's thread-sensitive executor), and it sends
request_started/request_finished to their sync receivers in a thread of the request's
own, which lives as long as the request does. With the API's middleware and signals,
3,000 subscribers connecting at once queued in that shared thread (py-spy: 49 % of the
process) and each held an OS thread of its own; 2,257 of them waited more than 5 s for
their first event. So:
- settings.STREAM_MIDDLEWARE: only async middleware;
- the request signals' receivers are left out: the stream view runs its database work in
  executor threads, which close their own connections (polls/stream_apis.py), and uses
  neither a cache connection nor a per-request URLconf to reset.
"""

import os

import django
from django.core import signals
from django.core.handlers.asgi import ASGIHandler

from pollsite.long_lived import frozen_once_warm_asgi

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pollsite.settings")
django.setup(set_prefix=False)

from django.conf import settings  # noqa: E402 - configured by the setup above

settings.MIDDLEWARE = settings.STREAM_MIDDLEWARE
for signal in (signals.request_started, signals.request_finished):
    for receiver in signal._live_receivers(None)[0]:
        signal.disconnect(receiver)
application = frozen_once_warm_asgi(ASGIHandler())  # pollsite/long_lived.py says why
