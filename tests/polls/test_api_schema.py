"""The OpenAPI schema agrees with the API: real responses validate against it, and what
it says about credentials is what the API does."""

import jsonschema
import pytest

from tests.support.votes import options_of

pytestmark = pytest.mark.django_db
PUBLIC_READS = [
    ("/api/v1/polls", "get"),
    ("/api/v1/polls/{poll_id}", "get"),
    ("/api/v1/polls/{poll_id}/results", "get"),
    ("/api/v1/polls/{poll_id}/results/timeline", "get"),
    ("/api/v1/receipts/{receipt}", "get"),
]


@pytest.fixture(scope="module")
def spec():
    from drf_spectacular.generators import SchemaGenerator

    return SchemaGenerator().get_schema(request=None, public=True)


def as_json_schema(node):
    """OpenAPI 3.0's `nullable` is not JSON Schema: spell it as anyOf [..., null]."""
    if isinstance(node, list):
        return [as_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: as_json_schema(value) for key, value in node.items()}
    if node.pop("nullable", False):
        return {"anyOf": [node, {"type": "null"}]}
    return node


def assert_conforms(spec, path, method, response):
    declared = spec["paths"][path][method]["responses"][str(response.status_code)]
    media_type = response["Content-Type"].split(";")[0]
    schema = declared["content"][media_type]["schema"]
    document = as_json_schema({**schema, "components": spec["components"]})
    jsonschema.validate(response.json(), document)


def test_it_declares_the_poll_list_as_a_page(spec):
    schema = spec["paths"]["/api/v1/polls"]["get"]["responses"]["200"]["content"]
    ref = schema["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    page = spec["components"]["schemas"][ref]
    assert page["type"] == "object"
    assert set(page["properties"]) == {"count", "next", "previous", "results"}
    params = {p["name"] for p in spec["paths"]["/api/v1/polls"]["get"]["parameters"]}
    assert {"page", "page_size", "status"} <= params


def security_of(spec, path, method):
    """The operation's security requirements: its own, else the document's."""
    return spec["paths"][path][method].get("security", spec["security"])


@pytest.mark.parametrize(("path", "method"), PUBLIC_READS)
def test_it_declares_public_reads_as_public(spec, path, method):
    security = security_of(spec, path, method)
    assert security == [] or {} in security
    # openapi-python-client asks for an authenticated client wherever an operation lists
    # its own non-empty security, `{}` or not: public reads must not.
    assert spec["paths"][path][method].get("security", []) == []


@pytest.mark.parametrize(
    ("path", "method"),
    [("/api/v1/polls", "post"), ("/api/v1/polls/{poll_id}", "patch"), ("/api/v1/auth/me", "get")],
)
def test_it_declares_writes_and_private_reads_as_needing_a_token(spec, path, method):
    assert security_of(spec, path, method) == [{"bearerAuth": []}]


def test_it_bounds_the_idempotency_key(spec):
    params = spec["paths"]["/api/v1/polls/{poll_id}/votes"]["post"]["parameters"]
    [key] = [p for p in params if p["name"] == "Idempotency-Key"]
    assert key["schema"]["maxLength"] == 255
    assert key["schema"]["pattern"]


def test_it_answers_as_declared_to_anonymous_readers(spec, api, make_poll, make_voter):
    poll = make_poll()
    make_poll(title="Second")
    voter = make_voter("alice")
    vote = voter.post(
        f"/api/v1/polls/{poll.pk}/votes", {"option_id": options_of(poll)["Ada"]}, format="json"
    )
    assert_conforms(spec, "/api/v1/polls/{poll_id}/votes", "post", vote)
    for url, path in [
        ("/api/v1/polls", "/api/v1/polls"),
        ("/api/v1/polls?page_size=1&page=2", "/api/v1/polls"),
        (f"/api/v1/polls/{poll.pk}", "/api/v1/polls/{poll_id}"),
        (f"/api/v1/polls/{poll.pk}/results", "/api/v1/polls/{poll_id}/results"),
        (f"/api/v1/receipts/{vote.json()['receipt']}", "/api/v1/receipts/{receipt}"),
        ("/api/v1/polls/999999", "/api/v1/polls/{poll_id}"),
    ]:
        response = api.get(url)  # no token at all
        assert response.status_code in (200, 404), url
        assert_conforms(spec, path, "get", response)
    page = api.get("/api/v1/polls?page_size=1").json()
    assert page["count"] == 2 and page["next"] and len(page["results"]) == 1


def test_it_answers_validation_errors_as_declared(spec, api):
    response = api.post("/api/v1/auth/login", {"username": 0, "password": "x"}, format="json")
    assert response.status_code == 400
    assert_conforms(spec, "/api/v1/auth/login", "post", response)
