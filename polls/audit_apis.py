"""HTTP API for auditors: results export (CSV, JSON) and the receipt ledger of a poll.

Contract: docs/api-contract.md, "Audit". Open to everyone once the poll is closed, to
staff at any time; 403 poll_not_closed before that.
"""

import csv
import io

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from polls import audit
from pollsite.pagination import PageNumberPagination
from pollsite.problems import problem_responses

NOT_FOUND = (404, "not_found", "Not found.")


class ExportOptionSerializer(serializers.Serializer):
    option_id = serializers.IntegerField()
    position = serializers.IntegerField()
    label = serializers.CharField()
    votes = serializers.IntegerField()
    share = serializers.FloatField(help_text="A fraction of 1, 6 decimals; 0 without votes.")


class ExportPollSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    status = serializers.CharField()
    opens_at = serializers.DateTimeField()
    closes_at = serializers.DateTimeField()
    closed_at = serializers.DateTimeField(allow_null=True, help_text="Set by an early close.")


class ExportSerializer(serializers.Serializer):
    poll = ExportPollSerializer()
    tally_version = serializers.IntegerField(help_text="As the results' `version`.")
    total_votes = serializers.IntegerField()
    exported_at = serializers.DateTimeField()
    options = ExportOptionSerializer(many=True, help_text="In the poll's option order.")


class LedgerEntrySerializer(serializers.Serializer):
    receipt = serializers.CharField()
    cast_minute = serializers.DateTimeField(help_text="When it was cast, to the minute (UTC).")


class LedgerPageSerializer(serializers.Serializer):
    count = serializers.IntegerField(help_text="Counted ballots: equals the results' total.")
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = LedgerEntrySerializer(many=True)


class FirstRenderer(BaseContentNegotiation):
    """Always the view's first renderer (JSON, for problem documents): the CSV body is
    built by the view itself, whatever Accept says."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type

    def select_parser(self, request, parsers):
        return None


EXPORT_DESCRIPTION = (
    "Per option, from the vote counters. Public once the poll is closed; staff may "
    "export at any time (then the figures are a moment's tally). "
)


class ResultsExportJsonApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        tags=["audit"],
        summary="Results export, JSON",
        description=EXPORT_DESCRIPTION,
        responses={200: ExportSerializer, **problem_responses(NOT_FOUND, audit.NOT_CLOSED)},
    )
    def get(self, request, poll_id):
        poll = audit.access_audit_by_user(poll_id, request.user)
        return Response(ExportSerializer(audit.poll_export(poll)).data)


class ResultsExportCsvApi(APIView):
    permission_classes = [AllowAny]
    content_negotiation_class = FirstRenderer

    @extend_schema(
        tags=["audit"],
        summary="Results export, CSV",
        description=EXPORT_DESCRIPTION
        + "One header row, then one row per option in the poll's order; columns, in this "
        "order: " + ", ".join(f"`{c}`" for c in audit.EXPORT_COLUMNS) + ".",
        responses={
            (200, "text/csv"): OpenApiTypes.STR,
            **problem_responses(NOT_FOUND, audit.NOT_CLOSED),
        },
    )
    def get(self, request, poll_id):
        poll = audit.access_audit_by_user(poll_id, request.user)
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")  # RFC 4180
        writer.writerow(audit.EXPORT_COLUMNS)
        writer.writerows(audit.export_rows(audit.poll_export(poll)))
        response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="poll-{poll.pk}-results.csv"'
        return response


class ReceiptLedgerApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        tags=["audit"],
        summary="Receipt ledger: every counted ballot",
        description=(
            "Every counted receipt of the poll with the minute it was cast, ordered by "
            "receipt; no option and nothing about the voter, so a receipt proves inclusion, "
            "never a choice. `count` equals the results' `total_votes`. Public once the "
            "poll is closed; staff at any time."
        ),
        parameters=[
            OpenApiParameter("page", int, description="1-based."),
            OpenApiParameter("page_size", int, description="Up to 100."),
        ],
        responses={
            200: LedgerPageSerializer,
            **problem_responses(NOT_FOUND, audit.NOT_CLOSED),
        },
    )
    def get(self, request, poll_id):
        poll = audit.access_audit_by_user(poll_id, request.user)
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(audit.receipt_ledger(poll), request, view=self)
        return paginator.get_paginated_response(LedgerEntrySerializer(page, many=True).data)
