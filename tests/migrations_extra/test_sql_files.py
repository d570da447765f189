"""sql/ holds every trigger, function and view, one file each, with the same header, and
the database runs what the files say (migrations_extra/sqlfiles.py has the convention)."""

import re

import pgtrigger
import pytest
from django.db import connection

from migrations_extra import sqlfiles
from polls.errors import SQLState

SQL_FILES = sorted(sqlfiles.SQL_DIR.glob("*.sql"))
HEADER_FIELDS = ("-- Guarantees:", "-- Read by:", "-- Installed by:", "-- reverse:")


def header_of(path):
    text = path.read_text()
    return text[: len(text) - len(sqlfiles.body(path.name))]


def installers():
    """The source of everything that installs a file: migrations_extra's migrations
    and polls/models.py (pgtrigger bodies, pgviews queries)."""
    root = sqlfiles.SQL_DIR.parent
    sources = list((root / "migrations_extra" / "migrations").glob("*.py"))
    return "".join(p.read_text() for p in [*sources, root / "polls" / "models.py"])


@pytest.mark.parametrize("path", SQL_FILES, ids=lambda p: p.name)
def test_every_file_has_the_header(path):
    header = header_of(path)
    assert re.match(rf"-- {path.stem}(\(\w*\))?: ", header), "the first line names the object"
    for field in HEADER_FIELDS:
        assert any(line.startswith(field) for line in header.splitlines()), field
    assert sqlfiles.body(path.name).strip(), "a header and no SQL"


@pytest.mark.parametrize("path", SQL_FILES, ids=lambda p: p.name)
def test_every_file_is_installed_by_something(path):
    assert f'"{path.name}"' in installers()


def test_the_triggers_raise_exactly_the_sqlstates_the_api_maps():
    raised = set()
    for path in SQL_FILES:
        raised |= set(re.findall(r"ERRCODE = '(PV\d{3})'", path.read_text()))
    assert raised == {state.value for state in SQLState}


@pytest.mark.django_db
def test_the_database_runs_the_trigger_bodies_in_sql():
    """pgtrigger's migrations embed the body they install: a changed body without its
    migration shows here as a function that differs from its file. (Files applied by
    migrations_extra are read when the migration runs, so a test database always has
    them as they are; sqlfiles' docstring says to add a migration after a change.)"""
    checked = 0
    with connection.cursor() as cursor:
        for model, trigger in pgtrigger.registered():
            cursor.execute(
                "SELECT prosrc FROM pg_proc WHERE proname = %s", [trigger.get_pgid(model)]
            )
            (source,) = cursor.fetchone()
            assert sqlfiles.body(f"{trigger.name}.sql") in source, trigger.name
            checked += 1
    assert checked == 7
