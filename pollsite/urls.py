from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from polls import pages
from pollsite import health
from pollsite.graphql.schema import graphql_stream_view, graphql_view

api_v1 = [
    path("", include("identity.urls")),
    path("", include("polls.urls")),
    path("", include("webhooks.urls")),
]

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("api/v1/", include(api_v1)),
    # GraphQL (docs/api-contract.md): queries and mutations here, on the API server;
    # subscriptions at /stream, which the front sends to the stream server.
    path("api/graphql", graphql_view, name="graphql"),
    path("api/graphql/stream", graphql_stream_view, name="graphql-stream"),
    path("polls/<poll_id:poll_id>/live", pages.poll_live, name="poll-live"),
    path("api/schema", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("admin/", admin.site.urls),
]

if settings.BENCH_ENDPOINTS:
    urlpatterns += [path("api/v1/bench/", include("bench.urls"))]

handler400 = "pollsite.problems.bad_request_view"
handler403 = "pollsite.problems.permission_denied_view"
handler404 = "pollsite.problems.not_found_view"
handler500 = "pollsite.problems.server_error_view"
