"""The load scenario (loadtest/locustfile.py) for a few seconds against the web tier as
`make run` serves it (nginx, granian, uvicorn) on the test database and the test registry:
it makes its verified voters through the API, and its end-of-run check passes."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model

from polls.models import Vote

pytestmark = [pytest.mark.reliability, pytest.mark.django_db(transaction=True)]  # a load run
BASE_DIR = Path(__file__).resolve().parent.parent.parent


def test_it_runs_the_scenario_and_its_check_passes(web_server, tmp_path, settings_override):
    get_user_model().objects.create_user(
        "lena", password="load-test-lead-42", is_staff=True
    )  # Lena runs load tests
    db = settings.DATABASES["default"]
    env = {
        **os.environ,
        "LOADTEST_ADMIN_USERNAME": "lena",
        "LOADTEST_ADMIN_PASSWORD": "load-test-lead-42",
        "LOADTEST_DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "LOADTEST_OUT": str(tmp_path),
        "LOADTEST_POLLS": "2",
        "LOADTEST_STREAM_SECONDS": "1",
        "LOADTEST_W_VOTE": "6",
    }
    done = subprocess.run(
        [
            sys.executable, "-m", "locust", "-f", str(BASE_DIR / "loadtest" / "locustfile.py"),
            "--headless", "--host", web_server.url, "-u", "3", "-r", "3", "-t", "4s",
            "--stop-timeout", "10", "--csv", str(tmp_path / "run"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "CHECK PASSED" in done.stdout
    check = json.loads((tmp_path / "check.json").read_text())
    acks = sum(row["acks"] for row in check["polls"])
    assert acks > 0
    assert acks == Vote.objects.filter(poll_id__in=[r["poll_id"] for r in check["polls"]]).count()
    assert (tmp_path / "run_stats.csv").exists()


@pytest.fixture
def settings_override(settings):
    """The app server hashes with the real hashers: so must the account made here."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]
