"""The national registry client: the only module that calls the registry over HTTP.

`lookup()` asks the registry about one canonical national ID. Around the HTTP call sit a
total deadline, retries (timeouts and 5xx only) and a circuit breaker, so a slow or broken
registry costs a verification at most REGISTRY_DEADLINE seconds, and nothing while the
breaker is open. Every failure is a RegistryUnavailable, which the API turns into a 503.

How a request looks and how an answer is read is the job of a RegistryAdapter (the class
named by settings.REGISTRY_ADAPTER), so a real registry with another protocol plugs in
without touching the deadline, retry and breaker logic.

Personal data: the national ID, names and date of birth never go into a log line or an
exception message. Log lines carry only the reason of a failure.
"""

import contextlib
import datetime
import functools
import json
import logging
import math
import threading
import time
from dataclasses import dataclass

import httpx
import jsonschema
import pybreaker
import tenacity
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from identity import signing
from identity.registry_protocol import (
    ALIVE,
    CITIZEN_FIELDS,
    DECEASED,
    LOOKUP_PATH,
    MAX_BODY_BYTES,
    NOT_FOUND,
)

logger = logging.getLogger(__name__)

DEFAULT_RETRY_AFTER = 5


class RegistryUnavailable(Exception):
    """The registry timed out, failed, answered something invalid, or the breaker is open."""

    retry_after: int = DEFAULT_RETRY_AFTER

    def __init__(self, reason: str, *, retry_after: float = DEFAULT_RETRY_AFTER):
        # The reason is logged and may reach a traceback: never put personal data in it.
        super().__init__(reason)
        self.retry_after = max(1, math.ceil(retry_after))


class InvalidResponse(RegistryUnavailable):
    """Internal: the registry answered, but not with something we can trust or read."""


class _ServerError(RegistryUnavailable):
    """Internal: a 5xx, the one kind of answer worth another attempt."""


@dataclass(frozen=True)
class Citizen:
    first_name: str
    last_name: str
    date_of_birth: datetime.date
    status: str  # ALIVE or DECEASED

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"


# --- The answer's shape ---------------------------------------------------------------

_NAME = {"type": "string", "minLength": 1, "maxLength": 100, "pattern": r"\S"}
CITIZEN_SCHEMA = {
    "type": "object",
    "required": list(CITIZEN_FIELDS),
    "properties": {
        "national_id": {"type": "string", "minLength": 1, "maxLength": 64},
        "first_name": _NAME,
        "last_name": _NAME,
        "date_of_birth": {"type": "string", "pattern": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"},
        "status": {"enum": [ALIVE, DECEASED]},
    },
}
_citizen_validator = jsonschema.Draft202012Validator(CITIZEN_SCHEMA)


def _json(response: httpx.Response):
    try:
        return json.loads(response.content)
    except ValueError:
        # `from None`: the decode error holds the whole body, personal data included.
        raise InvalidResponse("invalid body (not JSON)") from None


def _citizen(data, asked: str) -> Citizen:
    # is_valid(), not validate(): a ValidationError's message quotes the offending value.
    if not _citizen_validator.is_valid(data):
        raise InvalidResponse("invalid body (schema)")
    try:
        date_of_birth = datetime.date.fromisoformat(data["date_of_birth"])
    except ValueError:
        raise InvalidResponse("invalid body (date_of_birth)") from None
    # A signed answer about another person must not be taken for this one.
    if data["national_id"] != asked:
        raise InvalidResponse("answer is about another national ID")
    return Citizen(data["first_name"], data["last_name"], date_of_birth, data["status"])


# --- Adapters ---------------------------------------------------------------------------


class RegistryAdapter:
    """How to ask one kind of registry about a national ID, and how to read its answer.

    build_request() may read settings; parse_response() raises RegistryUnavailable (or
    InvalidResponse) on anything it does not trust. Deadline, retries, redirects, 5xx and
    the breaker are handled around the adapter. The default parse_response() reads the
    JSON shape of the development registry, unsigned.
    """

    def build_request(self, national_id: str) -> httpx.Request:
        raise NotImplementedError

    def parse_response(self, request: httpx.Request, response: httpx.Response) -> Citizen | None:
        status = response.status_code
        if status == 404:
            self._not_found(response)  # raises unless the registry itself said so
            return None
        if status != 200:
            raise RegistryUnavailable(f"status {status}")
        asked = json.loads(request.content)["national_id"]
        return _citizen(_json(response), asked)

    def _not_found(self, response: httpx.Response) -> None:
        # A bare 404 from a proxy or a wrong REGISTRY_URL would otherwise turn every
        # citizen into "unknown"; only the registry's own answer means that.
        data = _json(response)
        if not isinstance(data, dict) or data.get("error") != NOT_FOUND:
            raise InvalidResponse("404 without the registry's not_found body")
        return None

    def _post(self, national_id: str, headers: dict[str, str]) -> httpx.Request:
        return httpx.Request(
            "POST",
            _lookup_url(),
            content=_lookup_body(national_id),
            headers={**_JSON_HEADERS, **headers},
        )


_JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}


def _lookup_url() -> httpx.URL:
    if not settings.REGISTRY_URL:
        raise ImproperlyConfigured("REGISTRY_URL must be set")
    return httpx.URL(settings.REGISTRY_URL.rstrip("/") + LOOKUP_PATH)


def _lookup_body(national_id: str) -> bytes:
    return json.dumps({"national_id": national_id}, separators=(",", ":")).encode()


class SignedRegistryAdapter(RegistryAdapter):
    """HMAC-signed requests and responses (identity.signing), as the simulator speaks."""

    def build_request(self, national_id: str) -> httpx.Request:
        request = self._post(national_id, {})
        # Sign the path we actually request, so a REGISTRY_URL with a path prefix still
        # verifies on the registry's side; without a prefix it is LOOKUP_PATH.
        request.headers.update(
            signing.sign_request(
                settings.REGISTRY_CLIENT_SECRET,
                client_id=settings.REGISTRY_CLIENT_ID,
                method="POST",
                path=request.url.path,
                body=request.content,
            )
        )
        return request

    def parse_response(self, request: httpx.Request, response: httpx.Response) -> Citizen | None:
        # Checked before the status: an unsigned 404 must not tell us someone is unknown.
        valid = signing.verify_response(
            settings.REGISTRY_CLIENT_SECRET,
            headers=response.headers,
            status=response.status_code,
            body=response.content,
            request_sig=request.headers[signing.SIGNATURE_HEADER],
        )
        if not valid:
            raise InvalidResponse(f"bad signature (status {response.status_code})")
        return super().parse_response(request, response)


class ApiKeyRegistryAdapter(RegistryAdapter):
    """A REST registry that takes an API key as a bearer token; its answers are unsigned."""

    def build_request(self, national_id: str) -> httpx.Request:
        if not settings.REGISTRY_API_KEY:
            raise ImproperlyConfigured("REGISTRY_API_KEY must be set for ApiKeyRegistryAdapter")
        return self._post(national_id, {"Authorization": f"Bearer {settings.REGISTRY_API_KEY}"})


@functools.cache
def _adapter_class(path: str) -> type[RegistryAdapter]:
    adapter: type[RegistryAdapter] = import_string(path)
    return adapter


def _adapter() -> RegistryAdapter:
    return _adapter_class(settings.REGISTRY_ADAPTER)()


# --- Process-wide state: the HTTP client and the breaker --------------------------------

_state_lock = threading.Lock()
_http: httpx.Client | None = None
# The breaker lives in this process's memory: each worker process keeps its own count and
# opens on its own. Sharing it through Redis would make the verification path depend on
# the cache too, and a Redis outage would then also break verification.
_breaker: pybreaker.CircuitBreaker | None = None
# While the breaker waits for a trial call, one request probes the registry; the others
# are turned away instead of all piling onto a registry that may still be down.
_trial_lock = threading.Lock()


def _client() -> httpx.Client:
    """The shared client: one connection pool for all threads (httpx.Client is thread-safe)."""
    global _http
    with _state_lock:
        if _http is None:
            # A redirect is never followed: the registry has no reason to send one, and
            # following it would send the number somewhere else.
            _http = httpx.Client(follow_redirects=False)
        return _http


def _get_breaker() -> pybreaker.CircuitBreaker:
    global _breaker
    with _state_lock:
        if _breaker is None:
            # throw_new_error_on_trip=False: the call that trips it re-raises its own error.
            _breaker = pybreaker.CircuitBreaker(name="registry", throw_new_error_on_trip=False)
        # Read at call time, so a changed setting (in tests) applies at once.
        _breaker.fail_max = settings.REGISTRY_BREAKER_FAIL_MAX
        _breaker.reset_timeout = settings.REGISTRY_BREAKER_RESET_SECONDS
        return _breaker


def reset_breaker() -> None:
    """Close the breaker, drop the HTTP client and the adapter cache (for tests)."""
    global _breaker, _http
    with _state_lock:
        client, _http, _breaker = _http, None, None
    if client is not None:
        client.close()
    _adapter_class.cache_clear()


# --- The breaker -------------------------------------------------------------------------


def _seconds_until_trial(breaker: pybreaker.CircuitBreaker) -> float:
    opened_at = breaker._state_storage.opened_at  # pybreaker has no public accessor
    if opened_at is None:
        return 0.0
    reopen = opened_at + datetime.timedelta(seconds=breaker.reset_timeout)
    return (reopen - datetime.datetime.now(datetime.UTC)).total_seconds()


def _admit(breaker: pybreaker.CircuitBreaker) -> bool:
    """Raise if the breaker is open; True if this call is the trial call after the wait."""
    if breaker.current_state == pybreaker.STATE_CLOSED:
        return False
    wait = _seconds_until_trial(breaker)
    if wait > 0:
        raise RegistryUnavailable("breaker open", retry_after=wait)
    if not _trial_lock.acquire(blocking=False):
        raise RegistryUnavailable("breaker open (trial call in flight)", retry_after=1)
    return True


def _record(breaker: pybreaker.CircuitBreaker, error: RegistryUnavailable | None) -> None:
    """Count an outcome that has already happened.

    The HTTP call is not made inside breaker.call(): pybreaker holds its lock for the
    whole call, which would queue every lookup of the process behind one slow request
    and break the deadline. So the outcome is replayed through call() afterwards.
    """

    def replay():
        if error is not None:
            raise error

    # The error comes back out (already counted; the caller raises it itself), or a
    # CircuitBreakerError if another thread opened the breaker meanwhile.
    with contextlib.suppress(RegistryUnavailable, pybreaker.CircuitBreakerError):
        breaker.call(replay)


# --- One lookup --------------------------------------------------------------------------


def lookup(national_id: str) -> Citizen | None:
    """The citizen registered under this canonical national ID, or None if there is none.

    Raises RegistryUnavailable when the registry cannot give a trustworthy answer in time.
    """
    try:
        return _guarded_lookup(national_id)
    except RegistryUnavailable as exc:
        logger.warning("Registry lookup failed: %s", exc)
        raise


def _guarded_lookup(national_id: str) -> Citizen | None:
    breaker = _get_breaker()
    trial = _admit(breaker)
    try:
        citizen = _lookup_with_retries(national_id)
        _record(breaker, None)  # found and not found are both answers
        return citizen
    except RegistryUnavailable as exc:
        _record(breaker, exc)
        raise
    finally:
        if trial:
            _trial_lock.release()


def _lookup_with_retries(national_id: str) -> Citizen | None:
    budget = settings.REGISTRY_DEADLINE
    deadline = time.monotonic() + budget
    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_exception_type((httpx.TimeoutException, _ServerError)),
        # stop_before_delay, not stop_after_delay: it also refuses to sleep past the budget.
        stop=(
            tenacity.stop_after_attempt(1 + settings.REGISTRY_RETRIES)
            | tenacity.stop_before_delay(budget)
        ),
        wait=tenacity.wait_random_exponential(multiplier=0.1, max=1),
        reraise=True,
    )
    adapter = _adapter()
    try:
        return retrying(_attempt, adapter, national_id, deadline)
    except httpx.TimeoutException:
        raise RegistryUnavailable("timeout") from None
    except httpx.RequestError as exc:
        # Connection refused, reset, protocol errors: not retried, the breaker counts them.
        raise RegistryUnavailable(f"transport error ({type(exc).__name__})") from exc


def _attempt(adapter: RegistryAdapter, national_id: str, deadline: float) -> Citizen | None:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise RegistryUnavailable("timeout")
    request = adapter.build_request(national_id)
    request.extensions = {**request.extensions, "timeout": _timeout(remaining).as_dict()}
    response = _send(request, deadline)
    if 300 <= response.status_code < 400:
        raise InvalidResponse(f"redirect (status {response.status_code}), not followed")
    if response.status_code >= 500:
        raise _ServerError(f"status {response.status_code}")
    return adapter.parse_response(request, response)


def _timeout(remaining: float) -> httpx.Timeout:
    """This attempt's timeouts, each capped at what is left of the deadline."""
    connect = min(settings.REGISTRY_CONNECT_TIMEOUT, remaining)
    read = min(settings.REGISTRY_READ_TIMEOUT, remaining)
    return httpx.Timeout(connect=connect, read=read, write=read, pool=connect)


def _send(request: httpx.Request, deadline: float) -> httpx.Response:
    """Send and read the whole answer, within the deadline and MAX_BODY_BYTES."""
    response = _client().send(request, stream=True)
    try:
        raw = _read_raw(response, deadline)
    finally:
        response.close()
    # A fresh Response over the raw bytes decodes any Content-Encoding exactly once.
    return httpx.Response(
        response.status_code, headers=response.headers, content=raw, request=request
    )


def _read_raw(response: httpx.Response, deadline: float) -> bytes:
    # The read timeout bounds each read, not the sum: a registry trickling bytes would
    # otherwise hold us past the deadline.
    raw = b""
    for chunk in response.iter_raw():
        raw += chunk
        if len(raw) > MAX_BODY_BYTES:
            raise InvalidResponse("body too large")
        if time.monotonic() > deadline:
            raise RegistryUnavailable("timeout")
    return raw
