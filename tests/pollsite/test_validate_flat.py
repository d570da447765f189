"""pollsite.fields.validate_flat validates like the serializer it stands in for: the same
data, and the same errors under the same keys, for every kind of body the vote takes."""

from datetime import UTC, datetime

import pytest
from rest_framework.exceptions import ValidationError

from polls.apis import VoteCastApi
from polls.serializers import VoteReceiptSerializer, vote_receipt_data
from polls.services import VoteReceipt
from pollsite.fields import validate_flat

BODIES = [
    {"option_id": 3},
    {"option_id": 3, "extra": "ignored"},
    {},
    {"option_id": "3"},
    {"option_id": True},
    {"option_id": 1.0},
    {"option_id": 0},
    {"option_id": 2**63},
    {"option_id": None},
    [1, 2],
    "option_id",
    None,
]


def serializer_answer(serializer_class, data):
    serializer = serializer_class(data=data)
    if serializer.is_valid():
        return "valid", dict(serializer.validated_data)
    return "invalid", serializer.errors


def flat_answer(serializer_class, data):
    try:
        return "valid", validate_flat(serializer_class, data)
    except ValidationError as exc:
        return "invalid", exc.detail


@pytest.mark.parametrize("body", BODIES, ids=repr)
def test_it_answers_as_the_vote_serializer_does(body):
    assert flat_answer(VoteCastApi.InputSerializer, body) == serializer_answer(
        VoteCastApi.InputSerializer, body
    )


def test_the_receipt_is_written_as_its_serializer_would():
    receipt = VoteReceipt("a-receipt", 7, datetime(2027, 1, 2, 3, 4, 5, 678901, tzinfo=UTC))
    assert vote_receipt_data(receipt) == VoteReceiptSerializer(receipt).data
