#!/bin/sh
# postgres-replica: on an empty data directory, copy the primary and follow it (a hot
# standby: read-only queries, WAL streamed through the slot replica_1); then, and on
# every later start, run PostgreSQL on that directory.
#
# Not the image's docker-entrypoint.sh: on a directory without PG_VERSION it would run
# initdb, and the replica would silently become an empty primary of its own.
set -eu
: "${REPLICATION_PASSWORD:?set REPLICATION_PASSWORD}"
# Read by pg_basebackup and, inherited, by the WAL receiver (libpq) after it.
export PGPASSWORD="$REPLICATION_PASSWORD"

if [ "$(id -u)" = 0 ]; then
    # A new volume: make PGDATA PostgreSQL's, then go on as postgres (it refuses root).
    mkdir -p "$PGDATA"
    chown postgres:postgres "$PGDATA"
    chmod 700 "$PGDATA"
    exec gosu postgres sh "$0" "$@"
fi

if [ -z "$(ls -A "$PGDATA")" ]; then
    # A replica re-seeded on a new volume finds its old slot on the primary, and -C would
    # fail on it: drop it if nobody streams from it (it only holds WAL back).
    psql -h postgres-primary -U replicator -d postgres -v ON_ERROR_STOP=1 -Atq -c \
        "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots
         WHERE slot_name = 'replica_1' AND NOT active" >/dev/null
    # -R: standby.signal and primary_conninfo; -X stream: the WAL written meanwhile too;
    # -C -S: a slot, so the primary keeps the WAL this replica has not received yet;
    # a fast checkpoint: seconds, not a spread one's minutes (as `make cluster`).
    if ! pg_basebackup -h postgres-primary -U replicator -D "$PGDATA" -R -X stream -C -S replica_1 \
        --checkpoint=fast; then
        # Half a copy is no database: empty the directory so the restart copies again.
        find "$PGDATA" -mindepth 1 -delete
        exit 1
    fi
fi

# hot_standby_feedback: vacuum on the primary waits for the replica's reads (short: the
# statement limits) instead of replay waiting on them, which would make the replica lag.
exec postgres -c hot_standby=on -c hot_standby_feedback=on \
    -c shared_preload_libraries=pg_stat_statements "$@"
