"""Figure 6: a vote written outside the API (psql, an import) reaches the results.

No API call announces such a vote: `manage.py reconcile_results` (running as under
`make run`) finds the cached entry's version behind the database's and repairs it. Each
sample reads the results (so they are cached), inserts one vote with SQL at a random
point of the reconciler's cycle, and reads the results every 10 ms until the vote shows;
the delay is from the INSERT's commit to the first read that includes it.
"""

import random
import secrets
import time

import httpx

from bench import audit
from bench.stats import percentile

INSERT = "INSERT INTO polls_vote (poll_id, option_id, voter_key, receipt) VALUES (%s, %s, %s, %s)"
GIVE_UP_S = 10.0


def figure(stack, base, poll, *, samples, say):
    url = f"{base}/api/v1/polls/{poll.id}/results"
    delays, missed = [], 0
    with httpx.Client(timeout=5) as client:
        for i in range(samples):
            time.sleep(random.uniform(0.1, 1.3))  # land anywhere in the reconciler's cycle
            before = client.get(url).json()["total_votes"]
            stack.sql(
                INSERT,
                [
                    poll.id,
                    poll.options[i % len(poll.options)],
                    secrets.token_bytes(32),
                    secrets.token_hex(16),
                ],
            )
            written = time.monotonic()
            while client.get(url).json()["total_votes"] <= before:
                if time.monotonic() - written > GIVE_UP_S:
                    missed += 1
                    break
                time.sleep(0.01)
            else:
                delays.append((time.monotonic() - written) * 1000)
    result = {
        "samples": samples,
        "missed": missed,
        "delay_p50_ms": percentile(delays, 50),
        "delay_max_ms": max(delays) if delays else None,
    }
    say(f"  {result}")
    return result, audit.phase(stack, "out-of-band votes", [poll.id], created=samples)
