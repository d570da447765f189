-- pg_stat_statements: per-statement execution statistics, where the server has them.
--
-- Guarantees: the extension exists in this database when the server loads the library
-- (shared_preload_libraries contains pg_stat_statements: the embedded server of `make run`
-- and of the tests does) and the migrating user may create it. Anywhere else this is a
-- NOTICE and nothing more: a real server without the library, or an app user that is not
-- allowed to create extensions, must not fail the migrations.
-- Read by: polls_costly_statements() (sql/polls_costly_statements.sql), DBAs (docs/dba.md).
-- Installed by: migrations_extra 0012 (sqlfiles.apply; 0004 on a database migrated before it).
--
-- reverse: SELECT 1; -- the extension stays: other tools and DBAs may rely on it

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_available_extensions WHERE name = 'pg_stat_statements') THEN
        RAISE NOTICE 'pg_stat_statements is not available on this server; skipped';
    ELSIF current_setting('shared_preload_libraries') NOT LIKE '%pg_stat_statements%' THEN
        RAISE NOTICE 'pg_stat_statements is not in shared_preload_libraries; skipped';
    ELSE
        BEGIN
            CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
        EXCEPTION WHEN insufficient_privilege THEN
            RAISE NOTICE 'not allowed to create pg_stat_statements; ask a superuser';
        END;
    END IF;
END $$;
