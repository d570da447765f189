"""Output shapes of the polls API (the contract's `poll`, `option`, receipts, results).

Input shapes live with their views (apis.py, `InputSerializer`): each is one request's.
"""

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from polls.models import BallotKind, PollEvent, ResultsVisibility
from polls.status import STATUSES, poll_status


class OptionSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    # A declared field, not Field.label: DRF's metaclass takes it off the class.
    label = serializers.CharField()  # type: ignore[assignment]
    description = serializers.CharField()


class MyVoteInPollSerializer(serializers.Serializer[Any]):
    receipt = serializers.CharField()
    cast_at = serializers.DateTimeField()


class PollSerializer(serializers.Serializer[Any]):
    # Needs context["totals"]: {poll_id: total_votes}, from selectors.poll_totals; and
    # context["my_votes"]: {poll_id: vote}, from selectors.my_votes, for `my_vote`. (A
    # comment, not a docstring: the docstring would be the schema's Poll description.)

    id = serializers.IntegerField()
    title = serializers.CharField()
    description = serializers.CharField()
    status = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    opens_at = serializers.DateTimeField()
    closes_at = serializers.DateTimeField()
    results_visibility = serializers.ChoiceField(choices=ResultsVisibility.values)
    ballot_kind = serializers.ChoiceField(
        choices=BallotKind.values,
        help_text="single: {option_id}; multiple: {option_ids: [...]}; ranked: "
        "{ranking: [...]}, most preferred first, counted by instant runoff.",
    )
    min_choices = serializers.IntegerField(help_text="Fewest options a ballot chooses.")
    max_choices = serializers.SerializerMethodField(help_text="Most options a ballot chooses.")
    options = OptionSerializer(many=True, source="options.all")
    total_votes = serializers.SerializerMethodField()
    my_vote = serializers.SerializerMethodField(
        help_text="Your own vote in this poll (any account of your national ID), or null: "
        "not voted, not verified, or anonymous."
    )

    @extend_schema_field(serializers.ChoiceField(choices=STATUSES))
    def get_status(self, poll) -> str:
        return poll_status(poll)

    def get_max_choices(self, poll) -> int:
        if poll.ballot_kind == BallotKind.SINGLE:
            return 1  # also for a poll written with psql, whose max_choices is empty
        if poll.max_choices is not None:
            return int(poll.max_choices)
        return len(poll.options.all())  # prefetched: no query

    def get_total_votes(self, poll) -> int:
        total: int = self.context["totals"].get(poll.pk, 0)
        return total

    @extend_schema_field(MyVoteInPollSerializer(allow_null=True))
    def get_my_vote(self, poll) -> dict[str, Any] | None:
        vote = self.context.get("my_votes", {}).get(poll.pk)
        return MyVoteInPollSerializer(vote).data if vote is not None else None


class VoteReceiptSerializer(serializers.Serializer[Any]):
    receipt = serializers.CharField(help_text="Keep it to check later that your vote counted.")
    poll_id = serializers.IntegerField()
    cast_at = serializers.DateTimeField()


def vote_receipt_data(receipt) -> dict[str, Any]:
    """VoteReceiptSerializer(receipt).data, written out for the vote path, where building
    the serializer cost more than the rest of the answer (a test holds the two equal)."""
    cast_at = VoteReceiptSerializer._declared_fields["cast_at"]
    return {
        "receipt": receipt.receipt,
        "poll_id": receipt.poll_id,
        "cast_at": cast_at.to_representation(receipt.cast_at),
    }


class MyVoteSerializer(serializers.Serializer[Any]):
    receipt = serializers.CharField()
    cast_at = serializers.DateTimeField()


class ReceiptCheckSerializer(serializers.Serializer[Any]):
    # No cast time: with one, a receipt plus the timeline could prove its choice
    # (docs/privacy.md).
    poll_id = serializers.IntegerField()
    counted = serializers.BooleanField()


class ResultsOptionSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    # A declared field, not Field.label: DRF's metaclass takes it off the class.
    label = serializers.CharField()  # type: ignore[assignment]
    votes = serializers.IntegerField(
        help_text="By the poll's ballot_kind: the ballots for it (single), the ballots that "
        "approve it (multiple), or that rank it first (ranked)."
    )
    share = serializers.FloatField(
        help_text="votes / total_votes (the ballots), a fraction of 1; 0 when there are no "
        "ballots. A multiple poll's shares add up to more than 1."
    )


class RunoffOptionSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    votes = serializers.IntegerField(help_text="Ballots that count for it in this round.")


class RunoffRoundSerializer(serializers.Serializer[Any]):
    round = serializers.IntegerField(help_text="1 and up.")
    options = RunoffOptionSerializer(
        many=True, help_text="The options still in the count, in the poll's order."
    )
    eliminated = serializers.ListField(
        child=serializers.IntegerField(),
        help_text="Eliminated after this round (the fewest votes; ties: fewer first "
        "preferences, then the option listed later); empty in the last round.",
    )
    exhausted = serializers.IntegerField(
        help_text="Ballots that rank no option still in the count."
    )


# The results document. polls.results.rendered_results writes it as JSON itself, once per
# change (serializing on every read cost more than the read); tests/polls/test_results_shape.py
# checks that what it writes is this shape.
class ResultsSerializer(serializers.Serializer[Any]):
    poll_id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=STATUSES)
    total_votes = serializers.IntegerField()
    version = serializers.IntegerField(help_text="Only grows.")
    as_of = serializers.DateTimeField(help_text="When these counts were read.")
    ballot_kind = serializers.ChoiceField(choices=BallotKind.values)
    options = ResultsOptionSerializer(many=True)
    rounds = RunoffRoundSerializer(
        many=True,
        required=False,
        help_text="Ranked polls only: the instant runoff, round by round. No ranking is "
        "ever listed (docs/privacy.md).",
    )
    winner = serializers.IntegerField(
        required=False,
        allow_null=True,
        help_text="Ranked polls only: the option holding a majority of the ballots still "
        "active in the last round; null without ballots.",
    )

    def to_representation(self, instance: Any) -> dict[str, Any]:
        return _without_missing_runoff(super().to_representation(instance), instance)


def _without_missing_runoff(data: dict[str, Any], instance: Any) -> dict[str, Any]:
    """The ranked polls' fields only where the document has them (DRF would write a
    missing `winner` as null)."""
    if "rounds" not in instance:
        data.pop("rounds", None)
        data.pop("winner", None)
    return data


class TimelineBucketSerializer(serializers.Serializer[Any]):
    starts_at = serializers.DateTimeField(help_text="The bucket's first minute (UTC).")
    ends_at = serializers.DateTimeField(help_text="The end of its last minute (exclusive).")
    option_id = serializers.IntegerField()
    votes = serializers.IntegerField(
        help_text="Votes for the option in the bucket. A bucket holds at least "
        "TIMELINE_MIN_BUCKET_VOTES votes, all options together (docs/privacy.md)."
    )


class TimelineSerializer(serializers.Serializer[Any]):
    poll_id = serializers.IntegerField()
    refreshed_at = serializers.DateTimeField(
        allow_null=True, help_text="When the snapshot was taken."
    )
    buckets = TimelineBucketSerializer(many=True)


# --- Audit (audit_apis.py) ---


class ExportOptionSerializer(serializers.Serializer[Any]):
    option_id = serializers.IntegerField()
    position = serializers.IntegerField()
    # A declared field, not Field.label: DRF's metaclass takes it off the class.
    label = serializers.CharField()  # type: ignore[assignment]
    votes = serializers.IntegerField()
    share = serializers.FloatField(
        help_text="A fraction of 1, rounded to at most 6 decimals; 0 without votes."
    )


class ExportPollSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    title = serializers.CharField()
    status = serializers.ChoiceField(choices=STATUSES)
    opens_at = serializers.DateTimeField()
    closes_at = serializers.DateTimeField()
    closed_at = serializers.DateTimeField(allow_null=True, help_text="Set by an early close.")


class ExportSerializer(serializers.Serializer[Any]):
    poll = ExportPollSerializer()
    tally_version = serializers.IntegerField(help_text="As the results' `version`.")
    total_votes = serializers.IntegerField(help_text="The ballots.")
    exported_at = serializers.DateTimeField()
    ballot_kind = serializers.ChoiceField(choices=BallotKind.values)
    options = ExportOptionSerializer(many=True, help_text="In the poll's option order.")
    rounds = RunoffRoundSerializer(
        many=True, required=False, help_text="Ranked polls only: the instant runoff."
    )
    winner = serializers.IntegerField(
        required=False, allow_null=True, help_text="Ranked polls only, as in the results."
    )

    def to_representation(self, instance: Any) -> dict[str, Any]:
        return _without_missing_runoff(super().to_representation(instance), instance)


class LedgerEntrySerializer(serializers.Serializer[Any]):
    # The receipt alone: no time, which with the timeline could prove its choice
    # (docs/privacy.md).
    receipt = serializers.CharField()


class PollEventSerializer(serializers.Serializer[Any]):
    type = serializers.ChoiceField(choices=PollEvent.Type.choices)
    occurred_at = serializers.DateTimeField(
        help_text="When it became true: for the clock's events, the poll's own time."
    )
    # DRF's metaclass takes declared fields off the class, so this never hides .data.
    data = serializers.DictField(  # type: ignore[assignment]
        help_text="poll.closed: {by: staff|clock}. poll.results_final: {results: the final "
        "results document, ledger: {count, digest}}, digest = sha256 of the ledger's "
        "receipts in its order, each followed by a newline. Else {}."
    )
