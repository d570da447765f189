"""HTTP API for accounts, tokens and national ID verification (contract: docs/api-contract.md)."""

from typing import Any

from django.conf import settings
from django.contrib.auth.validators import UnicodeUsernameValidator
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotAuthenticated, ValidationError
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from identity import errors, services
from identity.serializers import LoginOutputSerializer, UserSerializer, VerificationSerializer
from pollsite import fields
from pollsite.problems import problem_responses
from pollsite.ratelimit import RateLimiterUnavailable, TooManyAttempts


class RegisterApi(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]

    class InputSerializer(serializers.Serializer[Any]):
        username = fields.CharField(max_length=150, validators=[UnicodeUsernameValidator()])
        password = fields.CharField(
            max_length=128, trim_whitespace=False, style={"input_type": "password"}
        )
        email = fields.EmailField(max_length=254, required=False, allow_blank=True, default="")

    @extend_schema(
        tags=["accounts"],
        summary="Create an account",
        request=InputSerializer,
        responses={
            201: UserSerializer,
            **problem_responses(ValidationError),
        },
        examples=[
            OpenApiExample(
                "sign-up",
                request_only=True,
                value={
                    "username": "alice",
                    "password": "correct horse battery",
                    "email": "alice@example.org",
                },
            )
        ],
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.user_register(**data.validated_data)
        return Response(UserSerializer(user).data, status=201)


DEVICE_COOKIE = "device"


class LoginApi(APIView):
    # No authenticator: a stale token in the header must not stand in the way of a login.
    authentication_classes = []
    permission_classes = [AllowAny]

    class InputSerializer(serializers.Serializer[Any]):
        username = fields.CharField(max_length=150)
        password = fields.CharField(max_length=128, trim_whitespace=False)
        device_token = fields.CharField(
            max_length=500,
            required=False,
            help_text="The `device_token` of an earlier login to this account (browsers "
            "send the `device` cookie instead): this client's failed logins then count "
            "against it alone, not against its address.",
        )

    @extend_schema(
        tags=["accounts"],
        summary="Log in: get a bearer token",
        request=InputSerializer,
        responses={
            200: LoginOutputSerializer,
            **problem_responses(ValidationError, errors.InvalidCredentials, TooManyAttempts),
        },
        examples=[
            OpenApiExample(
                "login",
                request_only=True,
                value={"username": "alice", "password": "correct horse battery"},
            )
        ],
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        given = data.validated_data
        login = services.token_create(
            username=given["username"],
            password=given["password"],
            client_ip=request.META.get("REMOTE_ADDR", ""),
            device_token=given.get("device_token") or request.COOKIES.get(DEVICE_COOKIE),
        )
        body = {
            "token": login.secret,
            "expires_at": login.token.expiry,
            "user": login.token.user,
            "device_token": login.device_token,
        }
        response = Response(LoginOutputSerializer(body).data)
        # For browsers: kept by them, sent only to the login, never readable by scripts.
        response.set_cookie(
            DEVICE_COOKIE,
            login.device_token,
            max_age=settings.LOGIN_DEVICE_MAX_AGE_SECONDS,
            path="/api/v1/auth/login",
            secure=request.is_secure(),
            httponly=True,
            samesite="Strict",
        )
        return response


class LogoutApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        tags=["accounts"],
        summary="Log out: this token dies at once",
        request=None,
        responses={204: None, **problem_responses(NotAuthenticated)},
    )
    def post(self, request):
        services.token_revoke(token=request.auth)
        return Response(status=204)


class LogoutEverywhereApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        tags=["accounts"],
        summary="Log out everywhere: every token and every device token of the account die",
        request=None,
        responses={204: None, **problem_responses(NotAuthenticated)},
    )
    def post(self, request):
        services.tokens_revoke_all(user=request.user)
        return Response(status=204)


class MeApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        tags=["accounts"],
        summary="The account behind the token",
        responses={200: UserSerializer, **problem_responses(NotAuthenticated)},
    )
    def get(self, request):
        return Response(UserSerializer(request.user).data)


class VerifyApi(APIView):
    permission_classes = [IsAuthenticated]

    class InputSerializer(serializers.Serializer[Any]):
        national_id = fields.CharField(
            max_length=32, help_text="Spaces and dashes are ignored. Never stored in clear."
        )
        date_of_birth = serializers.DateField(help_text="YYYY-MM-DD")

    @extend_schema(
        tags=["identity"],
        summary="Verify this account with a national ID",
        description=(
            "Checks the number locally (format, check digit), then with the national "
            "registry, which supplies the name. Verifying again with the same number "
            "answers 200. The 422 body is the same for every kind of mismatch."
        ),
        request=InputSerializer,
        responses={
            200: VerificationSerializer,
            **problem_responses(
                errors.InvalidNationalId,
                ValidationError,
                NotAuthenticated,
                errors.NationalIdInUse,
                errors.AccountAlreadyVerified,
                errors.VerificationFailed,
                TooManyAttempts,
                errors.RegistryUnavailable,
                RateLimiterUnavailable,
            ),
        },
        examples=[
            OpenApiExample(
                "verify",
                request_only=True,
                value={"national_id": "800101 5009 087", "date_of_birth": "1980-01-01"},
            )
        ],
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        identity = services.identity_verify(
            user=request.user,
            raw_national_id=data.validated_data["national_id"],
            date_of_birth=data.validated_data["date_of_birth"],
        )
        return Response(VerificationSerializer(VerificationSerializer.of(identity)).data)
