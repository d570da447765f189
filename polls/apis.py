"""HTTP API for polls, options and votes (contract: docs/api-contract.md)."""

import re
from typing import Any

from django.http import HttpResponse
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import (
    APIException,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    ValidationError,
)
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from polls import errors, selectors, services
from polls.models import (
    OPTION_DESCRIPTION_MAX_LENGTH,
    POLL_DESCRIPTION_MAX_LENGTH,
    TITLE_MAX_LENGTH,
    BallotKind,
    ResultsVisibility,
)
from polls.permissions import IsStaff, IsStaffOrReadOnly
from polls.serializers import (
    MyVoteSerializer,
    OptionSerializer,
    PollEventSerializer,
    PollSerializer,
    ReceiptCheckSerializer,
    ResultsSerializer,
    TimelineSerializer,
    VoteReceiptSerializer,
    vote_receipt_data,
)
from polls.status import STATUSES
from pollsite import fields
from pollsite.pagination import PageNumberPagination, page_response
from pollsite.problems import OutcomeUnknown, problem_responses
from pollsite.replicas import read_replica_or_primary

IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
# What every staff operation on one poll may answer, before its own problems.
STAFF_ON_A_POLL = (NotAuthenticated, PermissionDenied, NotFound)


def poll_response(poll, status=200, *, user=None):
    totals = selectors.poll_totals([poll.pk])
    context = {"totals": totals, "my_votes": selectors.my_votes(user, [poll.pk])}
    return Response(PollSerializer(poll, context=context).data, status=status)


class OptionCreateSerializer(serializers.Serializer[Any]):
    # A declared field, not Field.label: DRF's metaclass takes it off the class.
    label = fields.CharField(max_length=TITLE_MAX_LENGTH)  # type: ignore[assignment]
    description = fields.CharField(
        max_length=OPTION_DESCRIPTION_MAX_LENGTH, required=False, allow_blank=True, default=""
    )


BALLOT_KIND_HELP = (
    "What a ballot holds: single (one option), multiple (min_choices to max_choices "
    "options) or ranked (as many, in order of preference; counted by instant runoff). "
    "Fixed once the poll has a vote."
)
MIN_CHOICES_HELP = "Fewest options a ballot chooses: 1 by default (always 1 for single)."
MAX_CHOICES_HELP = (
    "Most options a ballot chooses: all of the poll's options by default (always 1 for single)."
)


class PollListApi(APIView):
    permission_classes = [IsStaffOrReadOnly]
    input_names = {"POST": "PollCreate"}  # the schema's PollCreateRequest
    # Also tells the schema that GET answers a page, {count, next, previous, results}.
    pagination_class = PageNumberPagination

    class FilterSerializer(serializers.Serializer[Any]):
        status = fields.ChoiceField(choices=STATUSES, required=False)

    class InputSerializer(serializers.Serializer[Any]):
        title = fields.CharField(max_length=TITLE_MAX_LENGTH)
        description = fields.CharField(
            max_length=POLL_DESCRIPTION_MAX_LENGTH, required=False, allow_blank=True, default=""
        )
        opens_at = serializers.DateTimeField(
            required=False, default=None, help_text="Defaults to now."
        )
        closes_at = serializers.DateTimeField()
        publish = fields.BooleanField(
            required=False, default=True, help_text="False keeps the poll a staff-only draft."
        )
        results_visibility = fields.ChoiceField(
            choices=ResultsVisibility.values, required=False, default=ResultsVisibility.LIVE
        )
        ballot_kind = fields.ChoiceField(
            choices=BallotKind.values,
            required=False,
            default=BallotKind.SINGLE,
            help_text=BALLOT_KIND_HELP,
        )
        min_choices = fields.IntegerField(
            min_value=1, max_value=100, required=False, default=None, help_text=MIN_CHOICES_HELP
        )
        max_choices = fields.IntegerField(
            min_value=1, max_value=100, required=False, default=None, help_text=MAX_CHOICES_HELP
        )
        # many=True makes a ListSerializer, which takes min_length and max_length; the
        # stubs type the call as a plain Serializer's.
        options = OptionCreateSerializer(many=True, min_length=2, max_length=100)  # type: ignore[call-arg]

        def validate_options(self, options):
            labels = [o["label"].strip().casefold() for o in options]
            if len(set(labels)) != len(labels):
                raise serializers.ValidationError("Option labels must be distinct.")
            return options

    @extend_schema(
        tags=["polls"],
        summary="List polls",
        operation_id="v1_polls_list",
        parameters=[
            # The status enum's component, not an enum of its own for this parameter.
            OpenApiParameter(
                "status",
                {"$ref": "#/components/schemas/PollStatusEnum"},
                description="Only the polls in this status.",
            ),
            OpenApiParameter("page", int, description="1 and up; a page past the last is 404."),
            OpenApiParameter("page_size", int, description="1 to 100."),
        ],
        description="Staff also see drafts. Newest first.",
        responses={200: PollSerializer(many=True), **problem_responses(ValidationError, NotFound)},
    )
    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        polls = selectors.poll_list_visible_to(request.user, **filters.validated_data)

        def serialize(page):
            # One query each for the whole page, never one per poll.
            totals = selectors.poll_totals(p.pk for p in page)
            my_votes = selectors.my_votes(request.user, (p.pk for p in page))
            context = {"totals": totals, "my_votes": my_votes}
            return PollSerializer(page, many=True, context=context).data

        return page_response(self, request, polls, serialize)

    @extend_schema(
        tags=["polls"],
        summary="Create a poll (staff)",
        request=InputSerializer,
        responses={
            201: PollSerializer,
            **problem_responses(ValidationError, NotAuthenticated, PermissionDenied),
        },
        examples=[
            OpenApiExample(
                "single choice",
                request_only=True,
                value={
                    "title": "Board election 2027",
                    "closes_at": "2027-01-31T18:00:00Z",
                    "options": [{"label": "Ada"}, {"label": "Grace"}],
                },
            ),
            OpenApiExample(
                "choose up to two (multiple)",
                request_only=True,
                value={
                    "title": "Which workshops should run?",
                    "closes_at": "2027-01-31T18:00:00Z",
                    "ballot_kind": "multiple",
                    "max_choices": 2,
                    "options": [{"label": "Rust"}, {"label": "SQL"}, {"label": "Django"}],
                },
            ),
            OpenApiExample(
                "ranked (instant runoff)",
                request_only=True,
                value={
                    "title": "Chair 2027",
                    "closes_at": "2027-01-31T18:00:00Z",
                    "ballot_kind": "ranked",
                    "options": [{"label": "Ada"}, {"label": "Grace"}, {"label": "Hedy"}],
                },
            ),
        ],
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        poll = services.poll_create(created_by=request.user, **data.validated_data)
        return poll_response(selectors.access_poll_by_user(poll.pk, request.user), status=201)


class PollDetailApi(APIView):
    permission_classes = [IsStaffOrReadOnly]
    input_names = {"PATCH": "PollUpdate"}

    class InputSerializer(serializers.Serializer[Any]):
        title = fields.CharField(max_length=TITLE_MAX_LENGTH, required=False)
        description = fields.CharField(
            max_length=POLL_DESCRIPTION_MAX_LENGTH, required=False, allow_blank=True
        )
        opens_at = serializers.DateTimeField(required=False)
        closes_at = serializers.DateTimeField(required=False)
        results_visibility = fields.ChoiceField(choices=ResultsVisibility.values, required=False)
        ballot_kind = fields.ChoiceField(
            choices=BallotKind.values, required=False, help_text=BALLOT_KIND_HELP
        )
        min_choices = fields.IntegerField(
            min_value=1, max_value=100, required=False, help_text=MIN_CHOICES_HELP
        )
        max_choices = fields.IntegerField(
            min_value=1, max_value=100, required=False, allow_null=True, help_text=MAX_CHOICES_HELP
        )

    @extend_schema(
        tags=["polls"],
        summary="A poll",
        responses={200: PollSerializer, **problem_responses(NotFound)},
    )
    def get(self, request, poll_id):
        poll = selectors.access_poll_by_user(poll_id, request.user)
        return poll_response(poll, user=request.user)

    @extend_schema(
        tags=["polls"],
        summary="Change a poll (staff)",
        request=InputSerializer,
        description="Refused with 409 poll_locked once the poll has votes or is closed.",
        responses={
            200: PollSerializer,
            **problem_responses(ValidationError, *STAFF_ON_A_POLL, errors.PollLocked),
        },
    )
    def patch(self, request, poll_id):
        poll = selectors.access_poll_by_user(poll_id, request.user)
        data = self.InputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        return poll_response(services.poll_update(poll=poll, **data.validated_data))

    @extend_schema(
        tags=["polls"],
        summary="Delete a poll (staff)",
        responses={
            204: None,
            **problem_responses(*STAFF_ON_A_POLL, errors.PollLocked),
        },
    )
    def delete(self, request, poll_id):
        services.poll_delete(poll=selectors.access_poll_by_user(poll_id, request.user))
        return Response(status=204)


class OptionCreateApi(APIView):
    permission_classes = [IsStaff]

    @extend_schema(
        tags=["polls"],
        summary="Add an option (staff)",
        request=OptionCreateSerializer,
        responses={
            201: OptionSerializer,
            **problem_responses(ValidationError, *STAFF_ON_A_POLL, errors.PollLocked),
        },
    )
    def post(self, request, poll_id):
        poll = selectors.access_poll_by_user(poll_id, request.user)
        data = OptionCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        option = services.option_add(poll=poll, **data.validated_data)
        return Response(OptionSerializer(option).data, status=201)


class PollPublishApi(APIView):
    permission_classes = [IsStaff]

    @extend_schema(
        tags=["polls"],
        summary="Publish a draft (staff)",
        request=None,
        responses={
            200: PollSerializer,
            **problem_responses(*STAFF_ON_A_POLL, errors.PollAlreadyPublished),
        },
    )
    def post(self, request, poll_id):
        poll = selectors.access_poll_by_user(poll_id, request.user)
        return poll_response(services.poll_publish(poll=poll))


class PollCloseApi(APIView):
    permission_classes = [IsStaff]

    @extend_schema(
        tags=["polls"],
        summary="Close a poll now (staff)",
        request=None,
        responses={
            200: PollSerializer,
            **problem_responses(
                *STAFF_ON_A_POLL, errors.PollAlreadyClosed, errors.PollNotPublished
            ),
        },
    )
    def post(self, request, poll_id):
        poll = selectors.access_poll_by_user(poll_id, request.user)
        return poll_response(services.poll_close(poll=poll))


class VoteCastApi(APIView):
    permission_classes = [IsAuthenticated]
    # The token is only read here; services.vote_cast checks it in the vote's own call.
    checks_bearer_token_itself = True

    class InputSerializer(serializers.Serializer[Any]):
        # Exactly one, the one the poll's ballot_kind takes (_read checks there is one;
        # the database, that it is the poll's).
        option_id = fields.IntegerField(
            min_value=1, max_value=2**63 - 1, required=False, help_text="A single ballot's option."
        )
        option_ids = serializers.ListField(
            child=fields.IntegerField(min_value=1, max_value=2**63 - 1),
            max_length=100,
            required=False,
            help_text="A multiple ballot's options, min_choices to max_choices of them.",
        )
        ranking = serializers.ListField(
            child=fields.IntegerField(min_value=1, max_value=2**63 - 1),
            max_length=100,
            required=False,
            help_text="A ranked ballot's options, most preferred first: min_choices to "
            "max_choices of them.",
        )

    @extend_schema(
        tags=["votes"],
        summary="Vote",
        description=(
            "One ballot per national ID per poll, from any account; the database decides. "
            "The body is the poll's `ballot_kind`'s: `{option_id}` (single), "
            "`{option_ids: [...]}` (multiple) or `{ranking: [...]}` (ranked, most preferred "
            "first); another kind's is a 400 `validation_error`. "
            "With an `Idempotency-Key`, a retry with the same body replays the first answer."
        ),
        request=InputSerializer,
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 255,
                    "pattern": IDEMPOTENCY_KEY.pattern,
                },
                OpenApiParameter.HEADER,
                description="At most 255 printable ASCII characters.",
            )
        ],
        responses={
            201: VoteReceiptSerializer,
            **problem_responses(
                ValidationError,
                errors.InvalidOption,
                errors.TooManyChoices,
                errors.TooFewChoices,
                errors.DuplicateChoice,
                errors.InvalidRanking,
                NotAuthenticated,
                errors.NotVerified,
                NotFound,
                errors.PollNotOpen,
                errors.AlreadyVoted,
                errors.IdempotencyKeyReused,
                OutcomeUnknown,
            ),
        },
        examples=[
            OpenApiExample("single", request_only=True, value={"option_id": 1}),
            OpenApiExample("multiple", request_only=True, value={"option_ids": [1, 3]}),
            OpenApiExample("ranked", request_only=True, value={"ranking": [3, 1, 2]}),
        ],
    )
    def post(self, request, poll_id):
        try:
            ballot, key = self._read(request)
        except APIException:
            request.user.user()  # a bad token answers 401 before a bad request's 4xx
            raise
        receipt = services.vote_cast(
            credentials=request.user, poll_id=poll_id, idempotency_key=key, **ballot
        )
        return Response(vote_receipt_data(receipt), status=201)

    def _read(self, request):
        ballot = fields.validate_flat(self.InputSerializer, request.data)
        if len(ballot) != 1:
            raise ValidationError(
                {"non_field_errors": ["Send one of option_id, option_ids or ranking."]}
            )
        key = request.headers.get("Idempotency-Key")
        if key is not None and not IDEMPOTENCY_KEY.match(key):
            raise ValidationError({"Idempotency-Key": ["1 to 255 printable ASCII characters."]})
        return ballot, key


class MyVoteApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        tags=["votes"],
        summary="My vote in this poll",
        responses={
            200: MyVoteSerializer,
            **problem_responses(NotAuthenticated, NotFound, errors.NotVoted),
        },
    )
    def get(self, request, poll_id):
        poll = selectors.access_poll_by_user(poll_id, request.user)
        vote = selectors.vote_of(poll, request.user)
        if vote is None:
            raise errors.NotVoted()
        return Response(MyVoteSerializer(vote).data)


class ReceiptCheckApi(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(
        tags=["votes"],
        summary="Check that a receipt's vote was counted",
        description="Reveals neither the voter, nor the option, nor when it was cast "
        "(docs/privacy.md).",
        responses={200: ReceiptCheckSerializer, **problem_responses(NotFound)},
    )
    def get(self, request, receipt):
        # From the replica within its bound; the voter who just cast it reads the
        # primary (pinned after the vote): it finds its receipt at once.
        vote = read_replica_or_primary(lambda: selectors.vote_by_receipt(receipt))
        if vote is None:
            raise NotFound()
        return Response(ReceiptCheckSerializer({"poll_id": vote.poll_id, "counted": True}).data)


class ResultsApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        tags=["results"],
        summary="Live results",
        description=(
            "From the vote counters, cached until the next vote. Once a vote's 201 has "
            "been sent, every later read includes it. Send `If-None-Match` with the "
            "`ETag` to get 304 when nothing changed."
        ),
        parameters=[
            OpenApiParameter(
                "If-None-Match",
                str,
                OpenApiParameter.HEADER,
                description="An `ETag` this client holds: 304, with no body, if it is current.",
            ),
            OpenApiParameter(
                "ETag",
                str,
                OpenApiParameter.HEADER,
                response=[200, 304],
                required=True,
                description="The results' version, quoted; changes with every counted vote.",
            ),
        ],
        responses={
            200: ResultsSerializer,
            304: OpenApiResponse(description="Not modified: the `If-None-Match` sent is current."),
            **problem_responses(NotFound, errors.ResultsHidden),
        },
    )
    def get(self, request, poll_id):
        results = selectors.access_results_by_user(poll_id, request.user)
        if results.etag in request.headers.get("If-None-Match", ""):
            response = HttpResponse(status=304)
        else:
            # The body was rendered once, when the counts changed, in the documented shape
            # (ResultsSerializer): rendering it per read cost more than the cached read.
            response = HttpResponse(results.body, content_type="application/json")
        response["ETag"] = results.etag
        # Any cache may keep it, but must revalidate (cheap, with the ETag) every time:
        # results never go stale behind an acknowledged vote. Staff see hidden results.
        response["Cache-Control"] = "no-cache"
        response["Vary"] = "Authorization"
        return response


class TimelineApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        tags=["results"],
        summary="Votes over time, in buckets of at least 10 votes (a snapshot)",
        description="From a materialized view refreshed every minute; `refreshed_at` "
        "says how old it is. Consecutive whole minutes are merged until a bucket holds "
        "at least TIMELINE_MIN_BUCKET_VOTES votes; the minutes after the last full "
        "bucket are held back until the poll closes (docs/privacy.md).",
        responses={200: TimelineSerializer, **problem_responses(NotFound, errors.ResultsHidden)},
    )
    def get(self, request, poll_id):
        results = selectors.access_results_by_user(poll_id, request.user)
        timeline = selectors.results_timeline(poll_id, closed=results.status == "closed")
        return Response(TimelineSerializer(timeline).data)


class PollEventsApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        tags=["polls"],
        summary="A poll's lifecycle events",
        operation_id="v1_polls_events_list",
        description=(
            "poll.published, poll.opened, poll.closed and poll.results_final, each at most "
            "once, oldest first. opened and closed are recorded at the poll's times (within "
            "about a second), results_final RESULTS_FINAL_DELAY_SECONDS (15) after the close."
        ),
        responses={200: PollEventSerializer(many=True), **problem_responses(NotFound)},
    )
    def get(self, request, poll_id):
        poll = selectors.access_poll_by_user(poll_id, request.user)
        # Events are appended; the replica's bound is the contract's.
        events = read_replica_or_primary(
            lambda: PollEventSerializer(selectors.poll_events(poll), many=True).data
        )
        return Response(events)
