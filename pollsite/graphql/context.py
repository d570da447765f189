"""What every resolver gets as `info.context`: the request, the caller's credentials as
read from the request (no database), and the caller, looked up once, when first needed.

The identity app builds it (identity/graphql.py: the REST bearer token, read as REST
reads it); this module only knows when to look the caller up:
- a query looks them up before its first resolver (Authentication below), so a dead
  token fails the whole request with authentication_failed and never reads as anonymous;
- a mutation does not: castVote checks the token inside the vote's own statement, as
  REST's vote does (identity.authentication, `checks_bearer_token_itself`);
- a subscription looks them up in the thread that reads its first event.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.http import HttpRequest
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType


@dataclass
class RequestContext:
    request: HttpRequest
    credentials: Any  # the token as read (identity's BearerCredentials), or None
    load_user: Callable[[], Any]  # the caller, looked up: AnonymousUser without a token
    writes: bool = False  # a mutation: a lost answer is then outcome_unknown (504)
    # Per request: what the apps' resolvers read once for many objects (a page's batch).
    loaders: dict[Any, Any] = field(default_factory=dict)
    # What the answer depends on, when a resolver says it may be answered again from the
    # view's answer cache (views.py: AnswerCache) while these still hold; None: never.
    validators: list[Any] | None = None
    _user: Any = field(default=None, repr=False)

    def user(self) -> Any:
        """The caller; raises AuthenticationFailed for a dead token (once per request)."""
        if self._user is None:
            self._user = self.load_user()
        return self._user


class Authentication(SchemaExtension):
    """Queries look the caller up before their first resolver; see the module's docstring."""

    def on_execute(self) -> Iterator[None]:
        execution = self.execution_context
        context = execution.context
        if isinstance(context, RequestContext):
            context.writes = execution.operation_type is OperationType.MUTATION
            if execution.operation_type is OperationType.QUERY:
                context.user()
        yield
