"""The limits a public GraphQL endpoint needs (OWASP's GraphQL cheat sheet), each refused
with its code before any database work: the document's tokens (checked while parsing),
its depth and aliases, introspection where it is off (checked with validation), and the
items its paginated lists may return (checked once the variables are known, before the
first resolver). Batching is off: strawberry refuses a list of operations unless the
schema enables it, which ours never does. The values are settings (GRAPHQL_MAX_*).
"""

import functools
from collections.abc import Iterator, Mapping
from typing import Any

from django.conf import settings
from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    NullValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
    VariableNode,
)
from graphql.utilities import get_operation_ast
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import SchemaExtension
from strawberry.extensions.max_aliases import create_validator as aliases_validator
from strawberry.extensions.query_depth_limiter import create_validator as depth_validator

from pollsite.graphql import errors
from pollsite.graphql.pagination import default_page_size
from pollsite.pagination import PageNumberPagination

# Every list a client can size takes `pageSize` (1 to this; REST's `page_size` bound).
MAX_PAGE_SIZE = PageNumberPagination.max_page_size
PAGE_SIZE_ARGUMENT = "pageSize"


def _coded_rule(rule: type[ValidationRule], code: str) -> type[ValidationRule]:
    """A rule that checks the whole document when it is built (as strawberry's depth and
    alias limiters do), with its errors carrying `code`."""

    class Coded(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            report = context.on_error
            context.on_error = lambda error: report(errors.coded(error, code))  # type: ignore[method-assign]
            try:
                rule(context)
            finally:
                context.on_error = report  # type: ignore[method-assign]

    Coded.__name__ = f"{rule.__name__}Coded"
    return Coded


class IntrospectionDisabled(NoSchemaIntrospectionCustomRule):
    def report_error(self, error: GraphQLError) -> None:
        super().report_error(errors.coded(error, errors.INTROSPECTION_DISABLED))


def validation_rules() -> tuple[type[ValidationRule], ...]:
    """The limits checked with validation, as the settings are now."""
    return _rules(
        settings.GRAPHQL_MAX_DEPTH, settings.GRAPHQL_MAX_ALIASES, settings.GRAPHQL_INTROSPECTION
    )


@functools.cache
def _rules(depth: int, aliases: int, introspection: bool) -> tuple[type[ValidationRule], ...]:
    # Built once per set of values: the same classes each time, so the validation cache
    # (keyed by them) keeps its entries.
    rules = [
        _coded_rule(depth_validator(depth, should_ignore=None), errors.QUERY_TOO_DEEP),
        _coded_rule(aliases_validator(aliases), errors.TOO_MANY_ALIASES),
    ]
    if not introspection:
        rules.append(IntrospectionDisabled)
    return tuple(rules)


class Limits(SchemaExtension):
    """The parser's token bound and the validation rules on every operation; the
    paginated lists' bound before execution."""

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context
        context.parse_options["max_tokens"] = settings.GRAPHQL_MAX_TOKENS
        context.validation_rules = context.validation_rules + validation_rules()
        yield

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        operation = get_operation_ast(document, context.operation_name) if document else None
        if document is not None and operation is not None:
            fragments = {
                d.name.value: d
                for d in document.definitions
                if isinstance(d, FragmentDefinitionNode)
            }
            items = requested_items(
                operation,
                fragments,
                context.variables or {},
                paginated=paginated_fields(context.schema._schema),
            )
            if items > settings.GRAPHQL_MAX_ITEMS:
                raise errors.coded(
                    GraphQLError(
                        f"This document may return {items} items of paginated lists "
                        f"(nested pages multiply); the limit is {settings.GRAPHQL_MAX_ITEMS}."
                    ),
                    errors.QUERY_TOO_COSTLY,
                )
        yield


def requested_items(
    node: OperationDefinitionNode | FieldNode | FragmentDefinitionNode | InlineFragmentNode,
    fragments: Mapping[str, FragmentDefinitionNode],
    variables: Mapping[str, Any],
    *,
    paginated: frozenset[str],
    visited: frozenset[str] = frozenset(),
) -> int:
    """How many items the paginated lists under `node` may return: each list's page size
    times its parents' (a page of 20 endpoints with 50 deliveries each: 20 + 20 x 50).
    Raises page_size_out_of_range for a page size outside 1 to MAX_PAGE_SIZE."""
    total = 0
    for selection in _selections(node.selection_set):
        if isinstance(selection, FieldNode):
            size = _page_size(selection, variables, paginated)
            below = requested_items(
                selection, fragments, variables, paginated=paginated, visited=visited
            )
            total += below if size is None else size + size * below
        elif isinstance(selection, InlineFragmentNode):
            total += requested_items(
                selection, fragments, variables, paginated=paginated, visited=visited
            )
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            if name in fragments and name not in visited:
                total += requested_items(
                    fragments[name],
                    fragments,
                    variables,
                    paginated=paginated,
                    visited=visited | {name},
                )
    return total


def _selections(selection_set: SelectionSetNode | None) -> Iterator[Any]:
    return iter(selection_set.selections if selection_set is not None else ())


def _page_size(
    field: FieldNode, variables: Mapping[str, Any], paginated: frozenset[str]
) -> int | None:
    """The field's page size (the API's default page size when not given), or None for a
    field that takes none."""
    argument = next((a for a in field.arguments or () if a.name.value == PAGE_SIZE_ARGUMENT), None)
    if argument is None:
        return default_page_size() if field.name.value in paginated else None
    value: Any
    if isinstance(argument.value, IntValueNode):
        value = int(argument.value.value)
    elif isinstance(argument.value, VariableNode):
        value = variables.get(argument.value.name.value)
    elif isinstance(argument.value, NullValueNode):
        value = None
    else:
        return MAX_PAGE_SIZE  # not an Int: execution refuses it; count the most
    if value is None:
        return default_page_size()
    if not isinstance(value, int) or not 1 <= value <= MAX_PAGE_SIZE:
        raise errors.coded(
            GraphQLError(f"pageSize must be 1 to {MAX_PAGE_SIZE}.", [field]),
            errors.PAGE_SIZE_OUT_OF_RANGE,
        )
    return value


@functools.cache
def paginated_fields(schema: GraphQLSchema) -> frozenset[str]:
    """The names of the schema's fields that take pageSize (a name shared with a field
    that does not is counted as paginated: the bound errs on the safe side)."""
    return frozenset(
        name
        for kind in schema.type_map.values()
        if isinstance(kind, GraphQLObjectType)
        for name, field in kind.fields.items()
        if PAGE_SIZE_ARGUMENT in field.args
    )
