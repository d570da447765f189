"""GraphQL for polls, votes and results (contract: docs/api-contract.md, "GraphQL").

The same rules as REST, from the same places: polls come from poll_list_visible_to and
access_poll_by_user, results from access_results_by_user (the cached document) or, for
a page of polls, access_results_of_polls (one statement for the page), votes go through
services.vote_cast, and the vote's body is checked by the REST view's own serializer.
Nothing here decides who may see or do what.

A page of polls costs a fixed number of queries whatever its size: each field that needs
the database reads it once for the whole page (PollBatch) on first use.
"""

import json
import re
import threading
from collections import OrderedDict
from collections.abc import AsyncGenerator
from datetime import datetime
from enum import Enum
from functools import cached_property, lru_cache
from types import SimpleNamespace
from typing import Annotated, Any

import strawberry
import strawberry_django
from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.db import close_old_connections
from graphql import FieldNode
from rest_framework.exceptions import APIException, NotAuthenticated, NotFound
from strawberry.scalars import JSON

from polls import models, selectors, services
from polls.apis import VoteCastApi
from polls.results import RenderedResults
from polls.serializers import PollSerializer
from polls.status import poll_status
from polls.stream_apis import ANONYMOUS_FIRST_FRAMES, StreamCapacityReached
from polls.stream_hub import Frame, frame_of, hub
from polls.urls import PollIdConverter, ReceiptConverter
from pollsite.graphql.context import RequestContext
from pollsite.graphql.pagination import Page, page_of
from pollsite.replicas import read_replica_or_primary

Info = strawberry.Info[RequestContext, None]

# --- Enums: the models' own choices, under GraphQL's names (upper case) ---------------


@strawberry.enum(
    description="draft (staff only), scheduled, open or closed: by the database's clock."
)
class PollStatus(Enum):
    # polls/status.py's STATUSES (tests/polls/test_graphql.py holds the two together)
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    OPEN = "open"
    CLOSED = "closed"


# The models' own choices are the GraphQL enums (strawberry.enum returns the class).
strawberry.enum(
    models.BallotKind,
    description="single: optionId; multiple: optionIds; ranked: ranking, most preferred "
    "first, counted by instant runoff.",
)
strawberry.enum(models.ResultsVisibility)
strawberry.enum(models.PollEvent.Type, name="PollEventType")


def poll_id_of(value: object) -> int:
    """A poll id as REST's URLs take it (polls/urls.py); anything else is not_found."""
    text = str(value)
    if not re.fullmatch(PollIdConverter.regex, text):
        raise NotFound()
    return int(text)


def _integer_or_as_sent(value: strawberry.ID | None) -> Any:
    """An option id as an integer when it is one; else as sent, for the REST view's
    serializer to refuse with its own message."""
    return int(value) if value is not None and str(value).isdigit() else value


# --- Results: the cached document, as GraphQL types -----------------------------------


@strawberry.type(description="An option's count.")
class ResultsOption:
    id: strawberry.ID
    label: str
    votes: int = strawberry.field(
        description="By the poll's ballotKind: the ballots for it (single), the ballots that "
        "approve it (multiple), or that rank it first (ranked)."
    )
    share: float = strawberry.field(
        description="votes / totalVotes, a fraction of 1; 0 without ballots. A multiple "
        "poll's shares add up to more than 1."
    )


@strawberry.type
class RunoffOption:
    id: strawberry.ID
    votes: int = strawberry.field(description="Ballots that count for it in this round.")


@strawberry.type(description="One round of a ranked poll's instant runoff.")
class RunoffRound:
    round: int
    options: list[RunoffOption]
    eliminated: list[strawberry.ID] = strawberry.field(
        description="Eliminated after this round; empty in the last round."
    )
    exhausted: int = strawberry.field(description="Ballots that rank no option still in.")


@strawberry.type(
    description="A poll's results: the same document as GET /api/v1/polls/{id}/results, "
    "never older than a vote whose answer has been sent."
)
class Results:
    poll_id: strawberry.ID
    status: PollStatus
    total_votes: int = strawberry.field(description="The ballots.")
    version: int = strawberry.field(description="Only grows; changes with every ballot.")
    as_of: datetime = strawberry.field(description="When these counts were read.")
    ballot_kind: models.BallotKind
    options: list[ResultsOption]
    rounds: list[RunoffRound] | None = strawberry.field(
        description="Ranked polls only: the instant runoff, round by round; else null."
    )
    winner: strawberry.ID | None = strawberry.field(
        description="Ranked polls only: the option with a majority of the ballots still "
        "active in the last round; null without ballots, and for other kinds."
    )

    @classmethod
    def of(cls, body: bytes) -> "Results":
        return _results_of(body)


@lru_cache(maxsize=256)
def _results_of(body: bytes) -> Results:
    """The Results of a rendered document: parsed once per document (a results read, and
    every subscriber of a stream, shares the same bytes)."""
    document = json.loads(body)
    rounds = document.get("rounds")
    return Results(
        poll_id=strawberry.ID(str(document["poll_id"])),
        status=PollStatus(document["status"]),
        total_votes=document["total_votes"],
        version=document["version"],
        as_of=datetime.fromisoformat(document["as_of"]),
        ballot_kind=models.BallotKind(document["ballot_kind"]),
        options=[
            ResultsOption(
                id=strawberry.ID(str(o["id"])), label=o["label"], votes=o["votes"], share=o["share"]
            )
            for o in document["options"]
        ],
        rounds=None
        if rounds is None
        else [
            RunoffRound(
                round=r["round"],
                options=[
                    RunoffOption(id=strawberry.ID(str(o["id"])), votes=o["votes"])
                    for o in r["options"]
                ],
                eliminated=[strawberry.ID(str(e)) for e in r["eliminated"]],
                exhausted=r["exhausted"],
            )
            for r in rounds
        ],
        winner=None if document.get("winner") is None else strawberry.ID(str(document["winner"])),
    )


# --- Polls ------------------------------------------------------------------------------


class PollBatch:
    """What the fields of a page of polls read, each read once for the whole page, on
    first use: a page of any size costs the same number of queries."""

    def __init__(self, polls: list[models.Poll], user: Any) -> None:
        self.polls = polls
        self.user = user
        self.ids = [poll.pk for poll in polls]

    @cached_property
    def totals(self) -> dict[int, int]:
        return selectors.poll_totals(self.ids)

    @cached_property
    def my_votes(self) -> dict[int, models.Vote]:
        return selectors.my_votes(self.user, self.ids)

    @cached_property
    def results(self) -> dict[int, RenderedResults | Exception]:
        if len(self.ids) == 1:  # one poll: through the results cache, as REST reads it
            try:
                return {self.ids[0]: selectors.access_results_by_user(self.ids[0], self.user)}
            except Exception as refused:  # noqa: BLE001 - the field raises it
                return {self.ids[0]: refused}
        return selectors.access_results_of_polls(self.ids, self.user)

    @cached_property
    def events(self) -> dict[int, list[models.PollEvent]]:
        # Events are appended; the replica's bound is the contract's, as REST's.
        return read_replica_or_primary(lambda: selectors.events_of_polls(self.ids))


def _batch(info: Info, poll: models.Poll) -> PollBatch:
    batches = info.context.loaders
    if ("poll", poll.pk) not in batches:
        batches[("poll", poll.pk)] = PollBatch([poll], info.context.user())
    batch: PollBatch = batches[("poll", poll.pk)]
    return batch


def _batched(info: Info, polls: list[models.Poll]) -> list[models.Poll]:
    batch = PollBatch(polls, info.context.user())
    for poll in polls:
        info.context.loaders[("poll", poll.pk)] = batch
    return polls


@strawberry_django.type(models.Option, name="Option")
class OptionType:
    id: strawberry.ID
    label: str
    description: str


@strawberry_django.type(models.PollEvent, name="PollEvent")
class PollEventType:
    occurred_at: datetime = strawberry.field(
        description="When it became true: for the clock's events, the poll's own time."
    )
    data: JSON = strawberry.field(
        description="poll.closed: {by: staff|clock}. poll.results_final: {results, ledger: "
        "{count, digest}}. Else {}."
    )

    @strawberry.field
    def type(self, root: strawberry.Parent[models.PollEvent]) -> models.PollEvent.Type:
        return models.PollEvent.Type(root.type)


@strawberry.type(description="Your own vote in a poll (any account of your national ID).")
class MyVote:
    receipt: str
    cast_at: datetime


@strawberry_django.type(models.Poll, name="Poll")
class PollType:
    id: strawberry.ID
    title: str
    description: str
    created_at: datetime
    opens_at: datetime
    closes_at: datetime
    min_choices: int = strawberry.field(description="Fewest options a ballot chooses.")

    @strawberry.field
    def status(self, root: strawberry.Parent[models.Poll]) -> PollStatus:
        return PollStatus(poll_status(root))

    @strawberry.field
    def results_visibility(self, root: strawberry.Parent[models.Poll]) -> models.ResultsVisibility:
        return models.ResultsVisibility(root.results_visibility)

    @strawberry.field
    def ballot_kind(self, root: strawberry.Parent[models.Poll]) -> models.BallotKind:
        return models.BallotKind(root.ballot_kind)

    @strawberry.field(description="Most options a ballot chooses.")
    def max_choices(self, root: strawberry.Parent[models.Poll]) -> int:
        return PollSerializer().get_max_choices(root)

    @strawberry.field(description="In the poll's order.")
    def options(self, root: strawberry.Parent[models.Poll]) -> list[OptionType]:
        return list(root.options.all())  # type: ignore[arg-type]

    @strawberry.field(description="The ballots cast, from the counters.")
    def total_votes(self, root: strawberry.Parent[models.Poll], info: Info) -> int:
        return _batch(info, root).totals.get(root.pk, 0)

    @strawberry.field(
        description="Your own vote in this poll, or null: not voted, not verified, or anonymous."
    )
    def my_vote(self, root: strawberry.Parent[models.Poll], info: Info) -> MyVote | None:
        vote = _batch(info, root).my_votes.get(root.pk)
        return None if vote is None else MyVote(receipt=vote.receipt, cast_at=vote.cast_at)

    @strawberry.field(
        description="The live results: null with results_hidden until an after_close poll "
        "closes (staff see them)."
    )
    def results(self, root: strawberry.Parent[models.Poll], info: Info) -> Results | None:
        found = _batch(info, root).results[root.pk]
        if isinstance(found, Exception):
            raise found
        return Results.of(found.body)

    @strawberry.field(
        description="poll.published, poll.opened, poll.closed, poll.results_final, each at "
        "most once, oldest first."
    )
    def events(self, root: strawberry.Parent[models.Poll], info: Info) -> list[PollEventType]:
        return _batch(info, root).events.get(root.pk, [])  # type: ignore[return-value]


@strawberry.type(description="A page of polls, newest first.")
class PollPage:
    total_count: int = strawberry.field(description="Polls on all pages together.")
    page: int
    page_size: int
    has_next_page: bool
    items: list[PollType]


@strawberry.type
class VoteReceipt:
    receipt: str = strawberry.field(description="Keep it to check later that your vote counted.")
    poll_id: strawberry.ID
    cast_at: datetime


@strawberry.type
class ReceiptCheck:
    poll_id: strawberry.ID
    counted: bool


@strawberry.type
class PollsQuery:
    @strawberry.field(description="Polls, newest first; staff also see drafts.")
    def polls(
        self,
        info: Info,
        status: PollStatus | None = None,
        page: int = 1,
        page_size: Annotated[
            int | None,
            strawberry.argument(description="1 to 100; API_PAGE_SIZE (20) when not given."),
        ] = None,
    ) -> PollPage:
        user = info.context.user()
        polls = selectors.poll_list_visible_to(user, status=status.value if status else None)
        found: Page[models.Poll] = page_of(polls, page=page, page_size=page_size)
        return PollPage(
            total_count=found.total_count,
            page=found.page,
            page_size=found.page_size,
            has_next_page=found.has_next_page,
            items=_batched(info, found.items),  # type: ignore[arg-type]
        )

    @strawberry.field(description="A poll: null with not_found for no such poll (or a draft).")
    def poll(self, info: Info, id: strawberry.ID) -> PollType | None:
        poll = selectors.access_poll_by_user(poll_id_of(id), info.context.user())
        return _batched(info, [poll])[0]  # type: ignore[return-value]

    @strawberry.field(
        description="A poll's results alone, as GET /api/v1/polls/{id}/results serves them: "
        "the cheapest read (from the results cache, no poll read). not_found for no such "
        "poll (or a draft), results_hidden until an after_close poll closes."
    )
    def results(self, info: Info, poll_id: strawberry.ID) -> Results | None:
        poll = poll_id_of(poll_id)
        found = selectors.access_results_by_user(poll, info.context.user())
        _may_answer_again(info, poll, found)
        return Results.of(found.body)

    @strawberry.field(
        description="Whether a receipt's vote was counted. Reveals neither the voter, nor "
        "the option, nor when it was cast."
    )
    def receipt(self, info: Info, receipt: str) -> ReceiptCheck | None:
        if not re.fullmatch(ReceiptConverter.regex, receipt):
            raise NotFound()
        vote = read_replica_or_primary(lambda: selectors.vote_by_receipt(receipt))
        if vote is None:
            raise NotFound()
        return ReceiptCheck(poll_id=strawberry.ID(str(vote.poll_id)), counted=True)


def _may_answer_again(info: Info, poll_id: int, found: RenderedResults) -> None:
    """An anonymous operation of results fields only (no other root field) depends on
    nothing but those results: the view may serve its answer again, as written, while
    each poll's results keep their ETag (ResultsAnswers)."""
    context = info.context
    only_results = all(
        isinstance(selection, FieldNode) and selection.name.value in ("results", "__typename")
        for selection in info.operation.selection_set.selections
    )
    if context.credentials is not None or not only_results:
        return
    if context.validators is None:
        context.validators = []
    context.validators.append((poll_id, found.etag))


class ResultsAnswers:
    """The view's answer cache (pollsite.graphql.views.AnswerCache) for anonymous
    results queries: an answer is served again while every poll it shows still has the
    same results, read as REST reads them (access_results_by_user: the results cache,
    never older than an acknowledged vote), so it is never staler than REST's read. The
    same idea as REST's pre-rendered body: executing the query cost more than the read.
    The last ANSWERS_KEPT requests' answers, per process."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._answers: OrderedDict[bytes, tuple[list[Any], bytes]] = OrderedDict()
        self._lock = threading.Lock()

    def lookup(self, key: bytes) -> bytes | None:
        kept = self._answers.get(key)
        if kept is None:
            return None
        validators, body = kept
        anonymous = AnonymousUser()
        for poll_id, etag in validators:
            try:
                current = selectors.access_results_by_user(poll_id, anonymous)
            except Exception:  # noqa: BLE001 - not servable now: the query answers why
                return None
            if current.etag != etag:
                return None
        return body

    def store(self, key: bytes, validators: list[Any], body: bytes) -> None:
        with self._lock:
            self._answers[key] = (validators, body)
            self._answers.move_to_end(key)
            while len(self._answers) > self._size:
                self._answers.popitem(last=False)


ANSWERS_KEPT = 512
results_answers = ResultsAnswers(ANSWERS_KEPT)


@strawberry.type
class PollsMutation:
    @strawberry.mutation(
        description="Vote: one ballot per national ID per poll, the database decides. Send the "
        "poll's ballotKind's field: optionId (single), optionIds (multiple) or ranking "
        "(ranked, most preferred first). With an idempotencyKey, a retry with the same "
        "ballot answers the first receipt."
    )
    def cast_vote(
        self,
        info: Info,
        poll_id: strawberry.ID,
        option_id: strawberry.ID | None = None,
        option_ids: list[strawberry.ID] | None = None,
        ranking: list[strawberry.ID] | None = None,
        idempotency_key: Annotated[
            str | None, strawberry.argument(description="At most 255 printable ASCII characters.")
        ] = None,
    ) -> VoteReceipt | None:
        credentials = info.context.credentials
        if credentials is None:
            raise NotAuthenticated()
        sent = {
            "option_id": _integer_or_as_sent(option_id),
            "option_ids": None
            if option_ids is None
            else list(map(_integer_or_as_sent, option_ids)),
            "ranking": None if ranking is None else list(map(_integer_or_as_sent, ranking)),
        }
        request = SimpleNamespace(
            data={name: value for name, value in sent.items() if value is not None},
            headers={} if idempotency_key is None else {"Idempotency-Key": idempotency_key},
        )
        try:
            ballot, key = VoteCastApi()._read(request)  # REST's own check of the body
        except APIException:
            credentials.user()  # a bad token answers authentication_failed first, as REST
            raise
        receipt = services.vote_cast(
            credentials=credentials, poll_id=poll_id_of(poll_id), idempotency_key=key, **ballot
        )
        return VoteReceipt(
            receipt=receipt.receipt,
            poll_id=strawberry.ID(str(receipt.poll_id)),
            cast_at=receipt.cast_at,
        )


# --- The subscription, on the stream server -------------------------------------------


@strawberry.type
class PollsSubscription:
    @strawberry.subscription(
        description="A poll's results now, then after each change: each version once, never "
        "an older one. Served at /api/graphql/stream over Server-Sent Events (graphql-sse), "
        "from the same hub as GET /api/v1/polls/{id}/results/stream."
    )
    async def results(self, info: Info, poll_id: strawberry.ID) -> AsyncGenerator[Results, None]:
        poll = poll_id_of(poll_id)
        # Subscribe, then read (as polls/stream_apis.py): a vote between the two sends
        # an event that follows() drops if it is no news.
        queue = hub.subscribe(poll)
        try:
            last = await _first_frame(info.context, poll)
            yield Results.of(last.body)
            while True:
                frame = await queue.get()
                if frame.follows(last):
                    last = frame
                    yield Results.of(frame.body)
        finally:
            hub.unsubscribe(poll, queue)


async def _first_frame(context: RequestContext, poll_id: int) -> Frame:
    """The poll's results now, if the caller may see them (else raise), in one thread
    hop; the anonymous share one read (stream_apis.SharedReads)."""
    if context.credentials is None:
        frame: Frame = await ANONYMOUS_FIRST_FRAMES.get(poll_id)
        return frame
    return await sync_to_async(_first_frame_of_caller, thread_sensitive=False)(context, poll_id)


def _first_frame_of_caller(context: RequestContext, poll_id: int) -> Frame:
    try:
        return frame_of(selectors.access_results_by_user(poll_id, context.user()))
    finally:
        close_old_connections()


def stream_capacity_refusal() -> Exception | None:
    """What a full stream server answers (the REST stream's rule), or None."""
    if hub.subscribers() >= settings.RESULTS_STREAM_CAPACITY:
        return StreamCapacityReached()
    return None
