"""Polls, options, ballots (votes and their choices) and the tally counters.

A poll's ballot kind says what a ballot holds: `single`, one option (the vote row's
option_id); `multiple`, between min_choices and max_choices distinct options; `ranked`,
as many options in order of preference. A multiple or ranked ballot is a vote row with
no option_id and its choices as rows of polls_choice.

PostgreSQL guarantees the rules here, not Python:
- one ballot per voter key per poll: UNIQUE (poll_id, voter_key) on polls_vote;
- a ballot is of its poll's kind and names options of its poll, and the poll is open by
  the database's clock: BEFORE INSERT triggers polls_vote_check and polls_choice_check
  (sql/polls_vote_check.sql, sql/polls_choice_check.sql); a multiple or ranked ballot is
  whole at commit (its count within the bounds, ranks 1..n without gaps): the deferred
  constraint trigger polls_ballot_complete (sql/polls_ballot_complete.sql);
- ballots and choices are append-only, options freeze once a poll has votes or is
  closed, a poll with votes cannot be deleted, and counters change only through votes:
  the pgtrigger triggers declared below, each with its body in sql/<trigger name>.sql;
- the counters always equal the ballots, in the ballot's own transaction: a single
  ballot's option (polls_vote_count, sql/polls_vote_count.sql), a multiple ballot's
  approvals, a ranked ballot's first preference and its whole ranking, and every
  multiple or ranked ballot in polls_ballottally (polls_ballot_complete).

Custom errors carry their own SQLSTATE (class "PV"); polls/errors.py maps them to the
contract's codes.
"""

import pgtrigger
from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models.functions import Length, Now
from django.db.models.lookups import LessThanOrEqual
from django_pgviews import view as pgviews

from migrations_extra import sqlfiles

# Free text is bounded: a poll is served in every page of the list, so a megabyte of
# description would cost every reader. The API refuses longer text with 400
# validation_error; the CHECK constraints below hold for any other writer too.
TITLE_MAX_LENGTH = 200
POLL_DESCRIPTION_MAX_LENGTH = 5000
OPTION_DESCRIPTION_MAX_LENGTH = 1000


def append_only():
    """The trigger that refuses any UPDATE or DELETE of a ballot's rows (PV004)."""
    return pgtrigger.Trigger(
        name="vote_append_only",
        when=pgtrigger.Before,
        operation=pgtrigger.Update | pgtrigger.Delete,
        func=sqlfiles.body("vote_append_only.sql"),
    )


def written_by_votes_only():
    """The trigger that refuses any write to a counter table but the vote path's own
    (PV004): it is false inside the counting triggers, so they never run its body."""
    return pgtrigger.Trigger(
        name="tally_written_by_votes_only",
        when=pgtrigger.Before,
        operation=pgtrigger.Insert | pgtrigger.Update | pgtrigger.Delete,
        condition=pgtrigger.Condition("pg_trigger_depth() < 1"),
        func=sqlfiles.body("tally_written_by_votes_only.sql"),
    )


class ResultsVisibility(models.TextChoices):
    LIVE = "live"
    AFTER_CLOSE = "after_close"


class BallotKind(models.TextChoices):
    SINGLE = "single"  # one option
    MULTIPLE = "multiple"  # between min_choices and max_choices options (approval)
    RANKED = "ranked"  # as many options, in order of preference (instant runoff)


class Poll(models.Model):
    title = models.CharField(max_length=TITLE_MAX_LENGTH)
    description = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(db_default=Now())
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    opens_at = models.DateTimeField()
    closes_at = models.DateTimeField()
    published_at = models.DateTimeField(
        null=True, blank=True, help_text="Empty while the poll is a draft."
    )
    closed_at = models.DateTimeField(null=True, blank=True, help_text="Set by an early close.")
    results_visibility = models.CharField(
        max_length=16, choices=ResultsVisibility.choices, default=ResultsVisibility.LIVE
    )
    # db_default too, so that a row written with psql is a single-choice poll.
    ballot_kind = models.CharField(
        max_length=16,
        choices=BallotKind.choices,
        default=BallotKind.SINGLE,
        db_default=BallotKind.SINGLE,
    )
    min_choices = models.PositiveSmallIntegerField(default=1, db_default=1)
    max_choices = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Empty: as many as the poll has options."
    )

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(closes_at__gt=models.F("opens_at")),
                name="polls_poll_closes_after_opening",
            ),
            models.CheckConstraint(
                condition=models.Q(ballot_kind__in=BallotKind.values),
                name="polls_poll_ballot_kind",
            ),
            # A ballot chooses at least one option, and a single ballot exactly one.
            models.CheckConstraint(
                condition=models.Q(min_choices__gte=1)
                & (
                    models.Q(max_choices__isnull=True)
                    | models.Q(max_choices__gte=models.F("min_choices"))
                )
                & (
                    ~models.Q(ballot_kind=BallotKind.SINGLE)
                    | (
                        models.Q(min_choices=1)
                        & (models.Q(max_choices__isnull=True) | models.Q(max_choices=1))
                    )
                ),
                name="polls_poll_choice_bounds",
            ),
            models.CheckConstraint(
                condition=LessThanOrEqual(Length("description"), POLL_DESCRIPTION_MAX_LENGTH),
                name="polls_poll_description_length",
            ),
        ]
        indexes = [
            # poll_list_visible_to: the public list is published polls, newest first.
            models.Index(
                fields=["-id"],
                name="polls_poll_published_idx",
                condition=models.Q(published_at__isnull=False),
            ),
        ]
        triggers = [
            pgtrigger.Trigger(
                name="poll_locked_once_voted",
                when=pgtrigger.Before,
                operation=pgtrigger.Delete | pgtrigger.Update,
                func=sqlfiles.body("poll_locked_once_voted.sql"),
            ),
        ]

    def __str__(self):
        return self.title


class Option(models.Model):
    poll = models.ForeignKey(Poll, on_delete=models.CASCADE, related_name="options")
    label = models.CharField(max_length=TITLE_MAX_LENGTH)
    description = models.TextField(blank=True, default="")
    position = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["poll", "position"]
        constraints = [
            models.UniqueConstraint(fields=["poll", "label"], name="polls_option_unique_label"),
            # Also the index behind "options of a poll, in order" (poll_options).
            models.UniqueConstraint(
                fields=["poll", "position"], name="polls_option_unique_position"
            ),
            models.CheckConstraint(
                condition=LessThanOrEqual(Length("description"), OPTION_DESCRIPTION_MAX_LENGTH),
                name="polls_option_description_length",
            ),
        ]
        triggers = [
            pgtrigger.Trigger(
                name="option_frozen_once_voted_or_closed",
                when=pgtrigger.Before,
                operation=pgtrigger.Insert | pgtrigger.Update | pgtrigger.Delete,
                func=sqlfiles.body("option_frozen_once_voted_or_closed.sql"),
            ),
        ]

    def __str__(self):
        return self.label


class Vote(models.Model):
    """One ballot. No foreign key constraints, on purpose: a FK check takes a KEY SHARE
    lock on the poll and option rows, and every vote of a busy poll would queue on those
    same rows. polls_vote_check validates both instead, and the triggers above make sure
    neither disappears while votes point at it."""

    poll = models.ForeignKey(
        Poll, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+"
    )
    option = models.ForeignKey(
        Option,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
        null=True,
        help_text="A single ballot's option; empty for multiple and ranked (polls_choice).",
    )
    voter_key = models.BinaryField(max_length=32, help_text="identity.VoterIdentity.voter_key")
    receipt = models.CharField(max_length=32, help_text="144 random bits.")
    cast_at = models.DateTimeField(
        db_default=Now(), help_text="The vote transaction's time (set by the trigger)."
    )

    class Meta:
        constraints = [
            # One national ID, one vote per poll. Also the index behind vote_of (votes/me).
            models.UniqueConstraint(fields=["poll", "voter_key"], name="polls_vote_one_per_voter"),
            # The index behind vote_by_receipt. A constraint, not unique=True: on a
            # CharField that would add a second (varchar_pattern_ops) index, written on
            # every vote and never read.
            models.UniqueConstraint(fields=["receipt"], name="polls_vote_unique_receipt"),
        ]
        triggers = [
            append_only(),
        ]

    def __str__(self):
        return f"vote #{self.pk} in poll {self.poll_id}"


class Choice(models.Model):
    """One option of a multiple or ranked ballot (rank 1 is the most preferred; empty for
    multiple). Written in the ballot's own transaction, after its vote row and before the
    next ballot (polls_choice_check), and judged whole at commit (polls_ballot_complete).
    No foreign key constraints, as on polls_vote: the triggers validate."""

    pk = models.CompositePrimaryKey("vote_id", "option_id")  # no option twice in a ballot
    vote = models.ForeignKey(
        Vote, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+"
    )
    poll = models.ForeignKey(
        Poll, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+"
    )
    option = models.ForeignKey(
        Option, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+"
    )
    rank = models.PositiveSmallIntegerField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["vote", "rank"], name="polls_choice_one_per_rank"),
        ]
        triggers = [
            append_only(),
        ]

    def __str__(self):
        return f"option {self.option_id} of vote #{self.vote_id}"


class OptionTally(models.Model):
    """Sharded vote counters, written only by the polls_vote_count trigger.

    A single row per option would serialize every vote for a popular option on one row
    lock; the trigger spreads them over rows picked by the inserting connection
    (sql/polls_vote_count.sql says how many and why).
    """

    pk = models.CompositePrimaryKey("poll_id", "option_id", "shard")
    poll = models.ForeignKey(
        Poll, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+"
    )
    option = models.ForeignKey(
        Option, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+"
    )
    shard = models.SmallIntegerField()
    votes = models.BigIntegerField()

    class Meta:
        triggers = [
            written_by_votes_only(),
        ]

    def __str__(self):
        return f"option {self.option_id} shard {self.shard}: {self.votes}"


class BallotTally(models.Model):
    """Sharded counters of the multiple and ranked ballots cast per poll (a single poll's
    ballots are its option counters' sum), written only by polls_ballot_complete."""

    pk = models.CompositePrimaryKey("poll_id", "shard")
    poll = models.ForeignKey(
        Poll, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+"
    )
    shard = models.SmallIntegerField()
    ballots = models.BigIntegerField()

    class Meta:
        triggers = [
            written_by_votes_only(),
        ]

    def __str__(self):
        return f"poll {self.poll_id} shard {self.shard}: {self.ballots}"


class RankingTally(models.Model):
    """Ranked ballots per distinct ranking (option ids, most preferred first), sharded,
    written only by polls_ballot_complete: what the runoff reads (sql/poll_runoff.sql), a
    few thousand grouped rows where a poll has a million ballots. Not for the public, nor
    the DBA reader: a rare ranking can sign a ballot (docs/privacy.md)."""

    poll = models.ForeignKey(
        Poll, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+"
    )
    ranking = ArrayField(models.BigIntegerField())
    shard = models.SmallIntegerField()
    ballots = models.BigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["poll", "ranking", "shard"], name="polls_rankingtally_unique"
            ),
        ]
        triggers = [
            written_by_votes_only(),
        ]

    def __str__(self):
        return f"poll {self.poll_id} {self.ranking}: {self.ballots}"


class IdempotencyKey(models.Model):
    """A vote request's Idempotency-Key, stored in the vote's own transaction."""

    pk = models.CompositePrimaryKey("user_id", "key")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    receipt = models.CharField(max_length=32)
    created_at = models.DateTimeField(db_default=Now())

    def __str__(self):
        return f"key of user {self.user_id}"


class PollEvent(models.Model):
    """A poll's lifecycle, each event once (polls_pollevent_once): recorded in the
    transaction that makes it true (published; closed by staff), or by a job at the
    poll's time (opened, closed by the clock) and after its close (results_final)."""

    class Type(models.TextChoices):
        PUBLISHED = "poll.published"
        OPENED = "poll.opened"
        CLOSED = "poll.closed"
        RESULTS_FINAL = "poll.results_final"

    poll = models.ForeignKey(Poll, on_delete=models.CASCADE, related_name="events")
    type = models.CharField(max_length=32, choices=Type.choices)
    occurred_at = models.DateTimeField(db_default=Now())
    data = models.JSONField(default=dict)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["poll", "type"], name="polls_pollevent_once"),
        ]

    def __str__(self):
        return f"{self.type} of poll {self.poll_id}"


# --- Snapshots for reports (materialized views, refreshed by the job workers: polls/tasks.py) ---


class ResultsSnapshot(models.Model):
    """When each materialized view was last refreshed (the timeline's `refreshed_at`)."""

    name = models.CharField(max_length=63, primary_key=True)
    refreshed_at = models.DateTimeField()

    def __str__(self):
        return f"{self.name} at {self.refreshed_at}"


class PollResultsSnapshot(pgviews.ReadOnlyMaterializedView):
    sql = sqlfiles.body("poll_results_mv.sql")
    concurrent_index = "poll_id, option_id"

    pk = models.CompositePrimaryKey("poll_id", "option_id")
    poll_id = models.BigIntegerField()
    option_id = models.BigIntegerField()
    label = models.CharField(max_length=200)
    votes = models.BigIntegerField()
    share = models.FloatField()
    rank = models.IntegerField()

    class Meta:
        managed = False
        db_table = "poll_results_mv"

    def __str__(self):
        return f"{self.label}: {self.votes}"


class VoteTimelineSnapshot(pgviews.ReadOnlyMaterializedView):
    sql = sqlfiles.body("vote_timeline_mv.sql")
    concurrent_index = "poll_id, option_id, minute"

    pk = models.CompositePrimaryKey("poll_id", "option_id", "minute")
    poll_id = models.BigIntegerField()
    option_id = models.BigIntegerField()
    minute = models.DateTimeField()
    votes = models.BigIntegerField()

    class Meta:
        managed = False
        db_table = "vote_timeline_mv"

    def __str__(self):
        return f"{self.minute}: {self.votes}"
