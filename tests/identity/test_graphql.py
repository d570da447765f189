"""GraphQL's request context and `me` (identity/graphql.py)."""

from identity.graphql import VerificationStatus
from identity.serializers import VERIFICATION_STATUSES


def test_verification_status_is_the_serializers_statuses():
    assert [s.value for s in VerificationStatus] == list(VERIFICATION_STATUSES)
