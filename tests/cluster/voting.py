"""A voting crowd for the failover tests: 16 voters, each voting with an Idempotency-Key
and retrying with the same key until it has an answer (as the contract asks of a client
told 503 or cut off), two readers of the results, and every answer kept with its time, so
that a test can say how long no write was acknowledged and check every acknowledged vote
against the rows of whichever node leads at the end."""

import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import httpx

from tests.cluster.conftest import open_poll

VOTERS = 16
READERS = 2
PAUSE = 0.05  # between a voter's answer and its next vote: a steady ~100 votes/s
RETRY_PAUSE = 0.2
GIVE_UP = 120  # seconds one voter keeps retrying one vote
POLLS_AHEAD = 14


@dataclass
class Answer:
    sent: float
    done: float
    status: object  # an HTTP status, or the name of a transport error
    retry_after: str | None = None
    code: str | None = None


@dataclass
class Ballot:
    poll_id: int
    token: str
    answers: list[Answer] = field(default_factory=list)

    @property
    def final(self):
        return self.answers[-1].status if self.answers else None


class VotingCrowd:
    """Votes from VOTERS threads and reads from READERS threads until stop(). Each voter
    takes the next (poll, token) pair: every token votes once per poll, and the next
    poll is opened when the tokens run out."""

    def __init__(self, cluster, staff, tokens, title):
        self.cluster, self.staff, self.tokens, self.title = cluster, staff, tokens, title
        self.polls: list[tuple[int, dict]] = []
        self.ballots: list[Ballot] = []
        self.reads: list[tuple[float, int, int | None, str | None]] = []
        self._next = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = []
        self._open_poll()

    def _open_poll(self):
        poll_id, options = open_poll(self.cluster, self.staff, f"{self.title} {len(self.polls)}")
        self.polls.append((poll_id, options))

    def _take(self):
        with self._lock:
            n = self._next
            self._next += 1
            round_, index = divmod(n, len(self.tokens))
            assert round_ < len(self.polls), "the test outlasted POLLS_AHEAD polls"
            ballot = Ballot(self.polls[round_][0], self.tokens[index])
            self.ballots.append(ballot)
            options = self.polls[round_][1]
            return ballot, options[("Ada", "Grace")[n % 2]]

    def start(self):
        # Polls opened ahead for the whole test (1,500 tokens each, about 15 s of votes; the
        # longest test votes about 2 minutes):
        # a voter must not need the database to get its next poll in the gap.
        for _ in range(POLLS_AHEAD):
            self._open_poll()
        self._threads = [threading.Thread(target=self._vote) for _ in range(VOTERS)]
        self._threads += [threading.Thread(target=self._read) for _ in range(READERS)]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self):
        self._stop.set()
        for thread in self._threads:
            thread.join(GIVE_UP + 30)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _vote(self):
        with httpx.Client(base_url=self.cluster.url, timeout=30) as client:
            while not self._stop.is_set():
                ballot, option_id = self._take()
                self._cast(client, ballot, option_id)
                time.sleep(PAUSE)

    def _cast(self, client, ballot, option_id):
        key = str(uuid.uuid4())
        give_up = time.monotonic() + GIVE_UP
        while time.monotonic() < give_up:
            sent = time.monotonic()
            try:
                response = client.post(
                    f"/api/v1/polls/{ballot.poll_id}/votes",
                    json={"option_id": option_id},
                    headers={"Authorization": f"Bearer {ballot.token}", "Idempotency-Key": key},
                )
            except httpx.TransportError as exc:
                ballot.answers.append(Answer(sent, time.monotonic(), type(exc).__name__))
                time.sleep(RETRY_PAUSE)
                continue
            code = None
            if response.status_code >= 400:
                try:
                    code = response.json().get("code")
                except ValueError:
                    code = "not json"
            ballot.answers.append(
                Answer(
                    sent,
                    time.monotonic(),
                    response.status_code,
                    response.headers.get("Retry-After"),
                    code,
                )
            )
            if response.status_code < 500:
                return
            time.sleep(RETRY_PAUSE)

    def _read(self):
        with httpx.Client(base_url=self.cluster.url, timeout=30) as client:
            while not self._stop.is_set():
                poll_id = self.polls[-1][0]
                at = time.monotonic()
                try:
                    response = client.get(f"/api/v1/polls/{poll_id}/results")
                except httpx.TransportError:
                    self.reads.append((at, -1, None, None))
                    continue
                total = response.json().get("total_votes") if response.status_code == 200 else None
                self.reads.append(
                    (at, response.status_code, total, response.headers.get("Retry-After"))
                )
                time.sleep(0.05)

    # -- what the crowd saw --

    def acknowledged(self):
        """(poll id, token) of every vote answered 201."""
        return [(b.poll_id, b.token) for b in self.ballots if b.final == 201]

    def acknowledged_since(self, moment):
        """Whether a vote sent after `moment` was acknowledged (one sent before may have
        committed before it and been answered after)."""
        return any(a.status == 201 and a.sent > moment for b in self.ballots for a in b.answers)

    def statuses(self):
        return Counter(str(a.status) for b in self.ballots for a in b.answers)

    def refusals_without_retry_after(self):
        return [
            a
            for b in self.ballots
            for a in b.answers
            if isinstance(a.status, int) and a.status >= 500 and not a.retry_after
        ]

    def gap(self, since=None):
        """The longest time between two acknowledged votes (by their answers' times),
        after `since` if given, and when it began: the time without writes."""
        times = sorted(a.done for b in self.ballots for a in b.answers if a.status == 201)
        if since is not None:
            before = [t for t in times if t <= since]
            times = before[-1:] + [t for t in times if t > since]
        pairs = list(zip(times, times[1:], strict=False))
        if not pairs:
            return 0.0, None
        start, end = max(pairs, key=lambda p: p[1] - p[0])
        return end - start, start

    def read_statuses(self):
        return Counter(str(status) for _, status, _, _ in self.reads)

    def verify(self, cluster):
        """Every acknowledged vote is a row on the leader now, none twice, and the counters
        equal a recount. Returns the figures."""
        polls = [poll_id for poll_id, _ in self.polls]
        rows = dict(
            (poll_id, (count, distinct))
            for poll_id, count, distinct in cluster.sql(
                "SELECT poll_id, count(*), count(DISTINCT voter_key) FROM polls_vote"
                " WHERE poll_id = ANY(%s) GROUP BY poll_id",
                [polls],
            )
        )
        acknowledged = Counter(poll_id for poll_id, _ in self.acknowledged())
        [(drift, ballot_drift)] = cluster.sql(
            "SELECT (SELECT COALESCE(sum(abs(drift)), 0) FROM tally_audit"
            "        WHERE poll_id = ANY(%s)),"
            " (SELECT COALESCE(sum(abs(drift)), 0) FROM ballot_tally_audit"
            "        WHERE poll_id = ANY(%s))",
            [polls, polls],
        )
        return {
            "votes": len(self.ballots),
            "acknowledged": sum(acknowledged.values()),
            "rows": sum(count for count, _ in rows.values()),
            "duplicates": sum(count - distinct for count, distinct in rows.values()),
            "unanswered": sum(b.final != 201 for b in self.ballots),
            "lost": sum(max(0, acknowledged[p] - rows.get(p, (0, 0))[0]) for p in polls),
            "extra": sum(max(0, rows.get(p, (0, 0))[0] - acknowledged[p]) for p in polls),
            "drift": int(drift) + int(ballot_drift),
        }

    def assert_sound(self, figures):
        """What every fault must leave: all answered, 0 lost, 0 duplicated, no drift,
        and only 503/504 with Retry-After on the way (no 500, no other error)."""
        assert figures["unanswered"] == 0, [
            (b.poll_id, [(a.status, a.code) for a in b.answers])
            for b in self.ballots
            if b.final != 201
        ][:5]
        assert figures["lost"] == 0 and figures["extra"] == 0, figures
        assert figures["duplicates"] == 0 and figures["drift"] == 0, figures
        statuses = set(self.statuses())
        assert statuses <= {"201", "503", "504"}, self.statuses()
        assert not self.refusals_without_retry_after(), self.refusals_without_retry_after()[:3]
        reads = set(self.read_statuses())
        assert reads <= {"200", "503", "504"}, self.read_statuses()
        for _, status, _, retry_after in self.reads:
            assert status < 500 or retry_after, status
