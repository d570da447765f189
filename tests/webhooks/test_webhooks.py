"""Webhooks (webhooks/): endpoints staff register, refused targets, and deliveries signed
as Standard Webhooks says, retried, logged, bounded; under real workers where the
engine's part is what is tested."""

import hashlib
import json
import os
import signal
import time
from contextlib import contextmanager
from datetime import timedelta

import pytest
import trustme
from django.db import connection
from standardwebhooks import Webhook

from polls import services as poll_services
from polls.models import PollEvent
from tests.support.jobs import workers
from tests.support.waiting import wait_for
from tests.support.webhooks import Receiver
from webhooks import services
from webhooks.delivery import DeliveryFailed, deliver
from webhooks.models import Delivery, Endpoint

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def receiver():
    made = []

    def make(answers=()):
        made.append(Receiver(answers))
        return made[-1]

    yield make
    for r in made:
        r.close()


@pytest.fixture
def register(staff, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True

    def make(url, events=("poll.closed",)):
        return services.endpoint_register(created_by=staff, url=url, events=list(events))

    return make


def test_staff_register_an_endpoint_and_see_its_secret_once(auth_api, staff, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    client = auth_api(staff)
    body = {"url": "http://127.0.0.1:9/hooks", "events": ["poll.closed"]}
    created = client.post("/api/v1/webhooks", body, format="json")
    assert created.status_code == 201 and created.json()["secret"].startswith("whsec_")
    listed = client.get("/api/v1/webhooks").json()
    assert [e["url"] for e in listed] == [body["url"]] and "secret" not in listed[0]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/hooks",
        "http://169.254.169.254/latest/meta-data",
        "http://10.0.0.7/hooks",
        "http://[::1]/hooks",
        "ftp://example.org/hooks",
    ],
)
def test_it_refuses_private_and_metadata_targets(auth_api, staff, url):
    answer = auth_api(staff).post(
        "/api/v1/webhooks", {"url": url, "events": ["poll.closed"]}, format="json"
    )
    assert answer.status_code == 400
    assert answer.json()["code"] in ("webhook_target_refused", "validation_error")
    assert answer["Content-Type"] == "application/problem+json"


def test_production_takes_https_only(auth_api, staff, settings):
    settings.PRODUCTION = True
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True  # the scheme is refused before any address
    answer = auth_api(staff).post(
        "/api/v1/webhooks",
        {"url": "http://127.0.0.1/hooks", "events": ["poll.closed"]},
        format="json",
    )
    assert answer.status_code == 400 and answer.json()["code"] == "webhook_target_refused"


def test_a_target_is_checked_again_at_delivery(register, receiver, make_poll, settings):
    endpoint = register(receiver().url)
    poll_services.poll_close(poll=make_poll())
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False  # the name now resolves somewhere refused
    delivery = Delivery.objects.get(endpoint=endpoint)
    deliver(delivery.id, last_attempt=True)
    [attempt] = delivery.attempts.all()
    assert attempt.status_code is None and "not a public address" in attempt.error


def test_https_deliveries_verify_the_name_they_were_registered_with(register, make_poll, tmp_path):
    """Production delivers over https only, connecting to the address it checked: the
    certificate is still verified for the URL's name, which goes in SNI and Host. A
    worker that trusts the receiver's CA delivers; one that does not logs why, and the
    receiver gets nothing."""
    ca = trustme.CA()
    hooks = Receiver(tls=ca.issue_cert("localhost"))
    try:
        endpoint = register(hooks.url)
        ca_file = tmp_path / "ca.pem"
        ca.cert_pem.write_to_path(str(ca_file))
        env = {"WEBHOOK_ALLOW_PRIVATE_TARGETS": "true", "WEBHOOK_RETRY_SECONDS": "1"}
        with workers(1, **env):  # trusts certifi's CAs only
            poll_services.poll_close(poll=make_poll())
            wait_for(lambda: Delivery.objects.filter(status="failed").exists(), within=30)
        [refused] = Delivery.objects.get(endpoint=endpoint).attempts.all()[:1]
        assert refused.status_code is None and "CERTIFICATE_VERIFY_FAILED" in refused.error
        assert hooks.received == []
        with workers(1, SSL_CERT_FILE=str(ca_file), **env):
            poll_services.poll_close(poll=make_poll())
            wait_for(lambda: len(hooks.received) == 1, within=30)
        [(headers, _)] = hooks.received
        host = {name.lower(): value for name, value in headers.items()}["host"]
        assert host == f"localhost:{hooks.server.server_port}"
        assert "localhost" in hooks.server_names
        wait_for(lambda: Delivery.objects.filter(status="delivered").count() == 1, within=10)
    finally:
        hooks.close()


def test_a_slow_receiver_is_given_up_on_at_the_timeout(register, receiver, make_poll, settings):
    settings.WEBHOOK_TIMEOUT_SECONDS = 1
    endpoint = register(receiver([("hang", 10)]).url)
    poll_services.poll_close(poll=make_poll())
    delivery = Delivery.objects.get(endpoint=endpoint)
    started = time.monotonic()
    with pytest.raises(DeliveryFailed):
        deliver(delivery.id, last_attempt=False)
    assert time.monotonic() - started < 3
    [attempt] = delivery.attempts.all()
    assert "Timeout" in attempt.error and attempt.latency_ms < 3000


def test_an_endless_answer_is_read_only_up_to_the_cap(register, receiver, make_poll, settings):
    """A 2xx is all a delivery needs: the body is read up to WEBHOOK_RESPONSE_MAX_BYTES,
    then the connection is closed, long before the attempt's time runs out."""
    settings.WEBHOOK_RESPONSE_MAX_BYTES = 8 * 1024
    hooks = receiver([("drip", 0.02)])  # 1 KiB every 20 ms, for ever
    endpoint = register(hooks.url)
    poll_services.poll_close(poll=make_poll())
    delivery = Delivery.objects.get(endpoint=endpoint)
    deliver(delivery.id, last_attempt=True)
    [attempt] = delivery.attempts.all()
    assert attempt.status_code == 200 and attempt.latency_ms < 2000  # the timeout is 5 s
    delivery.refresh_from_db()
    assert delivery.status == "delivered"
    time.sleep(0.3)
    sent = hooks.sent
    time.sleep(0.3)
    assert hooks.sent == sent < 64 * 1024  # the receiver was cut off


def test_a_redirect_is_not_followed(register, receiver, make_poll, settings):
    """A target is the address checked at delivery: a 3xx is an answer that failed, not
    a second target (which could be one the checks refuse)."""
    elsewhere = receiver()
    endpoint = register(receiver([("redirect", elsewhere.url)]).url)
    poll_services.poll_close(poll=make_poll())
    delivery = Delivery.objects.get(endpoint=endpoint)
    with pytest.raises(DeliveryFailed, match="answered 307"):
        deliver(delivery.id, last_attempt=False)
    [attempt] = delivery.attempts.all()
    assert attempt.status_code == 307 and elsewhere.received == []


def test_an_endpoint_that_keeps_failing_is_disabled(register, receiver, make_poll, settings):
    settings.WEBHOOK_DISABLE_AFTER = 2
    endpoint = register(receiver([500, 500, 500]).url)
    for _ in range(2):
        poll_services.poll_close(poll=make_poll())
    for delivery in Delivery.objects.filter(endpoint=endpoint):
        deliver(delivery.id, last_attempt=True)
    endpoint.refresh_from_db()
    assert endpoint.disabled_at is not None and "answered 500" in endpoint.disabled_reason
    assert set(Delivery.objects.values_list("status", flat=True)) == {"failed"}


def test_workers_deliver_each_event_once_signed(register, receiver, make_poll):
    hooks = receiver()
    events = ["poll.published", "poll.opened", "poll.closed"]
    endpoint = register(hooks.url, events)
    with workers(2, WEBHOOK_ALLOW_PRIVATE_TARGETS="true"):
        poll = make_poll()
        poll_services.poll_close(poll=poll)
        wait_for(lambda: len(hooks.received) >= 3, within=20)
        time.sleep(1)  # a second delivery of any, if there were to be one
    assert len(hooks.received) == 3 and len(set(hooks.ids())) == 3
    verifier = Webhook(Endpoint.objects.get(pk=endpoint.pk).secret)
    kinds = []
    for headers, body in hooks.received:
        payload = verifier.verify(body, headers)  # raises unless the signature is valid
        assert payload["data"]["poll_id"] == poll.pk and payload["timestamp"]
        kinds.append(payload["type"])
    assert sorted(kinds) == sorted(events)


def test_a_poll_whose_times_pass_sends_all_four_events(register, receiver, make_poll):
    """Published and opened, closed by the clock and its final results: each once,
    signed, in the documented shape."""
    hooks = receiver()
    endpoint = register(hooks.url, [t for t in PollEvent.Type.values])
    env = {"WEBHOOK_ALLOW_PRIVATE_TARGETS": "true", "RESULTS_FINAL_DELAY_SECONDS": "1"}
    with workers(2, **env):
        poll = make_poll(opens_in=timedelta(seconds=1), closes_in=timedelta(seconds=3))
        # About 15 s here; 30 s ran out once at a load average of 10 (two workers starting,
        # the clock's jobs, two deliveries each): this asserts the events, not their speed.
        wait_for(lambda: len(hooks.received) >= 4, within=60)
        time.sleep(1)  # a repeat of any, if there were to be one
    verifier = Webhook(Endpoint.objects.get(pk=endpoint.pk).secret)
    payloads = {}
    for headers, body in hooks.received:
        payload = verifier.verify(body, headers)
        assert set(payload) == {"type", "timestamp", "data"}
        assert payload["data"]["poll_id"] == poll.pk
        payloads[payload["type"]] = payload
    assert len(hooks.received) == 4 and sorted(payloads) == sorted(PollEvent.Type.values)
    assert payloads["poll.closed"]["data"] == {"poll_id": poll.pk, "by": "clock"}
    final = payloads["poll.results_final"]["data"]
    assert final["results"]["poll_id"] == poll.pk and final["results"]["status"] == "closed"
    assert final["ledger"] == {"count": 0, "digest": "sha256:" + hashlib.sha256().hexdigest()}


def test_a_receiver_down_for_a_while_gets_the_event_later(register, receiver, make_poll):
    hooks = receiver([503, 503])
    endpoint = register(hooks.url)
    with workers(1, WEBHOOK_ALLOW_PRIVATE_TARGETS="true", WEBHOOK_RETRY_SECONDS="1,1,1"):
        poll_services.poll_close(poll=make_poll())
        wait_for(lambda: Delivery.objects.filter(status="delivered").exists(), within=30)
    [delivery] = Delivery.objects.filter(endpoint=endpoint)
    assert [a.status_code for a in delivery.attempts.all()] == [503, 503, 200]
    assert len(set(hooks.ids())) == 1  # every attempt with the same webhook-id


@contextmanager
def one_worker_mid_delivery(register, receiver, make_poll, *, hang, **env):
    """One worker in the middle of delivering a poll.closed to a receiver that holds its
    first request `hang` seconds (the worker's timeout is longer): (receiver, worker)."""
    hooks = receiver([("hang", hang)])
    register(hooks.url)
    with workers(1, WEBHOOK_TIMEOUT_SECONDS=str(hang + 30), **env) as [worker]:
        poll_services.poll_close(poll=make_poll())
        wait_for(lambda: len(hooks.received) == 1, within=20)
        yield hooks, worker


@pytest.mark.reliability  # kill -9, then 15 s of missed heartbeats
def test_a_worker_killed_mid_delivery_delivers_again_with_the_same_id(
    register, receiver, make_poll
):
    env = {"WEBHOOK_ALLOW_PRIVATE_TARGETS": "true", "STALLED_JOB_SECONDS": "15"}
    mid_delivery = one_worker_mid_delivery(register, receiver, make_poll, hang=60, **env)
    with mid_delivery as (hooks, first):
        os.kill(first.pid, signal.SIGKILL)
        first.wait(10)
    with workers(1, **env):
        wait_for(lambda: len(hooks.received) == 2, within=60)
    assert hooks.ids()[0] == hooks.ids()[1]
    assert json.loads(hooks.received[0][1]) == json.loads(hooks.received[1][1])
    assert Delivery.objects.get().status == "delivered"


@pytest.mark.reliability  # SIGSTOP, 15 s of missed heartbeats, a 20 s hang
def test_a_worker_paused_mid_delivery_is_taken_over_and_its_return_changes_nothing(
    register, receiver, make_poll
):
    """SIGSTOP keeps the worker's job and its sockets: once its heartbeats stop, another
    worker delivers again with the same webhook-id; when the paused one resumes and ends
    its own attempt, the delivery stays delivered and no job is left doing."""
    env = {"WEBHOOK_ALLOW_PRIVATE_TARGETS": "true", "STALLED_JOB_SECONDS": "15"}
    mid_delivery = one_worker_mid_delivery(register, receiver, make_poll, hang=20, **env)
    with mid_delivery as (hooks, paused):
        os.kill(paused.pid, signal.SIGSTOP)
        try:
            with workers(1, **env):
                wait_for(lambda: len(hooks.received) == 2, within=60)
                wait_for(lambda: Delivery.objects.get().status == "delivered", within=10)
        finally:
            os.kill(paused.pid, signal.SIGCONT)
        # The receiver answers the paused worker's request 20 s after it came.
        [first] = Delivery.objects.all()
        wait_for(lambda: first.attempts.count() == 2, within=30)
        # The resumed worker, alone now, still takes work.
        poll_services.poll_close(poll=make_poll())
        wait_for(lambda: len(hooks.received) == 3, within=20)
    assert hooks.ids()[0] == hooks.ids()[1]
    assert [a.status_code for a in first.attempts.all()] == [200, 200]
    assert set(Delivery.objects.values_list("status", flat=True)) == {"delivered"}
    assert paused.returncode == 0 or paused.returncode == -signal.SIGTERM
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM procrastinate_jobs WHERE status = 'doing'")
        assert cursor.fetchone() == (0,)
