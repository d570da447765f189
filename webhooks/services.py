"""Webhook endpoints, and the fan-out of lifecycle events to them (contract:
docs/api-contract.md, "Webhooks").

An event (polls/lifecycle.py) fans out, in the transaction that records it, to one
Delivery per enabled endpoint subscribed to its type, each with a job
(webhooks.tasks.deliver): so a committed event always has its deliveries, and none is
made in a request. WebhooksConfig.ready connects event_recorded to the lifecycle's
signal. Each delivery's attempts: webhooks/delivery.py.
"""

import secrets
from base64 import b64encode

from polls.models import PollEvent
from pollsite.jobs import in_transaction
from webhooks import targets
from webhooks.models import Delivery, Endpoint
from webhooks.tasks import deliver


def endpoint_register(*, created_by, url: str, events: list[str]) -> Endpoint:
    targets.checked_address(url)  # refused now rather than at the first delivery
    secret = "whsec_" + b64encode(secrets.token_bytes(32)).decode()
    return Endpoint.objects.create(url=url, events=events, secret=secret, created_by=created_by)


def endpoint_delete(*, endpoint: Endpoint) -> None:
    endpoint.delete()


def event_recorded(event: PollEvent, **_signal) -> None:
    """In the event's transaction: a delivery and its job per subscribed endpoint."""
    endpoints = Endpoint.objects.filter(disabled_at__isnull=True, events__contains=[event.type])
    for endpoint in endpoints:
        delivery = Delivery.objects.create(id=Delivery.new_id(), endpoint=endpoint, event=event)
        # In the event's transaction even in a worker (pollsite/jobs.py): never a job
        # for a delivery that is not committed yet.
        in_transaction(deliver.configure()).defer(delivery_id=delivery.id)
