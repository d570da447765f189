"""A webhook delivery's attempts: each one signed as Standard Webhooks says (the
standardwebhooks package: webhook-id, webhook-timestamp, webhook-signature), bounded in
time and in what it reads, and logged; retried on the schedule of WEBHOOK_RETRY_SECONDS
(webhooks.tasks, about a day in all). An endpoint whose deliveries keep failing
(WEBHOOK_DISABLE_AFTER in a row) is disabled, with the reason.
"""

import json
import ssl
import time
from datetime import UTC, datetime
from functools import cache
from typing import Any

import httpx
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from standardwebhooks import Webhook

from polls.models import PollEvent
from webhooks import targets
from webhooks.errors import TargetRefused
from webhooks.models import Attempt, Delivery, Endpoint


def payload_of(event: PollEvent) -> dict[str, Any]:
    return {
        "type": event.type,
        "timestamp": event.occurred_at.isoformat(),
        "data": {"poll_id": event.poll_id, **event.data},
    }


class DeliveryFailed(Exception):
    """An attempt that did not get a 2xx: the job is retried on the schedule."""


def deliver(delivery_id: str, *, last_attempt: bool) -> None:
    """One attempt at a delivery, unless it is done already (a job run again after its
    worker died mid-attempt finds it delivered, or tries again with the same webhook-id).
    Raises DeliveryFailed for the engine to retry, except on the last attempt."""
    delivery = Delivery.objects.select_related("endpoint", "event").filter(pk=delivery_id).first()
    if delivery is None:
        return  # its endpoint was removed since
    endpoint = delivery.endpoint
    if delivery.status != Delivery.Status.PENDING or endpoint.disabled_at is not None:
        return
    status_code, error, latency_ms = _attempt(delivery)
    Attempt.objects.create(
        delivery=delivery, status_code=status_code, latency_ms=latency_ms, error=error[:300]
    )
    if status_code is not None and 200 <= status_code < 300:
        with transaction.atomic():
            Delivery.objects.filter(pk=delivery.pk).update(
                status=Delivery.Status.DELIVERED, delivered_at=timezone.now()
            )
            Endpoint.objects.filter(pk=endpoint.pk).update(failed_in_a_row=0)
        return
    reason = error or f"answered {status_code}"
    if not last_attempt:
        raise DeliveryFailed(reason)
    with transaction.atomic():
        Delivery.objects.filter(pk=delivery.pk).update(status=Delivery.Status.FAILED)
        endpoint = Endpoint.objects.select_for_update().get(pk=endpoint.pk)
        endpoint.failed_in_a_row += 1
        if endpoint.failed_in_a_row >= settings.WEBHOOK_DISABLE_AFTER:
            endpoint.disabled_at = timezone.now()
            endpoint.disabled_reason = (
                f"{endpoint.failed_in_a_row} deliveries in a row failed; the last: {reason}"
            )[:300]
        endpoint.save(update_fields=["failed_in_a_row", "disabled_at", "disabled_reason"])


@cache
def _tls_context() -> ssl.SSLContext:
    """One per process: httpx builds a context and loads every CA certificate for each
    Client it makes unless given one (52 ms a client here, more than the rest of a
    delivery); a context is safe to share between threads and connections."""
    return httpx.create_ssl_context()  # what httpx would build: certifi's CAs, SSL_CERT_FILE


def _attempt(delivery: Delivery) -> tuple[int | None, str, int]:
    """(status code or None, error, latency in ms) of one POST, bounded in time
    (WEBHOOK_TIMEOUT_SECONDS in all: half to connect and send, half for the answer, and
    the body's read stops at the limit) and in what it reads (WEBHOOK_RESPONSE_MAX_BYTES)."""
    started = time.monotonic()

    def elapsed_ms() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        host, address = targets.checked_address(delivery.endpoint.url)
    except TargetRefused as exc:
        return None, str(exc.detail), elapsed_ms()
    url = httpx.URL(delivery.endpoint.url)
    body = json.dumps(payload_of(delivery.event), separators=(",", ":"))
    now = datetime.now(UTC)
    headers = {
        "content-type": "application/json",
        "user-agent": "poll-service-webhooks/1",
        "webhook-id": delivery.id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(delivery.endpoint.secret).sign(delivery.id, now, body),
        "host": url.netloc.decode("ascii"),  # the name (and port) the URL says
    }
    # Connect to the address that was checked (no second lookup to be fooled by), with
    # the name in the Host header and in TLS (SNI, certificate).
    literal = f"[{address}]" if ":" in address else address
    limit = settings.WEBHOOK_TIMEOUT_SECONDS
    try:
        with httpx.Client(timeout=httpx.Timeout(limit / 2), verify=_tls_context()) as client:
            request = client.build_request(
                "POST",
                url.copy_with(host=literal),
                content=body,
                headers=headers,
                extensions={"sni_hostname": host},
            )
            response = client.send(request, stream=True)
            try:
                read = 0
                for chunk in response.iter_raw():
                    read += len(chunk)
                    over_time = time.monotonic() - started > limit
                    if read > settings.WEBHOOK_RESPONSE_MAX_BYTES or over_time:
                        break  # the status is known; the rest of the body is not needed
            finally:
                response.close()
            return response.status_code, "", elapsed_ms()
    except httpx.HTTPError as exc:
        return None, f"{type(exc).__name__}: {exc}"[:300], elapsed_ms()
