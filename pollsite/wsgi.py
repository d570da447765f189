"""WSGI entry point: the API server (granian, see devstack/web.py and
docs/serving.md) runs everything here except the results stream, which needs an event loop
(pollsite/asgi.py).

The server sits behind nginx on the same host, so every peer address is the proxy's.
granian's own wrapper takes the client address from X-Forwarded-For, but only when the
peer is one of TRUSTED_PROXIES: a client talking to the app directly cannot choose the
address its login attempts are counted against.
"""

import os

from django.core.wsgi import get_wsgi_application
from granian.utils.proxies import wrap_wsgi_with_proxy_headers

from pollsite.long_lived import frozen_once_warm

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pollsite.settings")

application = wrap_wsgi_with_proxy_headers(
    frozen_once_warm(get_wsgi_application()),  # pollsite/long_lived.py says why
    trusted_hosts=os.environ.get("TRUSTED_PROXIES", "127.0.0.1").split(","),
)
