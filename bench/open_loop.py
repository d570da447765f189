"""Latency at a constant offered load: requests sent at fixed times, whatever the server
answers (an open loop), each timed from the moment it was due.

A closed loop (wrk -c16: each connection sends its next request when the last one is
answered) gives a faster server more requests, and more of the 2 cores it shares with
the load generator, PostgreSQL and Redis, so two servers' tails are not comparable; and
a stall holds back the requests that would have met it (coordinated omission), so the
tail looks shorter than what users see. Here request i is due at start + i / rate; it
waits for one of `connections` kept-alive connections if all are busy, and that wait
counts in its latency. wrk and hey pace per connection (closed loop per connection);
wrk2 and vegeta, which do this, are not packaged for this machine's Debian.

HTTP/1.1 is written and read by hand on asyncio streams: a generic client cost 4-5
times the CPU per request, which it would take from the servers it measures.
"""

import asyncio
import math
import time
from collections import Counter
from dataclasses import dataclass, field


@dataclass
class OpenLoopRun:
    label: str
    rate: float  # offered, per second
    seconds: float
    latencies_ms: list = field(default_factory=list)  # due -> whole answer read
    statuses: Counter = field(default_factory=Counter)
    errors: int = 0  # connection errors
    late_ms: float = 0.0  # how far behind its own schedule the generator fell, at most

    @property
    def answered(self):
        return len(self.latencies_ms)

    def summary(self, expected_status):
        ok = self.statuses.get(expected_status, 0)
        return {
            "label": self.label,
            "rate": self.rate,
            "sent": self.answered + self.errors,
            "ok": ok,
            "other": self.answered - ok,
            "errors": self.errors,
            "late_ms": round(self.late_ms, 1),
        }


def request_bytes(method, path, *, host, token=None, body=None):
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", "Connection: keep-alive"]
    if token:
        lines.append(f"Authorization: Bearer {token}")
    payload = body.encode() if body is not None else b""
    if body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(payload)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + payload


async def _read_answer(reader):
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
    if headers.get("transfer-encoding", "").lower() == "chunked":
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    else:
        await reader.readexactly(int(headers.get("content-length", "0")))
    return status


async def _run(host, port, requests, *, label, rate, seconds, connections):
    run = OpenLoopRun(label, rate, seconds)
    pool = asyncio.Queue()
    for _ in range(connections):
        pool.put_nowait(await asyncio.open_connection(host, port))
    loop = asyncio.get_running_loop()
    tasks = set()

    async def send(due, data):
        reader, writer = await pool.get()
        try:
            writer.write(data)
            status = await _read_answer(reader)
        except (OSError, asyncio.IncompleteReadError, ValueError):
            run.errors += 1
            writer.close()
            try:
                reader, writer = await asyncio.open_connection(host, port)
            except OSError:
                return
        else:
            run.latencies_ms.append((loop.time() - due) * 1000)
            run.statuses[status] += 1
        pool.put_nowait((reader, writer))

    start = loop.time() + 0.05
    for i in range(int(rate * seconds)):
        due = start + i / rate
        now = loop.time()
        if due > now:
            await asyncio.sleep(due - now)
        else:
            run.late_ms = max(run.late_ms, (now - due) * 1000)
        task = asyncio.ensure_future(send(due, next(requests)))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await asyncio.gather(*tasks)
    while not pool.empty():
        _, writer = pool.get_nowait()
        writer.close()
    return run


def run(base, requests, *, label, rate, seconds, connections=64):
    """Send `rate` requests a second for `seconds` to `base` (http://host:port): each
    taken from the iterator `requests` (bytes, from request_bytes), due at its time."""
    host, port = base.removeprefix("http://").split(":")
    started = time.monotonic()
    result = asyncio.run(
        _run(
            host,
            int(port),
            requests,
            label=label,
            rate=rate,
            seconds=seconds,
            connections=connections,
        )
    )
    result.seconds = time.monotonic() - started
    return result


def percentile(latencies, p):
    """The p-th percentile of the merged latencies (nearest rank)."""
    ordered = sorted(latencies)
    if not ordered:
        return None
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]
