-- tally_view_comments: what `\d+` says about every view and materialized view, and
-- each of their columns (and the snapshot times table they are read with).
--
-- Guarantees: a COMMENT on poll_results, tally_audit, ballot_tally_audit,
-- poll_results_mv, vote_timeline_mv, polls_resultssnapshot and every one of their columns (a test checks that none lacks
-- one). COMMENT replaces, so applying this file again is harmless.
-- Read by: DBAs, in psql (`\d+ poll_results`, `\dv+`, `\dm+`); docs/dba.md says the same
-- at more length. A view recreated (a changed sql/*.sql, pgviews' sync) loses its
-- comments: apply this file again in the same migration.
-- Installed by: migrations_extra 0012 (sqlfiles.apply; 0004 on a database migrated before it).
--
-- reverse: COMMENT ON VIEW poll_results IS NULL; COMMENT ON VIEW tally_audit IS NULL; COMMENT ON VIEW ballot_tally_audit IS NULL; COMMENT ON MATERIALIZED VIEW poll_results_mv IS NULL; COMMENT ON MATERIALIZED VIEW vote_timeline_mv IS NULL; COMMENT ON TABLE polls_resultssnapshot IS NULL;

COMMENT ON VIEW poll_results IS
    'Live tally, one row per option, summed from the vote counters (polls_optiontally): by the poll''s ballot kind, its single ballots, approvals (multiple) or first preferences (ranked); equals a recount of the ballots (see tally_audit). Cheap: never scans the votes. sql/poll_results.sql';
COMMENT ON COLUMN poll_results.poll_id IS 'The poll (polls_poll.id).';
COMMENT ON COLUMN poll_results.option_id IS 'The option (polls_option.id).';
COMMENT ON COLUMN poll_results.label IS 'The option''s label, as voters see it.';
COMMENT ON COLUMN poll_results.position IS 'The option''s place in the poll (order by it).';
COMMENT ON COLUMN poll_results.votes IS 'Votes for this option now (single ballots, approvals or first preferences): the sum of its counter shards; 0 without votes.';

COMMENT ON VIEW tally_audit IS
    'Counters against ballots per option: drift must be 0 everywhere (SELECT * FROM tally_audit WHERE drift <> 0 returns no rows). Scans every vote: for audits, not dashboards. sql/tally_audit.sql';
COMMENT ON COLUMN tally_audit.poll_id IS 'The poll.';
COMMENT ON COLUMN tally_audit.option_id IS 'The option.';
COMMENT ON COLUMN tally_audit.label IS 'The option''s label; NULL if counters or ballots name an option that no longer exists.';
COMMENT ON COLUMN tally_audit.counted IS 'The sum of the option''s counter rows (what results publish).';
COMMENT ON COLUMN tally_audit.ballots IS 'A recount: the option''s rows in polls_vote (single), or in polls_choice with no rank (multiple) or rank 1 (ranked).';
COMMENT ON COLUMN tally_audit.drift IS 'counted - ballots; anything but 0 is a bug to report.';

COMMENT ON VIEW ballot_tally_audit IS
    'Multiple and ranked polls: the ballot counters against COUNT(*) of the ballots, and how many distinct rankings have a counter other than their recount; both must be 0. Never shows a ranking. Scans every ballot. sql/ballot_tally_audit.sql';
COMMENT ON COLUMN ballot_tally_audit.poll_id IS 'The poll.';
COMMENT ON COLUMN ballot_tally_audit.counted IS 'The sum of the poll''s ballot counters (polls_ballottally): its total_votes.';
COMMENT ON COLUMN ballot_tally_audit.ballots IS 'COUNT(*) of the poll''s ballots without an option (polls_vote).';
COMMENT ON COLUMN ballot_tally_audit.drift IS 'counted - ballots; anything but 0 is a bug to report.';
COMMENT ON COLUMN ballot_tally_audit.rankings_drifted IS 'Distinct rankings whose counter differs from the ballots that rank so; anything but 0 is a bug to report.';

COMMENT ON MATERIALIZED VIEW poll_results_mv IS
    'Snapshot of poll_results with share and rank, refreshed CONCURRENTLY every RESULTS_REFRESH_SECONDS (5 s) by the job workers (polls.tasks.refresh_results_snapshot); its age is polls_resultssnapshot.refreshed_at (name = poll_results_mv). sql/poll_results_mv.sql';
COMMENT ON COLUMN poll_results_mv.poll_id IS 'The poll.';
COMMENT ON COLUMN poll_results_mv.option_id IS 'The option.';
COMMENT ON COLUMN poll_results_mv.label IS 'The option''s label.';
COMMENT ON COLUMN poll_results_mv.votes IS 'Votes for the option at the last refresh (single ballots, approvals or first preferences).';
COMMENT ON COLUMN poll_results_mv.share IS 'votes / the poll''s ballots, a fraction of 1 (a multiple poll''s shares add up to more than 1); 0 when the poll has no ballots.';
COMMENT ON COLUMN poll_results_mv.rank IS 'Dense rank by votes within the poll; 1 = leading (ties share a rank).';

COMMENT ON MATERIALIZED VIEW vote_timeline_mv IS
    'Snapshot of single-choice votes per minute per option (UTC minutes with at least one vote; multiple and ranked ballots are left out), refreshed CONCURRENTLY every TIMELINE_REFRESH_SECONDS (60 s) by the job workers (polls.tasks.refresh_timeline_snapshot); its age is polls_resultssnapshot.refreshed_at (name = vote_timeline_mv). sql/vote_timeline_mv.sql';
COMMENT ON COLUMN vote_timeline_mv.poll_id IS 'The poll.';
COMMENT ON COLUMN vote_timeline_mv.option_id IS 'The option.';
COMMENT ON COLUMN vote_timeline_mv.minute IS 'The minute the votes were cast in, date_trunc(''minute'', cast_at).';
COMMENT ON COLUMN vote_timeline_mv.votes IS 'Votes for the option cast in that minute.';

COMMENT ON TABLE polls_resultssnapshot IS
    'When each materialized view was last refreshed: snapshot age = now() - refreshed_at.';
COMMENT ON COLUMN polls_resultssnapshot.name IS 'The materialized view (poll_results_mv, vote_timeline_mv).';
COMMENT ON COLUMN polls_resultssnapshot.refreshed_at IS 'When its last refresh began: the snapshot holds every vote committed before it.';
