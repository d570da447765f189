"""The load scenario: verified voters reading, revalidating, voting and listening.

    make loadtest                      # headless, against `make run` (docs/benchmarks.md)
    .venv/bin/locust -f loadtest/locustfile.py --host http://127.0.0.1:8000   # web UI

Before the users start (init): a staff account creates LOADTEST_POLLS open polls
and the voters are made verified (loadtest/voters.py). Each simulated user is one voter
and mixes, by the LOADTEST_W_* weights: results reads, ETag revalidations
(If-None-Match, 304 when nothing changed), votes (once per poll), the poll list (with
my_vote) and stream subscriptions (SSE, held LOADTEST_STREAM_SECONDS). When the run stops
(test_stop), loadtest/check.py compares the 201s with what the service counted, and the
process exits non-zero if they differ or any answer was a 5xx.
"""

import itertools
import json
import random
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import gevent
from locust import HttpUser, between, events, task
from requests.exceptions import RequestException

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from loadtest import check, voters  # noqa: E402
from loadtest import settings as lt  # noqa: E402

API = "/api/v1"
RESULTS = "/api/v1/polls/{id}/results"
REVALIDATE = "/api/v1/polls/{id}/results [If-None-Match]"
VOTE = "/api/v1/polls/{id}/votes"
STREAM = "/api/v1/polls/{id}/results/stream"
STREAM_FIRST_EVENT = "/api/v1/polls/{id}/results/stream [first event]"

STATE = {
    "admin": None,
    "polls": {},  # poll id -> option ids
    "tokens": None,
    "acks": Counter(),  # poll id -> 201s read
    "unanswered": 0,  # votes sent whose answer never came back
    "server_errors": Counter(),  # request name -> 5xx answers
    "revalidated": Counter(),  # status -> count
}


@events.request.add_listener
def _count_server_errors(name, response=None, **kwargs):
    if response is not None and getattr(response, "status_code", 0) >= 500:
        STATE["server_errors"][name] += 1


@events.init.add_listener
def _set_up(environment, **kwargs):
    # At init, not test_start: the run time limit (-t) starts ticking before test_start
    # listeners finish, and making voters takes seconds.
    base = environment.host.rstrip("/")
    users = environment.parsed_options.num_users if environment.parsed_options else 1
    print(f"[loadtest] setting up against {base}", flush=True)
    STATE["admin"] = voters.admin_token(base)
    STATE["polls"] = _create_polls(base, STATE["admin"])
    STATE["tokens"] = voters.voter_tokens(base, lt.VOTERS or users or 1)
    STATE["token_cycle"] = itertools.cycle(STATE["tokens"])
    print(f"[loadtest] polls {sorted(STATE['polls'])}; starting {users} users", flush=True)


def _create_polls(base, admin):
    session = voters.requests.Session()
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    closes_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 86400))
    polls = {}
    for n in range(1, lt.POLLS + 1):
        body = {
            "title": f"Load test {stamp} #{n}",
            "closes_at": closes_at,
            "options": [{"label": f"Option {i}"} for i in range(1, lt.OPTIONS + 1)],
        }
        response = voters._post(session, f"{base}{API}/polls", body, admin)
        if response.status_code != 201:
            raise voters.SetupError(f"creating a poll: {response.status_code} {response.text}")
        poll = response.json()
        polls[poll["id"]] = [o["id"] for o in poll["options"]]
        STATE["acks"][poll["id"]] = 0
    return polls


@events.test_stop.add_listener
def _check(environment, **kwargs):
    if not STATE["admin"]:
        environment.process_exit_code = 1
        return
    base = environment.host.rstrip("/")
    database_url = lt.DATABASE_URL or voters.local_database_url()
    passed, rows, lines = check.run_check(
        base,
        STATE["admin"],
        acks=dict(STATE["acks"]),
        unanswered=STATE["unanswered"],
        server_errors=STATE["server_errors"],
        database_url=database_url,
    )
    revalidated = dict(STATE["revalidated"])
    lines.insert(1, f"ETag revalidations by status: {revalidated}")
    print("\n".join(lines), flush=True)
    lt.OUT_DIR.mkdir(parents=True, exist_ok=True)
    (lt.OUT_DIR / "check.json").write_text(
        json.dumps(
            {
                "passed": passed,
                "polls": rows,
                "unanswered": STATE["unanswered"],
                "server_errors": dict(STATE["server_errors"]),
                "revalidated": revalidated,
            },
            indent=1,
        )
    )
    environment.process_exit_code = 0 if passed else 1


class Voter(HttpUser):
    """One verified voter (a token of its own while there are enough)."""

    wait_time = between(lt.WAIT_MIN, lt.WAIT_MAX)

    def on_start(self):
        self.auth = {"Authorization": f"Bearer {next(STATE['token_cycle'])}"}
        self.etags = {}
        self.to_vote = list(STATE["polls"])
        random.shuffle(self.to_vote)

    def _poll(self):
        return random.choice(list(STATE["polls"]))

    @task(lt.WEIGHTS["results"])
    def results(self, poll_id=None):
        poll_id = poll_id or self._poll()
        response = self.client.get(f"{API}/polls/{poll_id}/results", name=RESULTS)
        if response.status_code == 200:
            self.etags[poll_id] = response.headers.get("ETag")

    @task(lt.WEIGHTS["revalidate"])
    def revalidate(self):
        poll_id = self._poll()
        if not self.etags.get(poll_id):
            return self.results(poll_id)
        headers = {"If-None-Match": self.etags[poll_id]}
        response = self.client.get(
            f"{API}/polls/{poll_id}/results", headers=headers, name=REVALIDATE
        )
        STATE["revalidated"][response.status_code] += 1
        if response.status_code == 200:
            self.etags[poll_id] = response.headers.get("ETag")

    @task(lt.WEIGHTS["vote"])
    def vote(self):
        if not self.to_vote:
            return self.results()
        poll_id = self.to_vote.pop()
        body = {"option_id": random.choice(STATE["polls"][poll_id])}
        headers = {**self.auth, "Idempotency-Key": uuid.uuid4().hex}
        answered = False
        try:
            with self.client.post(
                f"{API}/polls/{poll_id}/votes",
                json=body,
                headers=headers,
                name=VOTE,
                catch_response=True,
            ) as response:
                answered = response.status_code != 0
                if response.status_code == 201:
                    STATE["acks"][poll_id] += 1
                elif response.status_code == 409 and "already_voted" in response.text:
                    response.success()  # a token shared by two users (LOADTEST_VOTERS < users)
        finally:
            if not answered:
                STATE["unanswered"] += 1

    @task(lt.WEIGHTS["polls"])
    def poll_list(self):
        self.client.get(f"{API}/polls", headers=self.auth, name=f"{API}/polls")

    @task(lt.WEIGHTS["stream"])
    def stream(self):
        """Subscribe for LOADTEST_STREAM_SECONDS; report the time to the first event."""
        poll_id = self._poll()
        started = time.perf_counter()
        first_event = None
        try:
            with self.client.get(
                f"{API}/polls/{poll_id}/results/stream",
                name=STREAM,
                stream=True,
                catch_response=True,
                timeout=(5, lt.STREAM_SECONDS + 20),
            ) as response:
                with gevent.Timeout(lt.STREAM_SECONDS, False):
                    for line in response.iter_lines():
                        if line.startswith(b"event:") and first_event is None:
                            first_event = time.perf_counter() - started
                if response.status_code == 200 and first_event is None:
                    response.failure("no event")
        except RequestException:
            return
        if first_event is not None:
            events.request.fire(
                request_type="SSE",
                name=STREAM_FIRST_EVENT,
                response_time=first_event * 1000,
                response_length=0,
                exception=None,
                context={},
            )
