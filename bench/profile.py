"""`python -m bench --profile`: where the app server's time goes, sampled with py-spy.

py-spy is not a project requirement; install it into the venv for an investigation
(`.venv/bin/pip install py-spy`). Profiled loads run after the measured phases, never
during them: sampling 100 times a second costs the server CPU, so these runs only say
where the time goes, not how fast it goes.

The summary is the inclusive share of samples per function, over the workers' busy
threads, leaving out the frames every request passes through (threads, asyncio, asgiref,
uvicorn, Django's handler and middleware plumbing).
"""

import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

PLUMBING = (
    "threading.py",
    "asyncio/",
    "concurrent/futures",
    "asgiref/",
    "multiprocessing/",
    "uvicorn/",
    "django/core/handlers/",
    "django/utils/deprecation.py",
    "django/views/",
    "django/middleware/",
    "whitenoise/",
    "corsheaders/",
    "pollsite/middleware.py",
    "APIView.dispatch",
    "funcy/",
    "contextlib.py",
    "<string>",
    "process ",
    "spawn_main",
)
# A busy thread's leaf is never one of these: they are waits for work.
# (Hub._listen_once sits in select() on its LISTEN connection.)
IDLE_LEAVES = (
    "wait (threading",
    "_worker (concurrent",
    "select (selectors",
    "run_forever",
    "Hub._listen_once",
)


def py_spy():
    found = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    return found if Path(found).exists() else None


def record(pid, seconds, output):
    """Start sampling the server (`pid`, with its worker processes) in the background."""
    return subprocess.Popen(
        [py_spy(), "record", "--pid", str(pid), "--subprocesses", "--format", "raw"]
        + ["--rate", "100", "--duration", str(seconds), "--output", str(output)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _frame(raw):
    found = re.match(r"(.*) \((.*?):\d+\)$", raw)
    if not found:
        return raw
    function, path = found.groups()
    path = re.sub(r".*site-packages/|.*/lib/python3\.\d+/", "", path)
    path = path.replace(str(Path(__file__).resolve().parent.parent) + "/", "")
    return f"{function} ({path})"


def summarize(raw_path, top=20):
    """[(share of busy samples, function)] for the `top` heaviest call chains.

    Frames whose counts are within half a percent of each other are taken as one chain
    (a caller and, nearly always, its one callee); each chain is shown once, by its
    innermost project frame where it has one, else its innermost frame.
    """
    inclusive, depth, busy = Counter(), {}, 0
    if not Path(raw_path).exists():  # py-spy could not attach
        return []
    for line in Path(raw_path).read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [_frame(f) for f in stack.split(";")]
        if not frames or any(idle in frames[-1] for idle in IDLE_LEAVES):
            continue
        busy += int(count)
        for level, frame in enumerate(frames):
            if frame not in depth and not any(p in frame for p in PLUMBING):
                depth[frame] = level
        for frame in set(frames):
            if frame in depth:
                inclusive[frame] += int(count)
    chains = []  # [[count of the chain's first frame, frames]]
    for frame, n in inclusive.most_common():
        if chains and chains[-1][0] - n <= busy * 0.005:
            chains[-1][1].append(frame)
        else:
            chains.append([n, [frame]])
    return [(round(n / busy, 3), _representative(f, depth)) for n, f in chains[:top]]


def _representative(frames, depth):
    ours = [f for f in frames if re.search(r"\((polls|identity|pollsite)/", f)]
    return max(ours or frames, key=lambda f: depth[f])
