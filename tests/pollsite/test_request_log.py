"""One log line per request, and nothing in it but id, method, path, status, duration."""

import logging
import time

import httpx
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


@pytest.mark.django_db(transaction=True)
def test_it_has_nginx_write_the_line_behind_the_front(web_server):
    """make run and docker-compose log at the front (REQUEST_LOG=front): nginx writes the
    same fields, keeps a plain caller id, and passes it to the app."""
    response = httpx.get(
        f"{web_server.url}/readyz?token=s3cret", headers={"X-Request-ID": "trace-87654321"}
    )
    assert response.headers["X-Request-ID"] == "trace-87654321"
    forged = httpx.get(f"{web_server.url}/healthz", headers={"X-Request-ID": "bad id\tx"})
    assert len(forged.headers["X-Request-ID"]) == 32  # nginx's own $request_id
    log = web_server.log_dir / "requests.log"
    deadline = time.monotonic() + 5  # nginx flushes its buffer at least every second
    while "trace-87654321" not in (log.read_text() if log.exists() else ""):
        assert time.monotonic() < deadline, "no request line from nginx"
        time.sleep(0.2)
    line = next(x for x in log.read_text().splitlines() if "trace-87654321" in x)
    assert " request id=trace-87654321 method=GET path=/readyz status=200 duration_s=" in line
    assert "s3cret" not in log.read_text()
    assert forged.headers["X-Request-ID"] in log.read_text()
