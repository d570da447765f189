"""The development national registry: a separate HTTP process that answers like the real one.

    python -m identity.simulator [--host 127.0.0.1] [--port 8001]

It speaks the registry's signed protocol (identity/signing.py) so the real client is what
gets exercised, and adds /_sim/faults and /_sim/stats for fault and load tests. It only
reads settings; it never touches the database.
"""

import argparse
import csv
import json
import math
import os
import random
import signal
import socketserver
import sys
import threading
import time
from dataclasses import dataclass
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from django.conf import settings

from identity import signing
from identity.national_id import InvalidNationalId, Scheme, get_scheme

LOOKUP_PATH = "/v1/citizens/lookup"
FAULTS_PATH = "/_sim/faults"
STATS_PATH = "/_sim/stats"
ROUTES = {(LOOKUP_PATH, "POST"), (FAULTS_PATH, "POST"), (STATS_PATH, "GET")}

MODES = ("ok", "error", "timeout", "garbage", "missing_fields", "redirect", "bad_signature")
DEFAULT_FAULTS = {"latency_ms": 0, "error_rate": 0.0, "mode": "ok", "hang_seconds": 30}
MAX_SLEEP_SECONDS = 3600  # a typo in a fault must not park threads for days
MAX_BODY_BYTES = 64 * 1024
CSV_FIELDS = ["national_id", "first_name", "last_name", "date_of_birth", "status"]
STATUSES = ("alive", "deceased")

DEMO_SEED = 20240601
DEMO_SIZE = 1000
DEMO_FIRST_BORN = date(1930, 1, 1)
DEMO_LAST_BORN = date(2015, 12, 31)
DEMO_DECEASED_SHARE = 0.05
FIRST_NAMES = (
    "Amara", "Bongani", "Chipo", "Dmitri", "Ewa", "Farah", "Gita", "Hendrik", "Imani", "Jaan",
    "Kagiso", "Liis", "Mandla", "Nomvula", "Olu", "Priya", "Rahul", "Sipho", "Thandiwe",
    "Wanjiru",
)  # fmt: skip
LAST_NAMES = (
    "Adeyemi", "Botha", "Dlamini", "Kamau", "Khumalo", "Mets", "Mokoena", "Naidoo", "Nkosi",
    "Okafor", "Otieno", "Patel", "Sharma", "Tamm", "van der Merwe", "Zulu",
)  # fmt: skip


class PopulationError(Exception):
    """The citizens file cannot be loaded; the message names the line, never a number."""


@dataclass(frozen=True)
class Citizen:
    national_id: str
    first_name: str
    last_name: str
    date_of_birth: date
    status: str

    def as_json(self) -> dict:
        return {
            "national_id": self.national_id,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "date_of_birth": self.date_of_birth.isoformat(),
            "status": self.status,
        }


# --- Population ---------------------------------------------------------------------------


def load_population(scheme: Scheme, csv_path: str | None) -> dict[str, Citizen]:
    """The citizens from `csv_path`, or the demo population when there is no file."""
    if csv_path:
        return read_csv(scheme, csv_path)
    return demo_population(scheme)


def read_csv(scheme: Scheme, csv_path: str) -> dict[str, Citizen]:
    citizens = {}
    with open(csv_path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames != CSV_FIELDS:
            raise PopulationError(f"{csv_path}: the header must be {','.join(CSV_FIELDS)}")
        for row in reader:
            try:
                citizen = _parse_row(scheme, row)
            except ValueError as exc:
                raise PopulationError(f"{csv_path}, line {reader.line_num}: {exc}") from None
            if citizen.national_id in citizens:
                raise PopulationError(f"{csv_path}, line {reader.line_num}: duplicate national_id")
            citizens[citizen.national_id] = citizen
    return citizens


def _parse_row(scheme: Scheme, row: dict) -> Citizen:
    """One CSV row as a Citizen; ValueError messages must not quote the number."""
    if None in row or None in row.values():
        raise ValueError(f"expected {len(CSV_FIELDS)} columns")
    try:
        number = scheme.validate(row["national_id"])
    except InvalidNationalId as exc:
        raise ValueError(f"invalid national_id: {exc}") from None
    try:
        born = date.fromisoformat(row["date_of_birth"])
    except ValueError:
        raise ValueError("date_of_birth is not a YYYY-MM-DD date") from None
    # A real registry never disagrees with its own numbers; catch a typo in test data here.
    if not scheme.matches_birth_date(number, born):
        raise ValueError("date_of_birth does not match the date in national_id")
    if row["status"] not in STATUSES:
        raise ValueError(f"status must be one of {', '.join(STATUSES)}")
    if not row["first_name"].strip() or not row["last_name"].strip():
        raise ValueError("first_name and last_name are required")
    return Citizen(number, row["first_name"], row["last_name"], born, row["status"])


def demo_population(scheme: Scheme) -> dict[str, Citizen]:
    """About DEMO_SIZE citizens, the same ones on every run for a given scheme."""
    # Not for security: a fixed seed makes the demo numbers the same on every start.
    rng = random.Random(DEMO_SEED)  # noqa: S311
    span = (DEMO_LAST_BORN - DEMO_FIRST_BORN).days
    citizens = {}
    while len(citizens) < DEMO_SIZE:
        born = DEMO_FIRST_BORN + timedelta(days=rng.randint(0, span))
        status = "deceased" if rng.random() < DEMO_DECEASED_SHARE else "alive"
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        number = scheme.generate(rng, born)
        # A duplicate draw is skipped; the next loop draws a new person.
        citizens.setdefault(number, Citizen(number, first, last, born, status))
    return citizens


def age_on(born: date, today: date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def demo_examples(citizens: dict[str, Citizen], today: date, voting_age: int) -> list:
    """(citizen, note) pairs for the banner: 3 alive adults, 1 deceased adult, 1 minor."""
    wanted = [("alive adult", 3), ("deceased adult", 1), ("minor", 1)]
    found = {note: [] for note, _ in wanted}
    for citizen in citizens.values():
        adult = age_on(citizen.date_of_birth, today) >= voting_age
        note = "minor" if not adult else f"{citizen.status} adult"
        if note in found:
            found[note].append(citizen)
    return [(c, note) for note, count in wanted for c in found[note][:count]]


# --- HTTP ---------------------------------------------------------------------------------


class RegistryServer(ThreadingHTTPServer):
    """The HTTP server plus the state its handler threads share."""

    daemon_threads = True

    def __init__(self, address, *, citizens, client_id, secret):
        super().__init__(address, RegistryHandler)
        self.citizens = citizens
        self.client_id = client_id
        self.secret = secret
        self.lock = threading.Lock()
        self.faults = dict(DEFAULT_FAULTS)
        self.lookups = 0
        self.rng = random.Random()  # noqa: S311 (error_rate sampling, not security)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def server_bind(self):
        # HTTPServer's version resolves the host name (getfqdn), which stalls without DNS.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def count_lookup(self):
        with self.lock:
            self.lookups += 1

    def set_faults(self, faults: dict):
        with self.lock:
            self.faults = {**DEFAULT_FAULTS, **faults}

    def stats(self) -> dict:
        with self.lock:
            return {"lookups": self.lookups}

    def current_faults(self) -> dict:
        with self.lock:
            return dict(self.faults)

    def roll(self, probability: float) -> bool:
        with self.lock:
            return self.rng.random() < probability

    def handle_error(self, request, client_address):
        # A client that gave up (timeout fault, test teardown) is normal here, not a bug.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def make_server(host, port, *, citizens, client_id, secret) -> RegistryServer:
    """A bound, not yet serving, simulator; port 0 picks a free port."""
    return RegistryServer((host, port), citizens=citizens, client_id=client_id, secret=secret)


class BadRequest(Exception):
    pass


class RegistryHandler(BaseHTTPRequestHandler):
    server: RegistryServer
    # Keep-alive, as the real registry offers; every response carries Content-Length.
    protocol_version = "HTTP/1.1"
    timeout = 60  # seconds an idle keep-alive connection may hold a thread

    def log_message(self, format, *args):
        pass  # quiet: the output is the banner, not a line per request

    def do_GET(self):
        self.dispatch()

    def do_POST(self):
        self.dispatch()

    def do_PUT(self):
        self.dispatch()

    def do_PATCH(self):
        self.dispatch()

    def do_DELETE(self):
        self.dispatch()

    def dispatch(self):
        path = urlsplit(self.path).path
        if path == LOOKUP_PATH and self.command == "POST":
            # Counted on arrival, before any check, so tests see every attempt.
            self.server.count_lookup()
        try:
            body = self.read_body()
        except BadRequest:
            self.close_connection = True  # the unread body would corrupt the next request
            return self.reply(400, {"error": "bad_request"})
        if not self.signed(body):
            return self.reply(401, {"error": "bad_signature"})
        self.route(path, body)

    def route(self, path, body):
        if (path, self.command) == (LOOKUP_PATH, "POST"):
            self.lookup(body)
        elif (path, self.command) == (FAULTS_PATH, "POST"):
            self.update_faults(body)
        elif (path, self.command) == (STATS_PATH, "GET"):
            self.reply(200, self.server.stats())
        elif any(path == known for known, _ in ROUTES):
            self.reply(405, {"error": "method_not_allowed"})
        else:
            self.reply(404, {"error": "no_such_endpoint"})

    def read_body(self) -> bytes:
        raw = self.headers.get("Content-Length", "0")
        if not raw.isascii() or not raw.isdigit() or int(raw) > MAX_BODY_BYTES:
            raise BadRequest
        return self.rfile.read(int(raw))

    def signed(self, body: bytes) -> bool:
        return signing.verify_request(
            self.server.secret,
            headers=self.headers,
            method=self.command,
            path=self.path,
            body=body,
            known_clients={self.server.client_id},
        )

    # --- Endpoints ------------------------------------------------------------------------

    def lookup(self, body: bytes):
        faults = self.server.current_faults()
        time.sleep(faults["latency_ms"] / 1000)
        if self.injected_failure(faults):
            return
        data = _json_object(body)
        number = data.get("national_id") if data else None
        if not isinstance(number, str):
            return self.reply(400, {"error": "bad_request"})
        citizen = self.server.citizens.get(number)
        if faults["mode"] == "missing_fields":
            first_name = citizen.first_name if citizen else ""
            return self.reply(200, {"national_id": number, "first_name": first_name})
        if citizen is None:
            return self.reply(404, {"error": "not_found"})
        self.reply(200, citizen.as_json(), wrong_signature=faults["mode"] == "bad_signature")

    def injected_failure(self, faults: dict) -> bool:
        """Answer as the fault mode says, if it replaces the answer; hang if it says so."""
        mode = faults["mode"]
        if mode == "error" or (mode == "ok" and self.server.roll(faults["error_rate"])):
            self.reply(500, {"error": "internal"})
        elif mode == "redirect":
            self.reply(302, {}, headers={"Location": "http://127.0.0.1:9/elsewhere"})
        elif mode == "garbage":
            self.send(200, b"not json {{")
        elif mode == "timeout":
            time.sleep(faults["hang_seconds"])  # then answer normally, too late for the client
            return False
        else:
            return False
        return True

    def update_faults(self, body: bytes):
        data = _json_object(body)
        problem = "the body must be a JSON object" if data is None else check_faults(data)
        if problem:
            return self.reply(400, {"error": "bad_request", "detail": problem})
        self.server.set_faults(data)
        self.reply(200, self.server.current_faults())

    # --- Responses ------------------------------------------------------------------------

    def reply(self, status, payload: dict, *, headers=None, wrong_signature=False):
        body = json.dumps(payload, separators=(",", ":")).encode()
        self.send(status, body, headers=headers, wrong_signature=wrong_signature)

    def send(self, status, body: bytes, *, headers=None, wrong_signature=False):
        # The bad_signature fault signs with another key: well-formed, but not ours.
        secret = self.server.secret + ("-wrong" if wrong_signature else "")
        request_sig = self.headers.get(signing.SIGNATURE_HEADER, "")
        sig = signing.sign_response(secret, status=status, body=body, request_sig=request_sig)
        self.send_response(status)
        for name, value in {**sig, **(headers or {})}.items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _json_object(body: bytes) -> dict | None:
    try:
        data = json.loads(body)
    except ValueError:  # also UnicodeDecodeError
        return None
    return data if isinstance(data, dict) else None


def check_faults(data: dict) -> str | None:
    """What is wrong with a /_sim/faults body, or None."""
    unknown = set(data) - set(DEFAULT_FAULTS)
    if unknown:
        return f"unknown fields: {', '.join(sorted(unknown))}"
    checks = {
        "latency_ms": lambda v: _is_int(v) and 0 <= v <= MAX_SLEEP_SECONDS * 1000,
        "error_rate": lambda v: _is_number(v) and 0 <= v <= 1,
        "mode": lambda v: isinstance(v, str) and v in MODES,
        "hang_seconds": lambda v: _is_number(v) and 0 < v <= MAX_SLEEP_SECONDS,
    }
    bad = [name for name, ok in checks.items() if name in data and not ok(data[name])]
    return f"invalid values: {', '.join(bad)}" if bad else None


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    # json.loads accepts NaN and Infinity; bool is an int subclass.
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


# --- The process --------------------------------------------------------------------------


class _Stop(Exception):
    pass


def _stop(signum, frame):
    raise _Stop


def print_banner(server: RegistryServer, citizens: dict, demo: bool, voting_age: int):
    print(f"registry simulator: {server.url}", flush=True)
    if not demo:
        print(f"loaded {len(citizens)} citizens", flush=True)
    else:
        print(f"demo population of {len(citizens)} citizens; some to try:", flush=True)
        for citizen, note in demo_examples(citizens, date.today(), voting_age):
            name = f"{citizen.first_name} {citizen.last_name}"
            print(f"  {citizen.national_id}  {citizen.date_of_birth}  {name}  ({note})")
    print(f"registry simulator ready on {server.url}", flush=True)


def parse_args(argv, default_url: str):
    default = urlsplit(default_url)
    parser = argparse.ArgumentParser(prog="python -m identity.simulator", description=__doc__)
    parser.add_argument("--host", default=default.hostname or "127.0.0.1")
    parser.add_argument("--port", type=int, default=default.port or 80)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pollsite.settings")
    args = parse_args(argv, settings.REGISTRY_URL)
    scheme = get_scheme(settings.NATIONAL_ID_SCHEME)
    try:
        citizens = load_population(scheme, settings.REGISTRY_SIM_DATA or None)
    except (PopulationError, OSError) as exc:
        print(f"registry simulator: {exc}", file=sys.stderr, flush=True)
        return 2
    server = make_server(
        args.host,
        args.port,
        citizens=citizens,
        client_id=settings.REGISTRY_CLIENT_ID,
        secret=settings.REGISTRY_CLIENT_SECRET,
    )
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        print_banner(server, citizens, not settings.REGISTRY_SIM_DATA, settings.VOTING_AGE)
        server.serve_forever()
    except _Stop:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
