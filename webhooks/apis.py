"""HTTP API for webhook endpoints (staff; contract: docs/api-contract.md, "Webhooks")."""

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotAuthenticated, NotFound, PermissionDenied, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from polls.models import PollEvent
from polls.permissions import IsStaff
from pollsite import fields
from pollsite.pagination import PageNumberPagination, page_response
from pollsite.problems import problem_responses
from webhooks import selectors, services
from webhooks.errors import TargetRefused
from webhooks.serializers import DeliverySerializer, EndpointSerializer, NewEndpointSerializer

STAFF = (NotAuthenticated, PermissionDenied)


class EndpointListApi(APIView):
    permission_classes = [IsStaff]
    input_names = {"POST": "WebhookCreate"}

    class InputSerializer(serializers.Serializer[Any]):
        url = serializers.URLField(max_length=2000)
        events = serializers.ListField(
            child=fields.ChoiceField(choices=PollEvent.Type.choices), min_length=1
        )

    @extend_schema(
        tags=["webhooks"],
        summary="Webhook endpoints (staff)",
        operation_id="v1_webhooks_list",
        responses={200: EndpointSerializer(many=True), **problem_responses(*STAFF)},
    )
    def get(self, request):
        return Response(EndpointSerializer(selectors.endpoint_list(), many=True).data)

    @extend_schema(
        tags=["webhooks"],
        summary="Register a webhook endpoint (staff)",
        description="The answer carries the signing secret, once. In production the URL "
        "must be https:// and resolve to public addresses only.",
        request=InputSerializer,
        responses={
            201: NewEndpointSerializer,
            **problem_responses(ValidationError, TargetRefused, *STAFF),
        },
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        endpoint = services.endpoint_register(created_by=request.user, **data.validated_data)
        return Response(NewEndpointSerializer(endpoint).data, status=201)


class EndpointDetailApi(APIView):
    permission_classes = [IsStaff]

    @extend_schema(
        tags=["webhooks"],
        summary="Remove a webhook endpoint (staff)",
        responses={204: None, **problem_responses(*STAFF, NotFound)},
    )
    def delete(self, request, endpoint_id):
        services.endpoint_delete(endpoint=selectors.endpoint_get(endpoint_id))
        return Response(status=204)


class DeliveryListApi(APIView):
    permission_classes = [IsStaff]
    pagination_class = PageNumberPagination

    @extend_schema(
        tags=["webhooks"],
        summary="An endpoint's deliveries, newest first, with every attempt (staff)",
        operation_id="v1_webhooks_deliveries_list",
        responses={200: DeliverySerializer(many=True), **problem_responses(*STAFF, NotFound)},
    )
    def get(self, request, endpoint_id):
        endpoint = selectors.endpoint_get(endpoint_id)
        deliveries = selectors.deliveries_of(endpoint)
        return page_response(
            self, request, deliveries, lambda page: DeliverySerializer(page, many=True).data
        )
