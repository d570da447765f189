"""Apply a file from sql/ in a migration, with the reverse SQL its header declares.

Each file in sql/ is idempotent (CREATE OR REPLACE, DROP ... IF EXISTS) and says how to
undo itself on a `-- reverse:` line. Migrations read the file when they run: after you
change a file, add a migration that applies it again, so existing databases get it.
"""

from pathlib import Path

from django.db import migrations

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"


def read(name):
    return (SQL_DIR / name).read_text()


def reverse_of(name):
    for line in read(name).splitlines():
        if line.startswith("-- reverse:"):
            return line.removeprefix("-- reverse:").strip()
    raise ValueError(f"sql/{name} has no '-- reverse:' line")


def apply(name):
    return migrations.RunSQL(read(name), reverse_sql=reverse_of(name))
