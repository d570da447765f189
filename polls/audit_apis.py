"""HTTP API for auditors: results export (CSV, JSON) and the receipt ledger of a poll.

Contract: docs/api-contract.md, "Audit". Open to everyone once the poll is closed, to
staff at any time; 403 poll_not_closed before that.
"""

import csv
import io

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from polls import audit, errors
from polls.serializers import ExportSerializer, LedgerEntrySerializer
from pollsite.pagination import PageNumberPagination, page_response
from pollsite.problems import problem_responses
from pollsite.replicas import read_replica_or_primary


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
        responses={200: ExportSerializer, **problem_responses(NotFound, errors.PollNotClosed)},
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
            **problem_responses(NotFound, errors.PollNotClosed),
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
    # Also tells the schema that GET answers a page, {count, next, previous, results}.
    pagination_class = PageNumberPagination

    @extend_schema(
        tags=["audit"],
        summary="Receipt ledger: every counted ballot",
        description=(
            "Every counted receipt of the poll, ordered by receipt: no option, no time and "
            "nothing about the voter, so a receipt proves inclusion, never a choice "
            "(docs/privacy.md). `count` equals the results' `total_votes`. Public once the "
            "poll is closed; staff at any time."
        ),
        parameters=[
            OpenApiParameter("page", int, description="1 and up; a page past the last is 404."),
            OpenApiParameter("page_size", int, description="1 to 100."),
        ],
        responses={
            200: LedgerEntrySerializer(many=True),
            **problem_responses(NotFound, errors.PollNotClosed),
        },
    )
    def get(self, request, poll_id):
        poll = audit.access_audit_by_user(poll_id, request.user)
        # From the replica when it holds every vote the ledger shows: of a closed poll,
        # all of them (complete_since), else those of the replica's bound.
        return read_replica_or_primary(
            lambda: page_response(
                self,
                request,
                audit.receipt_ledger(poll),
                lambda page: LedgerEntrySerializer(page, many=True).data,
            ),
            complete_since=audit.ledger_complete_since(poll),
        )
