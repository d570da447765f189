"""Helpers for the GraphQL tests: a request through Django's test client, as a front-end
would send it."""

import json

POLL_PAGE = """
query PollPage($status: PollStatus, $pageSize: Int) {
  polls(status: $status, pageSize: $pageSize) {
    totalCount
    hasNextPage
    items {
      id
      title
      status
      ballotKind
      maxChoices
      totalVotes
      options { id label }
      results { totalVotes version options { id votes share } rounds { round } winner }
      myVote { receipt castAt }
    }
  }
}
"""

CAST_VOTE = """
mutation Vote($pollId: ID!, $optionId: ID, $optionIds: [ID!], $ranking: [ID!], $key: String) {
  castVote(pollId: $pollId, optionId: $optionId, optionIds: $optionIds, ranking: $ranking,
           idempotencyKey: $key) {
    receipt
    pollId
    castAt
  }
}
"""


def graphql(client, query, variables=None, *, token=None, method="post", **headers):
    """POST (or GET) /api/graphql; the response, with .body the decoded JSON."""
    if token is not None:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    if method == "get":
        params = {"query": query}
        if variables is not None:
            params["variables"] = json.dumps(variables)
        response = client.get("/api/graphql", params, **headers)
    else:
        body = {"query": query, "variables": variables or {}}
        response = client.post(
            "/api/graphql", json.dumps(body), content_type="application/json", **headers
        )
    response.body = json.loads(response.content) if response.content else None
    return response


def codes(response):
    """The extensions.code of each error of a GraphQL response."""
    return [e["extensions"]["code"] for e in response.body.get("errors", [])]
