-- poll_results_mv: a refreshed snapshot of the tally, per poll and option.
--
-- Guarantees: as of its last refresh (polls_resultssnapshot.refreshed_at), votes is the
-- option's counter sum (poll_results: its single ballots, approvals or first
-- preferences, by the poll's kind), share its fraction of the poll's ballots
-- (poll_results_version.total_votes; 0 when the poll has none) and rank its dense rank by
-- votes within the poll (1 = leading). A ranked poll's runoff: SELECT poll_runoff(id). Unique on
-- (poll_id, option_id), so it refreshes CONCURRENTLY: readers never wait for a refresh.
-- Refreshed by: the job workers' refresh_results_snapshot (polls/tasks.py), every
-- RESULTS_REFRESH_SECONDS (5 s); `manage.py refresh_results` refreshes it by hand.
-- Read by: DBAs and reports, e.g.
--   SELECT label, votes, share, rank FROM poll_results_mv WHERE poll_id = 1 ORDER BY rank;
-- Installed by: django-pgviews-redux, from polls.models.PollResultsSnapshot, whose `sql`
-- is this file's query; migrations_extra 0012 has pgviews create it
-- (sqlfiles.sync_snapshots: run it again in a new migration after changing this file).
--
-- reverse: DROP MATERIALIZED VIEW IF EXISTS poll_results_mv; -- run by migrations_extra 0012

SELECT r.poll_id,
       r.option_id,
       r.label,
       r.votes,
       COALESCE(r.votes::numeric / NULLIF(v.total_votes, 0), 0)::float8 AS share,
       dense_rank() OVER (PARTITION BY r.poll_id ORDER BY r.votes DESC)::int AS rank
FROM poll_results r
JOIN poll_results_version v ON v.poll_id = r.poll_id
