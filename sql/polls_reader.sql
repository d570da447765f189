-- polls_reader: the least-privilege group role for DBAs and reporting tools.
--
-- Guarantees: a NOLOGIN role (created only if missing: roles are cluster-wide) that may
-- connect to this database and SELECT the tally views (poll_results,
-- poll_results_version, tally_audit, ballot_tally_audit), the snapshots (poll_results_mv, vote_timeline_mv) and their
-- refresh times (polls_resultssnapshot), and call polls_costly_statements()
-- (sql/polls_costly_statements.sql) and poll_runoff() (the rounds of a ranked poll, no
-- ranking), and nothing else: no identity rows (identity_voteridentity), no accounts
-- (auth_user), no tokens (knox_authtoken), no ballots and their voter keys (polls_vote),
-- no choices (polls_choice), no rankings (polls_rankingtally: a rare ranking can sign a
-- ballot), no idempotency keys. The views read those tables with their owner's rights, so a member sees the
-- tallies they compute and never the rows. PUBLIC keeps no table rights here, so a grant
-- to PUBLIC made by hand cannot open a hole (new tables never grant PUBLIC anything).
-- The schema's CREATE right is left as the server has it: on PostgreSQL < 15 the app's
-- user may need it for migrations.
-- Read by: DBAs, who log in as a member (docs/dba.md):
--   CREATE ROLE alice LOGIN PASSWORD '...' IN ROLE polls_reader;
-- A materialized view recreated by pgviews loses its grants: apply this file again after.
-- Installed by: migrations_extra 0012 (sqlfiles.apply; 0004 on a database migrated before it).
--
-- reverse: DO $$ BEGIN IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'polls_reader') THEN EXECUTE format('REVOKE ALL ON DATABASE %I FROM polls_reader', current_database()); REVOKE ALL ON ALL TABLES IN SCHEMA public FROM polls_reader; REVOKE USAGE ON SCHEMA public FROM polls_reader; END IF; END $$;

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'polls_reader') THEN
        CREATE ROLE polls_reader NOLOGIN;
    END IF;
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO polls_reader', current_database());
END $$;

COMMENT ON ROLE polls_reader IS
    'Read-only access to the poll tallies (docs/dba.md); no identities, accounts, tokens or ballots.';

GRANT USAGE ON SCHEMA public TO polls_reader;

-- Start from nothing, then grant the readable list: re-applying the file also takes back
-- anything granted by hand since.
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM polls_reader;
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM PUBLIC;

GRANT SELECT ON poll_results, poll_results_version, tally_audit, ballot_tally_audit,
    poll_results_mv, vote_timeline_mv, polls_resultssnapshot TO polls_reader;
