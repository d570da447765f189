"""The files in sql/: one per trigger, function, view or index, each read from here.

Every file starts with the same header (tests/pollsite/test_sql_files.py checks it):

    -- <name>: what it is.
    --
    -- Guarantees: what the database promises, whoever writes.
    -- Read by: who relies on it (code, DBAs).
    -- Installed by: the one mechanism that puts it in the database.
    --
    -- reverse: the SQL that undoes it, or who does.

Three mechanisms install them, each reading the file from here:
- migrations_extra's migrations: `apply(name)` runs a whole file (idempotent: CREATE OR
  REPLACE, IF NOT EXISTS) with its `-- reverse:` SQL. After you change one, add a
  migration that applies it again, so existing databases get it.
- django-pgtrigger (polls/models.py, Meta.triggers): `body(name)` is a trigger
  function's body; pgtrigger writes the CREATE FUNCTION and CREATE TRIGGER around it,
  and makemigrations notices a change.
- django-pgviews-redux (polls/models.py, the snapshot models): `body(name)` is a
  materialized view's query; `sync_snapshots`, run by a migration (0012), has pgviews
  create it, or create it again when its query changed.

A migration applies a file as it is now, not as it was when the migration was written.
So a file that comes to read a newer table or view must be applied only by a migration
that runs after that object exists: on a fresh database, migrations_extra 0012 applies
the files that read the ballots' tables (polls 0007), and the older migrations that used
to apply them (0001, 0002, 0004, 0006) no longer do (a database migrated before 0012 got
them there, and 0012 applies them again).
"""

from pathlib import Path

from django.db import migrations

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"


def read(name):
    return (SQL_DIR / name).read_text()


def body(name):
    """The file without its header: the SQL that goes into the database as it is."""
    lines = read(name).splitlines(keepends=True)
    while lines and (lines[0].startswith("--") or not lines[0].strip()):
        lines.pop(0)
    return "".join(lines)


def reverse_of(name):
    for line in read(name).splitlines():
        if line.startswith("-- reverse:"):
            return line.removeprefix("-- reverse:").strip()
    raise ValueError(f"sql/{name} has no '-- reverse:' line")


def apply(name):
    return migrations.RunSQL(read(name), reverse_sql=reverse_of(name))


def sync_snapshots(apps, schema_editor):
    """Create poll_results_mv and vote_timeline_mv (sql/*_mv.sql) with pgviews' syncer,
    or create again the ones whose query changed (which drops their comments and
    grants: apply tally_view_comments.sql and polls_reader.sql after it).

    pgviews would do this after every migrate, but then also after `migrate polls zero`,
    over tables that no longer exist, so its post_migrate sync is off
    (MATERIALIZED_VIEWS_DISABLE_SYNC_ON_MIGRATE) and migrations own the views. After
    changing a *_mv.sql file, add a migration that runs this again.
    """
    from django_pgviews.models import ViewSyncer

    ViewSyncer().run(
        force=True,
        update=True,
        materialized_views_check_sql_changed=True,
        using=schema_editor.connection.alias,
    )
