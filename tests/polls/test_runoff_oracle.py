"""The runoff (sql/poll_runoff.sql) against an independent instant-runoff count, pyrcv's,
on thousands of generated elections.

Each election is a set of grouped rankings, partial ones included, written where the
ballots' trigger would keep them (polls_rankingtally); poll_runoff counts it, and so does
pyrcv.run_rcv. Where no round needed the tie rule (pyrcv breaks ties at random), both
give the same winner, and every round of ours has pyrcv's counts. pyrcv counts on past a
majority of the ballots still active, up to a majority of all of them, so ours may stop
sooner: the rounds we both count must agree, and a winner by the active ballots never
loses a later round (its votes only grow, and it leads)."""

import json

import pgtrigger
import pytest
from django.db import connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyrcv import RaceData, RaceMetadata, run_rcv

from tests.support.votes import options_of

OPTIONS = 7


@st.composite
def elections(draw):
    """{ranking (option indexes, most preferred first): ballots} over 2..OPTIONS options."""
    options = draw(st.integers(min_value=2, max_value=OPTIONS))
    ranking = st.lists(st.integers(0, options - 1), unique=True, min_size=1, max_size=options).map(
        tuple
    )
    # Wide weights make ties for the fewest votes rare, so most elections are compared.
    return options, draw(st.dictionaries(ranking, st.integers(1, 5000), min_size=1, max_size=40))


def our_runoff(poll_id, option_ids, election):
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM polls_rankingtally WHERE poll_id = %s", [poll_id])
        rows = [(poll_id, [option_ids[i] for i in r], n) for r, n in election.items()]
        cursor.execute(
            "INSERT INTO polls_rankingtally (poll_id, ranking, shard, ballots) VALUES "
            + ", ".join(["(%s, %s::bigint[], 0, %s)"] * len(rows)),
            [value for row in rows for value in row],
        )
        cursor.execute("SELECT poll_runoff(%s)", [poll_id])
        return json.loads(cursor.fetchone()[0])


def needed_the_tie_rule(runoff):
    for count in runoff["rounds"]:
        if count["eliminated"]:
            votes = {o["id"]: o["votes"] for o in count["options"]}
            [out] = count["eliminated"]
            if sum(v == votes[out] for v in votes.values()) > 1:
                return True
    return False


@pytest.mark.reliability  # fuzzing: 2,100 generated elections, about 20 s
@pytest.mark.django_db
def test_the_runoff_counts_as_an_independent_implementation_does(make_poll):
    poll = make_poll(labels=[f"Option {i}" for i in range(OPTIONS)], ballot_kind="ranked")
    all_ids = list(options_of(poll).values())
    seen = {"elections": 0, "compared": 0}

    # Three elections an example: hypothesis' own work is per example.
    @given(st.lists(elections(), min_size=3, max_size=3))
    @settings(
        max_examples=700,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow],
    )
    def check(three):
        for election in three:
            compare(election)

    def compare(election):
        options, grouped = election
        # Options beyond `options` are in the poll but on no ballot: they go out first.
        ours = our_runoff(poll.pk, all_ids, grouped)
        seen["elections"] += 1
        total = sum(grouped.values())
        for count in ours["rounds"]:
            assert sum(o["votes"] for o in count["options"]) + count["exhausted"] == total
        if needed_the_tie_rule(ours):
            return
        race = RaceData(
            RaceMetadata("poll", 1, [f"Option {i}" for i in range(OPTIONS)]),
            [[i + 1 for i in ranking] for ranking in grouped],
            list(grouped.values()),
        )
        theirs = run_rcv(race).rounds
        for count, their in zip(ours["rounds"], theirs, strict=False):
            assert {o["id"]: o["votes"] for o in count["options"]} == {
                option_id: round(their.count[i + 1])
                for i, option_id in enumerate(all_ids)
                if option_id in {o["id"] for o in count["options"]}
            }
        [their_winner] = [c for r in theirs for c in r.elected]
        assert ours["winner"] == all_ids[their_winner - 1]
        seen["compared"] += 1

    with pgtrigger.ignore("polls.RankingTally:tally_written_by_votes_only"):
        check()
    assert seen["elections"] == 2100
    assert seen["compared"] >= 1500, seen
