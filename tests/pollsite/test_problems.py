"""Every error is an RFC 9457 problem document with a stable code (pollsite.problems)."""

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from knox.models import AuthToken

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.support.urls_errors")]


def assert_problem(response, status, code):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"] == f"urn:polls:problem:{code}"
    assert body["title"] and body["detail"]
    return body


def test_it_answers_400_with_field_errors(api):
    body = assert_problem(
        api.post("/api/v1/echo", "{not json", content_type="application/json"),
        400,
        "malformed_request",
    )
    assert "errors" not in body


def test_it_answers_401_with_a_bearer_challenge(api):
    response = api.get("/api/v1/private")
    assert_problem(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == "Bearer"


def test_it_answers_401_for_a_tampered_token(api):
    user = User.objects.create_user("alice", password="x")
    _, token = AuthToken.objects.create(user)
    tampered = token[:-1] + ("0" if token[-1] != "0" else "1")
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {tampered}")
    assert_problem(api.get("/api/v1/private"), 401, "authentication_failed")
    api.credentials(HTTP_AUTHORIZATION="Bearer not-hex-at-all")
    assert_problem(api.get("/api/v1/private"), 401, "authentication_failed")


def test_it_answers_403_when_bob_is_not_staff(api):
    bob = User.objects.create_user("bob", password="x")
    api.force_authenticate(bob)
    assert_problem(api.get("/api/v1/staff"), 403, "permission_denied")


def test_it_answers_404_for_unknown_urls(api):
    assert_problem(api.get("/api/v1/nothing-here"), 404, "not_found")


def test_it_answers_405_for_a_wrong_method(api):
    assert_problem(api.delete("/api/v1/echo"), 405, "method_not_allowed")


def test_it_answers_415_for_anything_but_json(api):
    response = api.post("/api/v1/echo", "a=1", content_type="application/x-www-form-urlencoded")
    assert_problem(response, 415, "unsupported_media_type")
    response = api.post("/api/v1/echo", {"a": 1}, format="multipart")
    assert_problem(response, 415, "unsupported_media_type")


def test_it_accepts_json(api):
    response = api.post("/api/v1/echo", {"a": 1}, format="json")
    assert response.status_code == 200
    assert response.json() == {"got": {"a": 1}}


def test_it_answers_429_with_retry_after(api):
    cache.clear()
    assert api.get("/api/v1/throttled").status_code == 200
    response = api.get("/api/v1/throttled")
    assert_problem(response, 429, "throttled")
    assert int(response["Retry-After"]) >= 1


def test_it_answers_500_without_a_traceback(api, caplog):
    body = assert_problem(api.get("/api/v1/boom"), 500, "server_error")
    assert "secret internals" not in str(body)
    assert "Traceback" not in str(body)
    # ...but the operators get the traceback in the log.
    assert any("secret internals" in str(r.exc_info) for r in caplog.records if r.exc_info)
