from django.urls import path, register_converter

from polls import apis, audit_apis, stream_apis


class ReceiptConverter:
    regex = r"[A-Za-z0-9_-]{1,64}"

    def to_python(self, value):
        return value

    def to_url(self, value):
        return value


class PollIdConverter:
    """Digits only, and small enough for a bigint: anything else is a 404, not a 500."""

    regex = r"[0-9]{1,18}"

    def to_python(self, value):
        return int(value)

    def to_url(self, value):
        return str(value)


register_converter(ReceiptConverter, "receipt")
register_converter(PollIdConverter, "poll_id")

urlpatterns = [
    path("polls", apis.PollListApi.as_view(), name="poll-list"),
    path("polls/<poll_id:poll_id>", apis.PollDetailApi.as_view(), name="poll-detail"),
    path("polls/<poll_id:poll_id>/options", apis.OptionCreateApi.as_view(), name="option-create"),
    path("polls/<poll_id:poll_id>/publish", apis.PollPublishApi.as_view(), name="poll-publish"),
    path("polls/<poll_id:poll_id>/close", apis.PollCloseApi.as_view(), name="poll-close"),
    path("polls/<poll_id:poll_id>/events", apis.PollEventsApi.as_view(), name="poll-events"),
    path("polls/<poll_id:poll_id>/votes", apis.VoteCastApi.as_view(), name="vote-cast"),
    path("polls/<poll_id:poll_id>/votes/me", apis.MyVoteApi.as_view(), name="vote-mine"),
    path("polls/<poll_id:poll_id>/results", apis.ResultsApi.as_view(), name="poll-results"),
    path(
        "polls/<poll_id:poll_id>/results/stream", stream_apis.results_stream, name="results-stream"
    ),
    path(
        "polls/<poll_id:poll_id>/results/timeline",
        apis.TimelineApi.as_view(),
        name="results-timeline",
    ),
    # Auditors (polls/audit_apis.py): public once the poll is closed.
    path(
        "polls/<poll_id:poll_id>/results/export.csv",
        audit_apis.ResultsExportCsvApi.as_view(),
        name="results-export-csv",
    ),
    path(
        "polls/<poll_id:poll_id>/results/export.json",
        audit_apis.ResultsExportJsonApi.as_view(),
        name="results-export-json",
    ),
    path("polls/<poll_id:poll_id>/receipts", audit_apis.ReceiptLedgerApi.as_view(), name="ledger"),
    path("receipts/<receipt:receipt>", apis.ReceiptCheckApi.as_view(), name="receipt-check"),
]
