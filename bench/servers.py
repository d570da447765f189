"""Figure 0: which app server, measured on this machine in one run.

Every candidate serves the same app (same code, database, cache and settings) with two
worker processes, and answers the same no-op GET (bench/endpoints.py) under the same
wrk load, in alternating rounds so a drift of the shared machine hits them all. The
shipped configuration is measured three ways: granian alone (the server), through nginx as
clients reach it (the one origin, nginx writing the request log), and with no request log
at all (nginx logging to /dev/null, the app at WARNING), to show what the log costs; a
fourth row has the app write the log line through Python's logging (REQUEST_LOG=app).
The old configuration (uvicorn running Django's ASGI handler, a new database connection
per request) is the comparison row.
"""

import os
import sys
from dataclasses import replace

from bench import http_load
from bench.http_figures import NOOP_GET
from bench.stats import mean
from devstack.web import WebSizing, api_server_args, stream_server_args

SIZING = WebSizing()  # as `make run` and the Dockerfile: 2 workers
OLD_ASGI = "uvicorn, Django ASGI (before)"
GRANIAN = "granian WSGI (the API server)"
SHIPPED = "nginx -> granian (shipped, one origin)"
LOG_OFF = "nginx -> granian, request log off"
LOG_IN_APP = "nginx -> granian, request log by the app"


def old_asgi_args(port):
    """The configuration this replaced: every API request on uvicorn and Django's ASGI
    handler, with the API's middleware (pollsite.asgi serves the stream alone, with less).

    The stream server's own arguments (devstack/web.py), given the API's worker count, so
    the two never disagree on how uvicorn is started.
    """
    args = stream_server_args(port, replace(SIZING, stream_workers=SIZING.api_workers))
    at = args.index("pollsite.asgi:application")
    return [*args[:at], "--factory", "bench.servers:django_asgi_application", *args[at + 1 :]]


def django_asgi_application():
    """Django's ASGI handler as it comes, on the project's settings (uvicorn --factory)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pollsite.settings")
    from django.core.asgi import get_asgi_application

    return get_asgi_application()


def gunicorn_args(port):
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "pollsite.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(SIZING.api_workers),
        "--worker-class",
        "sync",
        "--log-level",
        "warning",
    ]


def start_candidates(stack, shipped_url):
    """{label: base URL} of every candidate; the extra servers stay up for figure 3."""
    bases = {SHIPPED: shipped_url}
    _, bases[GRANIAN] = stack.start_server("granian", lambda port: api_server_args(port, SIZING))
    _, bases["gunicorn sync"] = stack.start_server("gunicorn", gunicorn_args)
    # Django's ASGI handler runs each request's sync code on a new thread, so a kept
    # connection would leak: the old configuration had to close it per request.
    _, bases[OLD_ASGI] = stack.start_server(
        "uvicorn-asgi", old_asgi_args, env={"DB_CONN_MAX_AGE": "0"}
    )
    web, _ = stack.start_web("web-log-off", env={"LOG_LEVEL": "WARNING"}, request_log="/dev/null")
    bases[LOG_OFF] = web.url
    web, _ = stack.start_web("web-log-in-app", env={"REQUEST_LOG": "app"}, request_log="/dev/null")
    bases[LOG_IN_APP] = web.url
    return bases


def figure(bases, *, cfg, say):
    """No-op GETs on every candidate, cfg.rounds rounds, alternating."""
    loads = {label: [] for label in bases}
    for r in range(cfg.rounds):
        for label, base in bases.items():
            load = http_load.run(
                base,
                label=f"{label} #{r + 1}",
                mode="get",
                path=NOOP_GET,
                window=cfg.window,
                threads=cfg.threads,
                connections=cfg.connections,
            )
            loads[label].append(load)
            say(f"  {load.label:<45} {load.ok_rate:7.1f}/s  p99 {load.p99_ms:6.1f} ms")
    rows = [
        {
            "server": label,
            "rate": mean([x.ok_rate for x in runs]),
            "low": min(x.ok_rate for x in runs),
            "high": max(x.ok_rate for x in runs),
            "p99_ms": mean([x.p99_ms for x in runs]),
            "errors": sum(x.errors for x in runs),
        }
        for label, runs in loads.items()
    ]
    by_label = {row["server"]: row for row in rows}
    servers_only = [row for row in rows if row["server"] not in (LOG_OFF, LOG_IN_APP)]
    best = max(servers_only, key=lambda row: row["rate"])
    return {
        "rows": rows,
        "best": best["server"],
        "shipped_server_ratio": by_label[GRANIAN]["rate"] / best["rate"],
        "front_ratio": by_label[SHIPPED]["rate"] / by_label[GRANIAN]["rate"],
        "request_log_cost": 1 - by_label[SHIPPED]["rate"] / by_label[LOG_OFF]["rate"],
        "app_request_log_cost": 1 - by_label[LOG_IN_APP]["rate"] / by_label[LOG_OFF]["rate"],
        "old_asgi_rate": by_label[OLD_ASGI]["rate"],
    }
