"""Output shapes of the webhooks API."""

from typing import Any

from rest_framework import serializers

from polls.models import PollEvent
from webhooks.models import Delivery


class EndpointSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    url = serializers.URLField()
    events = serializers.ListField(child=serializers.ChoiceField(choices=PollEvent.Type.choices))
    created_at = serializers.DateTimeField()
    disabled_at = serializers.DateTimeField(allow_null=True)
    disabled_reason = serializers.CharField(help_text="Why it was disabled; empty if it is not.")


class NewEndpointSerializer(EndpointSerializer):
    secret = serializers.CharField(
        help_text="The signing secret (whsec_...), shown this once: keep it to verify "
        "webhook-signature (Standard Webhooks)."
    )


class AttemptSerializer(serializers.Serializer[Any]):
    at = serializers.DateTimeField()
    status_code = serializers.IntegerField(allow_null=True)
    latency_ms = serializers.IntegerField()
    error = serializers.CharField()


class DeliverySerializer(serializers.Serializer[Any]):
    id = serializers.CharField(help_text="The webhook-id header of every attempt.")
    event_type = serializers.CharField(source="event.type")
    poll_id = serializers.IntegerField(source="event.poll_id")
    status = serializers.ChoiceField(choices=Delivery.Status.choices)
    created_at = serializers.DateTimeField()
    delivered_at = serializers.DateTimeField(allow_null=True)
    attempts = AttemptSerializer(many=True, source="attempts.all")
