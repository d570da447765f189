"""Trusted documents (persisted queries as an allowlist), on when
GRAPHQL_TRUSTED_DOCUMENTS names a JSON file of {sha256 hex digest: document}, the
manifest graphql-codegen writes with `persistedDocuments` (its client preset). Then a
request runs only a listed document: sent by its hash (`extensions: {persistedQuery:
{version: 1, sha256Hash}}`, as Apollo's clients send it) or in full, if its text hashes
to a listed one. Anything else is refused before it is parsed. Off (no file), any
document runs, within the limits (limits.py).
"""

import functools
import hashlib
import json
from collections.abc import Iterator, Mapping
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from pollsite.graphql import errors


@functools.cache
def trusted_documents(path: str) -> Mapping[str, str]:
    """The manifest at `path`, read once per process."""
    try:
        documents = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise ImproperlyConfigured(f"GRAPHQL_TRUSTED_DOCUMENTS: {exc}") from None
    if not isinstance(documents, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in documents.items()
    ):
        raise ImproperlyConfigured(
            "GRAPHQL_TRUSTED_DOCUMENTS must be a JSON object of {sha256: document}"
        )
    return {digest.removeprefix("sha256:"): text for digest, text in documents.items()}


def digest_of(document: str) -> str:
    return hashlib.sha256(document.encode()).hexdigest()


class TrustedDocuments(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        if settings.GRAPHQL_TRUSTED_DOCUMENTS:
            self._allow(trusted_documents(settings.GRAPHQL_TRUSTED_DOCUMENTS))
        yield

    def _allow(self, allowed: Mapping[str, str]) -> None:
        context = self.execution_context
        persisted = (context.operation_extensions or {}).get("persistedQuery")
        digest = persisted.get("sha256Hash") if isinstance(persisted, dict) else None
        if isinstance(digest, str):
            if digest not in allowed:
                raise errors.coded(
                    GraphQLError("No trusted document has this hash."),
                    errors.PERSISTED_DOCUMENT_NOT_FOUND,
                )
            context.query = allowed[digest]
        elif not context.query or digest_of(context.query) not in allowed:
            raise errors.coded(
                GraphQLError("This server runs trusted documents only: send a listed one."),
                errors.DOCUMENT_NOT_TRUSTED,
            )
