"""identity.registry against a fake registry on a loopback port.

The fake is a real HTTP server (stdlib), so timeouts, redirects, retries and the breaker
are exercised over real sockets. Each test scripts its answers: the last answer repeats.
"""

import datetime
import functools
import json
import logging
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from identity import registry, signing

SECRET = "test-registry-secret"
CLIENT_ID = "poll-service"
NATIONAL_ID = "8001015009087"
OTHER_ID = "9202204720082"


def citizen_body(**changes):
    body = {
        "national_id": NATIONAL_ID,
        "first_name": "Thandiwe",
        "last_name": "Mokoena",
        "date_of_birth": "1980-01-01",
        "status": "alive",
    }
    return {**body, **changes}


@dataclass
class Answer:
    status: int = 200
    body: object = field(default_factory=citizen_body)  # a dict is sent as JSON
    signature: str = "good"  # "good", "bad" or "missing"
    sleep: float = 0.0
    headers: dict = field(default_factory=dict)

    def payload(self) -> bytes:
        return self.body if isinstance(self.body, bytes) else json.dumps(self.body).encode()


@dataclass
class Received:
    path: str
    headers: dict
    body: bytes
    client_port: int

    def signed_correctly(self) -> bool:
        return signing.verify_request(
            SECRET,
            headers=self.headers,
            method="POST",
            path=self.path,
            body=self.body,
            known_clients={CLIENT_ID},
        )


class FakeRegistry:
    def __init__(self):
        self.answers = [Answer()]
        self.received = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.fake = self
        self.server.handle_error = lambda request, address: None  # a client hung up
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        serve = functools.partial(self.server.serve_forever, poll_interval=0.05)
        threading.Thread(target=serve, daemon=True).start()

    def answer(self, *answers: Answer):
        with self.lock:
            self.answers = list(answers)

    @property
    def count(self) -> int:
        with self.lock:
            return len(self.received)

    def next_answer(self, received: Received) -> Answer:
        with self.lock:
            self.received.append(received)
            return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]

    def stop(self):
        self.stopping.set()  # wakes up handlers that are "hanging"
        self.server.shutdown()
        self.server.server_close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the shared client pools connections

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        received = Received(self.path, dict(self.headers.items()), body, self.client_address[1])
        fake = self.server.fake
        answer = fake.next_answer(received)
        if answer.sleep:
            fake.stopping.wait(answer.sleep)
        payload = answer.payload()
        self.send_response(answer.status)
        headers = {"Content-Type": "application/json", "Content-Length": str(len(payload))}
        headers |= self._signature(answer, payload, received) | answer.headers
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def _signature(self, answer, payload, received):
        if answer.signature == "missing":
            return {}
        secret = SECRET if answer.signature == "good" else "not-the-secret"
        request_sig = received.headers.get(signing.SIGNATURE_HEADER, "")
        return signing.sign_response(
            secret, status=answer.status, body=payload, request_sig=request_sig
        )

    def log_message(self, format, *args):
        pass


@pytest.fixture
def fake(settings):
    server = FakeRegistry()
    settings.REGISTRY_URL = server.url
    settings.REGISTRY_ADAPTER = "identity.registry.SignedRegistryAdapter"
    settings.REGISTRY_CLIENT_ID = CLIENT_ID
    settings.REGISTRY_CLIENT_SECRET = SECRET
    settings.REGISTRY_API_KEY = ""
    settings.REGISTRY_CONNECT_TIMEOUT = 1.0
    settings.REGISTRY_READ_TIMEOUT = 2.0
    settings.REGISTRY_DEADLINE = 3.0
    settings.REGISTRY_RETRIES = 2
    settings.REGISTRY_BREAKER_FAIL_MAX = 5
    settings.REGISTRY_BREAKER_RESET_SECONDS = 30
    registry.reset_breaker()
    yield server
    registry.reset_breaker()
    server.stop()


def unavailable(national_id=NATIONAL_ID) -> registry.RegistryUnavailable:
    with pytest.raises(registry.RegistryUnavailable) as info:
        registry.lookup(national_id)
    assert NATIONAL_ID not in str(info.value)
    return info.value


# --- Answers ------------------------------------------------------------------------------


def test_it_finds_a_citizen(fake):
    citizen = registry.lookup(NATIONAL_ID)

    assert citizen == registry.Citizen("Thandiwe", "Mokoena", datetime.date(1980, 1, 1), "alive")
    assert citizen.full_name == "Thandiwe Mokoena"
    assert fake.count == 1


def test_it_sends_a_signed_lookup(fake):
    registry.lookup(NATIONAL_ID)

    received = fake.received[0]
    assert received.path == registry.LOOKUP_PATH
    assert json.loads(received.body) == {"national_id": NATIONAL_ID}
    assert received.signed_correctly()


def test_it_reads_a_deceased_citizen(fake):
    fake.answer(Answer(body=citizen_body(status="deceased")))

    assert registry.lookup(NATIONAL_ID).status == "deceased"


def test_it_returns_none_for_an_unknown_number(fake):
    fake.answer(Answer(status=404, body={"error": "not_found"}))

    assert registry.lookup(NATIONAL_ID) is None
    assert fake.count == 1


def test_it_does_not_take_a_bare_404_for_not_found(fake):
    fake.answer(Answer(status=404, body=b"<h1>Not Found</h1>"))

    assert str(unavailable()) == "invalid body (not JSON)"
    assert fake.count == 1


def test_it_reuses_the_connection(fake):
    registry.lookup(NATIONAL_ID)
    registry.lookup(NATIONAL_ID)

    assert len({r.client_port for r in fake.received}) == 1
    assert fake.count == 2


# --- Retries ------------------------------------------------------------------------------


def test_it_retries_a_500_then_succeeds(fake):
    fake.answer(Answer(status=500, body={"error": "internal"}), Answer())

    assert registry.lookup(NATIONAL_ID).first_name == "Thandiwe"
    assert fake.count == 2


def test_it_gives_up_after_the_configured_retries(fake, settings):
    settings.REGISTRY_RETRIES = 2
    fake.answer(Answer(status=503, body={"error": "busy"}))

    error = unavailable()

    assert str(error) == "status 503"
    assert error.retry_after == registry.DEFAULT_RETRY_AFTER
    assert fake.count == 3


def test_it_does_not_retry_when_retries_are_off(fake, settings):
    settings.REGISTRY_RETRIES = 0
    fake.answer(Answer(status=502, body={}))

    unavailable()

    assert fake.count == 1


@pytest.mark.parametrize("status", [400, 401, 403, 409])
def test_it_does_not_retry_a_4xx(fake, status):
    fake.answer(Answer(status=status, body={"error": "bad_signature"}))

    assert str(unavailable()) == f"status {status}"
    assert fake.count == 1


def test_it_retries_a_timeout(fake, settings):
    settings.REGISTRY_READ_TIMEOUT = 0.3
    fake.answer(Answer(sleep=1), Answer())

    assert registry.lookup(NATIONAL_ID) is not None
    assert fake.count == 2


def test_it_does_not_retry_a_refused_connection(fake, settings, monkeypatch):
    closed = FakeRegistry()
    closed.stop()  # the port is free again: connecting to it is refused
    settings.REGISTRY_URL = closed.url
    sends = []
    real_send = registry._send
    monkeypatch.setattr(registry, "_send", lambda *a: sends.append(1) or real_send(*a))

    assert str(unavailable()) == "transport error (ConnectError)"
    assert len(sends) == 1


def test_it_does_not_follow_a_redirect(fake):
    fake.answer(Answer(status=302, body=b"", headers={"Location": "/v1/citizens/elsewhere"}))

    assert str(unavailable()).startswith("redirect (status 302)")
    assert [r.path for r in fake.received] == [registry.LOOKUP_PATH]


# --- The deadline ---------------------------------------------------------------------------


def test_it_gives_up_on_a_hanging_registry_at_the_deadline(fake, settings):
    settings.REGISTRY_READ_TIMEOUT = 1
    settings.REGISTRY_DEADLINE = 1
    fake.answer(Answer(sleep=30))

    start = time.monotonic()
    error = unavailable()
    elapsed = time.monotonic() - start

    assert str(error) == "timeout"
    assert elapsed < 1.5, elapsed
    print(f"hanging registry: RegistryUnavailable after {elapsed:.3f} s")


def test_it_keeps_retries_within_the_deadline(fake, settings):
    # Each attempt could take 0.4 s and there are 10 retries, but the budget is 1 s.
    settings.REGISTRY_READ_TIMEOUT = 0.4
    settings.REGISTRY_DEADLINE = 1
    settings.REGISTRY_RETRIES = 10
    fake.answer(Answer(sleep=30))

    start = time.monotonic()
    unavailable()

    assert time.monotonic() - start < 1.5
    assert 2 <= fake.count <= 3


def test_it_does_not_queue_concurrent_lookups_behind_a_slow_one(fake, settings):
    settings.REGISTRY_READ_TIMEOUT = 1
    settings.REGISTRY_DEADLINE = 1
    fake.answer(Answer(sleep=30))
    errors = []

    def verify():
        try:
            registry.lookup(NATIONAL_ID)
        except registry.RegistryUnavailable as exc:
            errors.append(exc)

    threads = [threading.Thread(target=verify) for _ in range(4)]
    start = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert time.monotonic() - start < 1.5
    assert len(errors) == 4


# --- Invalid answers ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "invalid body (not JSON)"),
        (b"\xff\xfe", "invalid body (not JSON)"),
        ([citizen_body()], "invalid body (schema)"),
        ({"national_id": NATIONAL_ID, "first_name": "Thandiwe"}, "invalid body (schema)"),
        (citizen_body(first_name=""), "invalid body (schema)"),
        (citizen_body(last_name="   "), "invalid body (schema)"),
        (citizen_body(last_name="x" * 101), "invalid body (schema)"),
        (citizen_body(first_name=42), "invalid body (schema)"),
        (citizen_body(status="missing"), "invalid body (schema)"),
        (citizen_body(date_of_birth="01/01/1980"), "invalid body (schema)"),
        (citizen_body(date_of_birth=19800101), "invalid body (schema)"),
        (citizen_body(date_of_birth="1980-02-30"), "invalid body (date_of_birth)"),
        (citizen_body(national_id=OTHER_ID), "answer is about another national ID"),
    ],
)
def test_it_refuses_an_invalid_answer(fake, body, reason):
    fake.answer(Answer(body=body))

    assert str(unavailable()) == reason
    assert fake.count == 1


def test_it_refuses_a_huge_answer(fake):
    fake.answer(Answer(body=citizen_body(padding="x" * (registry.MAX_BODY_BYTES + 1))))

    assert str(unavailable()) == "body too large"


@pytest.mark.parametrize("signature", ["bad", "missing"])
@pytest.mark.parametrize("status", [200, 404])
def test_it_refuses_an_answer_without_a_valid_signature(fake, signature, status):
    body = citizen_body() if status == 200 else {"error": "not_found"}
    fake.answer(Answer(status=status, body=body, signature=signature))

    assert str(unavailable()) == f"bad signature (status {status})"
    assert fake.count == 1


def test_it_refuses_an_answer_signed_for_another_request(fake):
    # A correctly signed answer, replayed from a request about someone else.
    payload = json.dumps(citizen_body()).encode()
    other_request = signing.sign_request(
        SECRET, client_id=CLIENT_ID, method="POST", path=registry.LOOKUP_PATH, body=b"{}"
    )
    replayed = signing.sign_response(
        SECRET, status=200, body=payload, request_sig=other_request[signing.SIGNATURE_HEADER]
    )
    fake.answer(Answer(body=payload, signature="missing", headers=replayed))

    assert str(unavailable()) == "bad signature (status 200)"


# --- The breaker ----------------------------------------------------------------------------


def open_breaker(fake, settings, fail_max=2):
    settings.REGISTRY_RETRIES = 0
    settings.REGISTRY_BREAKER_FAIL_MAX = fail_max
    settings.REGISTRY_BREAKER_RESET_SECONDS = 1
    fake.answer(Answer(status=500, body={}))
    for _ in range(fail_max):
        assert str(unavailable()) == "status 500"


def test_it_opens_the_breaker_after_fail_max_failures(fake, settings):
    open_breaker(fake, settings, fail_max=3)
    assert fake.count == 3

    error = unavailable()

    assert str(error) == "breaker open"
    assert error.retry_after == 1
    assert fake.count == 3  # no HTTP request while open


def test_it_counts_invalid_answers_as_failures(fake, settings):
    settings.REGISTRY_BREAKER_FAIL_MAX = 2
    fake.answer(Answer(signature="bad"))
    unavailable()
    unavailable()

    assert str(unavailable()) == "breaker open"
    assert fake.count == 2


def test_it_counts_not_found_as_a_success(fake, settings):
    settings.REGISTRY_RETRIES = 0
    settings.REGISTRY_BREAKER_FAIL_MAX = 2
    fake.answer(
        Answer(status=500, body={}),
        Answer(status=404, body={"error": "not_found"}),
        Answer(status=500, body={}),
        Answer(),
    )
    unavailable()
    assert registry.lookup(NATIONAL_ID) is None
    unavailable()

    assert registry.lookup(NATIONAL_ID) is not None  # two failures, but not in a row


def test_it_closes_the_breaker_once_the_registry_recovers(fake, settings):
    open_breaker(fake, settings)
    fake.answer(Answer())
    assert str(unavailable()) == "breaker open"

    time.sleep(1.1)

    assert registry.lookup(NATIONAL_ID) is not None
    assert registry.lookup(NATIONAL_ID) is not None
    assert fake.count == 2 + 2


def test_it_reopens_the_breaker_when_the_trial_call_fails(fake, settings):
    open_breaker(fake, settings)
    time.sleep(1.1)

    assert str(unavailable()) == "status 500"  # the trial call
    error = unavailable()

    assert str(error) == "breaker open"
    assert error.retry_after == 1
    assert fake.count == 3


def test_it_lets_one_trial_call_through_at_a_time(fake, settings):
    open_breaker(fake, settings)
    time.sleep(1.1)
    fake.answer(Answer(sleep=0.5))
    trial = threading.Thread(target=registry.lookup, args=(NATIONAL_ID,))
    trial.start()
    time.sleep(0.2)

    error = unavailable()
    trial.join()

    assert str(error) == "breaker open (trial call in flight)"
    assert error.retry_after == 1
    assert fake.count == 3
    assert registry.lookup(NATIONAL_ID) is not None  # the trial closed it


def test_reset_breaker_closes_it(fake, settings):
    open_breaker(fake, settings)
    fake.answer(Answer())

    registry.reset_breaker()

    assert registry.lookup(NATIONAL_ID) is not None


# --- The API key adapter --------------------------------------------------------------------


def test_it_sends_the_api_key_as_a_bearer_token(fake, settings):
    settings.REGISTRY_ADAPTER = "identity.registry.ApiKeyRegistryAdapter"
    settings.REGISTRY_API_KEY = "k3y-for-the-registry"
    fake.answer(Answer(signature="missing"))

    assert registry.lookup(NATIONAL_ID).full_name == "Thandiwe Mokoena"
    received = fake.received[0]
    assert received.headers["Authorization"] == "Bearer k3y-for-the-registry"
    assert signing.SIGNATURE_HEADER not in received.headers
    assert json.loads(received.body) == {"national_id": NATIONAL_ID}


def test_it_still_validates_api_key_answers(fake, settings):
    settings.REGISTRY_ADAPTER = "identity.registry.ApiKeyRegistryAdapter"
    settings.REGISTRY_API_KEY = "k3y"
    fake.answer(Answer(body=citizen_body(date_of_birth="1980-13-01"), signature="missing"))

    assert str(unavailable()) == "invalid body (date_of_birth)"


def test_it_needs_an_api_key_for_the_api_key_adapter(fake, settings):
    from django.core.exceptions import ImproperlyConfigured

    settings.REGISTRY_ADAPTER = "identity.registry.ApiKeyRegistryAdapter"

    with pytest.raises(ImproperlyConfigured):
        registry.lookup(NATIONAL_ID)
    assert fake.count == 0


# --- Logging --------------------------------------------------------------------------------


def test_it_logs_one_line_per_failure_without_personal_data(fake, settings, caplog):
    caplog.set_level(logging.DEBUG)
    settings.REGISTRY_RETRIES = 1
    settings.REGISTRY_BREAKER_FAIL_MAX = 5
    failures = [
        Answer(signature="bad"),
        Answer(body=citizen_body(national_id=OTHER_ID)),
        Answer(body=citizen_body(status="zombie")),
        Answer(body=b'{"national_id": "' + NATIONAL_ID.encode() + b'", '),
        Answer(status=503, body=citizen_body()),
    ]
    registry.lookup(NATIONAL_ID)
    for answer in failures:
        fake.answer(answer)
        unavailable()
    unavailable()  # the breaker is open now

    warnings = [r for r in caplog.records if r.name == "identity.registry"]
    assert [r.getMessage() for r in warnings] == [
        "Registry lookup failed: bad signature (status 200)",
        "Registry lookup failed: answer is about another national ID",
        "Registry lookup failed: invalid body (schema)",
        "Registry lookup failed: invalid body (not JSON)",
        "Registry lookup failed: status 503",
        "Registry lookup failed: breaker open",
    ]
    for secret in (NATIONAL_ID, OTHER_ID, "Thandiwe", "Mokoena", "1980-01-01"):
        assert secret not in caplog.text
