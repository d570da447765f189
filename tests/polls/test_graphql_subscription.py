"""The GraphQL subscription `results(pollId)` (polls/graphql.py): graphql-sse over the
production web tier (nginx routes /api/graphql/stream to the stream server), fed by the
results stream's hub: the results now, then each vote's version once."""

import asyncio
import json

import httpx
import pytest
from asgiref.sync import async_to_sync
from django.test import AsyncClient

from polls.stream_hub import hub
from tests.support.graphql import CAST_VOTE
from tests.support.votes import options_of

SUBSCRIBE = "subscription Live($id: ID!) { results(pollId: $id) { pollId totalVotes version } }"


def events(response):
    """(event, data) of each graphql-sse frame of a streaming httpx response."""
    event = None
    for line in response.iter_lines():
        if line.startswith("event:"):
            event = line.removeprefix("event:").strip()
        elif line.startswith("data:") and event is not None:
            data = line.removeprefix("data:").strip()
            yield event, json.loads(data) if data else None
            event = None


def subscribe(base, poll_id, token=None):
    headers = {"Accept": "text/event-stream"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    body = {"query": SUBSCRIBE, "variables": {"id": str(poll_id)}}
    return httpx.stream(
        "POST", f"{base}/api/graphql/stream", json=body, headers=headers, timeout=20
    )


@pytest.mark.django_db(transaction=True)
def test_a_subscriber_gets_the_results_then_the_next_votes(web_server, make_poll, make_voter):
    poll = make_poll()
    alice = make_voter("alice")
    with subscribe(web_server.url, poll.pk) as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        received = events(stream)
        event, first = next(received)
        assert event == "next" and first["data"]["results"]["totalVotes"] == 0
        vote = {"pollId": poll.pk, "optionId": options_of(poll)["Ada"]}
        voted = httpx.post(
            f"{web_server.url}/api/graphql",
            json={"query": CAST_VOTE, "variables": vote},
            headers={"Authorization": f"Bearer {alice.token}"},
        )
        assert voted.json()["data"]["castVote"]["receipt"]
        event, second = next(received)
        assert event == "next"
        assert second["data"]["results"] == {
            "pollId": str(poll.pk),
            "totalVotes": 1,
            "version": 1,
        }


@pytest.mark.django_db(transaction=True)
def test_a_refused_subscription_says_why_and_completes(web_server, make_poll, make_voter):
    draft = make_poll(publish=False)
    with subscribe(web_server.url, draft.pk) as stream:
        found = list(events(stream))
    assert found[0][0] == "next"
    assert found[0][1]["errors"][0]["extensions"]["code"] == "not_found"
    assert found[-1][0] == "complete"
    alice = make_voter("alice")
    token = alice.token
    alice.post("/api/v1/auth/logout")
    with subscribe(web_server.url, make_poll().pk, token=token) as stream:
        found = list(events(stream))
    assert found[0][1]["errors"][0]["extensions"]["code"] == "authentication_failed"


@pytest.mark.django_db(transaction=True)
def test_the_front_sends_only_streams_to_the_stream_server(web_server):
    plain = httpx.post(
        f"{web_server.url}/api/graphql/stream",
        json={"query": SUBSCRIBE, "variables": {"id": "1"}},
        headers={"Accept": "application/json"},
    )
    assert plain.status_code == 406
    assert plain.json()["errors"][0]["extensions"]["code"] == "not_acceptable"


def test_the_api_server_holds_no_stream(client):
    """Where no front routes streams (Heroku's router), the API server answers as a full
    stream server does, as the REST stream."""
    response = client.post(
        "/api/graphql/stream",
        json.dumps({"query": SUBSCRIBE, "variables": {"id": "1"}}),
        content_type="application/json",
        HTTP_ACCEPT="text/event-stream",
    )
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert json.loads(response.content)["errors"][0]["extensions"]["code"] == "stream_capacity"


def test_a_full_stream_server_refuses_before_any_work(settings):
    settings.RESULTS_STREAM_CAPACITY = 1

    async def when_full():
        held = hub.subscribe(0)  # the one place this process has
        try:
            return await AsyncClient().post(
                "/api/graphql/stream",
                {"query": SUBSCRIBE, "variables": {"id": "1"}},
                content_type="application/json",
                headers={"Accept": "text/event-stream"},
            )
        finally:
            hub.unsubscribe(0, held)

    response = async_to_sync(when_full)()
    assert response.status_code == 503 and response["Retry-After"] == "5"
    assert json.loads(response.content)["errors"][0]["extensions"]["code"] == "stream_capacity"


@pytest.mark.django_db(transaction=True)
def test_a_subscriber_that_hangs_up_gives_its_place_back(make_poll):
    poll = make_poll()

    async def hang_up():
        response = await AsyncClient().post(
            "/api/graphql/stream",
            {"query": SUBSCRIBE, "variables": {"id": str(poll.pk)}},
            content_type="application/json",
            headers={"Accept": "text/event-stream"},
        )
        first = asyncio.get_running_loop().create_future()

        async def listen():  # as the ASGI handler sends the stream
            async for chunk in response.streaming_content:
                if not first.done():
                    first.set_result(chunk)

        listening = asyncio.ensure_future(listen())
        await asyncio.wait_for(first, 10)
        during = hub.subscribers()
        listening.cancel()  # the client hung up: Django cancels the sending task
        await asyncio.gather(listening, return_exceptions=True)
        return first.result(), during, hub.subscribers()

    first, during, after = async_to_sync(hang_up)()
    assert b'"totalVotes":0' in first
    assert (during, after) == (1, 0)


def test_the_front_holds_both_streams_in_one_location_with_one_clients_limits():
    """deploy/nginx.conf.template: the location that sends streams to the stream server,
    and counts them against each client address, takes both kinds of stream (the live
    front is tested above: a subscription through it reaches the stream server)."""
    import re
    from pathlib import Path

    template = (Path(__file__).resolve().parents[2] / "deploy" / "nginx.conf.template").read_text()
    [(pattern, body)] = re.findall(r"location ~ (\S+) \{(.*?)\n        \}", template, re.DOTALL)
    assert "limit_conn streams_per_client" in body and "proxy_pass http://stream;" in body
    for path in ("/api/v1/polls/12/results/stream", "/api/graphql/stream"):
        assert re.match(pattern, path), path
    assert not re.match(pattern, "/api/graphql")
