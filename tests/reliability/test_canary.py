"""A canary national ID, verified through the production app server, appears nowhere in
plain text: not in any table's dump, the app's log, Redis, or any response."""

import subprocess

import httpx
import pytest
import redis
from django.conf import settings

from devstack.postgres import pg_bin
from tests.support import citizens, stack
from tests.support.stack import app_env

pytestmark = [pytest.mark.reliability, pytest.mark.django_db(transaction=True)]


def test_the_canary_number_appears_nowhere(make_poll, scratch, figure):
    canary = citizens.CITIZENS["canary"]
    number = canary.national_id
    spaced = f"{number[:6]} {number[6:10]} {number[10:]}"
    poll = make_poll()
    server = stack.AppServer(app_env(LOG_LEVEL="DEBUG"), log=scratch / "app.log")
    responses = []
    try:
        base = f"{server.url}/api/v1"

        def call(method, path, **kwargs):
            responses.append(httpx.request(method, base + path, timeout=30, **kwargs))
            return responses[-1]

        login = {"username": "canary", "password": "a-long-passphrase-42"}
        assert call("POST", "/auth/register", json=login).status_code == 201
        token = call("POST", "/auth/login", json=login).json()["token"]
        auth = {"Authorization": f"Bearer {token}"}
        dob = canary.date_of_birth.isoformat()
        for given in (number, spaced, number[:-1] + "0"):  # the last is a wrong check digit
            call(
                "POST",
                "/identity/verify",
                json={"national_id": given, "date_of_birth": dob},
                headers=auth,
            )
        call(
            "POST",
            "/identity/verify",
            json={"national_id": number, "date_of_birth": "1900-01-01"},
            headers=auth,
        )
        assert call("GET", "/auth/me", headers=auth).json()["verification"]["status"] == "verified"
        option = poll.options.first().pk
        assert (
            call(
                "POST", f"/polls/{poll.pk}/votes", json={"option_id": option}, headers=auth
            ).status_code
            == 201
        )
        call("GET", f"/polls/{poll.pk}/results")
        call("GET", f"/polls/{poll.pk}/votes/me", headers=auth)
    finally:
        server.stop()

    needles = {number, number.encode().hex()}
    db = settings.DATABASES["default"]
    dump = subprocess.run(
        [
            pg_bin("pg_dump"),
            "-h",
            db["HOST"],
            "-p",
            str(db["PORT"]),
            "-U",
            db["USER"],
            "--data-only",
            "--inserts",
            db["NAME"],
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    log = (scratch / "app.log").read_text()
    client = redis.Redis.from_url(settings.REDIS_URL)
    redis_blob = b"".join(key + (client.dump(key) or b"") for key in client.scan_iter())
    texts = {
        "database dump": dump,
        "app log": log,
        "redis": redis_blob.decode("latin-1"),
        "responses": "\n".join(f"{r.headers}\n{r.text}" for r in responses),
    }
    found = {where: any(n in text for n in needles) for where, text in texts.items()}
    figure(
        "canary",
        dump_bytes=len(dump),
        log_lines=log.count("\n"),
        redis_keys=sum(1 for _ in client.scan_iter()),
        responses=len(responses),
        found_in=[where for where, hit in found.items() if hit] or "nowhere",
    )
    assert "identity_voteridentity" in dump and "/identity/verify" in log
    assert not any(found.values()), found
