import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path

import httpx
import pytest

from identity import signing
from identity.national_id import SCHEMES, get_scheme
from identity.registry_protocol import LOOKUP_PATH as LOOKUP
from registry_simulator.population import (
    PopulationError,
    demo_examples,
    demo_population,
    load_population,
)
from registry_simulator.server import make_server

CLIENT_ID = "poll-service"
SECRET = "test-registry-secret"

# Alice is alive, Bob is deceased, Carol is a minor (za numbers; the dates match).
ALICE = "7503305044089"
BOB = "4112038137187"
CAROL = "1510025649184"
CSV_ROWS = [
    "national_id,first_name,last_name,date_of_birth,status",
    f"{ALICE[:6]} {ALICE[6:]},Alice,Adeyemi,1975-03-30,alive",
    f"{BOB},Bob,Botha,1941-12-03,deceased",
    f"{CAROL},Carol,Chen,2015-10-02,alive",
]
PROJECT = Path(__file__).resolve().parents[2]


def write_csv(tmp_path, rows):
    path = tmp_path / "citizens.csv"
    path.write_text("\n".join(rows) + "\n")
    return str(path)


@pytest.fixture
def registry(tmp_path):
    citizens = load_population(get_scheme("za"), write_csv(tmp_path, CSV_ROWS))
    server = make_server("127.0.0.1", 0, citizens=citizens, client_id=CLIENT_ID, secret=SECRET)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    with httpx.Client(base_url=server.url, timeout=5) as client:
        yield Registry(client)
    server.shutdown()
    server.server_close()


class Registry:
    """A test client that signs its requests like identity/registry.py does."""

    def __init__(self, client):
        self.client = client

    def call(self, method, path, payload=None, *, body=None, now=None, secret=SECRET, **kw):
        if body is None:
            body = b"" if payload is None else json.dumps(payload).encode()
        headers = signing.sign_request(
            secret, client_id=CLIENT_ID, method=method, path=path, body=body, now=now
        )
        response = self.client.request(method, path, content=body, headers=headers, **kw)
        response.request_sig = headers[signing.SIGNATURE_HEADER]
        return response

    def lookup(self, number, **kw):
        return self.call("POST", LOOKUP, {"national_id": number}, **kw)

    def faults(self, **faults):
        response = self.call("POST", "/_sim/faults", faults)
        assert response.status_code == 200, response.text
        return response.json()


def signed_by_registry(response, request_sig=None):
    return signing.verify_response(
        SECRET,
        headers=response.headers,
        status=response.status_code,
        body=response.content,
        request_sig=response.request_sig if request_sig is None else request_sig,
    )


def test_it_finds_a_citizen(registry):
    response = registry.lookup(ALICE)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == {
        "national_id": ALICE,
        "first_name": "Alice",
        "last_name": "Adeyemi",
        "date_of_birth": "1975-03-30",
        "status": "alive",
    }
    assert signed_by_registry(response)


def test_it_reports_a_deceased_citizen(registry):
    assert registry.lookup(BOB).json()["status"] == "deceased"


def test_it_does_not_find_an_unknown_number(registry):
    response = registry.lookup("8001015009087")
    assert response.status_code == 404
    assert response.json() == {"error": "not_found"}
    assert signed_by_registry(response)


@pytest.mark.parametrize("body", [b"not json", b"[]", b"{}", b'{"national_id": 7503305044089}'])
def test_it_refuses_a_malformed_body(registry, body):
    response = registry.call("POST", LOOKUP, body=body)
    assert response.status_code == 400
    assert response.json() == {"error": "bad_request"}
    assert signed_by_registry(response)


def test_it_refuses_an_unsigned_request(registry):
    response = registry.client.post(LOOKUP, json={"national_id": ALICE})
    assert response.status_code == 401
    assert response.json() == {"error": "bad_signature"}
    assert signed_by_registry(response, request_sig="")


def test_it_refuses_a_stale_signature(registry):
    response = registry.lookup(ALICE, now=time.time() - 400)
    assert response.status_code == 401
    assert signed_by_registry(response)


def test_it_refuses_a_wrong_secret(registry):
    assert registry.lookup(ALICE, secret="guessed").status_code == 401


def test_it_refuses_an_unknown_client(registry):
    body = json.dumps({"national_id": ALICE}).encode()
    headers = signing.sign_request(
        SECRET, client_id="mallory", method="POST", path=LOOKUP, body=body
    )
    response = registry.client.post(LOOKUP, content=body, headers=headers)
    assert response.status_code == 401


def test_it_refuses_a_tampered_body(registry):
    signed = json.dumps({"national_id": ALICE}).encode()
    headers = signing.sign_request(
        SECRET, client_id=CLIENT_ID, method="POST", path=LOOKUP, body=signed
    )
    tampered = json.dumps({"national_id": BOB}).encode()
    response = registry.client.post(LOOKUP, content=tampered, headers=headers)
    assert response.status_code == 401
    assert response.json() == {"error": "bad_signature"}


def test_it_binds_the_response_signature_to_the_request(registry):
    response = registry.lookup(ALICE)
    assert signed_by_registry(response)
    assert not signed_by_registry(response, request_sig="another-request")


def test_it_answers_404_for_an_unknown_path(registry):
    response = registry.call("POST", "/v1/citizens/search", {"national_id": ALICE})
    assert response.status_code == 404
    assert response.json() == {"error": "no_such_endpoint"}
    assert signed_by_registry(response)


def test_it_answers_405_for_a_wrong_method(registry):
    assert registry.call("GET", LOOKUP).status_code == 405


def test_it_fails_in_error_mode(registry):
    registry.faults(mode="error")
    response = registry.lookup(ALICE)
    assert response.status_code == 500
    assert response.json() == {"error": "internal"}
    assert signed_by_registry(response)


def test_it_fails_at_the_error_rate(registry):
    registry.faults(error_rate=1)
    assert {registry.lookup(ALICE).status_code for _ in range(5)} == {500}
    registry.faults(error_rate=0.0)
    assert {registry.lookup(ALICE).status_code for _ in range(5)} == {200}


def test_it_hangs_in_timeout_mode(registry):
    registry.faults(mode="timeout", hang_seconds=1)
    with pytest.raises(httpx.ReadTimeout):
        registry.lookup(ALICE, timeout=0.3)
    started = time.monotonic()
    response = registry.lookup(ALICE)
    assert response.status_code == 200
    assert time.monotonic() - started >= 1
    assert signed_by_registry(response)


def test_it_sends_signed_garbage(registry):
    registry.faults(mode="garbage")
    response = registry.lookup(ALICE)
    assert response.status_code == 200
    assert response.content == b"not json {{"
    assert signed_by_registry(response)


def test_it_leaves_out_fields(registry):
    registry.faults(mode="missing_fields")
    response = registry.lookup(ALICE)
    assert response.status_code == 200
    assert response.json() == {"national_id": ALICE, "first_name": "Alice"}
    assert signed_by_registry(response)


def test_it_redirects(registry):
    registry.faults(mode="redirect")
    response = registry.lookup(ALICE)
    assert response.status_code == 302
    assert response.headers["Location"] == "http://127.0.0.1:9/elsewhere"
    assert signed_by_registry(response)


def test_it_signs_with_the_wrong_key(registry):
    registry.faults(mode="bad_signature")
    response = registry.lookup(ALICE)
    assert response.status_code == 200
    assert response.json()["national_id"] == ALICE
    assert not signed_by_registry(response)


def test_it_adds_latency(registry):
    registry.faults(latency_ms=300)
    started = time.monotonic()
    assert registry.lookup(ALICE).status_code == 200
    assert time.monotonic() - started >= 0.3


def test_it_resets_omitted_faults(registry):
    active = registry.faults(mode="error", latency_ms=5, error_rate=0.5, hang_seconds=2)
    assert active == {"mode": "error", "latency_ms": 5, "error_rate": 0.5, "hang_seconds": 2}
    assert registry.faults(latency_ms=1)["mode"] == "ok"
    active = registry.faults()
    assert active == {"mode": "ok", "latency_ms": 0, "error_rate": 0.0, "hang_seconds": 30}
    assert registry.lookup(ALICE).status_code == 200


@pytest.mark.parametrize(
    "faults",
    [
        {"latency_ms": -1},
        {"latency_ms": 1.5},
        {"latency_ms": True},
        {"error_rate": 1.5},
        {"error_rate": "0.5"},
        {"mode": "melt"},
        {"mode": ["ok"]},
        {"hang_seconds": 0},
        {"hang_seconds": float("inf")},
        {"modes": "error"},
    ],
)
def test_it_refuses_invalid_faults(registry, faults):
    response = registry.call("POST", "/_sim/faults", faults)
    assert response.status_code == 400
    assert response.json()["error"] == "bad_request"
    assert registry.lookup(ALICE).status_code == 200  # nothing changed


def test_it_refuses_unsigned_faults(registry):
    response = registry.client.post("/_sim/faults", json={"mode": "error"})
    assert response.status_code == 401
    assert registry.lookup(ALICE).status_code == 200


def test_it_counts_every_lookup(registry):
    registry.lookup(ALICE)
    registry.lookup("8001015009087")
    registry.client.post(LOOKUP, json={"national_id": ALICE})  # unsigned, still counted
    registry.faults(mode="error")
    registry.lookup(ALICE)
    response = registry.call("GET", "/_sim/stats")
    assert response.json() == {"lookups": 4}
    assert signed_by_registry(response)


def test_it_loads_citizens_from_csv(tmp_path):
    citizens = load_population(get_scheme("za"), write_csv(tmp_path, CSV_ROWS))
    assert sorted(citizens) == sorted([ALICE, BOB, CAROL])  # canonicalized
    assert citizens[ALICE].date_of_birth == date(1975, 3, 30)


@pytest.mark.parametrize(
    "bad_row",
    [
        "7503305044088,Dave,Dube,1975-03-30,alive",  # check digit
        "7503305044089,Dave,Dube,1975-03-30,alive",  # Alice again
        "7503305044089,Dave,Dube,1975-03-31,alive",  # the number says the 30th
        "8001015009087,Dave,Dube,1980-01-01,missing",
        "8001015009087,Dave,Dube,01/01/1980,alive",
        "8001015009087,Dave,,1980-01-01,alive",
        "8001015009087,Dave,Dube,1980-01-01",
    ],
)
def test_it_names_the_line_of_a_bad_row(tmp_path, bad_row):
    path = write_csv(tmp_path, [*CSV_ROWS[:2], bad_row, *CSV_ROWS[2:]])
    with pytest.raises(PopulationError, match="line 3") as info:
        load_population(get_scheme("za"), path)
    assert bad_row.split(",")[0] not in str(info.value)


def test_it_refuses_a_wrong_header(tmp_path):
    path = write_csv(tmp_path, ["id,first_name,last_name,date_of_birth,status"])
    with pytest.raises(PopulationError, match="header"):
        load_population(get_scheme("za"), path)


@pytest.mark.parametrize("code", sorted(SCHEMES))
def test_it_generates_the_same_valid_demo_population(code):
    scheme = get_scheme(code)
    citizens = demo_population(scheme)
    assert citizens == demo_population(scheme)
    assert load_population(scheme, None) == citizens
    assert len(citizens) == 1000
    for number, citizen in citizens.items():
        assert scheme.validate(number) == number == citizen.national_id
        assert scheme.matches_birth_date(number, citizen.date_of_birth)
        assert date(1930, 1, 1) <= citizen.date_of_birth <= date(2015, 12, 31)
    deceased = sum(c.status == "deceased" for c in citizens.values())
    assert 20 <= deceased <= 80


def test_it_picks_banner_examples_of_each_kind():
    examples = demo_examples(demo_population(get_scheme("za")), date(2026, 1, 1), 18)
    notes = [note for _, note in examples]
    assert notes == ["alive adult"] * 3 + ["deceased adult", "minor"]
    assert examples[4][0].date_of_birth > date(2008, 1, 1)


def run_simulator(env, *args):
    return subprocess.Popen(
        [sys.executable, "-m", "registry_simulator", "--host", "127.0.0.1", *args],
        cwd=PROJECT,
        env={**os.environ, "NATIONAL_ID_SCHEME": "za", "REGISTRY_SIM_DATA": "", **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_it_runs_as_a_process_and_stops_on_sigterm():
    process = run_simulator({}, "--port", "0")
    try:
        lines = [process.stdout.readline() for _ in range(8)]
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    assert "(deceased adult)" in "".join(lines)
    assert "(minor)" in "".join(lines)
    assert lines[-1].startswith("registry simulator ready on http://127.0.0.1:")


def test_it_will_not_start_with_a_bad_csv(tmp_path):
    path = write_csv(tmp_path, [*CSV_ROWS, "7503305044088,Dave,Dube,1975-03-30,alive"])
    process = run_simulator({"REGISTRY_SIM_DATA": path}, "--port", "0")
    _, stderr = process.communicate(timeout=30)
    assert process.returncode != 0
    assert "line 5" in stderr
    assert "7503305044088" not in stderr
