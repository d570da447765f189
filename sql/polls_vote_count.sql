-- polls_vote_count: AFTER INSERT trigger on polls_vote.
--
-- Guarantees: every single ballot (a vote row with an option) adds exactly 1 to one
-- counter row of its option in polls_optiontally, inside the vote's own transaction, so
-- the counters always equal the ballots (tally_audit checks it). A rolled-back vote
-- counts nothing. Multiple and ranked ballots are counted by polls_ballot_complete.
-- Read by: the results document (sql/poll_results_document.sql), the poll_results view.
--
-- Sharding: a single counter row per option would serialize every vote for a popular
-- option on that row's lock, held until the vote's commit (fsync included). The shard is
-- the inserting backend's pid modulo 64: concurrent connections have distinct pids, so
-- each mostly updates a row of its own and no vote waits on another's commit. (The shard
-- used to come from the voter key's first byte, 16 rows per option: with 8 clients on
-- one option about one vote in three waited. `make bench`, same run against the same
-- ceiling, one option at 32 clients: 72.0 % with backend shards, 54.2 % with key shards.)
-- Counters are only ever summed, so which row a vote lands on does not matter to
-- results or to tally_audit; results sum at most options x 64 rows per poll.
-- Plain plpgsql, not pgtrigger, for the reason given in polls_vote_check.sql.
-- Installed by: migrations_extra 0001 (sqlfiles.apply), again by 0005 and 0012 after a change.
--
-- reverse: DROP TRIGGER IF EXISTS polls_vote_count ON polls_vote; DROP FUNCTION IF EXISTS polls_vote_count();

CREATE OR REPLACE FUNCTION polls_vote_count() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO polls_optiontally AS t (poll_id, option_id, shard, votes)
    VALUES (NEW.poll_id, NEW.option_id, pg_backend_pid() % 64, 1)
    ON CONFLICT (poll_id, option_id, shard) DO UPDATE SET votes = t.votes + 1;
    RETURN NULL;
END;
$$;

DROP TRIGGER IF EXISTS polls_vote_count ON polls_vote;
CREATE TRIGGER polls_vote_count AFTER INSERT ON polls_vote
    FOR EACH ROW WHEN (NEW.option_id IS NOT NULL) EXECUTE FUNCTION polls_vote_count();
