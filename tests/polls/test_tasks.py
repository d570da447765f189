"""Background work on the job engine (polls/tasks.py, identity/tasks.py): what each job
does. How the engine runs them, with real workers: tests/reliability/test_job_engine.py."""

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone
from knox.models import AuthToken

from identity.tasks import purge_expired_tokens
from polls.models import IdempotencyKey
from polls.tasks import purge_idempotency_keys
from tests.support.stack import app_env

ROOT = Path(__file__).resolve().parents[2]


def test_the_driver_is_psycopg2_with_psycopg3_installed():
    """procrastinate brings psycopg 3, which Django would otherwise pick for itself."""
    import psycopg  # noqa: F401 - installed, and importable

    assert connection.Database.__name__ == "psycopg2"
    out = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", "from django.db import connection as c; "
         "print(c.Database.__name__)"],
        env=app_env(), cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert out.split()[-1] == "psycopg2"


@pytest.mark.django_db
def test_housekeeping_removes_expired_tokens_and_old_idempotency_keys(make_user, settings):
    alice = make_user("alice")
    dead, _ = AuthToken.objects.create(alice, expiry=timedelta(seconds=-1))
    alive, _ = AuthToken.objects.create(alice)
    IdempotencyKey.objects.create(user=alice, key="old", request_hash="h", receipt="r1")
    IdempotencyKey.objects.create(user=alice, key="new", request_hash="h", receipt="r2")
    old = timezone.now() - timedelta(hours=settings.IDEMPOTENCY_KEY_RETENTION_HOURS, minutes=1)
    IdempotencyKey.objects.filter(key="old").update(created_at=old)

    assert purge_expired_tokens(timestamp=0) == 1
    assert purge_idempotency_keys(timestamp=0) == 1

    assert list(AuthToken.objects.values_list("pk", flat=True)) == [alive.pk]
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["new"]
