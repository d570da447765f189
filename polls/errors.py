"""The polls API's errors, each declared once: raised by services and selectors, listed
in the schema by the views (pollsite.problems.problem_responses).

Also how the database's refusals read in the API: the triggers in sql/ raise SQLSTATEs
of their own (class "PV"), and one named constraint stands for a rule of the contract.
PollsConfig.ready registers both maps with pollsite.problems.
"""

from enum import StrEnum

from rest_framework.exceptions import APIException, NotFound, ValidationError

from pollsite.problems import Problem


class SQLState(StrEnum):
    """The SQLSTATEs the triggers raise (sql/*.sql; a test checks they agree)."""

    INVALID_OPTION = "PV001"
    POLL_NOT_OPEN = "PV002"
    POLL_LOCKED = "PV003"
    VOTE_IMMUTABLE = "PV004"
    POLL_NOT_FOUND = "PV005"
    POLL_DRAFT = "PV006"
    TOO_MANY_CHOICES = "PV007"
    TOO_FEW_CHOICES = "PV008"
    INVALID_RANKING = "PV009"
    WRONG_BALLOT_KIND = "PV010"  # DETAIL: the poll's kind; services say which body it takes


class InvalidOption(Problem):
    status_code = 400
    default_code = "invalid_option"
    default_detail = "This option does not belong to this poll."


class TooManyChoices(Problem):
    status_code = 400
    default_code = "too_many_choices"
    default_detail = "This ballot chooses more options than the poll's max_choices."


class TooFewChoices(Problem):
    status_code = 400
    default_code = "too_few_choices"
    default_detail = "This ballot chooses fewer options than the poll's min_choices."


class DuplicateChoice(Problem):
    status_code = 400
    default_code = "duplicate_choice"
    default_detail = "This ballot names an option more than once."


class InvalidRanking(Problem):
    status_code = 400
    default_code = "invalid_ranking"
    default_detail = "A ranking's ranks run from 1 to the number of options ranked, without gaps."


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
    SQLState.TOO_MANY_CHOICES: TooManyChoices,
    SQLState.TOO_FEW_CHOICES: TooFewChoices,
    SQLState.INVALID_RANKING: InvalidRanking,
    # services.vote_cast names the field and the body the poll takes; anywhere else, a
    # plain validation_error.
    SQLState.WRONG_BALLOT_KIND: ValidationError,
}
CONSTRAINT_PROBLEMS: dict[str, type[APIException]] = {
    "polls_vote_one_per_voter": AlreadyVoted,
    "polls_choice_pkey": DuplicateChoice,
    "polls_choice_one_per_rank": InvalidRanking,
}
