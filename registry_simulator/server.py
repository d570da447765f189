"""The simulator's HTTP server: the registry's signed lookup (identity/signing.py,
identity/registry_protocol.py), plus /_sim/faults and /_sim/stats for fault and load tests."""

import json
import math
import random
import socketserver
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from identity import signing
from identity.registry_protocol import LOOKUP_PATH, MAX_BODY_BYTES, NOT_FOUND, SIGNATURE_HEADER

FAULTS_PATH = "/_sim/faults"
STATS_PATH = "/_sim/stats"
ROUTES = {(LOOKUP_PATH, "POST"), (FAULTS_PATH, "POST"), (STATS_PATH, "GET")}

MODES = ("ok", "error", "timeout", "garbage", "missing_fields", "redirect", "bad_signature")
DEFAULT_FAULTS = {"latency_ms": 0, "error_rate": 0.0, "mode": "ok", "hang_seconds": 30}
MAX_SLEEP_SECONDS = 3600  # a typo in a fault must not park threads for days


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
            return self.reply(404, {"error": NOT_FOUND})
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
        request_sig = self.headers.get(SIGNATURE_HEADER, "")
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
