-- vote_timeline_mv: votes per minute per option, a refreshed snapshot.
--
-- Guarantees: as of its last refresh (polls_resultssnapshot.refreshed_at), one row per
-- (poll, option, minute) with at least one single-choice vote cast in that minute (UTC,
-- truncated), and the count of those votes. Multiple and ranked ballots are not in it: a
-- bucket of approvals or preferences per minute could narrow a ballot (docs/privacy.md). Unique on (poll_id, option_id, minute), so it refreshes
-- CONCURRENTLY. It counts polls_vote, so a refresh costs a scan of the votes: that is why
-- it is a snapshot and not a live view.
-- Refreshed by: the job workers' refresh_timeline_snapshot (polls/tasks.py), every
-- TIMELINE_REFRESH_SECONDS (60 s); `manage.py refresh_results` refreshes it by hand.
-- Read by: GET /api/v1/polls/{id}/results/timeline (polls.selectors.results_timeline).
-- Installed by: django-pgviews-redux, from polls.models.VoteTimelineSnapshot, whose `sql`
-- is this file's query; migrations_extra 0012 has pgviews create it
-- (sqlfiles.sync_snapshots: run it again in a new migration after changing this file).
--
-- reverse: DROP MATERIALIZED VIEW IF EXISTS vote_timeline_mv; -- run by migrations_extra 0012

SELECT poll_id,
       option_id,
       date_trunc('minute', cast_at) AS minute,
       COUNT(*)::bigint AS votes
FROM polls_vote
WHERE option_id IS NOT NULL
GROUP BY poll_id, option_id, date_trunc('minute', cast_at)
