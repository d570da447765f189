"""GraphQL for polls, votes and results (polls/graphql.py), through POST /api/graphql:
the same answers as REST, from the same selectors and services, and a page of polls at
a fixed number of queries whatever its size."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.support.graphql import CAST_VOTE, POLL_PAGE, codes, graphql
from tests.support.votes import options_of

pytestmark = pytest.mark.django_db

RESULTS = """
query Results($id: ID!) {
  poll(id: $id) {
    results {
      pollId status totalVotes version asOf ballotKind
      options { id label votes share }
      rounds { round options { id votes } eliminated exhausted }
      winner
    }
  }
}
"""


def cast(client, poll, token, **ballot):
    return graphql(client, CAST_VOTE, {"pollId": poll.pk, **ballot}, token=token)


def rest_results(api, poll):
    return api.get(f"/api/v1/polls/{poll.pk}/results").json()


def test_it_gives_the_poll_page_rest_gives(client, api, make_poll, make_voter):
    poll = make_poll()
    alice = make_voter("alice")
    assert cast(client, poll, alice.token, optionId=options_of(poll)["Ada"]).status_code == 200
    page = graphql(client, POLL_PAGE, token=alice.token)
    assert page.status_code == 200 and "errors" not in page.body
    [listed] = page.body["data"]["polls"]["items"]
    rest = alice.get(f"/api/v1/polls/{poll.pk}").json()
    assert listed["id"] == str(rest["id"]) and listed["title"] == rest["title"]
    assert listed["status"] == rest["status"].upper()
    assert listed["totalVotes"] == rest["total_votes"] == 1
    assert listed["maxChoices"] == rest["max_choices"]
    assert [o["label"] for o in listed["options"]] == [o["label"] for o in rest["options"]]
    assert listed["myVote"]["receipt"] == rest["my_vote"]["receipt"]
    assert listed["myVote"]["castAt"] == rest["my_vote"]["cast_at"]  # the same text: ...Z
    document = rest_results(api, poll)
    assert listed["results"]["version"] == document["version"]
    assert [o["votes"] for o in listed["results"]["options"]] == [
        o["votes"] for o in document["options"]
    ]


@pytest.mark.parametrize("kind", ["single", "multiple", "ranked"])
def test_it_casts_every_ballot_kind_and_results_follow(client, api, make_poll, make_voter, kind):
    poll = make_poll(labels=("Ada", "Grace", "Hedy"), ballot_kind=kind)
    ids = options_of(poll)
    ballot = {
        "single": {"optionId": ids["Grace"]},
        "multiple": {"optionIds": [ids["Ada"], ids["Hedy"]]},
        "ranked": {"ranking": [ids["Hedy"], ids["Ada"]]},
    }[kind]
    alice = make_voter("alice")
    voted = cast(client, poll, alice.token, **ballot)
    assert voted.status_code == 200 and "errors" not in voted.body, voted.body
    receipt = voted.body["data"]["castVote"]
    assert receipt["pollId"] == str(poll.pk) and receipt["receipt"]
    # Read at once: never older than the acknowledged vote.
    results = graphql(client, RESULTS, {"id": poll.pk}).body["data"]["poll"]["results"]
    document = rest_results(api, poll)
    assert results["totalVotes"] == document["total_votes"] == 1
    assert results["ballotKind"] == kind.upper()
    assert [(o["id"], o["votes"]) for o in results["options"]] == [
        (str(o["id"]), o["votes"]) for o in document["options"]
    ]
    if kind == "ranked":
        assert results["winner"] == str(document["winner"]) == str(ids["Hedy"])
        assert len(results["rounds"]) == len(document["rounds"])
    else:
        assert results["rounds"] is None and results["winner"] is None


def test_it_answers_the_vote_refusals_with_rests_codes(client, make_poll, make_voter, auth_api):
    poll = make_poll()
    ada, grace = options_of(poll)["Ada"], options_of(poll)["Grace"]
    alice = make_voter("alice")
    assert codes(cast(client, poll, alice.token, optionId=ada)) == []
    again = cast(client, poll, alice.token, optionId=grace)
    assert codes(again) == ["already_voted"] and again.status_code == 200
    assert again.body["data"] == {"castVote": None}
    assert again.body["errors"][0]["extensions"]["status"] == 409
    assert again.body["errors"][0]["path"] == ["castVote"]

    bob = make_voter("bob")
    assert codes(cast(client, poll, bob.token, optionId=ada, optionIds=[ada])) == [
        "validation_error"
    ]
    other = make_poll(title="Other")
    assert codes(cast(client, other, bob.token, optionId=ada)) == ["invalid_option"]
    assert codes(cast(client, other, bob.token, optionIds=[ada])) == ["validation_error"]
    later = make_poll(title="Later", opens_in=timedelta(hours=1))
    assert codes(cast(client, later, bob.token, optionId=options_of(later)["Ada"])) == [
        "poll_not_open"
    ]
    carol = auth_api("carol")  # signed in, never verified
    carol_token = carol._credentials["HTTP_AUTHORIZATION"].split()[1]
    assert codes(cast(client, poll, carol_token, optionId=ada)) == ["not_verified"]
    assert codes(graphql(client, CAST_VOTE, {"pollId": poll.pk, "optionId": ada})) == [
        "not_authenticated"
    ]
    assert codes(cast(client, poll, "x" * 64, optionId=ada)) == ["authentication_failed"]
    assert codes(cast(client, poll, bob.token, optionId="Ada")) == ["validation_error"]
    assert codes(
        graphql(client, CAST_VOTE, {"pollId": "nope", "optionId": ada}, token=bob.token)
    ) == ["not_found"]


def test_a_dead_token_fails_a_query_and_never_reads_as_anonymous(client, make_poll, make_voter):
    make_poll()
    alice = make_voter("alice")
    token = alice.token
    alice.post("/api/v1/auth/logout")
    response = graphql(client, POLL_PAGE, token=token)
    assert response.status_code == 401
    assert response.body["data"] is None
    assert codes(response) == ["authentication_failed"]
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    # The receipt check takes no token in REST; a dead one is still refused here.
    dead = graphql(client, '{ receipt(receipt: "abc") { counted } }', token=token)
    assert codes(dead) == ["authentication_failed"]


def test_an_idempotency_key_replays_the_first_receipt(client, make_poll, make_voter):
    poll = make_poll()
    ada, grace = options_of(poll)["Ada"], options_of(poll)["Grace"]
    alice = make_voter("alice")
    first = cast(client, poll, alice.token, optionId=ada, key="k-1").body["data"]["castVote"]
    again = cast(client, poll, alice.token, optionId=ada, key="k-1").body["data"]["castVote"]
    assert again == first
    assert codes(cast(client, poll, alice.token, optionId=grace, key="k-1")) == [
        "idempotency_key_reused"
    ]
    assert codes(cast(client, poll, alice.token, optionId=ada, key="no spaces")) == [
        "validation_error"
    ]


def test_it_hides_drafts_and_hidden_results_as_rest_does(client, make_poll, make_voter, auth_api):
    draft = make_poll(title="Draft", publish=False)
    hidden = make_poll(title="Hidden", results_visibility="after_close")
    bob = make_voter("bob")
    sam = auth_api("sam-staff", staff=True)
    sam_token = sam._credentials["HTTP_AUTHORIZATION"].split()[1]
    titles = {
        p["title"]
        for p in graphql(client, "{ polls { items { title } } }", token=bob.token).body["data"][
            "polls"
        ]["items"]
    }
    assert titles == {"Hidden"}
    staff_titles = graphql(client, "{ polls(status: DRAFT) { items { title } } }", token=sam_token)
    assert [p["title"] for p in staff_titles.body["data"]["polls"]["items"]] == ["Draft"]
    missing = graphql(client, RESULTS, {"id": draft.pk}, token=bob.token)
    assert missing.body["data"] == {"poll": None} and codes(missing) == ["not_found"]
    refused = graphql(client, RESULTS, {"id": hidden.pk}, token=bob.token)
    assert codes(refused) == ["results_hidden"]
    assert refused.body["errors"][0]["path"] == ["poll", "results"]
    assert codes(graphql(client, RESULTS, {"id": hidden.pk}, token=sam_token)) == []
    # In a page too: each poll's own answer, the others' results intact.
    page = graphql(client, "{ polls { items { title results { version } } } }", token=bob.token)
    assert codes(page) == ["results_hidden"]


def test_it_checks_receipts_and_lists_events(client, make_poll, make_voter):
    poll = make_poll()
    alice = make_voter("alice")
    receipt = cast(client, poll, alice.token, optionId=options_of(poll)["Ada"]).body["data"][
        "castVote"
    ]["receipt"]
    query = "query R($r: String!) { receipt(receipt: $r) { pollId counted } }"
    found = graphql(client, query, {"r": receipt})
    assert found.body["data"]["receipt"] == {"pollId": str(poll.pk), "counted": True}
    assert codes(graphql(client, query, {"r": "unknown"})) == ["not_found"]
    assert codes(graphql(client, query, {"r": "not/a/receipt"})) == ["not_found"]
    query = "query E($id: ID!) { poll(id: $id) { events { type occurredAt } } }"
    events = graphql(client, query, {"id": poll.pk}).body["data"]["poll"]["events"]
    rest = client.get(f"/api/v1/polls/{poll.pk}/events").json()
    assert [e["type"] for e in events] == [e["type"].split(".")[1].upper() for e in rest]
    assert events[0]["type"] == "PUBLISHED"


def test_me_is_the_account_behind_the_token(client, make_voter):
    alice = make_voter("alice")
    me = graphql(client, "{ me { username isStaff verification { status } } }", token=alice.token)
    assert me.body["data"]["me"] == {
        "username": "alice",
        "isStaff": False,
        "verification": {"status": "VERIFIED"},
    }
    assert codes(graphql(client, "{ me { username } }")) == ["not_authenticated"]


def test_queries_go_by_get_and_mutations_never(client, make_poll, make_voter):
    poll = make_poll()
    alice = make_voter("alice")
    listed = graphql(client, "{ polls { totalCount } }", method="get")
    assert listed.status_code == 200 and listed.body["data"]["polls"]["totalCount"] == 1
    voted = graphql(
        client,
        CAST_VOTE,
        {"pollId": poll.pk, "optionId": options_of(poll)["Ada"]},
        token=alice.token,
        method="get",
    )
    assert voted.status_code == 405 and codes(voted) == ["method_not_allowed"]
    assert voted.headers["Allow"] == "POST"
    assert (
        poll.options.get(label="Ada").pk
        and graphql(client, "{ polls { items { totalVotes } } }").body["data"]["polls"]["items"][0][
            "totalVotes"
        ]
        == 0
    )


def queries_for(client, token, page_size):
    with CaptureQueriesContext(connection) as queries:
        response = graphql(client, POLL_PAGE, {"pageSize": page_size}, token=token)
    assert response.status_code == 200 and "errors" not in response.body, response.body
    assert len(response.body["data"]["polls"]["items"]) == page_size
    return len(queries)


def test_a_page_of_polls_costs_the_same_queries_whatever_its_size(client, make_poll, make_voter):
    polls = [make_poll(title=f"Poll {i}") for i in range(20)]
    alice = make_voter("alice")
    for poll in polls[::3]:
        assert codes(cast(client, poll, alice.token, optionId=options_of(poll)["Ada"])) == []
    # Each page read cold (its own page size: nothing of it cached yet), then warm.
    few, many = queries_for(client, alice.token, 5), queries_for(client, alice.token, 20)
    assert few == many <= 7, (few, many)
    # The token, the count, the page, its options, the totals, Alice's votes, the results.
    print(f"page of 5: {few} queries, page of 20: {many} queries")


def test_poll_status_is_the_statuses_of_polls_status():
    from polls.graphql import PollStatus
    from polls.status import STATUSES

    assert [s.value for s in PollStatus] == list(STATUSES)


def test_results_alone_is_rests_results_document(client, api, make_poll, make_voter):
    poll = make_poll(results_visibility="after_close")
    query = "query R($id: ID!) { results(pollId: $id) { totalVotes version options { votes } } }"
    assert codes(graphql(client, query, {"id": poll.pk})) == ["results_hidden"]
    open_poll = make_poll(title="Open")
    alice = make_voter("alice")
    cast(client, open_poll, alice.token, optionId=options_of(open_poll)["Grace"])
    found = graphql(client, query, {"id": open_poll.pk}).body["data"]["results"]
    document = rest_results(api, open_poll)
    assert found["version"] == document["version"] == 1
    assert [o["votes"] for o in found["options"]] == [o["votes"] for o in document["options"]]
    assert codes(graphql(client, query, {"id": 10**17})) == ["not_found"]


@pytest.mark.django_db(transaction=True)
def test_a_page_reads_results_through_the_cache_and_never_misses_a_vote(
    client, make_poll, make_voter
):
    polls = [make_poll(title=f"Poll {i}") for i in range(6)]
    alice = make_voter("alice")
    query = "{ polls(pageSize: 6) { items { id results { totalVotes version } } } }"

    def documents_built():
        with CaptureQueriesContext(connection) as queries:
            page = graphql(client, query).body["data"]["polls"]["items"]
        built = [q for q in queries if "poll_results_document" in q["sql"]]
        return len(built), {p["id"]: p["results"]["totalVotes"] for p in page}

    assert documents_built()[0] == 1  # cold: the six built in one statement
    assert documents_built()[0] == 0  # warm: from the cache, as REST reads them
    voted = cast(client, polls[2], alice.token, optionId=options_of(polls[2])["Ada"])
    assert codes(voted) == []
    # Right after the vote's answer: rebuilt by this read, or already by the lease keeper
    # that the vote's announcement woke; never the version before.
    built, totals = documents_built()
    assert totals[str(polls[2].pk)] == 1 and built <= 1


@pytest.mark.django_db(transaction=True)
def test_an_anonymous_results_answer_is_served_again_only_while_it_holds(
    client, make_poll, make_voter, django_assert_num_queries
):
    poll = make_poll()
    alice = make_voter("alice")
    query = "query R($id: ID!) { results(pollId: $id) { totalVotes version } }"
    first = graphql(client, query, {"id": poll.pk})
    assert first.body["data"]["results"]["totalVotes"] == 0
    from polls.graphql import results_answers

    assert first.content in {body for _, body in results_answers._answers.values()}
    again = graphql(client, query, {"id": poll.pk})  # served as kept: the results held
    assert again.content == first.content
    assert codes(cast(client, poll, alice.token, optionId=options_of(poll)["Ada"])) == []
    # Right after the vote's answer the kept answer no longer holds: never staler than REST.
    after = graphql(client, query, {"id": poll.pk}).body["data"]["results"]
    assert after == {"totalVotes": 1, "version": 1}
    # Only anonymous answers of results fields alone are kept.
    mixed = "query M($id: ID!) { results(pollId: $id) { version } polls { totalCount } }"
    graphql(client, mixed, {"id": poll.pk})
    make_poll(title="Another")
    assert graphql(client, mixed, {"id": poll.pk}).body["data"]["polls"]["totalCount"] == 2
    with_token = graphql(client, query, {"id": poll.pk}, token=alice.token)
    assert with_token.body["data"]["results"]["version"] == 1
