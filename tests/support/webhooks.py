"""A webhook receiver for tests, on loopback."""

import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    """A webhook receiver on loopback: answers each request with the next of `answers`,
    then 200; keeps what it was sent. An answer is a status, ("hang", seconds) before a
    200, ("redirect", url) as a 307, or ("drip", seconds) for a 200 whose body never
    ends (1 KiB every `seconds`; `sent` counts what went out). With `tls` (a trustme
    certificate for "localhost") it takes HTTPS only, at https://localhost, and keeps
    the name each connection asked for in its TLS hello (SNI)."""

    def __init__(self, answers=(), tls=None):
        self.answers = list(answers)
        self.received = []
        self.server_names = []
        self.sent = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers["content-length"]))
                receiver.received.append((dict(self.headers), body))
                answer = receiver.answers.pop(0) if receiver.answers else 200
                kind, value = answer if isinstance(answer, tuple) else ("status", answer)
                if kind == "hang":
                    time.sleep(value)
                if kind == "drip":
                    return self.drip(value)
                self.send_response(307 if kind == "redirect" else 200 if kind == "hang" else value)
                if kind == "redirect":
                    self.send_header("location", value)
                self.send_header("content-length", "0")
                self.end_headers()

            def drip(self, seconds):
                self.send_response(200)
                self.send_header("transfer-encoding", "chunked")
                self.end_headers()
                chunk = b"x" * 1024
                try:
                    while True:
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                        self.wfile.flush()
                        receiver.sent += len(chunk)
                        time.sleep(seconds)
                except OSError:
                    self.close_connection = True  # the client stopped reading

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks"
        if tls is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            tls.configure_cert(context)
            context.sni_callback = lambda sock, name, ctx: self.server_names.append(name)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
            self.url = f"https://localhost:{self.server.server_port}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def ids(self):
        return [headers["webhook-id"] for headers, _ in self.received]

    def close(self):
        self.server.shutdown()
