-- tally_audit: per option, the counters against the ballots.
--
-- Guarantees: one row per option that has an option row, counters or ballots, with
--   counted = the sum of its counter rows (polls_optiontally),
--   ballots = a recount of what the ballots give it: the single ballots that name it
--             (polls_vote), the multiple ballots that approve it and the ranked ballots
--             that rank it first (polls_choice, rank empty or 1),
--   drift   = counted - ballots, which must be 0 everywhere.
-- The ballots of multiple and ranked polls and their rankings: ballot_tally_audit.
-- Counters or ballots whose option no longer exists show up with a NULL label.
-- It scans every vote, so it is for audits, not for the API.
-- Read by: `manage.py audit_tally` (exits non-zero on any drift), DBAs:
--   SELECT * FROM tally_audit WHERE drift <> 0;
-- Installed by: migrations_extra 0012 (sqlfiles.apply; 0001 on a database migrated before it).
--
-- reverse: DROP VIEW IF EXISTS tally_audit;

CREATE OR REPLACE VIEW tally_audit AS
WITH counted AS (
    SELECT poll_id, option_id, SUM(votes)::bigint AS counted
    FROM polls_optiontally GROUP BY poll_id, option_id
), ballots AS (
    SELECT poll_id, option_id, SUM(n)::bigint AS ballots
    FROM (SELECT poll_id, option_id, COUNT(*) AS n
          FROM polls_vote WHERE option_id IS NOT NULL GROUP BY poll_id, option_id
          UNION ALL
          SELECT poll_id, option_id, COUNT(*) AS n
          FROM polls_choice WHERE rank IS NULL OR rank = 1 GROUP BY poll_id, option_id) b
    GROUP BY poll_id, option_id
), keys AS (
    SELECT poll_id, id AS option_id FROM polls_option
    UNION SELECT poll_id, option_id FROM counted
    UNION SELECT poll_id, option_id FROM ballots
)
SELECT k.poll_id,
       k.option_id,
       o.label,
       COALESCE(c.counted, 0) AS counted,
       COALESCE(b.ballots, 0) AS ballots,
       COALESCE(c.counted, 0) - COALESCE(b.ballots, 0) AS drift
FROM keys k
LEFT JOIN polls_option o ON o.id = k.option_id
LEFT JOIN counted c ON c.poll_id = k.poll_id AND c.option_id = k.option_id
LEFT JOIN ballots b ON b.poll_id = k.poll_id AND b.option_id = k.option_id;
