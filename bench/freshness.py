"""Figure 4 and the 1,000-subscriber check: how soon a vote reaches the results stream.

Subscribers are bare asyncio connections reading `/results/stream` line by line: a full
HTTP client per subscriber (httpx) would spend more time on each event than the server
does, and with 1,000 of them in one event loop the client, not the server, would set the
delivery times. Each `data:` line is a `results` event; its total_votes says which votes
it includes. Votes are cast with httpx, one at a time, so the n-th 201 is the vote that
makes total_votes reach n (the poll gets no other votes meanwhile).

Delay of vote n at a subscriber = when the subscriber first read an event with
total_votes >= n, minus when the client read vote n's 201. The server fans the event out
once the vote has committed, before or while the 201 travels, so a delay can be slightly
negative; it is reported as measured.
"""

import asyncio
import json
import time

import httpx

from bench.stats import percentile


def source_addresses(count, per_address):
    """`count` loopback source addresses, `per_address` times each (127.0.1.1, ...): any
    127.x.y.z is this machine, so a crowd can come from many addresses, as real clients
    do. From one, it would meet the front's per-address stream limit (STREAMS_PER_CLIENT)."""
    needed = (count + per_address - 1) // per_address
    addresses = [f"127.0.{1 + i // 250}.{1 + i % 250}" for i in range(needed)]
    return [addresses[i // per_address] for i in range(count)]


class Subscriber:
    def __init__(self, host, port, path, source=None):
        self.host, self.port, self.path, self.source = host, port, path, source
        self.events = []  # (monotonic time, total_votes)
        self.error = None
        self._task = None
        self.connected = asyncio.Event()

    async def run(self):
        try:
            reader, writer = await asyncio.open_connection(
                self.host, self.port, local_addr=(self.source, 0) if self.source else None
            )
        except OSError as exc:
            self.error = f"connect: {exc}"
            self.connected.set()
            return
        try:
            writer.write(
                f"GET {self.path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                "Accept: text/event-stream\r\n\r\n".encode()
            )
            status = await reader.readline()
            if b" 200 " not in status:
                self.error = status.decode(errors="replace").strip()
                return
            while (await reader.readline()) not in (b"\r\n", b""):
                pass  # headers
            await self._read_events(reader)
        except (OSError, asyncio.IncompleteReadError) as exc:
            self.error = self.error or f"read: {exc}"
        finally:
            self.connected.set()
            writer.close()

    async def _read_events(self, reader):
        # The body is chunked; every event is one chunk, so its `data:` line arrives
        # whole. Chunk-size lines, event names and heartbeats are skipped.
        while line := await reader.readline():
            if line.startswith(b"data:"):
                self.events.append((time.monotonic(), json.loads(line[5:])["total_votes"]))
                self.connected.set()

    def start(self):
        self._task = asyncio.ensure_future(self.run())
        return self

    async def stop(self):
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def first_seen(self, total):
        return next((t for t, seen in self.events if seen >= total), None)


async def subscribe(base, poll_id, count, *, batch=100, timeout=30):
    """`count` subscribers, connected `batch` at a time, each holding its first event."""
    host, port = base.removeprefix("http://").split(":")
    path = f"/api/v1/polls/{poll_id}/results/stream"
    subscribers, sources = [], source_addresses(count, per_address=batch)
    for start in range(0, count, batch):
        group = [
            Subscriber(host, int(port), path, source).start()
            for source in sources[start : start + batch]
        ]
        await asyncio.wait_for(
            asyncio.gather(*(s.connected.wait() for s in group)), timeout=timeout
        )
        subscribers += group
    return subscribers


async def cast_votes(base, poll, tokens, *, rate, check_results):
    """Cast one vote per token at `rate` per second; after each 201, read the results
    (when check_results) and count those that miss an acknowledged vote (stale)."""
    acked, statuses, stale = [], {}, 0
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        started = time.monotonic()
        for n, token in enumerate(tokens):
            await _sleep_until(started + n / rate)
            answer = await client.post(
                f"/api/v1/polls/{poll.id}/votes",
                json={"option_id": poll.options[n % len(poll.options)]},
                headers={"Authorization": f"Bearer {token}"},
            )
            statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1
            if answer.status_code != 201:
                continue
            acked.append(time.monotonic())
            if check_results:
                results = await client.get(f"/api/v1/polls/{poll.id}/results")
                if results.json()["total_votes"] < len(acked):
                    stale += 1
    return acked, statuses, stale


async def _sleep_until(moment):
    delay = moment - time.monotonic()
    if delay > 0:
        await asyncio.sleep(delay)


def delays(subscribers, acked):
    """Delays in ms over every (vote, subscriber) pair, and how many pairs never came."""
    found, missing = [], 0
    for n, acked_at in enumerate(acked, start=1):
        for s in subscribers:
            seen = s.first_seen(n)
            if seen is None:
                missing += 1
            else:
                found.append((seen - acked_at) * 1000)
    return found, missing


async def freshness(base, poll, tokens, *, subscribers=100, rate=20.0, settle=2.0):
    """Figure 4: `subscribers` on one poll while len(tokens) votes arrive at `rate`/s."""
    subs = await subscribe(base, poll.id, subscribers)
    try:
        acked, statuses, stale = await cast_votes(base, poll, tokens, rate=rate, check_results=True)
        await asyncio.sleep(settle)  # the trailing coalesced event
    finally:
        for s in subs:
            await s.stop()
    found, missing = delays(subs, acked)
    return {
        "subscribers": len(subs),
        "subscriber_errors": sum(1 for s in subs if s.error),
        "votes_201": len(acked),
        "vote_statuses": statuses,
        "rate_per_s": rate,
        "pairs": len(found) + missing,
        "missing_pairs": missing,
        "delay_p50_ms": percentile(found, 50),
        "delay_p99_ms": percentile(found, 99),
        "delay_max_ms": max(found, default=None),
        "delay_min_ms": min(found, default=None),
        "stale_reads": stale,
        "results_reads": len(acked),
    }


async def fan_out(base, poll, token, *, subscribers=1000, wait=10.0):
    """1,000 subscribers (100 per source address), one vote: who got it, and how soon."""
    subs = await subscribe(base, poll.id, subscribers)
    try:
        connected = sum(1 for s in subs if s.events)
        acked, statuses, _ = await cast_votes(base, poll, [token], rate=1, check_results=False)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and not all(s.first_seen(1) for s in subs):
            await asyncio.sleep(0.05)
    finally:
        for s in subs:
            await s.stop()
    found, _ = delays(subs, acked)
    return {
        "subscribers": subscribers,
        "connected": connected,
        "subscriber_errors": sum(1 for s in subs if s.error),
        "votes_201": len(acked),
        "vote_statuses": statuses,
        "received": len(found),
        "delay_p50_ms": percentile(found, 50),
        "delay_p99_ms": percentile(found, 99),
        "delay_max_ms": max(found, default=None),
    }
