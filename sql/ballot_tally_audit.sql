-- ballot_tally_audit: per multiple or ranked poll, the ballot and ranking counters
-- against a recount of the ballots.
--
-- Guarantees: one row per poll that is not single-choice or has ballot counters, with
--   counted          = the sum of its ballot counters (polls_ballottally),
--   ballots          = COUNT(*) of its ballots (polls_vote rows without an option),
--   drift            = counted - ballots, which must be 0,
--   rankings_drifted = how many distinct rankings of a ranked poll have a counter
--                      (polls_rankingtally) other than a recount of the ballots that
--                      rank so (polls_choice, by rank): must be 0.
-- Numbers only: it never shows a ranking (docs/privacy.md). Per option, the approvals
-- and first preferences are in tally_audit. It scans every ballot, so it is for audits.
-- Read by: `manage.py audit_tally`, DBAs: SELECT * FROM ballot_tally_audit WHERE drift <> 0
--   OR rankings_drifted <> 0;
-- Installed by: migrations_extra 0012 (sqlfiles.apply).
--
-- reverse: DROP VIEW IF EXISTS ballot_tally_audit;

CREATE OR REPLACE VIEW ballot_tally_audit AS
WITH counted AS (
    SELECT poll_id, SUM(ballots)::bigint AS counted FROM polls_ballottally GROUP BY poll_id
), ballots AS (
    SELECT poll_id, COUNT(*)::bigint AS ballots
    FROM polls_vote WHERE option_id IS NULL GROUP BY poll_id
), ranked AS (
    SELECT poll_id, ranking, COUNT(*)::bigint AS ballots
    FROM (SELECT vote_id, poll_id, array_agg(option_id ORDER BY rank) AS ranking
          FROM polls_choice WHERE rank IS NOT NULL GROUP BY vote_id, poll_id) r
    GROUP BY poll_id, ranking
), ranking_counters AS (
    SELECT poll_id, ranking, SUM(ballots)::bigint AS ballots
    FROM polls_rankingtally GROUP BY poll_id, ranking
), rankings_drifted AS (
    SELECT COALESCE(r.poll_id, c.poll_id) AS poll_id, COUNT(*)::bigint AS drifted
    FROM ranked r FULL JOIN ranking_counters c ON c.poll_id = r.poll_id AND c.ranking = r.ranking
    WHERE r.ballots IS DISTINCT FROM c.ballots
    GROUP BY 1
), keys AS (
    SELECT id AS poll_id FROM polls_poll WHERE ballot_kind <> 'single'
    UNION SELECT poll_id FROM counted
    UNION SELECT poll_id FROM ballots
    UNION SELECT poll_id FROM rankings_drifted
)
SELECT k.poll_id,
       COALESCE(c.counted, 0) AS counted,
       COALESCE(b.ballots, 0) AS ballots,
       COALESCE(c.counted, 0) - COALESCE(b.ballots, 0) AS drift,
       COALESCE(d.drifted, 0) AS rankings_drifted
FROM keys k
LEFT JOIN counted c ON c.poll_id = k.poll_id
LEFT JOIN ballots b ON b.poll_id = k.poll_id
LEFT JOIN rankings_drifted d ON d.poll_id = k.poll_id;
