"""schemathesis over the whole schema, with a staff token and a voter token, against the
production app server: no server error, and every response as the schema declares it."""

import re
import subprocess
import sys
import time

import pytest

from tests.support.voters import verified_tokens

pytestmark = [pytest.mark.reliability, pytest.mark.django_db(transaction=True)]
MAX_EXAMPLES = 15
CHECKS = "not_a_server_error,response_schema_conformance,content_type_conformance"


def schemathesis(base, token, report):
    args = [
        sys.executable, "-m", "schemathesis.cli", "run", f"{base}/api/schema",
        "--checks", CHECKS,
        "--max-examples", str(MAX_EXAMPLES),
        "--header", f"Authorization: Bearer {token}",
        # The results stream never ends by design: a fuzzer would wait on it forever.
        "--exclude-path-regex", "/results/stream$",
        # Logout kills the very token the run authenticates with.
        "--exclude-path", "/api/v1/auth/logout",
        "--generation-deterministic",
        "--request-timeout", "20",
        "--report", "junit", "--report-junit-path", str(report),
        "--no-color",
    ]  # fmt: skip
    return subprocess.run(args, capture_output=True, text=True, timeout=600)


def test_it_survives_schemathesis_with_staff_and_voter_tokens(
    web_server, auth_api, staff, make_poll, figure, scratch, settings
):
    make_poll()
    make_poll(title="Second", publish=False)
    staff = auth_api(staff)._credentials["HTTP_AUTHORIZATION"].split()[1]
    [voter] = verified_tokens(1)
    totals = {}
    for who, token in (("staff", staff), ("voter", voter)):
        started = time.monotonic()
        run = schemathesis(web_server.url, token, scratch / f"{who}.xml")
        elapsed = time.monotonic() - started
        cases = re.findall(r"(\d+) generated", run.stdout)
        totals[who] = (run.returncode, cases[-1] if cases else "?", f"{elapsed:.0f}s")
        print(run.stdout[-3000:])
        assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
        assert "Server error" not in run.stdout
    figure(
        "schemathesis",
        checks=CHECKS,
        max_examples=MAX_EXAMPLES,
        staff_cases=totals["staff"][1],
        staff_seconds=totals["staff"][2],
        voter_cases=totals["voter"][1],
        voter_seconds=totals["voter"][2],
        failures=0,
    )
