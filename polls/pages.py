"""HTML pages for people, as opposed to the JSON API in apis.py."""

import secrets

from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_safe

from polls import selectors
from polls.models import BallotKind
from polls.status import poll_status

# The live page loads nothing but itself: its one style and one script carry this
# response's nonce, and EventSource/fetch may only reach this origin (default-src).
LIVE_PAGE_CSP = (
    "default-src 'self'; "
    "script-src 'nonce-{nonce}'; "
    "style-src 'nonce-{nonce}'; "
    "img-src 'self' data:; "
    "object-src 'none'; "
    "base-uri 'none'; "
    "form-action 'none'; "
    "frame-ancestors 'none'"
)


# What the bars count, for the ballot kinds whose bars are not plain votes.
KIND_NOTES: dict[str, str] = {
    BallotKind.MULTIPLE: "Each ballot approves one or more options: a bar is the share of "
    "ballots that approve it.",
    BallotKind.RANKED: "Ballots rank the options: the bars are first choices; the instant "
    "runoff below decides.",
}


@require_safe
def poll_live(request, poll_id):
    """The live results page: the poll and its options; the results stream fills the bars."""
    poll = selectors.access_poll_by_user(poll_id, request.user)
    poll_url = reverse("poll-detail", args=[poll.pk])
    nonce = secrets.token_urlsafe(18)
    context = {
        "poll": poll,
        "options": poll.options.all(),  # prefetched; Option.Meta.ordering is by position
        "status": poll_status(poll),
        "kind_note": KIND_NOTES.get(poll.ballot_kind, ""),
        "total_noun": "votes" if poll.ballot_kind == BallotKind.SINGLE else "ballots",
        "results_url": f"{poll_url}/results",
        "stream_url": f"{poll_url}/results/stream",
        "nonce": nonce,
    }
    response = render(request, "polls/live.html", context)
    response["Content-Security-Policy"] = LIVE_PAGE_CSP.format(nonce=nonce)
    # Every load needs a fresh nonce: never serve this page from a shared cache.
    response["Cache-Control"] = "no-store"
    return response
