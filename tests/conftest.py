import os

import pytest
import redis
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.servers.basehttp import WSGIServer
from knox.models import AuthToken
from rest_framework.test import APIClient

from identity import registry
from tests import registry_sim, stack

# The live test server (pytest-django's live_server) listens with Django's backlog of
# 10: a burst of concurrent clients overflows it and sees connection resets.
# A real server's backlog is in the hundreds; give the test server one too.
WSGIServer.request_queue_size = 512


@pytest.fixture(autouse=True)
def _fresh_redis():
    """Attempt counters and cached queries must not leak from one test into the next."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.flushdb()
    client.close()


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # PBKDF2's deliberate slowness is for attackers, not for a test that makes 20 users.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _healthy_registry(request):
    yield
    if "registry_faults" in request.fixturenames:
        registry_sim.set_faults()
    registry.reset_breaker()


@pytest.fixture
def registry_faults():
    """Use registry_sim.set_faults(...) in the test; the simulator is healed afterwards."""
    registry.reset_breaker()
    return registry_sim


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def make_user(db):
    def make(username, *, staff=False, password="a-long-passphrase-42"):
        return get_user_model().objects.create_user(username, password=password, is_staff=staff)

    return make


@pytest.fixture
def auth_api(make_user):
    """auth_api("alice") is an API client holding a fresh bearer token for Alice."""

    def client_for(username_or_user, *, staff=False):
        user = username_or_user
        if isinstance(user, str):
            user = make_user(user, staff=staff)
        _, token = AuthToken.objects.create(user)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        client.user = user
        return client

    return client_for


@pytest.fixture(scope="session")
def asgi_server(django_db_setup, django_db_blocker):
    """Use with @pytest.mark.django_db(transaction=True): rows must be committed for the
    server's own connections to see them."""
    db = settings.DATABASES["default"]
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "RESULTS_STREAM_HEARTBEAT": "1",
    }
    # The production app server (uvicorn, ASGI), for what WSGI's live_server cannot
    # serve: the async results stream, and the browser tests.
    server = stack.AppServer(env, workers=2)
    yield server
    server.stop()
