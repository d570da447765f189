"""The GraphQL schema: each app's root fields, put together, and its two endpoints.

Like pollsite/urls.py, this is routing: the one module of the site that names the apps'
GraphQL modules (tests/pollsite/test_layering.py allows it that, and nothing more). The
schema it builds is exported to schema.graphql (tests/pollsite/test_graphql_schema.py).
"""

from typing import Any

import strawberry
from strawberry.extensions import ParserCache, ValidationCache
from strawberry.schema.config import StrawberryConfig

from identity.graphql import IdentityQuery, request_context
from polls.graphql import (
    PollsMutation,
    PollsQuery,
    PollsSubscription,
    results_answers,
    stream_capacity_refusal,
)
from polls.stream_apis import StreamCapacityReached
from pollsite.graphql.context import Authentication
from pollsite.graphql.limits import Limits
from pollsite.graphql.scalars import SCALARS
from pollsite.graphql.trusted import TrustedDocuments
from pollsite.graphql.views import GraphQLView, StreamGraphQLView
from webhooks.graphql import WebhooksQuery


@strawberry.type
class Query(PollsQuery, IdentityQuery, WebhooksQuery):
    pass


@strawberry.type
class Mutation(PollsMutation):
    pass


@strawberry.type
class Subscription(PollsSubscription):
    pass


class Schema(strawberry.Schema):
    def process_errors(self, errors: Any, execution_context: Any = None) -> None:
        """Strawberry logs every error with its traceback; an error of the contract
        (already_voted, not_found) is no incident. The unexpected ones are logged, with
        their traceback, where they become server_error (pollsite/graphql/errors.py)."""


schema = Schema(
    query=Query,
    mutation=Mutation,
    subscription=Subscription,
    config=StrawberryConfig(scalar_map=SCALARS),
    extensions=[
        # In this order: the allowlist (when on) and the limits before anything may touch
        # the database, then the
        # caller (pollsite/graphql/context.py). The caches keep the parsed and validated
        # documents of the last 256 query texts (the same text is the same document).
        TrustedDocuments,
        Limits,
        lambda: ParserCache(maxsize=256),
        lambda: ValidationCache(maxsize=256),
        Authentication,
    ],
)

graphql_view = GraphQLView.as_view(
    schema=schema, context_factory=request_context, answers=results_answers
)
graphql_stream_view = StreamGraphQLView.as_view(
    schema=schema,
    context_factory=request_context,
    capacity_refusal=stream_capacity_refusal,
    no_stream_refusal=StreamCapacityReached,
)
