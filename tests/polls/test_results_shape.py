"""The results document is written as JSON by the selector, once per change, not by its
serializer; these tests hold it to the shape the schema documents (ResultsSerializer)."""

import pytest

from polls.serializers import ResultsOptionSerializer, ResultsSerializer
from tests.support.votes import options_of

pytestmark = pytest.mark.django_db


def results_of(api, poll):
    response = api.get(f"/api/v1/polls/{poll.pk}/results")
    assert response.status_code == 200, response.content
    return response.json()


def test_it_has_the_documented_fields_and_no_others(api, make_poll, make_voter):
    poll = make_poll(labels=("Ada", "Grace", "Hedy"))
    make_voter("a").post(
        f"/api/v1/polls/{poll.pk}/votes", {"option_id": options_of(poll)["Ada"]}, format="json"
    )
    body = results_of(api, poll)
    fields = ResultsSerializer().fields
    # A single poll's: every field but the ranked polls' own.
    assert set(body) == {name for name, field in fields.items() if field.required}
    assert set(fields) - set(body) == {"rounds", "winner"}
    for option in body["options"]:
        assert set(option) == set(ResultsOptionSerializer().fields)


@pytest.mark.parametrize("votes", [0, 3])
def test_it_reads_back_through_its_serializer_unchanged(api, make_poll, make_voter, votes):
    poll = make_poll(labels=("Ada", "Grace"))
    for i in range(votes):
        label = "Ada" if i % 3 else "Grace"
        make_voter(f"v{i}").post(
            f"/api/v1/polls/{poll.pk}/votes", {"option_id": options_of(poll)[label]}, format="json"
        )
    body = results_of(api, poll)
    parsed = ResultsSerializer(data=body)
    assert parsed.is_valid(), parsed.errors
    # Every value survives the serializer both ways: types, the time's format, shares.
    assert ResultsSerializer(parsed.validated_data).data == body
    assert body["total_votes"] == votes
