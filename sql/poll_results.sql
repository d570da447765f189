-- poll_results: the live tally, one row per option, read from the counters.
--
-- Guarantees: votes is the sum of the option's counter rows, which equals what the
-- poll's ballots give that option (see tally_audit): by the poll's ballot kind, the
-- single ballots for it, the multiple ballots that approve it, or the ranked ballots
-- that rank it first. An option without votes shows 0. Cheap: it never counts polls_vote.
-- Read by: DBAs and reports, e.g.
--   SELECT label, votes FROM poll_results WHERE poll_id = 1 ORDER BY position;
-- Installed by: migrations_extra 0001 (sqlfiles.apply).
--
-- reverse: DROP VIEW IF EXISTS poll_results;

CREATE OR REPLACE VIEW poll_results AS
SELECT o.poll_id,
       o.id AS option_id,
       o.label,
       o.position,
       COALESCE(SUM(t.votes), 0)::bigint AS votes
FROM polls_option o
LEFT JOIN polls_optiontally t ON t.poll_id = o.poll_id AND t.option_id = o.id
GROUP BY o.poll_id, o.id, o.label, o.position;
