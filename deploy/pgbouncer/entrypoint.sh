#!/bin/sh
# Writes PgBouncer's auth_file from the environment (the password never enters the
# image), then runs PgBouncer in the foreground, logging to stderr.
set -eu
: "${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}"
umask 077
# The file's format: "user" "password", a double quote inside doubled.
printf '"polls" "%s"\n' "$(printf '%s' "$POSTGRES_PASSWORD" | sed 's/"/""/g')" \
    > /run/pgbouncer/userlist.txt
exec pgbouncer /etc/pgbouncer/pgbouncer.ini
