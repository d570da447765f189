"""Strict input fields, shared by every input serializer.

DRF's own fields coerce: CharField turns 0 into "0", BooleanField takes 0, 1, "yes" and
"off". An API whose schema says "string" or "boolean" must refuse anything else, so a
client bug shows up as a 400 validation_error instead of data nobody meant.
"""

from collections.abc import Mapping
from typing import Any

from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail, ValidationError
from rest_framework.fields import SkipField, empty
from rest_framework.settings import api_settings


class CharField(serializers.CharField):
    """A JSON string, and nothing else."""

    default_error_messages = {"invalid": "Must be a string."}

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class EmailField(serializers.EmailField):
    """A JSON string that is an email address."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class BooleanField(serializers.BooleanField):
    """JSON true or false, and nothing else."""

    default_error_messages = {"invalid": "Must be true or false."}

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


class IntegerField(serializers.IntegerField):
    """A JSON integer: not a string of digits, not a boolean, not 1.0."""

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class ChoiceField(serializers.ChoiceField):
    """One of the choices, given as a JSON string."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid_choice", input=data)
        return super().to_internal_value(data)


def validate_flat(serializer_class: type[serializers.Serializer[Any]], data: Any) -> dict[str, Any]:
    """What serializer_class(data=data).is_valid(raise_exception=True) leaves in
    validated_data, errors included, for a serializer of plain fields (no nesting, no
    validate hooks), without building one. A serializer copies all its declared fields
    when it is built, and on the vote path that copy cost more than the validation
    (py-spy, under the GIL); the declared fields validate the same without it."""
    if not isinstance(data, Mapping):
        if data is None:  # as Serializer.errors words it
            error = ErrorDetail("No data provided", code="null")
        else:
            invalid = serializers.Serializer.default_error_messages["invalid"]
            error = ErrorDetail(invalid.format(datatype=type(data).__name__), code="invalid")
        raise ValidationError({api_settings.NON_FIELD_ERRORS_KEY: [error]})
    validated: dict[str, Any] = {}
    errors: dict[str, Any] = {}
    for name, field in serializer_class._declared_fields.items():
        try:
            validated[name] = field.run_validation(data.get(name, empty))
        except ValidationError as exc:
            errors[name] = exc.detail
        except SkipField:
            pass
    if errors:
        raise ValidationError(errors)
    return validated
