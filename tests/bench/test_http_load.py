"""bench.http_load's reading of wrk's summary (bench/lua/load.lua's BENCH-JSON line)."""

from bench.http_load import _parse


def raw(statuses, errors, *, issued):
    return {
        "threads": {
            "1": {
                "statuses": statuses,
                "responses": sum(statuses.values()),
                "issued": issued,
                "first": 0.0,
                "last": 1.0,
                "exhausted": 0,
            }
        },
        "latency_us": {
            "p50": 1000,
            "p90": 2000,
            "p99": 3000,
            "max": 4000,
            "min": 500,
            "quantiles": [[50, 1000], [99, 3000]],
        },  # fmt: skip
        "errors": {"connect": 0, "read": 0, "write": 0, "timeout": 0, **errors},
    }


def test_an_answer_over_399_is_one_error_and_not_unanswered():
    # wrk counts a 503 twice: in the script's statuses and in its own "status" errors.
    load = _parse(raw({"201": 98, "503": 2}, {"status": 2}, issued=100), "votes", 16, 201)
    assert load.errors == 2
    assert load.unanswered == 0
    assert load.socket_errors == {}
    assert load.error_kinds == {"503": 2}


def test_a_request_never_answered_is_an_error_and_unanswered():
    load = _parse(raw({"201": 97}, {}, issued=99), "votes", 16, 201)
    assert load.errors == 2
    assert load.unanswered == 2
    assert load.error_kinds == {"unanswered": 2}
