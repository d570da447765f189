"""The no-op endpoints that benchmarks compare against (bench/endpoints.py) exist only
with BENCH_ENDPOINTS."""

import pytest


@pytest.mark.django_db
def test_it_does_not_route_the_benchmark_endpoints_by_default(api):
    assert api.get("/api/v1/bench/noop-results").status_code == 404
    assert api.post("/api/v1/bench/noop-vote", {}, format="json").status_code == 404


@pytest.mark.django_db
@pytest.mark.urls("bench.urls")
def test_it_answers_the_noop_read_anonymously_and_the_noop_vote_only_with_a_token(api):
    assert api.get("/noop-results").json() == {"ok": True}
    assert api.post("/noop-vote", {"option_id": 1}, format="json").status_code == 401
