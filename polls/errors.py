"""The polls API's errors, each declared once: raised by services and selectors, listed
in the schema by the views (pollsite.problems.problem_responses).

Also how the database's refusals read in the API: the triggers in sql/ raise SQLSTATEs
of their own (class "PV"), and one named constraint stands for a rule of the contract.
PollsConfig.ready registers both maps with pollsite.problems.
"""

from enum import StrEnum

from rest_framework.exceptions import APIException, NotFound

from pollsite.problems import Problem


class SQLState(StrEnum):
    """The SQLSTATEs the triggers raise (sql/*.sql; a test checks they agree)."""

    INVALID_OPTION = "PV001"
    POLL_NOT_OPEN = "PV002"
    POLL_LOCKED = "PV003"
    VOTE_IMMUTABLE = "PV004"
    POLL_NOT_FOUND = "PV005"
    POLL_DRAFT = "PV006"


class InvalidOption(Problem):
    status_code = 400
    default_code = "invalid_option"
    default_detail = "This option does not belong to this poll."


class NotVerified(Problem):
    status_code = 403
    default_code = "not_verified"
    default_detail = "Verify your national ID before voting."


class ResultsHidden(Problem):
    status_code = 403
    default_code = "results_hidden"
    default_detail = "Results are hidden until the poll closes."


class PollNotClosed(Problem):
    status_code = 403
    default_code = "poll_not_closed"
    default_detail = "This is published once the poll is closed."


class NotVoted(Problem):
    status_code = 404
    default_code = "not_voted"
    default_detail = "You have not voted in this poll."


class PollNotOpen(Problem):
    status_code = 409
    default_code = "poll_not_open"
    default_detail = "This poll is not open for voting."


class AlreadyVoted(Problem):
    status_code = 409
    default_code = "already_voted"
    default_detail = "This national ID has already voted in this poll."


class PollLocked(Problem):
    status_code = 409
    default_code = "poll_locked"
    default_detail = "This poll has votes or is closed; it cannot change."


class VoteImmutable(Problem):
    status_code = 409
    default_code = "vote_immutable"
    default_detail = "Votes cannot be changed or deleted."


class PollAlreadyPublished(Problem):
    status_code = 409
    default_code = "poll_already_published"
    default_detail = "This poll is already published."


class PollAlreadyClosed(Problem):
    status_code = 409
    default_code = "poll_already_closed"
    default_detail = "This poll is already closed."


class PollNotPublished(Problem):
    status_code = 409
    default_code = "poll_not_published"
    default_detail = "A draft cannot be closed; delete it."


class IdempotencyKeyReused(Problem):
    status_code = 422
    default_code = "idempotency_key_reused"
    default_detail = "This Idempotency-Key was used for a different request."


SQLSTATE_PROBLEMS: dict[str, type[APIException]] = {
    SQLState.INVALID_OPTION: InvalidOption,
    SQLState.POLL_NOT_OPEN: PollNotOpen,
    SQLState.POLL_LOCKED: PollLocked,
    SQLState.VOTE_IMMUTABLE: VoteImmutable,
    SQLState.POLL_NOT_FOUND: NotFound,
    SQLState.POLL_DRAFT: NotFound,  # a draft is invisible to voters
}
CONSTRAINT_PROBLEMS: dict[str, type[APIException]] = {
    "polls_vote_one_per_voter": AlreadyVoted,
}
