"""The blind index: a keyed HMAC-SHA256 of a canonical national ID.

Equal numbers give equal indexes, so the database can enforce "one number, one account"
and "one number, one vote per poll" without ever holding the number. Without the key
(NATIONAL_ID_HMAC_KEY, kept apart from SECRET_KEY) the index cannot be reversed by
enumerating the small space of valid numbers, which a plain hash would allow.
"""

import hashlib
import hmac

from django.conf import settings


def voter_key(canonical_national_id: str) -> bytes:
    return hmac.new(
        settings.NATIONAL_ID_HMAC_KEY.encode(), canonical_national_id.encode(), hashlib.sha256
    ).digest()


def key_version() -> int:
    return settings.NATIONAL_ID_HMAC_KEY_VERSION
