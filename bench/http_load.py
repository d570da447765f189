"""HTTP load with wrk (Debian's package) and bench/lua/load.lua.

A run is a closed loop: T threads, C keep-alive connections, each sending its next
request as soon as the previous answer arrived (or after PACE ms, for a background
load). The Lua script reports per-thread status counts and timings, and wrk's latency
histogram gives the percentiles.
"""

import json
import shutil
import signal
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path

from devstack.processes import die_with_parent

LUA = Path(__file__).resolve().parent / "lua" / "load.lua"
DRAIN_S = 2  # after the window: answers to requests still in flight are read and counted


def ensure_wrk(say):
    if shutil.which("wrk"):
        return shutil.which("wrk")
    say("wrk is missing: apt-get update && apt-get install -y wrk")
    subprocess.run(["apt-get", "update", "-qq"], check=True)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "wrk"],
        check=True,
        env={"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
    )
    return shutil.which("wrk")


def wrk_version():
    out = subprocess.run(["wrk", "-v"], capture_output=True, text=True)
    first_line = (out.stdout + out.stderr).split("\n", 1)[0]  # "wrk 4.1.0 [epoll] ..."
    return first_line.split(" [")[0].removeprefix("wrk ").strip()


@dataclass
class Load:
    """One wrk run: what was sent, what came back, how fast."""

    label: str
    rate: float  # responses per second over the threads' active span
    ok_rate: float  # responses with the expected status per second
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    statuses: dict = field(default_factory=dict)
    socket_errors: dict = field(default_factory=dict)
    issued: int = 0
    responses: int = 0
    span_s: float = 0.0
    exhausted: bool = False
    connections: int = 0
    expected: int = 0  # responses with the expected status (201 for votes, 200 for reads)
    expected_status: int = 0
    min_ms: float = 0.0
    # [(percentile, ms)], fine in the tail: what stats.merged_percentile merges runs from
    quantiles: list = field(default_factory=list)

    @property
    def errors(self):
        """Everything that is not the expected answer: other statuses, socket errors,
        and requests that never got an answer."""
        return (
            self.responses
            - self.expected
            + sum(self.socket_errors.values())
            + (self.issued - self.responses)
        )

    @property
    def error_kinds(self):
        """The errors by kind: statuses other than the one expected, socket errors, and
        "unanswered" for the requests that never had an answer."""
        kinds = {s: n for s, n in self.statuses.items() if int(s) != self.expected_status}
        kinds.update(self.socket_errors)
        if self.issued > self.responses:
            kinds["unanswered"] = self.issued - self.responses
        return kinds

    @property
    def unanswered(self):
        """Requests whose answer never came (timeouts, resets): a vote among them may
        have counted. bench/audit.py allows for them, and only for them."""
        return sum(self.socket_errors.values()) + (self.issued - self.responses)

    def as_dict(self):
        """For results.json: without the quantile grid, which is what the merged p50 and
        p99 beside it were computed from (4 KB per round, 39 rounds in a full run: 70 %
        of the file)."""
        d = asdict(self)
        del d["quantiles"]
        d["errors"] = self.errors
        return d


def start(
    base, *, label, mode, data="-", window, threads, connections, pace_ms=0, path="", body=""
):
    """Start wrk in the background; finish(handle) waits and parses. `path` is the GET's
    (or the POST's) path, or for votes a path with {poll} in it (else the poll service's
    own); `body` is mode "post"'s body file."""
    args = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{window + DRAIN_S}s",
        "--timeout",
        f"{window + DRAIN_S + 5}s",  # answers are never dropped as timeouts
        "-s",
        str(LUA),
        base,
        "--",
        str(data),
        mode,
        str(window),
        str(pace_ms),
        str(threads),
        path,
        str(body),
    ]
    proc = subprocess.Popen(
        args,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # If the harness dies or is stopped, its load generators go with it.
        preexec_fn=die_with_parent(signal.SIGTERM),
    )
    return proc, label, connections, (200 if mode in ("get", "post") else 201)


def finish(handle):
    proc, label, connections, expected_status = handle
    out, err = proc.communicate()
    line = next((ln for ln in out.splitlines() if ln.startswith("BENCH-JSON ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {err.strip() or out[-2000:]}")
    return _parse(json.loads(line.split(" ", 1)[1]), label, connections, expected_status)


def run(base, **kwargs):
    return finish(start(base, **kwargs))


def _parse(raw, label, connections, expected_status):
    threads = list(raw["threads"].values())
    statuses = {}
    for t in threads:
        for status, n in (t["statuses"] or {}).items():
            statuses[status] = statuses.get(status, 0) + n
    active = [t for t in threads if t["responses"]]
    span = max(t["last"] for t in active) - min(t["first"] for t in active) if active else 0.0
    responses = sum(t["responses"] for t in threads)
    expected = statuses.get(str(expected_status), 0)
    lat = raw["latency_us"]
    return Load(
        label=label,
        rate=responses / span if span else 0.0,
        ok_rate=expected / span if span else 0.0,
        p50_ms=lat["p50"] / 1000,
        p90_ms=lat["p90"] / 1000,
        p99_ms=lat["p99"] / 1000,
        max_ms=lat["max"] / 1000,
        statuses=statuses,
        # wrk's "status" counts answers with a status over 399: answered, and counted
        # above already (it once made each refused vote two errors and one unanswered).
        socket_errors={k: v for k, v in raw["errors"].items() if v and k != "status"},
        issued=sum(t["issued"] for t in threads),
        responses=responses,
        span_s=span,
        exhausted=any(t["exhausted"] for t in threads),
        connections=connections,
        expected=expected,
        expected_status=expected_status,
        min_ms=lat["min"] / 1000,
        quantiles=[(p, us / 1000) for p, us in lat["quantiles"]],
    )
