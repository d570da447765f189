"""The API's one body parser: JSON, bounded in size and in nesting depth.

A body past DATA_UPLOAD_MAX_MEMORY_SIZE is refused before it is parsed (413
payload_too_large), whatever the server in front buffered; JSON nested deeper than
MAX_DEPTH is refused (400 malformed_request) instead of exhausting the interpreter's
stack, which answers RecursionError (a 500) somewhere past 900 levels.
"""

import json

from django.conf import settings
from rest_framework import parsers
from rest_framework.exceptions import ParseError

from pollsite.problems import PayloadTooLarge

MAX_DEPTH = 32


class JSONParser(parsers.JSONParser):
    """JSON of at most DATA_UPLOAD_MAX_MEMORY_SIZE bytes, nested at most MAX_DEPTH levels."""

    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        request = parser_context.get("request")
        if request is not None and _content_length(request) > limit:
            raise PayloadTooLarge()
        raw = stream.read(limit + 1)  # one byte past the limit tells an oversize body
        if len(raw) > limit:
            raise PayloadTooLarge()
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        try:
            data = json.loads(raw.decode(encoding), parse_constant=json_strict_constant)
        except RecursionError:
            raise ParseError(f"JSON nested more than {MAX_DEPTH} levels deep.") from None
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
        if _depth_exceeds(data, MAX_DEPTH):
            raise ParseError(f"JSON nested more than {MAX_DEPTH} levels deep.")
        return data


def json_strict_constant(name):
    raise ValueError(f"{name} is not valid JSON")


def _content_length(request):
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def _depth_exceeds(data, limit):
    """True when containers nest deeper than `limit`; iterative, so it cannot recurse."""
    pending = [(data, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, dict):
            value = value.values()
        elif not isinstance(value, list):
            continue
        if depth > limit:
            return True
        pending.extend((item, depth + 1) for item in value)
    return False
