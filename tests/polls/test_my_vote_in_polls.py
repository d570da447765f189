"""`my_vote` in poll detail and poll list (polls.selectors.my_votes): a voter sees their
own vote, with one extra query per request however many polls the page holds."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.support.votes import options_of

pytestmark = pytest.mark.django_db


def vote(client, poll, label="Ada"):
    response = client.post(
        f"/api/v1/polls/{poll.pk}/votes", {"option_id": options_of(poll)[label]}, format="json"
    )
    assert response.status_code == 201, response.json()
    return response.json()


def queries_of(client, url):
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def test_it_shows_alice_her_vote_in_the_poll(make_poll, make_voter):
    poll = make_poll()
    alice = make_voter("alice")
    assert alice.get(f"/api/v1/polls/{poll.pk}").json()["my_vote"] is None
    receipt = vote(alice, poll)
    body = alice.get(f"/api/v1/polls/{poll.pk}").json()
    assert body["my_vote"] == {"receipt": receipt["receipt"], "cast_at": receipt["cast_at"]}


def test_it_shows_no_vote_to_anonymous_readers_or_to_bob(make_poll, make_voter, api, auth_api):
    poll = make_poll()
    vote(make_voter("alice"), poll)
    assert api.get(f"/api/v1/polls/{poll.pk}").json()["my_vote"] is None
    assert make_voter("bob").get(f"/api/v1/polls/{poll.pk}").json()["my_vote"] is None
    carol = auth_api("carol")  # signed in, never verified
    assert carol.get(f"/api/v1/polls/{poll.pk}").json()["my_vote"] is None
    assert api.get("/api/v1/polls").json()["results"][0]["my_vote"] is None


def test_it_marks_alices_votes_in_the_list(make_poll, make_voter):
    polls = [make_poll(title=f"Poll {i}") for i in range(5)]
    alice = make_voter("alice")
    receipts = {polls[i].pk: vote(alice, polls[i])["receipt"] for i in (0, 3)}
    listed = alice.get("/api/v1/polls").json()["results"]
    mine = {p["id"]: p["my_vote"]["receipt"] for p in listed if p["my_vote"]}
    assert mine == receipts


def test_it_costs_one_query_per_request_not_one_per_poll(
    make_poll, make_voter, auth_api, django_assert_num_queries
):
    polls = [make_poll(title=f"Poll {i}") for i in range(30)]
    alice = make_voter("alice")
    for poll in polls[::3]:
        vote(alice, poll)
    bob = auth_api("bob")  # authenticated like Alice, but never verified: no my_vote query
    many, few = "/api/v1/polls?page_size=30", "/api/v1/polls?page_size=3"
    for url in (many, few):  # warm the cached poll reads, as a busy server has them
        queries_of(alice, url)
        queries_of(bob, url)
    baseline = queries_of(bob, many)
    with django_assert_num_queries(baseline + 1):
        page = alice.get(many).json()["results"]
    assert sum(1 for p in page if p["my_vote"]) == 10
    assert queries_of(alice, few) == baseline + 1
    detail = f"/api/v1/polls/{polls[0].pk}"
    queries_of(alice, detail)
    assert queries_of(alice, detail) == queries_of(bob, detail) + 1
