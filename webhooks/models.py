"""Webhook endpoints staff register, and each event's delivery to each, with every
attempt (webhooks/services.py says how they are made)."""

import uuid

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models.functions import Now

from polls.models import PollEvent


class Endpoint(models.Model):
    url = models.URLField(max_length=2000)
    events = ArrayField(models.CharField(max_length=32, choices=PollEvent.Type.choices))
    # Standard Webhooks signs with the secret itself (HMAC), so it is kept; it is shown
    # once, when the endpoint is registered, and never answered again.
    secret = models.CharField(max_length=100)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(db_default=Now())
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=300, blank=True, default="")
    failed_in_a_row = models.IntegerField(default=0)

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return self.url


class Delivery(models.Model):
    """One event to one endpoint: its id is the webhook-id header of every attempt, so a
    receiver can drop a repeat (a delivery retried after a worker died mid-attempt)."""

    class Status(models.TextChoices):
        PENDING = "pending"
        DELIVERED = "delivered"
        FAILED = "failed"

    id = models.CharField(primary_key=True, max_length=40, editable=False)
    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="deliveries")
    event = models.ForeignKey(PollEvent, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(db_default=Now())
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "event"], name="webhooks_delivery_once")
        ]

    def __str__(self):
        return self.id

    @staticmethod
    def new_id():
        return f"msg_{uuid.uuid4().hex}"


class Attempt(models.Model):
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempts")
    at = models.DateTimeField(db_default=Now())
    status_code = models.IntegerField(null=True)
    latency_ms = models.IntegerField()
    error = models.CharField(max_length=300, blank=True, default="")

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return f"attempt of {self.delivery_id}: {self.status_code or self.error}"
