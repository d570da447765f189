"""Output shapes of the polls API (the contract's `poll`, `option`, receipts)."""

from rest_framework import serializers

from polls.selectors import STATUSES, poll_status


class OptionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    label = serializers.CharField()
    description = serializers.CharField()


class MyVoteInPollSerializer(serializers.Serializer):
    receipt = serializers.CharField()
    cast_at = serializers.DateTimeField()


class PollSerializer(serializers.Serializer):
    """Needs context["totals"]: {poll_id: total_votes}, from selectors.poll_totals; and
    context["my_votes"]: {poll_id: vote}, from selectors.my_votes, for `my_vote`."""

    id = serializers.IntegerField()
    title = serializers.CharField()
    description = serializers.CharField()
    status = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    opens_at = serializers.DateTimeField()
    closes_at = serializers.DateTimeField()
    results_visibility = serializers.ChoiceField(choices=["live", "after_close"])
    options = OptionSerializer(many=True, source="options.all")
    total_votes = serializers.SerializerMethodField()
    my_vote = serializers.SerializerMethodField(
        help_text="Your own vote in this poll (any account of your national ID), or null: "
        "not voted, not verified, or anonymous."
    )

    def get_status(self, poll) -> serializers.ChoiceField(choices=STATUSES):
        return poll_status(poll)

    def get_total_votes(self, poll) -> int:
        return self.context["totals"].get(poll.pk, 0)

    def get_my_vote(self, poll) -> MyVoteInPollSerializer(allow_null=True):
        vote = self.context.get("my_votes", {}).get(poll.pk)
        return MyVoteInPollSerializer(vote).data if vote is not None else None


class VoteReceiptSerializer(serializers.Serializer):
    receipt = serializers.CharField(help_text="Keep it to check later that your vote counted.")
    poll_id = serializers.IntegerField()
    cast_at = serializers.DateTimeField()


class MyVoteSerializer(serializers.Serializer):
    receipt = serializers.CharField()
    cast_at = serializers.DateTimeField()


class ReceiptCheckSerializer(serializers.Serializer):
    poll_id = serializers.IntegerField()
    cast_at = serializers.DateTimeField()
    counted = serializers.BooleanField()
