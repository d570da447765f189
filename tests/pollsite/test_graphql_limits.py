"""The limits of POST /api/graphql (pollsite/graphql/limits.py, views.py): each refused
with its code, before any database work, even with a token that would need a lookup."""

import json

import pytest
from graphql import GraphQLSyntaxError, parse

from pollsite.graphql import errors
from tests.support.graphql import codes, graphql

pytestmark = pytest.mark.django_db

POLLS = "{ polls { items { id } } }"


@pytest.fixture
def token(make_voter):
    return make_voter("alice").token


def refused(client, token, query, variables=None, django_assert_num_queries=None):
    """The response to `query`, which must have cost no query (not even the token's)."""
    with django_assert_num_queries(0):
        response = graphql(client, query, variables, token=token)
    assert response.status_code == 400, response.body
    assert response.body["data"] is None
    return codes(response)


def test_it_refuses_a_document_deeper_than_the_limit(
    client, token, settings, django_assert_num_queries
):
    settings.GRAPHQL_MAX_DEPTH = 2
    deep = "{ polls { items { options { id } } } }"
    assert refused(client, token, deep, None, django_assert_num_queries) == ["query_too_deep"]
    settings.GRAPHQL_MAX_DEPTH = 10
    assert codes(graphql(client, deep, token=token)) == []


def test_it_refuses_too_many_aliases_fragments_included(
    client, token, settings, django_assert_num_queries
):
    assert settings.GRAPHQL_MAX_ALIASES == 15
    plain = "{ " + " ".join(f"a{i}: __typename" for i in range(16)) + " }"
    assert refused(client, token, plain, None, django_assert_num_queries) == ["too_many_aliases"]
    # Spread many times, a fragment's aliases count each time (strawberry >= 0.315.7).
    fragment = "fragment F on Query { a: __typename b: __typename }"
    spread = "{ " + " ".join("... F" for _ in range(8)) + " } " + fragment
    assert refused(client, token, spread, None, django_assert_num_queries) == ["too_many_aliases"]
    fifteen = "{ " + " ".join(f"a{i}: __typename" for i in range(15)) + " }"
    assert codes(graphql(client, fifteen, token=token)) == []


def test_it_refuses_too_many_tokens_before_parsing_them_all(
    client, token, settings, django_assert_num_queries
):
    long = "{ " + "__typename " * settings.GRAPHQL_MAX_TOKENS + "}"
    assert refused(client, token, long, None, django_assert_num_queries) == ["too_many_tokens"]


def test_graphql_core_still_says_tokens_as_errors_reads_it():
    with pytest.raises(GraphQLSyntaxError) as raised:
        parse("{ a b c }", max_tokens=2)
    assert errors.TOKENS_EXCEEDED.search(raised.value.message)


@pytest.mark.parametrize("size", [0, 101, -1])
def test_it_refuses_a_page_size_outside_1_to_100(client, token, size, django_assert_num_queries):
    literal = f"{{ polls(pageSize: {size}) {{ totalCount }} }}"
    assert refused(client, token, literal, None, django_assert_num_queries) == [
        "page_size_out_of_range"
    ]
    variable = "query P($n: Int) { polls(pageSize: $n) { totalCount } }"
    assert refused(client, token, variable, {"n": size}, django_assert_num_queries) == [
        "page_size_out_of_range"
    ]


def test_it_bounds_the_items_a_document_asks_of_its_pages(
    client, token, settings, django_assert_num_queries
):
    assert settings.GRAPHQL_MAX_ITEMS == 1000
    pages = (
        "{ " + " ".join(f"p{i}: polls(pageSize: 100) {{ totalCount }}" for i in range(11)) + " }"
    )
    assert refused(client, token, pages, None, django_assert_num_queries) == ["query_too_costly"]
    nested = (
        "{ webhookEndpoints(pageSize: 100) { items { deliveries(pageSize: 100) { totalCount } } } }"
    )
    assert refused(client, token, nested, None, django_assert_num_queries) == ["query_too_costly"]
    # Nested pages multiply even at their default size (20 x 20 x 3 > 1000).
    defaults = (
        "fragment D on WebhookEndpoint { a: deliveries { totalCount } b: deliveries { totalCount }"
        " c: deliveries { totalCount } } { webhookEndpoints { items { ...D } } }"
    )
    assert refused(client, token, defaults, None, django_assert_num_queries) == ["query_too_costly"]
    ten = "{ " + " ".join(f"p{i}: polls(pageSize: 100) {{ totalCount }}" for i in range(10)) + " }"
    assert codes(graphql(client, ten, token=token)) == []


def test_introspection_and_graphiql_follow_the_settings(client, settings):
    introspect = "{ __schema { queryType { name } } }"
    assert graphql(client, introspect).body["data"]["__schema"]["queryType"]["name"] == "Query"
    assert client.get("/api/graphql", HTTP_ACCEPT="text/html").status_code == 200
    settings.GRAPHQL_INTROSPECTION = False
    settings.GRAPHQL_GRAPHIQL = False
    response = graphql(client, introspect)
    assert response.status_code == 400 and "introspection_disabled" in codes(response)
    page = client.get("/api/graphql", HTTP_ACCEPT="text/html")
    assert (
        page.status_code == 404
        and json.loads(page.content)["errors"][0]["extensions"]["code"] == "not_found"
    )


def test_introspection_is_off_in_production_by_default():
    import subprocess
    import sys

    code = (
        "import os; os.environ.update(DJANGO_ENV='production', SECRET_KEY='x', "
        "ALLOWED_HOSTS='example.org', DATABASE_URL='postgres://u@h/d', REDIS_URL='redis://h', "
        "REGISTRY_URL='http://h', REGISTRY_CLIENT_SECRET='x', NATIONAL_ID_HMAC_KEY='x'); "
        "os.environ.pop('GRAPHQL_INTROSPECTION', None); os.environ.pop('GRAPHQL_GRAPHIQL', None); "
        "from pollsite import settings as s; print(s.GRAPHQL_INTROSPECTION, s.GRAPHQL_GRAPHIQL)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.split() == ["False", "False"], done.stderr


def test_batching_is_off(client, django_assert_num_queries):
    batch = [{"query": POLLS}, {"query": POLLS}]
    with django_assert_num_queries(0):
        response = client.post("/api/graphql", json.dumps(batch), content_type="application/json")
    assert response.status_code == 400
    assert json.loads(response.content)["errors"][0]["extensions"]["code"] == "batching_disabled"


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        ("{not json", "application/json", 400, "malformed_request"),
        ("{}", "application/json", 400, "malformed_request"),
        ("query", "text/plain", 415, "unsupported_media_type"),
        ('{"query": "{ polls { nope } }"}', "application/json", 400, "graphql_validation_failed"),
        ('{"query": "{ polls { "}', "application/json", 400, "graphql_parse_failed"),
        (
            '{"query": "query A { __typename }", "operationName": "B"}',
            "application/json",
            400,
            "graphql_validation_failed",
        ),
        (
            '{"query": "subscription { results(pollId: 1) { version } }"}',
            "application/json",
            400,
            "use_stream_endpoint",
        ),
    ],
)
def test_it_answers_bad_requests_with_a_graphql_error(client, body, content_type, status, code):
    response = client.post("/api/graphql", body, content_type=content_type)
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    assert json.loads(response.content)["errors"][0]["extensions"]["code"] == code


def test_it_sends_subscriptions_to_the_stream_endpoint(client):
    response = client.post(
        "/api/graphql",
        json.dumps({"query": "subscription { results(pollId: 1) { version } }"}),
        content_type="application/json",
        HTTP_ACCEPT="text/event-stream",
    )
    assert response.status_code == 400
    assert "/api/graphql/stream" in json.loads(response.content)["errors"][0]["message"]


def test_a_malformed_token_is_refused_before_anything(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = graphql(client, POLLS, HTTP_AUTHORIZATION="Bearer two words")
    assert response.status_code == 401 and codes(response) == ["authentication_failed"]


def test_trusted_documents_only_run_what_is_listed(client, settings, tmp_path, make_poll):
    from pollsite.graphql.trusted import digest_of, trusted_documents

    make_poll()
    listed = "query Count { polls { totalCount } }"
    manifest = tmp_path / "persisted-documents.json"
    manifest.write_text(json.dumps({f"sha256:{digest_of(listed)}": listed}))
    settings.GRAPHQL_TRUSTED_DOCUMENTS = str(manifest)
    trusted_documents.cache_clear()
    by_hash = {"persistedQuery": {"version": 1, "sha256Hash": digest_of(listed)}}
    response = client.post(
        "/api/graphql",
        json.dumps({"query": None, "extensions": by_hash}),
        content_type="application/json",
    )
    assert json.loads(response.content)["data"] == {"polls": {"totalCount": 1}}
    assert graphql(client, listed).body["data"] == {"polls": {"totalCount": 1}}
    other = graphql(client, "{ polls { totalCount } }")
    assert other.status_code == 400 and codes(other) == ["document_not_trusted"]
    unknown = client.post(
        "/api/graphql",
        json.dumps({"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "0" * 64}}}),
        content_type="application/json",
    )
    assert json.loads(unknown.content)["errors"][0]["extensions"]["code"] == (
        "persisted_document_not_found"
    )
    settings.GRAPHQL_TRUSTED_DOCUMENTS = ""
    assert codes(graphql(client, "{ polls { totalCount } }")) == []


def test_a_body_over_the_limit_is_413_in_graphqls_shape(client, settings):
    query = "{ polls { totalCount } }" + " " * settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    response = client.post(
        "/api/graphql", json.dumps({"query": query}), content_type="application/json"
    )
    assert response.status_code == 413
    assert json.loads(response.content)["errors"][0]["extensions"]["code"] == "payload_too_large"
