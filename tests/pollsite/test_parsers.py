"""Request bodies are bounded (pollsite.parsers): size 413, nesting depth 400, never 500."""

import json

import pytest

MAX_DEPTH = 32  # pollsite.parsers.MAX_DEPTH

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.support.urls_errors")]
EIGHT_MB = 8 * 1024 * 1024


def nested(depth):
    return "[" * depth + "]" * depth


def post_raw(api, path, body):
    return api.generic("POST", path, body, content_type="application/json")


def assert_problem(response, status, code):
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == code


@pytest.mark.parametrize("path", ["/api/v1/echo", "/api/v1/auth/login", "/api/v1/auth/register"])
def test_it_answers_413_for_an_8_mb_body(api, path):
    body = json.dumps({"username": "x" * EIGHT_MB, "password": "p"})
    assert_problem(post_raw(api, path, body), 413, "payload_too_large")


def test_it_answers_413_for_a_body_just_past_the_limit(api, settings):
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    assert limit == 1024 * 1024
    fits = json.dumps({"a": "x" * (limit - 20)})
    assert post_raw(api, "/api/v1/echo", fits).status_code == 200
    too_big = json.dumps({"a": "x" * limit})
    assert_problem(post_raw(api, "/api/v1/echo", too_big), 413, "payload_too_large")


def test_it_answers_413_outside_drf_too(client):
    """The admin's form login reads request.POST itself; Django raises there."""
    response = client.post(
        "/admin/login/", "a=" + "x" * EIGHT_MB, content_type="application/x-www-form-urlencoded"
    )
    assert_problem(response, 413, "payload_too_large")


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 2_000, 100_000])
@pytest.mark.parametrize("path", ["/api/v1/echo", "/api/v1/auth/login"])
def test_it_answers_400_for_deeply_nested_json(api, path, depth):
    assert_problem(post_raw(api, path, nested(depth)), 400, "malformed_request")
    deep_object = '{"a":' * depth + "1" + "}" * depth
    assert_problem(post_raw(api, path, deep_object), 400, "malformed_request")


def test_it_accepts_json_nested_up_to_the_limit(api):
    response = post_raw(api, "/api/v1/echo", nested(MAX_DEPTH))
    assert response.status_code == 200
    assert json.dumps(response.json()["got"]).count("[") == MAX_DEPTH


def test_it_still_refuses_nan_and_broken_json(api):
    assert_problem(post_raw(api, "/api/v1/echo", '{"a": NaN}'), 400, "malformed_request")
    assert_problem(post_raw(api, "/api/v1/echo", '{"a": '), 400, "malformed_request")
