"""GraphQL beside REST (docs/api-contract.md, "GraphQL"): the generic machinery only.

views.py      the endpoints (strawberry's Django views) and their HTTP answers
context.py    info.context: the request, the caller's credentials, the caller
errors.py     every error with the REST problem's code (pollsite.problems)
limits.py     depth, aliases, tokens, page sizes: refused before any database work
trusted.py    trusted documents (an allowlist by hash), when GRAPHQL_TRUSTED_DOCUMENTS is set
pagination.py pages as REST's; scalars.py, times as REST writes them
schema.py     the schema: each app's types and root fields, put together (routing)
export.py     prints it: python -m pollsite.graphql.export > schema.graphql

The types and resolvers are each app's (identity/graphql.py, polls/graphql.py,
webhooks/graphql.py), over the app's own selectors and services.
"""
