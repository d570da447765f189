"""Many results-stream subscribers at once, each a bare asyncio connection from a source
address of its choosing (any 127.x.y.z is this machine), so a test can stand for
thousands of clients behind hundreds of addresses. A full HTTP client per subscriber
would cost the test more than the server."""

import asyncio
import contextlib
import json
import time

import psutil

# The same crowd helpers as the benchmarks' (re-exported for the tests).
from bench.freshness import source_addresses as sources  # noqa: F401
from bench.stack import raise_open_files_limit  # noqa: F401


class Subscriber:
    """One GET of /results/stream: its status, its problem code if refused, when its
    first `results` event came, and the events' total_votes."""

    def __init__(self, base, poll_id, source):
        host, port = base.removeprefix("http://").split(":")
        self.host, self.port, self.source = host, int(port), source
        self.path = f"/api/v1/polls/{poll_id}/results/stream"
        self.status = None  # the HTTP status, or "connect"/"read" on a socket error
        self.code = None  # a refusal's problem code
        self.retry_after = None
        self.started = self.first_event = None
        self.totals = []
        self.answered = asyncio.Event()  # a status and, if 200, the first event
        self._task = None

    def start(self):
        self._task = asyncio.ensure_future(self._run())
        return self

    async def close(self):
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self):
        self.started = time.monotonic()
        writer = None
        try:
            reader, writer = await asyncio.open_connection(
                self.host, self.port, local_addr=(self.source, 0)
            )
            writer.write(
                f"GET {self.path} HTTP/1.1\r\nHost: {self.host}\r\n"
                "Accept: text/event-stream\r\n\r\n".encode()
            )
            self.status = int((await reader.readline()).split()[1])
            headers = {}
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode().partition(":")
                headers[name.strip().lower()] = value.strip()
            self.retry_after = headers.get("retry-after")
            if self.status != 200:
                if "content-length" in headers:
                    body = await reader.readexactly(int(headers["content-length"]))
                else:  # chunked: the problem document is small, its first chunk
                    body = await reader.readexactly(int(await reader.readline(), 16))
                self.code = json.loads(body).get("code")
                return
            while line := await reader.readline():
                if line.startswith(b"data:"):
                    self.totals.append(json.loads(line[5:])["total_votes"])
                    if self.first_event is None:
                        self.first_event = time.monotonic()
                        self.answered.set()
        except (OSError, ValueError, IndexError) as exc:
            self.status = self.status or ("connect" if writer is None else "read")
            self.code = self.code or type(exc).__name__
        finally:
            self.answered.set()
            if writer is not None:
                writer.close()


async def open_all(base, poll_id, addresses):
    """One subscriber per entry of `addresses`, all started at once."""
    return [Subscriber(base, poll_id, source).start() for source in addresses]


async def wait_answered(subscribers, timeout):
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.gather(*(s.answered.wait() for s in subscribers)), timeout)


async def close_all(subscribers):
    await asyncio.gather(*(s.close() for s in subscribers))


def streams_held(port):
    """Connections the stream server on `port` holds (the server's end, ESTABLISHED)."""
    return sum(
        1
        for c in psutil.net_connections(kind="tcp")
        if c.laddr and c.laddr.port == port and c.status == psutil.CONN_ESTABLISHED
    )


async def wait_drained(web, poll_id, timeout=60):
    """Wait until the stream servers have let go of a crowd that was just closed: a
    server notices a close on its own time (its disconnect watch, or a failed write),
    and until it has the places stay taken, so that the next crowd (or the next test's
    subscribers) would be refused with 503 stream_capacity. Drained when the stream
    server holds no connection, and a round of probes (spread over its processes by
    the kernel) is admitted whole."""
    deadline = time.monotonic() + timeout
    while True:
        held = sum(streams_held(port) for port in web.stream_ports)
        if not held:
            probes = await open_all(web.url, poll_id, ["127.0.0.1"] * 8)
            await wait_answered(probes, timeout=10)
            admitted = all(s.status == 200 and s.first_event for s in probes)
            await close_all(probes)
            if admitted:
                return
        if time.monotonic() > deadline:
            raise AssertionError(
                f"the stream server still holds {held} connections {timeout} s after a crowd closed"
            )
        await asyncio.sleep(0.25)
