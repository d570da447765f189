"""Staleness of results reads, measured against the votes acknowledged before them.

Votes are anonymous in the results, so a read is judged by its count: a read that
started at `s` and saw `total` votes misses a vote if more than `total` 201s had arrived
before `s`; it is then stale by at least `s` minus the arrival of the (total+1)-th 201.
After a fault, the contract bounds how long a read stays stale once the cache answers
again: for a read that starts after the recovery, staleness counts from the later of
that 201 and the recovery.
"""

import bisect
import threading
import time
from collections import Counter

import httpx

from tests.support.votes import cast, options_of, tally_audit

# docs/api-contract.md, "Results": once Redis answers again, no read is staler than this.
BOUND_S = 1.0


class Timeline:
    """201s and reads, each with its monotonic time, from any number of threads."""

    def __init__(self):
        self._lock = threading.Lock()
        self.acks = []  # when each 201 arrived
        self.reads = []  # (when the read started, total it saw)

    def acknowledged(self):
        with self._lock:
            self.acks.append(time.monotonic())

    def read(self, started, total):
        with self._lock:
            self.reads.append((started, total))

    def staleness(self, *, recovered_at=None):
        """For each read: how long before it the oldest vote it misses was acknowledged,
        or the cache recovered if that came later (0 when it misses none)."""
        acks = sorted(self.acks)
        out = []
        for started, total in self.reads:
            acked_before = bisect.bisect_left(acks, started)
            if total >= acked_before:
                out.append(0.0)
                continue
            since = acks[total]
            if recovered_at is not None and started >= recovered_at:
                since = max(since, recovered_at)
            out.append(started - since)
        return out


class Load:
    """Voters and readers against live servers, recorded on a Timeline. Voters take turns
    over `vote_bases` and readers over `read_bases` (several app nodes), each thread
    with its own kept connection; every voter has its own slice of `tokens`."""

    @classmethod
    def on(cls, poll, *, votes_to, reads_from, tokens, **sizes):
        """Votes for the poll's first option (Ada) to `votes_to`, reads from `reads_from`."""
        return cls(
            vote_bases=votes_to,
            read_bases=reads_from,
            poll_id=poll.pk,
            option_id=options_of(poll)["Ada"],
            tokens=tokens,
            **sizes,
        )

    def final_total(self, base):
        return httpx.get(f"{base}/api/v1/polls/{self.poll_id}/results", timeout=30).json()[
            "total_votes"
        ]

    def __init__(self, *, vote_bases, read_bases, poll_id, option_id, tokens, **sizes):
        self.vote_bases, self.read_bases = vote_bases, read_bases
        self.poll_id, self.option_id, self.tokens = poll_id, option_id, tokens
        self.voters = sizes.get("voters", 3)
        self.readers = sizes.get("readers", 3)
        self.pace_s = sizes.get("pace_s", 0.03)
        self.timeline = Timeline()
        self.votes, self.reads = Counter(), Counter()
        self._stop_voting, self._stop = threading.Event(), threading.Event()
        self._voting = threading.Event()
        self._voting.set()
        self._threads = []

    def __enter__(self):
        self._threads = [
            threading.Thread(target=self._vote, args=(i,), daemon=True) for i in range(self.voters)
        ] + [
            threading.Thread(target=self._read, args=(i,), daemon=True) for i in range(self.readers)
        ]
        for thread in self._threads:
            thread.start()
        return self

    def stop_voting(self):
        self._stop_voting.set()
        self._voting.set()

    def hold_votes(self):
        """Voters wait (after the vote in flight) until resume_votes()."""
        self._voting.clear()

    def resume_votes(self):
        self._voting.set()

    def __exit__(self, *exc):
        self._stop_voting.set()
        self._stop.set()
        for thread in self._threads:
            thread.join(60)

    @property
    def vote_errors(self):
        return sum(self.votes.values()) - self.votes[201]

    @property
    def read_errors(self):
        return sum(self.reads.values()) - self.reads[200]

    def _vote(self, i):
        with httpx.Client(timeout=30) as client:
            for n, token in enumerate(self.tokens[i :: self.voters]):
                self._voting.wait()
                if self._stop_voting.is_set():
                    return
                base = self.vote_bases[(i + n) % len(self.vote_bases)]
                status = cast(client, base, self.poll_id, self.option_id, token).status_code
                self.votes[status] += 1
                if status == 201:
                    self.timeline.acknowledged()
                time.sleep(self.pace_s)

    def _read(self, i):
        with httpx.Client(timeout=30) as client:
            n = 0
            while not self._stop.is_set():
                base = self.read_bases[(i + n) % len(self.read_bases)]
                n += 1
                started = time.monotonic()
                response = client.get(f"{base}/api/v1/polls/{self.poll_id}/results")
                self.reads[response.status_code] += 1
                if response.status_code == 200:
                    self.timeline.read(started, response.json()["total_votes"])


def report_and_check(load, final, figure, name, *, recovered_at, **figures):
    """After a cache fault: print the figure, then hold the run to the contract: no vote
    or read failed, no read staler than BOUND_S once the cache was back, the results
    equal to the rows, no drift."""
    counted, ballots, drift = tally_audit()
    staleness = load.timeline.staleness(recovered_at=recovered_at)
    after = [
        s
        for (started, _), s in zip(load.timeline.reads, staleness, strict=True)
        if started >= recovered_at
    ]
    figure(
        name,
        **figures,
        votes_201=load.votes[201],
        vote_errors=load.vote_errors,
        reads=sum(load.reads.values()),
        read_errors=load.read_errors,
        stale_reads=sum(1 for s in staleness if s > 0),
        stale_reads_after_recovery=sum(1 for s in after if s > 0),
        max_staleness_ms=round(1000 * max(staleness, default=0)),
        final_total=final,
        rows=ballots,
        drift=drift,
    )
    assert load.vote_errors == 0 and load.read_errors == 0, (load.votes, load.reads)
    assert max(staleness) <= BOUND_S, sorted(staleness)[-5:]
    assert final == load.votes[201] == ballots == counted and drift == 0
