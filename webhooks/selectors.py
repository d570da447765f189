"""Reads of webhook endpoints and deliveries (staff only: webhooks/apis.py)."""

from django.db.models import QuerySet
from rest_framework.exceptions import NotFound

from webhooks.models import Delivery, Endpoint


def endpoint_list() -> QuerySet[Endpoint]:
    return Endpoint.objects.all()


def endpoint_get(endpoint_id) -> Endpoint:
    endpoint = Endpoint.objects.filter(pk=endpoint_id).first()
    if endpoint is None:
        raise NotFound()
    return endpoint


def deliveries_of(endpoint: Endpoint) -> QuerySet[Delivery]:
    return (
        endpoint.deliveries.select_related("event")
        .prefetch_related("attempts")
        .order_by("-created_at")
    )
