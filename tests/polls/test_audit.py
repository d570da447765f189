"""Auditors over the HTTP API (polls.audit): a closed poll's results export and its
public receipt ledger, whose count equals the published total and the ballots."""

import csv
import io

import pytest
from django.db import connection

from polls import services
from polls.audit import EXPORT_COLUMNS
from polls.models import Poll
from tests.support.votes import options_of

pytestmark = pytest.mark.django_db


def vote(client, poll, label):
    response = client.post(
        f"/api/v1/polls/{poll.pk}/votes", {"option_id": options_of(poll)[label]}, format="json"
    )
    assert response.status_code == 201, response.json()
    return response.json()["receipt"]


def close(poll):
    return services.poll_close(poll=Poll.objects.get(pk=poll.pk))


@pytest.fixture
def voted_poll(make_poll, make_voter):
    """Seven voters: four for Ada, three for Grace; their receipts by name."""
    poll = make_poll(labels=("Ada", "Grace", "Linus"))
    poll.receipts = {
        name: vote(make_voter(name), poll, "Ada" if i < 4 else "Grace")
        for i, name in enumerate(["alice", "bob", "carol", "dave", "erin", "frank", "grace"])
    }
    return poll


def ballots_of(poll):
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM polls_vote WHERE poll_id = %s", [poll.pk])
        return cursor.fetchone()[0]


def ledger(client, poll, page_size=3):
    """Every entry of the ledger, page after page, and the count it announced."""
    url, entries, counts = f"/api/v1/polls/{poll.pk}/receipts?page_size={page_size}", [], set()
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.json()
        body = response.json()
        entries += body["results"]
        counts.add(body["count"])
        url = body["next"]
    assert len(counts) == 1
    return entries, counts.pop()


def test_it_publishes_a_ledger_whose_count_is_the_total_and_the_ballots(voted_poll, api):
    close(voted_poll)
    entries, count = ledger(api, voted_poll)
    total = api.get(f"/api/v1/polls/{voted_poll.pk}/results").json()["total_votes"]
    assert count == len(entries) == total == ballots_of(voted_poll) == 7
    assert [e["receipt"] for e in entries] == sorted(voted_poll.receipts.values())


def test_it_lets_alice_find_her_receipt_and_nothing_else(voted_poll, api):
    close(voted_poll)
    entries, _ = ledger(api, voted_poll)
    mine = [e for e in entries if e["receipt"] == voted_poll.receipts["alice"]]
    assert len(mine) == 1
    assert set(mine[0]) == {"receipt"}  # no option, no voter, no time (docs/privacy.md)


def test_it_refuses_bob_the_ledger_and_export_before_close(voted_poll, make_voter, api):
    bob = make_voter("bob2")
    for client in (api, bob):
        for path in ("receipts", "results/export.csv", "results/export.json"):
            response = client.get(f"/api/v1/polls/{voted_poll.pk}/{path}")
            assert response.status_code == 403
            assert response.json()["code"] == "poll_not_closed"
            assert response["Content-Type"] == "application/problem+json"


def test_it_lets_sam_audit_an_open_poll(voted_poll, auth_api, staff):
    sam = auth_api(staff)
    entries, count = ledger(sam, voted_poll, page_size=100)
    assert count == len(entries) == 7
    assert sam.get(f"/api/v1/polls/{voted_poll.pk}/results/export.json").status_code == 200


def test_it_hides_drafts_from_auditors(make_poll, api):
    draft = make_poll(publish=False)
    assert api.get(f"/api/v1/polls/{draft.pk}/receipts").status_code == 404
    assert api.get(f"/api/v1/polls/{draft.pk}/results/export.json").json()["code"] == "not_found"
    assert api.get("/api/v1/polls/999999/results/export.csv").status_code == 404


def test_it_exports_the_closed_tally_as_json(voted_poll, api):
    closed = close(voted_poll)
    body = api.get(f"/api/v1/polls/{voted_poll.pk}/results/export.json").json()
    assert body["poll"]["id"] == voted_poll.pk
    assert body["poll"]["status"] == "closed"
    assert body["poll"]["closed_at"] == closed.closed_at.isoformat().replace("+00:00", "Z")
    assert body["tally_version"] == body["total_votes"] == 7
    assert [(o["label"], o["votes"], o["share"]) for o in body["options"]] == [
        ("Ada", 4, round(4 / 7, 6)),
        ("Grace", 3, round(3 / 7, 6)),
        ("Linus", 0, 0.0),
    ]


def test_it_exports_the_closed_tally_as_csv_in_the_documented_order(voted_poll, api):
    close(voted_poll)
    response = api.get(f"/api/v1/polls/{voted_poll.pk}/results/export.csv", HTTP_ACCEPT="text/csv")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert tuple(rows[0]) == EXPORT_COLUMNS == (
        "poll_id", "poll_title", "opens_at", "closes_at", "closed_at", "tally_version",
        "total_votes", "option_id", "option_position", "option_label", "votes", "share",
        # Appended with ballot kinds, as the contract promises new columns are.
        "ballot_kind", "eliminated_in_round", "final_round_votes", "winner",
    )  # fmt: skip
    by_label = {row[9]: dict(zip(rows[0], row, strict=True)) for row in rows[1:]}
    assert [row[9] for row in rows[1:]] == ["Ada", "Grace", "Linus"]
    assert by_label["Ada"]["votes"] == "4"
    assert by_label["Grace"]["total_votes"] == by_label["Grace"]["tally_version"] == "7"
    assert by_label["Linus"]["share"] == "0.0"


def test_it_pages_the_ledger_from_its_index_without_sorting(voted_poll):
    with connection.cursor() as cursor:
        # Seven rows: make the planner act as it does on a big table.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        cursor.execute(
            "EXPLAIN SELECT receipt FROM polls_vote "
            "WHERE poll_id = %s ORDER BY receipt LIMIT 20 OFFSET 40",
            [voted_poll.pk],
        )
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "polls_vote_ledger_idx" in plan
    assert "Sort" not in plan
