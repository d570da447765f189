from rest_framework import serializers

from bench.reference.models import Choice, Vote


class VoteSerializer(serializers.ModelSerializer):
    option_id = serializers.PrimaryKeyRelatedField(queryset=Choice.objects.all(), source="choice")

    class Meta:
        model = Vote
        fields = ["id", "option_id", "created_at"]

    def validate_option_id(self, choice):
        if choice.poll_id != self.context["poll"].id:
            raise serializers.ValidationError("This choice is not in this poll.")
        return choice
