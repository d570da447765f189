"""GraphQL for webhook endpoints (staff; contract: docs/api-contract.md, "GraphQL"),
over webhooks/selectors.py, as REST's webhooks/apis.py."""

from datetime import datetime
from types import SimpleNamespace
from typing import Annotated, Any

import strawberry
import strawberry_django
from rest_framework.exceptions import NotAuthenticated, PermissionDenied

from polls.graphql import poll_id_of
from polls.models import PollEvent
from polls.permissions import IsStaff
from pollsite.graphql.context import RequestContext
from pollsite.graphql.pagination import Page, page_of
from webhooks import models, selectors

Info = strawberry.Info[RequestContext, None]

strawberry.enum(models.Delivery.Status, name="DeliveryStatus")


def _refuse_unless_staff(user: Any) -> None:
    """REST's IsStaff, answered as DRF answers it: not_authenticated without a token,
    permission_denied with one."""
    if IsStaff().has_permission(SimpleNamespace(user=user), None):
        return
    raise PermissionDenied() if user.is_authenticated else NotAuthenticated()


@strawberry_django.type(models.Attempt, name="DeliveryAttempt")
class AttemptType:
    at: datetime
    status_code: int | None
    latency_ms: int
    error: str


@strawberry_django.type(models.Delivery, name="Delivery")
class DeliveryType:
    id: strawberry.ID = strawberry.field(description="The webhook-id header of every attempt.")
    created_at: datetime
    delivered_at: datetime | None

    @strawberry.field
    def event_type(self, root: strawberry.Parent[models.Delivery]) -> PollEvent.Type:
        return PollEvent.Type(root.event.type)

    @strawberry.field
    def poll_id(self, root: strawberry.Parent[models.Delivery]) -> strawberry.ID:
        return strawberry.ID(str(root.event.poll_id))

    @strawberry.field
    def status(self, root: strawberry.Parent[models.Delivery]) -> models.Delivery.Status:
        return models.Delivery.Status(root.status)

    @strawberry.field
    def attempts(self, root: strawberry.Parent[models.Delivery]) -> list[AttemptType]:
        return list(root.attempts.all())  # type: ignore[arg-type]


@strawberry.type(description="A page of an endpoint's deliveries, newest first.")
class DeliveryPage:
    total_count: int
    page: int
    page_size: int
    has_next_page: bool
    items: list[DeliveryType]


@strawberry_django.type(models.Endpoint, name="WebhookEndpoint")
class EndpointType:
    id: strawberry.ID
    url: str
    created_at: datetime
    disabled_at: datetime | None
    disabled_reason: str = strawberry.field(description="Why it was disabled; empty if not.")

    @strawberry.field
    def events(self, root: strawberry.Parent[models.Endpoint]) -> list[PollEvent.Type]:
        return [PollEvent.Type(event) for event in root.events]

    @strawberry.field(description="Newest first, with every attempt.")
    def deliveries(
        self,
        root: strawberry.Parent[models.Endpoint],
        page: int = 1,
        page_size: Annotated[int | None, strawberry.argument(description="1 to 100.")] = None,
    ) -> DeliveryPage:
        found: Page[models.Delivery] = page_of(
            selectors.deliveries_of(root), page=page, page_size=page_size
        )
        return DeliveryPage(**{**found.__dict__, "items": found.items})


@strawberry.type(description="A page of webhook endpoints.")
class EndpointPage:
    total_count: int
    page: int
    page_size: int
    has_next_page: bool
    items: list[EndpointType]


@strawberry.type
class WebhooksQuery:
    @strawberry.field(description="Webhook endpoints (staff).")
    def webhook_endpoints(
        self,
        info: Info,
        page: int = 1,
        page_size: Annotated[int | None, strawberry.argument(description="1 to 100.")] = None,
    ) -> EndpointPage:
        _refuse_unless_staff(info.context.user())
        found: Page[models.Endpoint] = page_of(
            selectors.endpoint_list(), page=page, page_size=page_size
        )
        return EndpointPage(**{**found.__dict__, "items": found.items})

    @strawberry.field(description="A webhook endpoint (staff).")
    def webhook_endpoint(self, info: Info, id: strawberry.ID) -> EndpointType | None:
        _refuse_unless_staff(info.context.user())
        return selectors.endpoint_get(poll_id_of(id))  # type: ignore[return-value]
