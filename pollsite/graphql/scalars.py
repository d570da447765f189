"""Scalars written as REST writes them: a DateTime is ISO 8601 in UTC with "Z"
(DRF's DateTimeField), not strawberry's default "+00:00", so the two APIs print the same
instant the same way."""

from datetime import datetime

import strawberry
from rest_framework import serializers
from strawberry.types.scalar import ScalarDefinition

_REST = serializers.DateTimeField()


def _written(value: datetime) -> str:
    written: str = _REST.to_representation(value)
    return written


DATE_TIME = strawberry.scalar(
    name="DateTime",
    description="ISO 8601, in UTC, as REST writes it: 2027-01-31T18:00:00Z.",
    serialize=_written,
    parse_value=datetime.fromisoformat,  # takes the "Z" since Python 3.11
)
SCALARS: dict[object, ScalarDefinition] = {datetime: DATE_TIME}  # StrawberryConfig.scalar_map
