"""A consumer's flow through every operation (28), written against the Python client that
openapi-python-client generates from the live schema (package `poll_client`).

tests/clients/test_generated_clients.py type-checks this file with `mypy --strict` (no
cast, no ignore) and runs `run()` against the live server with
`raise_on_unexpected_status`: a status the schema does not declare fails the run, and
every body must parse into its generated model.
"""

from datetime import UTC, date, datetime, timedelta
from http import HTTPStatus
from typing import Any, TypeVar

from poll_client import AuthenticatedClient, Client
from poll_client.api.accounts import (
    v1_auth_login_create,
    v1_auth_logout_all_create,
    v1_auth_logout_create,
    v1_auth_me_retrieve,
    v1_auth_register_create,
)
from poll_client.api.audit import (
    v1_polls_receipts_retrieve,
    v1_polls_results_export_csv_retrieve,
    v1_polls_results_export_json_retrieve,
)
from poll_client.api.identity import v1_identity_verify_create
from poll_client.api.polls import (
    v1_polls_close_create,
    v1_polls_create,
    v1_polls_destroy,
    v1_polls_events_list,
    v1_polls_list,
    v1_polls_options_create,
    v1_polls_partial_update,
    v1_polls_publish_create,
    v1_polls_retrieve,
)
from poll_client.api.results import (
    v1_polls_results_retrieve,
    v1_polls_results_stream_retrieve,
    v1_polls_results_timeline_retrieve,
)
from poll_client.api.votes import (
    v1_polls_votes_create,
    v1_polls_votes_me_retrieve,
    v1_receipts_retrieve,
)
from poll_client.api.webhooks import (
    v1_webhooks_create,
    v1_webhooks_deliveries_list,
    v1_webhooks_destroy,
    v1_webhooks_list,
)
from poll_client.models import (
    BallotKindEnum,
    Export,
    LoginOutput,
    LoginRequest,
    MyVote,
    Option,
    OptionCreateRequest,
    PaginatedLedgerEntryList,
    PaginatedPollList,
    Poll,
    PollCreateRequest,
    PollEvent,
    PollEventTypeEnum,
    PollStatusEnum,
    PollUpdateRequest,
    Problem,
    ProblemErrors,
    ReceiptCheck,
    RegisterRequest,
    Results,
    Timeline,
    User,
    Verification,
    VerificationStatusEnum,
    VerifyRequest,
    VoteCastRequest,
    VoteReceipt,
    WebhookCreateRequest,
)
from poll_client.types import Response

T = TypeVar("T")


def expect(response: Response[Any], status: HTTPStatus, kind: type[T]) -> T:
    """The response's body as `kind`, having checked its status."""
    assert response.status_code == status, (response.status_code, response.content)
    assert isinstance(response.parsed, kind), response.parsed
    return response.parsed


def problem(response: Response[Any], status: HTTPStatus, code: str) -> Problem:
    body = expect(response, status, Problem)
    assert body.code == code and body.status == status, body
    return body


def login(base_url: str, username: str, password: str) -> AuthenticatedClient:
    anonymous = Client(base_url=base_url, raise_on_unexpected_status=True)
    body = LoginRequest(username=username, password=password)
    out = expect(
        v1_auth_login_create.sync_detailed(client=anonymous, body=body), HTTPStatus.OK, LoginOutput
    )
    assert out.user.username == username
    return AuthenticatedClient(base_url=base_url, token=out.token, raise_on_unexpected_status=True)


def run(base_url: str, staff: tuple[str, str], national_id: str, date_of_birth: date) -> None:
    """`staff` is a staff account's username and password; every account the flow makes
    uses the same password."""
    staff_username, password = staff
    anonymous = Client(base_url=base_url, raise_on_unexpected_status=True)

    # Accounts: sign up (a bad body is a problem with field errors), log in, who am I.
    bad = v1_auth_register_create.sync_detailed(
        client=anonymous, body=RegisterRequest(username="", password=password)
    )
    assert problem(bad, HTTPStatus.BAD_REQUEST, "validation_error").errors
    user = expect(
        v1_auth_register_create.sync_detailed(
            client=anonymous, body=RegisterRequest(username="alice", password=password)
        ),
        HTTPStatus.CREATED,
        User,
    )
    assert user.email == "" and user.verification.status == VerificationStatusEnum.UNVERIFIED
    alice = login(base_url, "alice", password)
    staff_client = login(base_url, staff_username, password)
    me = expect(v1_auth_me_retrieve.sync_detailed(client=alice), HTTPStatus.OK, User)
    assert me.id == user.id

    # Staff: a poll with only what is required (the rest has defaults), then changes.
    created = v1_polls_create.sync_detailed(
        client=staff_client,
        body=PollCreateRequest(
            title="Board election",
            closes_at=datetime.now(UTC) + timedelta(hours=1),
            options=[OptionCreateRequest(label="Ada"), OptionCreateRequest(label="Grace")],
        ),
    )
    poll = expect(created, HTTPStatus.CREATED, Poll)
    assert poll.status == PollStatusEnum.OPEN and poll.my_vote is None and poll.description == ""
    option = expect(
        v1_polls_options_create.sync_detailed(
            poll.id, client=staff_client, body=OptionCreateRequest(label="Edsger")
        ),
        HTTPStatus.CREATED,
        Option,
    )
    changed = v1_polls_partial_update.sync_detailed(
        poll.id, client=staff_client, body=PollUpdateRequest(description="Who chairs the board?")
    )
    assert expect(changed, HTTPStatus.OK, Poll).description == "Who chairs the board?"
    again = v1_polls_publish_create.sync_detailed(poll.id, client=staff_client)
    problem(again, HTTPStatus.CONFLICT, "poll_already_published")
    draft = expect(
        v1_polls_create.sync_detailed(
            client=staff_client,
            body=PollCreateRequest(
                title="Draft",
                closes_at=datetime.now(UTC) + timedelta(days=1),
                options=[OptionCreateRequest(label="Yes"), OptionCreateRequest(label="No")],
                publish=False,
            ),
        ),
        HTTPStatus.CREATED,
        Poll,
    )
    assert draft.status == PollStatusEnum.DRAFT
    assert v1_polls_destroy.sync_detailed(draft.id, client=staff_client).status_code == 204

    # Anyone: the list (a page whose next and previous are always there) and the poll.
    listed = v1_polls_list.sync_detailed(client=anonymous, status=PollStatusEnum.OPEN)
    page = expect(listed, HTTPStatus.OK, PaginatedPollList)
    assert [p.id for p in page.results] == [poll.id] and page.next_ is None
    assert page.previous is None and page.count == 1
    seen = expect(v1_polls_retrieve.sync_detailed(poll.id, client=anonymous), HTTPStatus.OK, Poll)
    assert {o.label for o in seen.options} == {"Ada", "Grace", "Edsger"}
    problem(
        v1_polls_retrieve.sync_detailed(10**17, client=anonymous), HTTPStatus.NOT_FOUND, "not_found"
    )

    # A voter: verify, vote (a retry with the same key replays), vote again: refused.
    verified = v1_identity_verify_create.sync_detailed(
        client=alice, body=VerifyRequest(national_id=national_id, date_of_birth=date_of_birth)
    )
    assert expect(verified, HTTPStatus.OK, Verification).status == VerificationStatusEnum.VERIFIED
    ballot = VoteCastRequest(option_id=option.id)
    first = v1_polls_votes_create.sync_detailed(
        poll.id, client=alice, body=ballot, idempotency_key="flow-1"
    )
    receipt = expect(first, HTTPStatus.CREATED, VoteReceipt)
    replay = v1_polls_votes_create.sync_detailed(
        poll.id, client=alice, body=ballot, idempotency_key="flow-1"
    )
    assert expect(replay, HTTPStatus.CREATED, VoteReceipt).receipt == receipt.receipt
    twice = v1_polls_votes_create.sync_detailed(poll.id, client=alice, body=ballot)
    problem(twice, HTTPStatus.CONFLICT, "already_voted")
    mine = expect(
        v1_polls_votes_me_retrieve.sync_detailed(poll.id, client=alice), HTTPStatus.OK, MyVote
    )
    assert mine.receipt == receipt.receipt

    # Results: live, then 304 with the ETag; the receipt checks; the timeline.
    read = v1_polls_results_retrieve.sync_detailed(poll.id, client=anonymous)
    results = expect(read, HTTPStatus.OK, Results)
    assert results.total_votes == 1 and results.poll_id == poll.id
    assert results.ballot_kind == BallotKindEnum.SINGLE

    # A ranked poll: its ballot is a ranking, judged whole; its results carry the runoff.
    ranked = expect(
        v1_polls_create.sync_detailed(
            client=staff_client,
            body=PollCreateRequest(
                title="Chair",
                closes_at=datetime.now(UTC) + timedelta(hours=1),
                options=[OptionCreateRequest(label="Ada"), OptionCreateRequest(label="Grace")],
                ballot_kind=BallotKindEnum.RANKED,
            ),
        ),
        HTTPStatus.CREATED,
        Poll,
    )
    assert ranked.ballot_kind == BallotKindEnum.RANKED and ranked.max_choices == 2
    ada, grace = (o.id for o in ranked.options)
    wrong_shape = v1_polls_votes_create.sync_detailed(
        ranked.id, client=alice, body=VoteCastRequest(option_id=ada)
    )
    errors = problem(wrong_shape, HTTPStatus.BAD_REQUEST, "validation_error").errors
    assert isinstance(errors, ProblemErrors) and "option_id" in errors.additional_properties
    twice_ranked = v1_polls_votes_create.sync_detailed(
        ranked.id, client=alice, body=VoteCastRequest(ranking=[ada, ada])
    )
    problem(twice_ranked, HTTPStatus.BAD_REQUEST, "duplicate_choice")
    cast = v1_polls_votes_create.sync_detailed(
        ranked.id, client=alice, body=VoteCastRequest(ranking=[grace, ada])
    )
    expect(cast, HTTPStatus.CREATED, VoteReceipt)
    runoff = expect(
        v1_polls_results_retrieve.sync_detailed(ranked.id, client=anonymous), HTTPStatus.OK, Results
    )
    assert runoff.ballot_kind == BallotKindEnum.RANKED and runoff.winner == grace
    assert isinstance(runoff.rounds, list) and runoff.rounds[0].options[1].votes == 1
    etag = read.headers["ETag"]
    unchanged = v1_polls_results_retrieve.sync_detailed(
        poll.id, client=anonymous, if_none_match=etag
    )
    assert unchanged.status_code == HTTPStatus.NOT_MODIFIED and unchanged.headers["ETag"] == etag
    check = v1_receipts_retrieve.sync_detailed(receipt.receipt, client=anonymous)
    assert expect(check, HTTPStatus.OK, ReceiptCheck).counted
    timeline = v1_polls_results_timeline_retrieve.sync_detailed(poll.id, client=anonymous)
    assert expect(timeline, HTTPStatus.OK, Timeline).poll_id == poll.id
    # The stream never ends, so only its refusals are read through this client.
    stream = v1_polls_results_stream_retrieve.sync_detailed(draft.id, client=anonymous)
    problem(stream, HTTPStatus.NOT_FOUND, "not_found")

    # Audit: hidden until the poll closes, then the ledger and the exports.
    early = v1_polls_receipts_retrieve.sync_detailed(poll.id, client=anonymous)
    problem(early, HTTPStatus.FORBIDDEN, "poll_not_closed")
    closed = expect(
        v1_polls_close_create.sync_detailed(poll.id, client=staff_client), HTTPStatus.OK, Poll
    )
    assert closed.status == PollStatusEnum.CLOSED
    ledger = v1_polls_receipts_retrieve.sync_detailed(poll.id, client=anonymous)
    entries = expect(ledger, HTTPStatus.OK, PaginatedLedgerEntryList)
    assert [e.receipt for e in entries.results] == [receipt.receipt] and entries.next_ is None
    export = v1_polls_results_export_json_retrieve.sync_detailed(poll.id, client=anonymous)
    exported = expect(export, HTTPStatus.OK, Export)
    assert exported.total_votes == 1 and exported.poll.status == PollStatusEnum.CLOSED
    history = v1_polls_events_list.sync_detailed(poll.id, client=anonymous)
    assert history.status_code == HTTPStatus.OK and isinstance(history.parsed, list)
    kinds = [e.type_ for e in history.parsed if isinstance(e, PollEvent)]
    assert kinds == [
        PollEventTypeEnum.POLL_PUBLISHED,
        PollEventTypeEnum.POLL_OPENED,
        PollEventTypeEnum.POLL_CLOSED,
    ]
    csv = v1_polls_results_export_csv_retrieve.sync_detailed(poll.id, client=anonymous)
    assert "Edsger" in expect(csv, HTTPStatus.OK, str)

    # Webhooks (staff): this server refuses loopback targets, as production does.
    hook = WebhookCreateRequest(url=base_url + "/hooks", events=[PollEventTypeEnum.POLL_CLOSED])
    refused = v1_webhooks_create.sync_detailed(client=staff_client, body=hook)
    problem(refused, HTTPStatus.BAD_REQUEST, "webhook_target_refused")
    hooks = v1_webhooks_list.sync_detailed(client=staff_client)
    assert hooks.status_code == HTTPStatus.OK and hooks.parsed == []
    gone = v1_webhooks_destroy.sync_detailed(10**17, client=staff_client)
    problem(gone, HTTPStatus.NOT_FOUND, "not_found")
    missing = v1_webhooks_deliveries_list.sync_detailed(10**17, client=staff_client)
    problem(missing, HTTPStatus.NOT_FOUND, "not_found")
    problem(v1_webhooks_list.sync_detailed(client=alice), HTTPStatus.FORBIDDEN, "permission_denied")

    # A dead token is refused even where none is needed: the client learns it is dead.
    assert v1_auth_logout_create.sync_detailed(client=alice).status_code == 204
    dead = v1_polls_results_retrieve.sync_detailed(poll.id, client=alice)
    problem(dead, HTTPStatus.UNAUTHORIZED, "authentication_failed")
    assert v1_auth_logout_all_create.sync_detailed(client=staff_client).status_code == 204
    problem(
        v1_auth_me_retrieve.sync_detailed(client=staff_client),
        HTTPStatus.UNAUTHORIZED,
        "authentication_failed",
    )
