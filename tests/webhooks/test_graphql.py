"""Webhook endpoints over GraphQL (webhooks/graphql.py): staff only, as REST's, with
their deliveries a page at a time."""

import pytest

from polls.models import PollEvent
from tests.support.graphql import codes, graphql
from webhooks.models import Delivery, Endpoint

pytestmark = pytest.mark.django_db

ENDPOINTS = """
{ webhookEndpoints { totalCount items { id url events deliveries(pageSize: 5) {
    totalCount items { id eventType pollId status attempts { statusCode } } } } } }
"""


def token_of(client):
    return client._credentials["HTTP_AUTHORIZATION"].split()[1]


def test_only_staff_see_the_endpoints(client, auth_api, make_poll):
    poll = make_poll()
    sam = auth_api("sam-staff", staff=True)
    endpoint = Endpoint.objects.create(
        url="https://hooks.example.org/polls",
        events=["poll.published"],
        secret="whsec_x",
        created_by=sam.user,
    )
    event = PollEvent.objects.get(poll=poll, type="poll.published")
    Delivery.objects.create(id=Delivery.new_id(), endpoint=endpoint, event=event)
    listed = graphql(client, ENDPOINTS, token=token_of(sam)).body["data"]["webhookEndpoints"]
    assert listed["totalCount"] == 1
    [shown] = listed["items"]
    assert shown["url"] == endpoint.url and shown["events"] == ["PUBLISHED"]
    [delivery] = shown["deliveries"]["items"]
    assert delivery["eventType"] == "PUBLISHED" and delivery["pollId"] == str(poll.pk)
    assert delivery["status"] == "PENDING" and delivery["attempts"] == []
    assert "secret" not in str(listed)

    assert codes(graphql(client, ENDPOINTS, token=token_of(auth_api("bob")))) == [
        "permission_denied"
    ]
    assert codes(graphql(client, ENDPOINTS)) == ["not_authenticated"]
    missing = graphql(client, '{ webhookEndpoint(id: "999") { url } }', token=token_of(sam))
    assert codes(missing) == ["not_found"]
