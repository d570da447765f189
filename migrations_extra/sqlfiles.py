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
  materialized view's query; migrations_extra 0002 has pgviews create it.
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
