"""HMAC-SHA256 signatures for registry traffic, both ways. Django-free: the simulator and
the client (identity/registry.py) share it.

A request is signed over its timestamp, method, path and body, with a client id. A
response is signed over its timestamp, status, body and the request's signature, so a
response cannot be replayed as the answer to another request. Timestamps older (or
newer) than MAX_SKEW_SECONDS are refused, and signatures are compared in constant time.
"""

import hashlib
import hmac
import time
from collections.abc import Container
from typing import Protocol

# Re-exported: callers name the headers as signing.SIGNATURE_HEADER and so on.
from identity.registry_protocol import CLIENT_HEADER as CLIENT_HEADER
from identity.registry_protocol import SIGNATURE_HEADER as SIGNATURE_HEADER
from identity.registry_protocol import TIMESTAMP_HEADER as TIMESTAMP_HEADER

MAX_SKEW_SECONDS = 300


class Headers(Protocol):
    """What is read of a message's headers: a dict, httpx's Headers or http.server's."""

    def get(self, name: str, default: str, /) -> str: ...


def _mac(secret: str, *parts: bytes) -> str:
    return hmac.new(secret.encode(), b"\n".join(parts), hashlib.sha256).hexdigest()


def request_signature(
    secret: str, *, client_id: str, timestamp: int | str, method: str, path: str, body: bytes
) -> str:
    return _mac(
        secret,
        client_id.encode(),
        str(timestamp).encode(),
        method.upper().encode(),
        path.encode(),
        body,
    )


def response_signature(
    secret: str, *, timestamp: int | str, status: int, body: bytes, request_sig: str
) -> str:
    return _mac(secret, str(timestamp).encode(), str(status).encode(), body, request_sig.encode())


def sign_request(
    secret: str, *, client_id: str, method: str, path: str, body: bytes, now: float | None = None
) -> dict[str, str]:
    """The headers that sign a request."""
    timestamp = int(now if now is not None else time.time())
    sig = request_signature(
        secret, client_id=client_id, timestamp=timestamp, method=method, path=path, body=body
    )
    return {CLIENT_HEADER: client_id, TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: sig}


def sign_response(
    secret: str, *, status: int, body: bytes, request_sig: str, now: float | None = None
) -> dict[str, str]:
    """The headers that sign a response to the request signed with `request_sig`."""
    timestamp = int(now if now is not None else time.time())
    sig = response_signature(
        secret, timestamp=timestamp, status=status, body=body, request_sig=request_sig
    )
    return {TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: sig}


def fresh(timestamp: str, now: float | None = None) -> bool:
    """The timestamp is an integer within MAX_SKEW_SECONDS of now."""
    try:
        ts = int(timestamp)
    except (TypeError, ValueError):
        return False
    return abs((now if now is not None else time.time()) - ts) <= MAX_SKEW_SECONDS


def verify_request(
    secret: str,
    *,
    headers: Headers,
    method: str,
    path: str,
    body: bytes,
    known_clients: Container[str],
    now: float | None = None,
) -> bool:
    """True if the request carries a fresh, valid signature from a known client."""
    client_id = headers.get(CLIENT_HEADER, "")
    timestamp = headers.get(TIMESTAMP_HEADER, "")
    given = headers.get(SIGNATURE_HEADER, "")
    if client_id not in known_clients or not fresh(timestamp, now):
        return False
    expected = request_signature(
        secret, client_id=client_id, timestamp=timestamp, method=method, path=path, body=body
    )
    return hmac.compare_digest(expected, given)


def verify_response(
    secret: str,
    *,
    headers: Headers,
    status: int,
    body: bytes,
    request_sig: str,
    now: float | None = None,
) -> bool:
    """True if the response carries a fresh, valid signature bound to our request."""
    timestamp = headers.get(TIMESTAMP_HEADER, "")
    given = headers.get(SIGNATURE_HEADER, "")
    if not fresh(timestamp, now):
        return False
    expected = response_signature(
        secret, timestamp=timestamp, status=status, body=body, request_sig=request_sig
    )
    return hmac.compare_digest(expected, given)
