"""The public timeline's buckets (polls.selectors.timeline_buckets, docs/privacy.md): at
least k votes in each, whole minutes that were over before the snapshot, and a bucket
once published never changes, whatever comes later: two snapshots compared show
nothing that one does not."""

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from polls.selectors import timeline_buckets

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
K = 3


def minutes_of(counts):
    """[(minute, option, votes)] from [{option: votes}] per consecutive minute."""
    return [
        (T0 + timedelta(minutes=i), option, votes)
        for i, per_option in enumerate(counts)
        for option, votes in sorted(per_option.items())
        if votes
    ]


def totals(buckets):
    by_bucket = {}
    for b in buckets:
        by_bucket[(b["starts_at"], b["ends_at"])] = (
            by_bucket.get((b["starts_at"], b["ends_at"]), 0) + b["votes"]
        )
    return by_bucket


def test_it_merges_one_vote_minutes_into_buckets_of_k_and_holds_back_the_rest():
    minutes = minutes_of([{1: 1}, {2: 1}, {1: 1}, {1: 1}, {2: 1}])
    buckets = timeline_buckets(minutes, k=K, complete_before=None, final=False)
    assert totals(buckets) == {(T0, T0 + timedelta(minutes=3)): 3}
    assert {b["option_id"]: b["votes"] for b in buckets} == {1: 2, 2: 1}


def test_once_closed_the_rest_joins_the_last_bucket():
    minutes = minutes_of([{1: 1}, {2: 1}, {1: 1}, {1: 1}, {2: 1}])
    buckets = timeline_buckets(minutes, k=K, complete_before=None, final=True)
    assert totals(buckets) == {(T0, T0 + timedelta(minutes=5)): 5}


def test_it_publishes_no_minute_that_was_not_over_before_the_snapshot():
    minutes = minutes_of([{1: 5}, {2: 5}])
    buckets = timeline_buckets(
        minutes, k=K, complete_before=T0 + timedelta(minutes=1, seconds=30), final=True
    )
    assert totals(buckets) == {(T0, T0 + timedelta(minutes=1)): 5}


def test_a_poll_with_fewer_than_k_votes_shows_one_bucket_only_once_closed():
    minutes = minutes_of([{1: 1}, {}, {2: 1}])
    assert timeline_buckets(minutes, k=K, complete_before=None, final=False) == []
    assert totals(timeline_buckets(minutes, k=K, complete_before=None, final=True)) == {
        (T0, T0 + timedelta(minutes=3)): 2
    }


per_minute = st.lists(
    st.dictionaries(st.integers(1, 3), st.integers(0, 4), max_size=3), min_size=1, max_size=40
)


@given(per_minute, st.integers(0, 40))
def test_a_published_bucket_holds_k_votes_and_never_changes(counts, seen):
    """The snapshot of the first `seen` minutes against the one of all of them: every
    bucket of the earlier is in the later, as it was, and each holds at least k votes."""
    seen = min(seen, len(counts))
    earlier = timeline_buckets(minutes_of(counts[:seen]), k=K, complete_before=None, final=False)
    later = timeline_buckets(minutes_of(counts), k=K, complete_before=None, final=False)
    assert all(total >= K for total in totals(earlier).values())
    assert all(total >= K for total in totals(later).values())
    assert later[: len(earlier)] == earlier
