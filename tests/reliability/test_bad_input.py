"""Bad input against the production app server: refused with a 4xx problem, never 5xx."""

import json

import httpx
import pytest

from polls.models import Poll
from pollsite.parsers import MAX_DEPTH
from tests.support.votes import options_of

pytestmark = [pytest.mark.reliability, pytest.mark.django_db(transaction=True)]
MB = 1024 * 1024


def new_poll(**overrides):
    return {
        "title": "Board election",
        "closes_at": "2099-01-01T00:00:00Z",
        "options": [{"label": "Ada"}, {"label": "Grace"}],
        **overrides,
    }


def test_it_refuses_every_bad_input_without_a_server_error(
    web_server, auth_api, staff, make_poll, make_voter, figure
):
    poll = make_poll()
    staff = auth_api(staff)._credentials["HTTP_AUTHORIZATION"]
    voter = make_voter("alice")._credentials["HTTP_AUTHORIZATION"]
    base = f"{web_server.url}/api/v1"
    votes = f"{base}/polls/{poll.pk}/votes"

    def raw(body):
        return {"content": body, "headers": {"Content-Type": "application/json"}}

    cases = [
        # (what, method, url, auth, request kwargs, expected status, expected code)
        ("8 MB body", "POST", f"{base}/auth/login", None, raw(b'"' + b"x" * 8 * MB + b'"'), 413),
        ("32 MB body", "POST", votes, voter, raw(b"[" + b"1," * 16 * MB + b"1]"), 413),
        ("1 MiB + 1 body", "POST", f"{base}/polls", staff, raw(b" " * MB + b"{}"), 413),
        ("nested 2,000", "POST", f"{base}/auth/login", None, raw("[" * 2000 + "]" * 2000), 400),
        ("nested 100,000", "POST", votes, voter, raw("[" * 100_000 + "]" * 100_000), 400),
        (
            "nested objects",
            "POST",
            f"{base}/polls",
            staff,
            raw('{"a":' * 5000 + "1" + "}" * 5000),
            400,
        ),
        (
            f"nested {MAX_DEPTH + 1}",
            "POST",
            votes,
            voter,
            raw("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)),
            400,
        ),
        ("not JSON", "POST", votes, voter, raw(b"{\xff\xfe"), 400),
        ("NaN", "POST", votes, voter, raw('{"option_id": NaN}'), 400),
        (
            "1 MB description",
            "POST",
            f"{base}/polls",
            staff,
            {"json": new_poll(description="x" * 1_000_000)},
            400,
        ),
        (
            "5,001-char description",
            "POST",
            f"{base}/polls",
            staff,
            {"json": new_poll(description="x" * 5001)},
            400,
        ),
        (
            "long option description",
            "POST",
            f"{base}/polls/{poll.pk}/options",
            staff,
            {"json": {"label": "L", "description": "x" * 1001}},
            400,
        ),
        (
            "username 0",
            "POST",
            f"{base}/auth/login",
            None,
            {"json": {"username": 0, "password": "x"}},
            400,
        ),
        ("publish 0", "POST", f"{base}/polls", staff, {"json": new_poll(publish=0)}, 400),
        (
            "option_id string",
            "POST",
            votes,
            voter,
            {"json": {"option_id": str(options_of(poll)["Ada"])}},
            400,
        ),
        ("option_id 2**64", "POST", votes, voter, {"json": {"option_id": 2**64}}, 400),
        (
            "Idempotency-Key 256",
            "POST",
            votes,
            voter,
            {"json": {"option_id": 1}, "headers": {"Idempotency-Key": "k" * 256}},
            400,
        ),
        ("poll id 10**30", "GET", f"{base}/polls/{10**30}", None, {}, 404),
        ("form body", "POST", f"{base}/auth/login", None, {"data": {"username": "a"}}, 415),
    ]
    outcomes = []
    for what, method, url, auth, kwargs, expected in cases:
        headers = {**kwargs.pop("headers", {}), **({"Authorization": auth} if auth else {})}
        if "json" in kwargs:
            kwargs = {"content": json.dumps(kwargs["json"]), **kwargs}
            kwargs.pop("json")
            headers.setdefault("Content-Type", "application/json")
        response = httpx.request(method, url, headers=headers, timeout=60, **kwargs)
        outcomes.append((what, response.status_code, expected))
        assert response.headers["Content-Type"] == "application/problem+json", what
    wrong = [o for o in outcomes if o[1] != o[2]]
    figure(
        "bad_input",
        cases=len(outcomes),
        server_errors=sum(1 for o in outcomes if o[1] >= 500),
        as_expected=len(outcomes) - len(wrong),
        polls_stored=Poll.objects.count() - 1,
    )
    assert not wrong, wrong
    assert Poll.objects.count() == 1
