#!/bin/sh
# postgres-primary, once, when the image initialises an empty data directory
# (/docker-entrypoint-initdb.d): the role postgres-replica streams WAL as, and the
# pg_hba line it needs, since "all" in pg_hba's database column never matches
# replication connections. The image may source this file into its bash entrypoint,
# so no `set -u` and no `exit` on success.
set -e
: "${REPLICATION_PASSWORD:?set REPLICATION_PASSWORD}"

# psql substitutes :'password' itself, quoted, so the password is never SQL text.
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v password="$REPLICATION_PASSWORD" <<'SQL'
CREATE ROLE replicator WITH LOGIN REPLICATION PASSWORD :'password';
SQL

# Any address: the replica's changes when its container is recreated. SCRAM, never trust.
echo "host replication replicator all scram-sha-256" >> "$PGDATA/pg_hba.conf"
