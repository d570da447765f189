from datetime import timedelta

import pytest
import redis
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.servers.basehttp import WSGIServer
from django.db import connection
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.test import APIClient

from identity import registry
from polls import services
from tests.support import registry_sim
from tests.support.stack import app_env
from tests.support.voters import verify

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
def _no_jobs_left_behind(request):
    """A transactional test's flush empties Django's own tables only: the job engine's
    (unmanaged models) would keep its jobs for the next tests' workers and counts."""
    yield
    marker = request.node.get_closest_marker("django_db")
    transactional = (marker is not None and marker.kwargs.get("transaction", False)) or any(
        name in request.fixturenames for name in ("transactional_db", "live_server")
    )
    if transactional:
        with connection.cursor() as cursor:
            cursor.execute(
                "TRUNCATE procrastinate_jobs, procrastinate_events, procrastinate_periodic_defers"
            )


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


@pytest.fixture
def staff(make_user):
    return make_user("sam", staff=True)


@pytest.fixture
def make_poll(staff):
    """make_poll() is an open poll with options Ada and Grace; keywords as poll_create's."""

    def make(*, labels=("Ada", "Grace"), opens_in=None, closes_in=timedelta(days=1), **kw):
        now = timezone.now()
        return services.poll_create(
            created_by=staff,
            title=kw.pop("title", "Board election"),
            opens_at=now + opens_in if opens_in is not None else now - timedelta(minutes=1),
            closes_at=now + closes_in,
            options=[{"label": label} for label in labels],
            **kw,
        )

    return make


@pytest.fixture
def make_voter(make_user):
    """A verified user with their own national ID (a random voter key) and a token."""

    def make(username, *, voter_key=None):
        user = make_user(username)
        verify([user], voter_key=voter_key)
        _, token = AuthToken.objects.create(user)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        client.user, client.token = user, token
        return client

    return make


@pytest.fixture(scope="session")
def web_server(django_db_setup, django_db_blocker, tmp_path_factory):
    """The production web tier, as `make run` serves it (nginx in front of granian for the
    API and uvicorn for the stream), on the test database. Use with
    @pytest.mark.django_db(transaction=True): rows must be committed for the servers' own
    connections to see them."""
    from devstack.processes import free_port, stop_all
    from devstack.web import WebSizing, WebTier

    env = app_env(
        RESULTS_STREAM_HEARTBEAT="1",
        LOG_LEVEL="WARNING",
        DB_CONN_MAX_AGE="300",  # as in production (tests/support/plugin.py sets 0 for pytest)
    )
    web = WebTier(
        port=free_port(),
        env=env,
        sizing=WebSizing(api_workers=2, api_threads=4),
        directory=tmp_path_factory.mktemp("web"),
        log_dir=tmp_path_factory.mktemp("web-logs"),
    )
    children = []
    try:
        for _, start in web.services():
            children.append(start())
        yield web
    finally:
        stop_all(children)
