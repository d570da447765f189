-- polls_costly_statements(n): the n statements that cost the database most, for DBAs.
--
-- Guarantees: the top n rows of pg_stat_statements by total execution time, with the
-- normalized statement text (constants replaced by $1, $2...: no voter key or receipt
-- ever shows). SECURITY DEFINER, owned by the migrating user: a polls_reader member sees
-- every statement's text without pg_read_all_stats, which would also show them
-- pg_stat_activity.query, the live text of other sessions' statements, literals and all.
-- Only polls_reader (and the owner) may call it. Created only where the extension exists
-- (sql/pg_stat_statements.sql); elsewhere this file does nothing.
-- Read by: DBAs (docs/dba.md):
--   SELECT * FROM polls_costly_statements(10);
-- Installed by: migrations_extra 0012 (sqlfiles.apply; 0004 on a database migrated before it).
--
-- reverse: DROP FUNCTION IF EXISTS polls_costly_statements(integer);

DO $outer$
DECLARE
    ext_schema text;
BEGIN
    SELECT extnamespace::regnamespace::text INTO ext_schema
    FROM pg_extension WHERE extname = 'pg_stat_statements';
    IF ext_schema IS NULL THEN
        RAISE NOTICE 'pg_stat_statements is not installed; polls_costly_statements skipped';
        RETURN;
    END IF;
    EXECUTE format($f$
        CREATE OR REPLACE FUNCTION polls_costly_statements(n integer DEFAULT 10)
        RETURNS TABLE (calls bigint, total_ms numeric, mean_ms numeric, rows bigint,
                       cache_hit_ratio numeric, query text)
        LANGUAGE sql STABLE SECURITY DEFINER
        SET search_path = pg_catalog, pg_temp
        AS $body$
            SELECT s.calls,
                   round(s.total_exec_time::numeric, 1),
                   round(s.mean_exec_time::numeric, 3),
                   s.rows,
                   round(s.shared_blks_hit::numeric
                         / NULLIF(s.shared_blks_hit + s.shared_blks_read, 0), 3),
                   s.query
            FROM %I.pg_stat_statements s
            WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
            ORDER BY s.total_exec_time DESC
            LIMIT n
        $body$
    $f$, ext_schema);
    COMMENT ON FUNCTION polls_costly_statements(integer) IS
        'The n statements of this database with the most total execution time (pg_stat_statements), normalized text.';
    REVOKE ALL ON FUNCTION polls_costly_statements(integer) FROM PUBLIC;
    GRANT EXECUTE ON FUNCTION polls_costly_statements(integer) TO polls_reader;
END $outer$;
