"""The results stream under a crowd: thousands of anonymous subscribers at once, and more
than the front holds. Admission leaves nobody behind (3,000 at once all get their first
event, the last within 10 s); past the stream capacity new streams are refused with a
problem document (503 stream_capacity from the stream server, 429 too_many_streams from
the front for one address over its share) and votes and reads go on untouched: the front
keeps its connections for them (deploy/nginx.conf.template)."""

import asyncio
import threading
import time
from collections import Counter

import httpx
import pytest

from tests.support import streams
from tests.support.voters import verified_tokens
from tests.support.votes import cast, options_of

pytestmark = [pytest.mark.reliability, pytest.mark.django_db(transaction=True)]


# What this guards against: a crowd some of whom are left behind (a dropped connection
# retried a second or more later, a thread hop per request): before the fix, 743 of
# 3,000 had their first event within 5 s, the median after 11.1 s, the last after 26.5 s.
# How fast a crowd is admitted depends on the host's speed as much as on ours: on this
# shared 2-core machine the median was 2.0 to 3.6 s and the last 2.6 to 5.1 s across CI
# runs with nothing changed on the stream's path. A bound of 5 s failed one of them;
# 10 s still fails the broken admission by more than twice.
LAST_FIRST_EVENT_S = 10.0


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p / 100))] if values else None


def test_three_thousand_subscribers_at_once_all_get_their_first_event_none_left_behind(
    web_server, make_poll, figure
):
    streams.raise_open_files_limit()
    poll = make_poll()
    count = 3000

    async def crowd():
        subscribers = await streams.open_all(
            web_server.url, poll.pk, streams.sources(count, per_address=30)
        )
        await streams.wait_answered(subscribers, timeout=30)
        try:
            return [
                (s.status, s.code, s.first_event - s.started if s.first_event else None)
                for s in subscribers
            ]
        finally:
            await streams.close_all(subscribers)
            await streams.wait_drained(web_server, poll.pk)

    answers = asyncio.run(crowd())
    firsts = [seconds for _, _, seconds in answers if seconds is not None]
    figure(
        "stream_admission_3000",
        subscribers=count,
        statuses=dict(Counter(str(status) for status, _, _ in answers)),
        first_event=len(firsts),
        within_5s=sum(1 for s in firsts if s <= 5),
        first_p50_ms=round(1000 * percentile(firsts, 50)) if firsts else None,
        first_p99_ms=round(1000 * percentile(firsts, 99)) if firsts else None,
        first_max_ms=round(1000 * max(firsts)) if firsts else None,
    )
    assert len(firsts) == count, Counter((status, code) for status, code, _ in answers)
    assert max(firsts) <= LAST_FIRST_EVENT_S


class SideTraffic:
    """Votes and results reads, one after the other, while the crowd connects."""

    def __init__(self, base, poll, tokens):
        self.base, self.poll, self.tokens = base, poll, tokens
        self.votes, self.reads = Counter(), Counter()
        self.stop = threading.Event()
        self._thread = threading.Thread(target=self._run)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self._thread.join(60)

    def _run(self):
        option = options_of(self.poll)["Grace"]
        results = f"{self.base}/api/v1/polls/{self.poll.pk}/results"
        with httpx.Client(timeout=30) as client:
            for token in self.tokens:
                if self.stop.is_set():
                    return
                self._record(self.votes, cast, client, self.base, self.poll.pk, option, token)
                self._record(self.reads, client.get, results)
                time.sleep(0.05)

    @staticmethod
    def _record(counter, call, *args):
        try:
            counter[call(*args).status_code] += 1
        except httpx.HTTPError as exc:
            counter[type(exc).__name__] += 1


def test_past_the_stream_capacity_new_streams_are_refused_and_votes_go_on(
    web_server, make_poll, figure
):
    streams.raise_open_files_limit()
    poll = make_poll()
    sizing = web_server.sizing
    capacity = sizing.stream_capacity * sizing.stream_workers
    count = 5000
    per_client = sizing.streams_per_client

    async def crowd():
        # One address asking for more streams than its share, then 5,000 from 100
        # addresses, 50 each (each under its own limit).
        greedy = await streams.open_all(web_server.url, poll.pk, ["127.0.99.1"] * (per_client + 50))
        await streams.wait_answered(greedy, timeout=60)
        greedy_answers = [(s.status, s.code, s.retry_after) for s in greedy]
        await streams.close_all(greedy)
        await streams.wait_drained(web_server, poll.pk)
        subscribers = await streams.open_all(
            web_server.url, poll.pk, streams.sources(count, per_address=50)
        )
        await streams.wait_answered(subscribers, timeout=60)
        try:
            return [(s.status, s.code, s.retry_after) for s in subscribers], greedy_answers
        finally:
            await streams.close_all(subscribers)
            await streams.wait_drained(web_server, poll.pk)

    with SideTraffic(web_server.url, poll, verified_tokens(400)) as side:
        time.sleep(0.5)
        crowd_answers, greedy_answers = asyncio.run(crowd())
    crowd_seen = Counter((status, code) for status, code, _ in crowd_answers)
    greedy_seen = Counter((status, code) for status, code, _ in greedy_answers)
    figure(
        "stream_capacity_5000",
        subscribers=count,
        capacity=capacity,
        crowd=dict(Counter(f"{s}:{c}" for (s, c) in crowd_seen.elements())),
        one_address=dict(Counter(f"{s}:{c}" for (s, c) in greedy_seen.elements())),
        votes=dict(side.votes),
        reads=dict(side.reads),
    )
    # Each stream process refuses past its own share, and a crowd is not spread evenly
    # over them: a few are refused by a full one while the other has room.
    admitted, refused = crowd_seen[(200, None)], crowd_seen[(503, "stream_capacity")]
    assert 0.95 * capacity <= admitted <= capacity, crowd_seen
    assert admitted + refused == count, crowd_seen
    assert all(retry for status, _, retry in crowd_answers if status == 503)
    # The front's limits for one address: streams open at once, opened in a burst.
    assert per_client - 10 <= greedy_seen[(200, None)] <= per_client, greedy_seen
    assert greedy_seen[(429, "too_many_streams")] == len(greedy_answers) - greedy_seen[(200, None)]
    assert all(retry for status, _, retry in greedy_answers if status == 429)
    assert set(side.votes) == {201} and set(side.reads) == {200}, (side.votes, side.reads)
    assert sum(side.votes.values()) >= 20, side.votes
