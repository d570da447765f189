"""The results stream sends each version once, in order: N votes paced wider than the
stream's coalescing interval give every subscriber the frames 0, 1, ..., N, and nothing
else, with the reconciler running beside the servers (it must wake streams only for
changes nobody announced) and the stream's own periodic reread."""

import json
import threading
import time

import httpx
import pytest
from django.conf import settings

from tests.support import stack
from tests.support.voters import verified_tokens
from tests.support.votes import cast, options_of

pytestmark = [pytest.mark.reliability, pytest.mark.django_db(transaction=True)]
SUBSCRIBERS, VOTES = 5, 12


def collect_versions(response, seen, stop):
    """Append the version of each `results` event as it arrives, until `stop` is set
    (checked at every frame; the test server sends a heartbeat every second)."""
    buffer = ""
    for chunk in response.iter_text():
        buffer += chunk
        while "\n\n" in buffer:
            frame, buffer = buffer.split("\n\n", 1)
            if not frame.startswith(":"):  # not a heartbeat
                seen.append(json.loads(frame.split("data: ", 1)[1])["version"])
            if stop.is_set():
                return


def test_it_sends_each_subscriber_each_version_once(web_server, make_poll, scratch, figure):
    reconciler = stack.manage_child(
        "reconciler", ["reconcile_results"], env=web_server.env, log=scratch / "reconciler.log"
    )
    poll = make_poll()
    option = options_of(poll)["Grace"]
    tokens = verified_tokens(VOTES)
    url = f"{web_server.url}/api/v1/polls/{poll.pk}/results/stream"
    seen = [[] for _ in range(SUBSCRIBERS)]
    statuses = [None] * SUBSCRIBERS
    connected, stop = threading.Barrier(SUBSCRIBERS + 1), threading.Event()

    def subscribe(index):
        with httpx.stream("GET", url, timeout=30) as response:
            statuses[index] = response.status_code
            connected.wait(10)
            if response.status_code == 200:
                collect_versions(response, seen[index], stop)
            else:
                statuses[index] = (response.status_code, response.read().decode())

    threads = [threading.Thread(target=subscribe, args=(i,)) for i in range(SUBSCRIBERS)]
    try:
        for thread in threads:
            thread.start()
        connected.wait(10)
        with httpx.Client(timeout=30) as client:
            for token in tokens:
                assert cast(client, web_server.url, poll.pk, option, token).status_code == 201
                # Wider than the coalescing interval, so no two votes share a frame.
                time.sleep(settings.RESULTS_STREAM_MIN_INTERVAL + 0.15)
        # Listen on: rereads and reconciler passes must find no news.
        time.sleep(2 * settings.RESULTS_STREAM_REFRESH_SECONDS + 1)
    finally:
        stop.set()
        for thread in threads:
            thread.join(20)
        reconciler.stop()
    figure(
        "stream_frames",
        subscribers=SUBSCRIBERS,
        votes=VOTES,
        frames=sum(len(s) for s in seen),
        repeated=sum(len(s) - len(set(s)) for s in seen),
    )
    assert statuses == [200] * SUBSCRIBERS, statuses
    for versions in seen:
        assert versions == list(range(VOTES + 1)), versions
