"""Ballots beyond one choice: multiple (approval) and ranked (instant runoff) polls.

PostgreSQL judges every ballot, whoever writes it: the same rule refuses a ballot sent
to the API (a 400 problem naming it) and one inserted with SQL (its SQLSTATE), and the
counters equal a recount of the ballots. The validity matrix below runs each rule of
each kind both ways."""

import secrets

import pytest
from django.db import DatabaseError, connection, transaction

from polls import services
from polls.errors import CONSTRAINT_PROBLEMS, SQLSTATE_PROBLEMS
from pollsite.problems import constraint_of, sqlstate_of
from tests.support.votes import options_of

LABELS = ("Ada", "Grace", "Hedy", "Radia")


@pytest.fixture
def make_kind_poll(make_poll):
    """make_kind_poll("ranked", min_choices=2) is an open poll of four options."""

    def make(kind, **bounds):
        return make_poll(labels=LABELS, ballot_kind=kind, **bounds)

    return make


def ids(poll, *labels):
    options = options_of(poll)
    return [options[label] for label in labels]


def vote(client, poll, body, **headers):
    return client.post(f"/api/v1/polls/{poll.pk}/votes", body, format="json", **headers)


def results(api, poll):
    answer = api.get(f"/api/v1/polls/{poll.pk}/results")
    assert answer.status_code == 200, answer.content
    return answer.json()


def votes_by_label(document, poll):
    label = {option_id: name for name, option_id in options_of(poll).items()}
    return {label[o["id"]]: o["votes"] for o in document["options"]}


# --- Creating polls of each kind -------------------------------------------------------


@pytest.mark.django_db
def test_staff_create_each_kind_and_everyone_sees_its_bounds(auth_api, api):
    sam = auth_api("sam", staff=True)
    closes_at = "2099-01-01T00:00:00Z"
    options = [{"label": label} for label in LABELS]
    bodies = {
        "single": {},
        "multiple": {"ballot_kind": "multiple", "max_choices": 2},
        "ranked": {"ballot_kind": "ranked", "min_choices": 2},
    }
    shown = {}
    for kind, extra in bodies.items():
        body = {"title": kind, "closes_at": closes_at, "options": options, **extra}
        created = sam.post("/api/v1/polls", body, format="json")
        assert created.status_code == 201, created.content
        poll = api.get(f"/api/v1/polls/{created.json()['id']}").json()
        shown[kind] = (poll["ballot_kind"], poll["min_choices"], poll["max_choices"])
    assert shown == {
        "single": ("single", 1, 1),
        "multiple": ("multiple", 1, 2),
        "ranked": ("ranked", 2, 4),  # max_choices: every option, by default
    }


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"max_choices": 2}, "max_choices"),  # a single ballot chooses one
        ({"ballot_kind": "multiple", "min_choices": 5}, "min_choices"),  # four options
        ({"ballot_kind": "ranked", "max_choices": 5}, "max_choices"),
        ({"ballot_kind": "multiple", "min_choices": 3, "max_choices": 2}, "max_choices"),
        ({"ballot_kind": "approval"}, "ballot_kind"),
    ],
)
def test_bounds_that_no_ballot_could_meet_are_refused(auth_api, extra, field):
    body = {
        "title": "Board",
        "closes_at": "2099-01-01T00:00:00Z",
        "options": [{"label": label} for label in LABELS],
        **extra,
    }
    answer = auth_api("sam", staff=True).post("/api/v1/polls", body, format="json")
    assert answer.status_code == 400, answer.content
    assert answer.json()["code"] == "validation_error"
    assert field in answer.json()["errors"]


@pytest.mark.django_db
def test_the_kind_is_fixed_once_the_poll_has_a_ballot(auth_api, make_kind_poll, make_voter):
    poll = make_kind_poll("multiple")
    sam = auth_api("sam2", staff=True)
    changed = sam.patch(f"/api/v1/polls/{poll.pk}", {"max_choices": 2}, format="json")
    assert changed.status_code == 200 and changed.json()["max_choices"] == 2
    assert vote(make_voter("amy"), poll, {"option_ids": ids(poll, "Ada")}).status_code == 201
    refused = sam.patch(f"/api/v1/polls/{poll.pk}", {"ballot_kind": "ranked"}, format="json")
    assert refused.status_code == 409 and refused.json()["code"] == "poll_locked"


# --- The validity matrix, through the API ------------------------------------------------

# (kind, bounds, body: labels become option ids, status, code)
API_MATRIX = [
    ("multiple", {"min_choices": 2, "max_choices": 3}, {"option_ids": ["Ada", "Hedy"]}, 201, None),
    (
        "multiple",
        {"min_choices": 2, "max_choices": 3},
        {"option_ids": list(LABELS)},
        400,
        "too_many_choices",
    ),
    (
        "multiple",
        {"min_choices": 2, "max_choices": 3},
        {"option_ids": ["Ada"]},
        400,
        "too_few_choices",
    ),
    ("multiple", {}, {"option_ids": []}, 400, "too_few_choices"),
    ("multiple", {}, {"option_ids": ["Ada", "Ada"]}, 400, "duplicate_choice"),
    ("multiple", {}, {"option_ids": ["Ada", "elsewhere"]}, 400, "invalid_option"),
    ("multiple", {}, {"option_id": "Ada"}, 400, "validation_error"),
    ("multiple", {}, {"ranking": ["Ada"]}, 400, "validation_error"),
    ("ranked", {"max_choices": 3}, {"ranking": ["Hedy", "Ada"]}, 201, None),
    ("ranked", {"max_choices": 3}, {"ranking": list(LABELS)}, 400, "too_many_choices"),
    ("ranked", {"min_choices": 2}, {"ranking": ["Ada"]}, 400, "too_few_choices"),
    ("ranked", {}, {"ranking": ["Ada", "Grace", "Ada"]}, 400, "duplicate_choice"),
    ("ranked", {}, {"ranking": ["elsewhere"]}, 400, "invalid_option"),
    ("ranked", {}, {"option_ids": ["Ada"]}, 400, "validation_error"),
    ("ranked", {}, {"option_id": "Ada"}, 400, "validation_error"),
    ("single", {}, {"option_ids": ["Ada"]}, 400, "validation_error"),
    ("single", {}, {"ranking": ["Ada"]}, 400, "validation_error"),
    ("single", {}, {"option_id": "Ada", "ranking": ["Ada"]}, 400, "validation_error"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("kind", "bounds", "body", "status", "code"), API_MATRIX)
def test_the_api_answers_each_rule_of_each_kind(
    make_kind_poll, make_poll, make_voter, api, kind, bounds, body, status, code
):
    poll = make_kind_poll(kind, **bounds)
    elsewhere = options_of(make_poll(title="Elsewhere"))["Ada"]

    def option(label):
        return elsewhere if label == "elsewhere" else options_of(poll)[label]

    sent = {
        field: [option(v) for v in value] if isinstance(value, list) else option(value)
        for field, value in body.items()
    }
    answer = vote(make_voter("amy"), poll, sent)
    assert answer.status_code == status, answer.content
    if code is not None:
        assert answer.json()["code"] == code
        assert results(api, poll)["total_votes"] == 0  # nothing of the ballot was kept
    else:
        assert results(api, poll)["total_votes"] == 1
    if code == "validation_error" and len(body) == 1:
        [field] = body
        assert field in answer.json()["errors"], answer.json()


# --- The validity matrix, through SQL ---------------------------------------------------------


def insert_ballot(poll_id, choices, *, ranks=None, option_id=None):
    """A ballot as a psql user writes it: a vote row, then a choice row per option."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO polls_vote (poll_id, option_id, voter_key, receipt) "
            "VALUES (%s, %s, %s, %s) RETURNING id",
            [poll_id, option_id, secrets.token_bytes(32), secrets.token_hex(8)],
        )
        (vote_id,) = cursor.fetchone()
        for i, option in enumerate(choices):
            rank = ranks[i] if ranks is not None else None
            cursor.execute(
                "INSERT INTO polls_choice (vote_id, poll_id, option_id, rank) "
                "VALUES (%s, %s, %s, %s)",
                [vote_id, poll_id, option, rank],
            )
    return vote_id


def refusal_of(write):
    """The SQLSTATE (or constraint) that refuses `write` in a transaction of its own, at
    its statement or at its commit; None if it commits."""
    try:
        with transaction.atomic():
            write()
    except DatabaseError as refused:
        return constraint_of(refused) or sqlstate_of(refused)
    return None


# (kind, bounds, choices as labels, ranks, what refuses it, the API's code for it)
SQL_MATRIX = [
    ("multiple", {"max_choices": 3}, ["Ada", "Hedy"], None, None, None),
    ("multiple", {"max_choices": 3}, list(LABELS), None, "PV007", "too_many_choices"),
    ("multiple", {"min_choices": 2}, ["Ada"], None, "PV008", "too_few_choices"),
    ("multiple", {}, [], None, "PV008", "too_few_choices"),
    ("multiple", {}, ["Ada", "Ada"], None, "polls_choice_pkey", "duplicate_choice"),
    ("multiple", {}, ["Ada", "elsewhere"], None, "PV001", "invalid_option"),
    ("multiple", {}, ["Ada"], [1], "PV010", "validation_error"),
    ("ranked", {}, ["Ada", "Hedy", "Grace"], [2, 1, 3], None, None),
    (
        "ranked",
        {"max_choices": 2},
        ["Ada", "Hedy", "Grace"],
        [1, 2, 3],
        "PV007",
        "too_many_choices",
    ),
    ("ranked", {"min_choices": 2}, ["Ada"], [1], "PV008", "too_few_choices"),
    ("ranked", {}, ["Ada", "Hedy"], [1, 3], "PV009", "invalid_ranking"),
    ("ranked", {}, ["Ada"], [0], "PV009", "invalid_ranking"),
    ("ranked", {}, ["Ada", "Hedy"], [1, 1], "polls_choice_one_per_rank", "invalid_ranking"),
    ("ranked", {}, ["Ada", "Ada"], [1, 2], "polls_choice_pkey", "duplicate_choice"),
    ("ranked", {}, ["Ada", "Hedy"], [1, None], "PV010", "validation_error"),
    ("ranked", {}, ["elsewhere"], [1], "PV001", "invalid_option"),
]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("kind", "bounds", "labels", "ranks", "refused_by", "code"), SQL_MATRIX)
def test_sql_writers_meet_the_same_rules(
    make_kind_poll, make_poll, api, kind, bounds, labels, ranks, refused_by, code
):
    poll = make_kind_poll(kind, **bounds)
    elsewhere = options_of(make_poll(title="Elsewhere"))["Ada"]
    choices = [elsewhere if label == "elsewhere" else options_of(poll)[label] for label in labels]
    assert refusal_of(lambda: insert_ballot(poll.pk, choices, ranks=ranks)) == refused_by
    if refused_by is not None:
        problem = SQLSTATE_PROBLEMS.get(refused_by) or CONSTRAINT_PROBLEMS[refused_by]
        assert getattr(problem, "default_code", "validation_error") in (code, "invalid")
    assert results(api, poll)["total_votes"] == (0 if refused_by else 1)


@pytest.mark.django_db(transaction=True)
def test_a_ballot_of_another_kind_is_refused_to_sql_writers_too(make_kind_poll, make_poll):
    ranked = make_kind_poll("ranked")
    single = make_poll(title="Single")
    ada = options_of(ranked)["Ada"]
    assert refusal_of(lambda: insert_ballot(ranked.pk, [], option_id=ada)) == "PV010"
    assert refusal_of(lambda: insert_ballot(single.pk, [options_of(single)["Ada"]])) == "PV010"


@pytest.mark.django_db(transaction=True)
def test_no_choice_joins_a_ballot_already_cast(make_kind_poll):
    poll = make_kind_poll("multiple")
    ada, grace, hedy = ids(poll, "Ada", "Grace", "Hedy")
    with transaction.atomic():
        cast = insert_ballot(poll.pk, [ada])

    def add_to_cast_ballot():
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO polls_choice (vote_id, poll_id, option_id) VALUES (%s, %s, %s)",
                [cast, poll.pk, grace],
            )

    def add_to_the_ballot_before_this_one():
        first = insert_ballot(poll.pk, [ada])
        insert_ballot(poll.pk, [grace])
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO polls_choice (vote_id, poll_id, option_id) VALUES (%s, %s, %s)",
                [first, poll.pk, hedy],
            )

    assert refusal_of(add_to_cast_ballot) == "PV004"
    assert refusal_of(add_to_the_ballot_before_this_one) == "PV004"


@pytest.mark.django_db(transaction=True)
def test_ballots_choices_and_their_counters_are_append_only(make_kind_poll):
    poll = make_kind_poll("ranked")
    ada, grace = ids(poll, "Ada", "Grace")
    with transaction.atomic():
        cast = insert_ballot(poll.pk, [ada, grace], ranks=[1, 2])
    for statement in (
        f"UPDATE polls_choice SET rank = 3 WHERE vote_id = {cast}",
        f"DELETE FROM polls_choice WHERE vote_id = {cast}",
        "UPDATE polls_rankingtally SET ballots = ballots + 1",
        "DELETE FROM polls_ballottally",
        f"INSERT INTO polls_ballottally (poll_id, shard, ballots) VALUES ({poll.pk}, 99, 5)",
    ):
        assert refusal_of(lambda s=statement: connection.cursor().execute(s)) == "PV004"


# --- Counting and results -------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_approvals_are_counted_and_shares_are_of_ballots(make_kind_poll, make_voter, api):
    poll = make_kind_poll("multiple")
    for name, labels in [("a", ("Ada", "Grace")), ("b", ("Ada",)), ("c", ("Hedy", "Ada"))]:
        assert vote(make_voter(name), poll, {"option_ids": ids(poll, *labels)}).status_code == 201
    document = results(api, poll)
    assert document["ballot_kind"] == "multiple"
    assert document["total_votes"] == document["version"] == 3
    assert votes_by_label(document, poll) == {"Ada": 3, "Grace": 1, "Hedy": 1, "Radia": 0}
    assert [o["share"] for o in document["options"]] == [1.0, 0.333333, 0.333333, 0]
    assert "rounds" not in document
    assert api.get(f"/api/v1/polls/{poll.pk}").json()["total_votes"] == 3  # ballots
    with connection.cursor() as cursor:
        cursor.execute("SELECT sum(abs(drift)) FROM tally_audit WHERE poll_id = %s", [poll.pk])
        assert cursor.fetchone() == (0,)
        cursor.execute(
            "SELECT counted, drift, rankings_drifted FROM ballot_tally_audit WHERE poll_id = %s",
            [poll.pk],
        )
        assert cursor.fetchone() == (3, 0, 0)


@pytest.mark.django_db(transaction=True)
def test_a_ranked_poll_shows_first_preferences_and_its_runoff(make_kind_poll, make_voter, api):
    poll = make_kind_poll("ranked")
    ada, grace, hedy, radia = ids(poll, *LABELS)
    # Round 1: Ada 2, Grace 2, Hedy 1, Radia 0. Radia goes (fewest); then Hedy, whose
    # ballot moves to Grace: Grace 3 of 5 wins in round 3.
    ballots = [[ada], [ada, grace], [grace], [grace, ada], [hedy, grace]]
    for i, ranking in enumerate(ballots):
        assert vote(make_voter(f"v{i}"), poll, {"ranking": ranking}).status_code == 201
    document = results(api, poll)
    assert document["ballot_kind"] == "ranked" and document["total_votes"] == 5
    assert votes_by_label(document, poll) == {"Ada": 2, "Grace": 2, "Hedy": 1, "Radia": 0}
    rounds = [
        ({o["id"]: o["votes"] for o in r["options"]}, r["eliminated"], r["exhausted"])
        for r in document["rounds"]
    ]
    assert rounds == [
        ({ada: 2, grace: 2, hedy: 1, radia: 0}, [radia], 0),
        ({ada: 2, grace: 2, hedy: 1}, [hedy], 0),
        ({ada: 2, grace: 3}, [], 0),
    ]
    assert document["winner"] == grace


@pytest.mark.django_db(transaction=True)
def test_exhausted_ballots_leave_the_majority_to_the_ballots_still_active(
    make_kind_poll, make_voter, api
):
    poll = make_kind_poll("ranked")
    ada, grace, hedy, _ = ids(poll, *LABELS)
    # Round 1: Ada 3 of 7, no majority; Radia (none) goes, then Hedy (tied with Grace at
    # 2, as many first preferences, listed later), whose 2 ballots rank nobody else: then
    # Ada's 3 are a majority of the 5 ballots still active.
    ballots = [[ada]] * 3 + [[grace]] * 2 + [[hedy]] * 2
    for i, ranking in enumerate(ballots):
        assert vote(make_voter(f"v{i}"), poll, {"ranking": ranking}).status_code == 201
    document = results(api, poll)
    [*_, last] = document["rounds"]
    assert len(document["rounds"]) == 3
    assert {o["id"]: o["votes"] for o in last["options"]} == {ada: 3, grace: 2}
    assert last["exhausted"] == 2 and document["winner"] == ada


@pytest.mark.django_db(transaction=True)
def test_a_tie_for_the_fewest_goes_by_first_preferences_then_the_later_option(
    make_kind_poll, make_voter, api
):
    poll = make_kind_poll("ranked")
    ada, grace, hedy, radia = ids(poll, *LABELS)
    # Round 1: Ada 2, Grace 2, Hedy 1, Radia 1: Hedy and Radia tie for the fewest, with
    # as many first preferences; Radia is listed later, so Radia goes first.
    ballots = [[ada], [ada], [grace], [grace], [hedy, ada], [radia, grace]]
    for i, ranking in enumerate(ballots):
        assert vote(make_voter(f"v{i}"), poll, {"ranking": ranking}).status_code == 201
    rounds = results(api, poll)["rounds"]
    assert rounds[0]["eliminated"] == [radia]
    assert rounds[1]["eliminated"] == [hedy]


@pytest.mark.django_db
def test_a_ranked_poll_without_ballots_has_no_rounds_and_no_winner(make_kind_poll, api):
    document = results(api, make_kind_poll("ranked"))
    assert document["rounds"] == [] and document["winner"] is None
    assert document["total_votes"] == 0


@pytest.mark.django_db
def test_an_idempotency_key_replays_a_ranked_ballot_and_refuses_another(make_kind_poll, make_voter):
    poll = make_kind_poll("ranked")
    amy = make_voter("amy")
    ranking = ids(poll, "Hedy", "Ada")
    first = vote(amy, poll, {"ranking": ranking}, HTTP_IDEMPOTENCY_KEY="k1")
    again = vote(amy, poll, {"ranking": ranking}, HTTP_IDEMPOTENCY_KEY="k1")
    other = vote(amy, poll, {"ranking": ranking[::-1]}, HTTP_IDEMPOTENCY_KEY="k1")
    assert first.status_code == again.status_code == 201 and first.json() == again.json()
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"


@pytest.mark.django_db
def test_one_national_id_casts_one_ballot_of_any_kind(make_kind_poll, make_voter):
    poll = make_kind_poll("multiple")
    amy = make_voter("amy")
    assert vote(amy, poll, {"option_ids": ids(poll, "Ada")}).status_code == 201
    again = vote(amy, poll, {"option_ids": ids(poll, "Grace")})
    assert again.status_code == 409 and again.json()["code"] == "already_voted"


@pytest.mark.django_db
def test_a_poll_closes_for_ranked_ballots_as_for_single_ones(make_kind_poll, make_voter):
    poll = make_kind_poll("ranked")
    services.poll_close(poll=poll)
    answer = vote(make_voter("amy"), poll, {"ranking": ids(poll, "Ada")})
    assert answer.status_code == 409 and answer.json()["code"] == "poll_not_open"


# --- The audit of a closed ranked poll ------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_closed_ranked_poll_exports_its_runoff_as_json_and_csv(make_kind_poll, make_voter, api):
    import csv
    import io

    poll = make_kind_poll("ranked")
    ada, grace, hedy, radia = ids(poll, *LABELS)
    ballots = [[ada], [ada, grace], [grace], [grace, ada], [hedy, grace]]
    for i, ranking in enumerate(ballots):
        assert vote(make_voter(f"v{i}"), poll, {"ranking": ranking}).status_code == 201
    services.poll_close(poll=poll)
    exported = api.get(f"/api/v1/polls/{poll.pk}/results/export.json").json()
    assert exported["ballot_kind"] == "ranked" and exported["total_votes"] == 5
    assert exported["winner"] == grace and exported["rounds"] == results(api, poll)["rounds"]
    table = api.get(f"/api/v1/polls/{poll.pk}/results/export.csv").content.decode()
    rows = {row["option_label"]: row for row in csv.DictReader(io.StringIO(table))}
    assert {label: (row["eliminated_in_round"], row["final_round_votes"], row["winner"])
            for label, row in rows.items()} == {
        "Ada": ("", "2", "false"),
        "Grace": ("", "3", "true"),
        "Hedy": ("2", "1", "false"),
        "Radia": ("1", "0", "false"),
    }  # fmt: skip
    assert {row["ballot_kind"] for row in rows.values()} == {"ranked"}
    assert rows["Ada"]["votes"] == "2" and rows["Ada"]["share"] == "0.4"  # first preferences


@pytest.mark.django_db(transaction=True)
def test_a_multiple_poll_exports_approvals_as_shares_of_ballots(make_kind_poll, make_voter, api):
    poll = make_kind_poll("multiple")
    for name, labels in [("a", ("Ada", "Grace")), ("b", ("Ada",))]:
        assert vote(make_voter(name), poll, {"option_ids": ids(poll, *labels)}).status_code == 201
    services.poll_close(poll=poll)
    exported = api.get(f"/api/v1/polls/{poll.pk}/results/export.json").json()
    assert exported["total_votes"] == 2 and "rounds" not in exported
    assert [(o["label"], o["votes"], o["share"]) for o in exported["options"]] == [
        ("Ada", 2, 1.0),
        ("Grace", 1, 0.5),
        ("Hedy", 0, 0.0),
        ("Radia", 0, 0.0),
    ]


@pytest.mark.django_db
@pytest.mark.parametrize("counter", ["polls.BallotTally", "polls.RankingTally"])
def test_audit_tally_reports_a_ballot_or_ranking_counter_that_drifts(
    make_kind_poll, make_voter, counter
):
    import pgtrigger
    from django.apps import apps
    from django.core.management import call_command
    from django.core.management.base import CommandError

    poll = make_kind_poll("ranked")
    assert vote(make_voter("amy"), poll, {"ranking": ids(poll, "Ada")}).status_code == 201
    call_command("audit_tally")
    with pgtrigger.ignore(f"{counter}:tally_written_by_votes_only"):
        apps.get_model(counter).objects.filter(poll=poll).update(ballots=5)
    with pytest.raises(CommandError, match="drift"):
        call_command("audit_tally")
