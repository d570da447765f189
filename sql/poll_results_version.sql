-- poll_results_version: per poll, what its results document was made from, as two values.
--
-- Guarantees: for any two moments, equal (poll_digest, total_votes) mean an equal results
-- document (but for the status, which the clock moves on its own):
--   total_votes  the poll's ballots, from its counters: a single poll's option counters
--                summed, a multiple or ranked poll's ballot counters (polls_ballottally).
--                Ballots are append-only, so any change to any count changes it (a
--                multiple ballot adds its approvals and one ballot; a ranked one, its
--                first preference, its ranking and one ballot).
--   poll_digest  an md5 over the xmin of the poll's row and of each of its option rows
--                (with the option's id). xmin is the id of the transaction that wrote
--                that row version, and every UPDATE writes a new version; so any edit of
--                the poll or an option, and any option added or removed, changes it,
--                whoever writes (the API, the admin, psql).
-- A column that the outer query does not select is never computed (the view is pulled up
-- into it), so reading one column costs one subquery. Each object is commented, for `\d+`.
-- Read by: polls.selectors (each cached results entry records the version it was built
-- from) and polls.reconciler, which compares cached versions with these, per poll.
-- Installed by: migrations_extra 0012 (sqlfiles.apply; 0006 on a database migrated before it).
--
-- reverse: DROP VIEW IF EXISTS poll_results_version;

CREATE OR REPLACE VIEW poll_results_version AS
SELECT p.id AS poll_id,
       md5(p.xmin::text || ';' || COALESCE((
           SELECT string_agg(o.id || ':' || o.xmin::text, ',' ORDER BY o.id)
           FROM polls_option o
           WHERE o.poll_id = p.id
       ), '')) AS poll_digest,
       CASE WHEN p.ballot_kind = 'single' THEN
           (SELECT COALESCE(SUM(t.votes), 0)::bigint
            FROM polls_optiontally t
            WHERE t.poll_id = p.id)
       ELSE
           (SELECT COALESCE(SUM(b.ballots), 0)::bigint
            FROM polls_ballottally b
            WHERE b.poll_id = p.id)
       END AS total_votes
FROM polls_poll p;

COMMENT ON VIEW poll_results_version IS
    'Per poll, what its results document is made of: equal (poll_digest, total_votes) at two moments mean equal results. Compared by the results cache''s reconciler (polls/reconciler.py) with what each cached entry was built from. sql/poll_results_version.sql';
COMMENT ON COLUMN poll_results_version.poll_id IS 'The poll (polls_poll.id).';
COMMENT ON COLUMN poll_results_version.poll_digest IS 'md5 over the xmin of the poll row and of each option row: changes with any edit of the poll or its options.';
COMMENT ON COLUMN poll_results_version.total_votes IS 'The poll''s ballots, from its counters (single: its option counters; multiple and ranked: polls_ballottally); only grows.';
