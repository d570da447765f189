"""Output shapes of the identity API (the contract's `user` and `verification`)."""

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from identity.models import VoterIdentity
from identity.selectors import verification_of

VERIFICATION_STATUSES = ("unverified", "verified")


class VerificationSerializer(serializers.Serializer[Any]):
    status = serializers.ChoiceField(choices=VERIFICATION_STATUSES)
    full_name = serializers.CharField(allow_null=True, help_text="As the registry returned it.")
    national_id_last4 = serializers.CharField(allow_null=True)
    verified_at = serializers.DateTimeField(allow_null=True)

    @staticmethod
    def of(identity: VoterIdentity | None) -> dict[str, Any]:
        if identity is None:
            return {
                "status": "unverified",
                "full_name": None,
                "national_id_last4": None,
                "verified_at": None,
            }
        return {
            "status": "verified",
            "full_name": identity.full_name,
            "national_id_last4": identity.national_id_last4,
            "verified_at": identity.verified_at,
        }


class UserSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    username = serializers.CharField()
    email = serializers.EmailField(allow_blank=True)
    is_staff = serializers.BooleanField()
    verification = serializers.SerializerMethodField()

    @extend_schema_field(VerificationSerializer)
    def get_verification(self, user) -> dict[str, Any]:
        return VerificationSerializer(VerificationSerializer.of(verification_of(user))).data


class LoginOutputSerializer(serializers.Serializer[Any]):
    token = serializers.CharField(help_text="Send as `Authorization: Bearer <token>`.")
    expires_at = serializers.DateTimeField()
    user = UserSerializer()
    device_token = serializers.CharField(
        help_text="Keep it, and send it with this account's next logins (`device_token`): "
        "a client that logged in before is spared its address's login limit. Also set "
        "as the `device` cookie for browsers. Revoked by POST /auth/logout-all."
    )
