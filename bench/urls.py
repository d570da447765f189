"""Routes of the no-op endpoints (bench/endpoints.py); pollsite/urls.py includes them only
when BENCH_ENDPOINTS is on."""

from django.urls import path

from bench import endpoints

urlpatterns = [
    path("noop-vote", endpoints.NoopVoteApi.as_view()),
    path("noop-results", endpoints.NoopResultsApi.as_view()),
]
