"""Never a 500: documents generated from schema.graphql (hypothesis-graphql), every
query and mutation with arguments of every shape, sent anonymously and with a token.
Every answer is a GraphQL response whose errors all carry a code, none server_error."""

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis_graphql import strategies

from tests.support.graphql import graphql

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = (ROOT / "schema.graphql").read_text()
pytestmark = pytest.mark.django_db


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(document=strategies.from_schema(SCHEMA))
def test_no_document_gets_a_server_error(client, make_voter_once, document):
    for token in (None, make_voter_once):
        response = graphql(client, document, token=token)
        assert response.status_code != 500, response.content
        body = json.loads(response.content)
        for error in body.get("errors", []):
            assert error["extensions"]["code"] != "server_error", (document, error)


@pytest.fixture
def make_voter_once(make_voter, make_poll):
    make_poll(labels=("Ada", "Grace", "Hedy"), ballot_kind="ranked")
    make_poll()
    return make_voter("alice").token
