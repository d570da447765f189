"""The no-op endpoints that benchmarks compare against exist only with BENCH_ENDPOINTS."""

import pytest


@pytest.mark.django_db
def test_it_does_not_route_the_benchmark_endpoints_by_default(api):
    assert api.get("/api/v1/bench/noop-results").status_code == 404
    assert api.post("/api/v1/bench/noop-vote", {}, format="json").status_code == 404
