"""One log line per request, and nothing in it but id, method, path, status, duration."""

import logging

import pytest


@pytest.mark.django_db
def test_it_logs_one_line_per_request(client, caplog):
    caplog.set_level(logging.INFO, logger="pollsite.request")
    response = client.get("/readyz?token=s3cret", HTTP_X_REQUEST_ID="trace-12345678")
    lines = [r.getMessage() for r in caplog.records if r.name == "pollsite.request"]
    assert len(lines) == 1
    assert lines[0].startswith("request id=trace-12345678 method=GET path=/readyz status=200 ")
    assert "duration_ms=" in lines[0]
    assert "s3cret" not in lines[0]
    assert response["X-Request-ID"] == "trace-12345678"


def test_it_replaces_a_request_id_that_could_inject_into_the_log(client, caplog):
    caplog.set_level(logging.INFO, logger="pollsite.request")
    response = client.get("/healthz", HTTP_X_REQUEST_ID="x\nforged line")
    assert "\n" not in response["X-Request-ID"]
    assert len(response["X-Request-ID"]) == 32


def test_it_keeps_request_bodies_out_of_the_log(client, caplog):
    caplog.set_level(logging.DEBUG)
    client.post("/api/v1/nowhere", {"password": "hunter2"}, content_type="application/json")
    assert "hunter2" not in caplog.text
