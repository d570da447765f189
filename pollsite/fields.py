"""Strict input fields, shared by every input serializer.

DRF's own fields coerce: CharField turns 0 into "0", BooleanField takes 0, 1, "yes" and
"off". An API whose schema says "string" or "boolean" must refuse anything else, so a
client bug shows up as a 400 validation_error instead of data nobody meant.
"""

from rest_framework import serializers


class CharField(serializers.CharField):
    """A JSON string, and nothing else."""

    default_error_messages = {"invalid": "Must be a string."}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class EmailField(serializers.EmailField):
    """A JSON string that is an email address."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class BooleanField(serializers.BooleanField):
    """JSON true or false, and nothing else."""

    default_error_messages = {"invalid": "Must be true or false."}

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


class IntegerField(serializers.IntegerField):
    """A JSON integer: not a string of digits, not a boolean, not 1.0."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class ChoiceField(serializers.ChoiceField):
    """One of the choices, given as a JSON string."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid_choice", input=data)
        return super().to_internal_value(data)
