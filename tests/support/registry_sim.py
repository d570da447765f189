"""Drive the running registry simulator over HTTP: inject faults, count lookups."""

import json

import httpx
from django.conf import settings

from identity import signing


def _call(method, path, body=None):
    raw = json.dumps(body).encode() if body is not None else b""
    headers = signing.sign_request(
        settings.REGISTRY_CLIENT_SECRET,
        client_id=settings.REGISTRY_CLIENT_ID,
        method=method,
        path=path,
        body=raw,
    )
    headers["Content-Type"] = "application/json"
    response = httpx.request(
        method, settings.REGISTRY_URL + path, content=raw, headers=headers, timeout=5
    )
    response.raise_for_status()
    return response.json()


def set_faults(**faults):
    """latency_ms, error_rate, mode (ok, error, timeout, garbage, missing_fields, redirect,
    bad_signature), hang_seconds; no argument restores normal behaviour."""
    return _call("POST", "/_sim/faults", faults)


def lookups():
    return _call("GET", "/_sim/stats")["lookups"]
