-- polls_vote_count: AFTER INSERT trigger on polls_vote.
--
-- Guarantees: every vote adds exactly 1 to one counter row of its option in
-- polls_optiontally, inside the vote's own transaction, so the counters always equal
-- the ballots (tally_audit checks it). A rolled-back vote counts nothing.
-- Read by: the results API (polls.selectors.poll_results), the poll_results view.
--
-- Sharding: a single counter row per option would serialize every vote for a popular
-- option on that row's lock. The shard comes from the first byte of the voter key (an
-- HMAC, so uniform): 16 rows per option. Results sum at most options x 16 rows.
-- Plain plpgsql, not pgtrigger, for the reason given in polls_vote_check.sql.
--
-- reverse: DROP TRIGGER IF EXISTS polls_vote_count ON polls_vote; DROP FUNCTION IF EXISTS polls_vote_count();

CREATE OR REPLACE FUNCTION polls_vote_count() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO polls_optiontally AS t (poll_id, option_id, shard, votes)
    VALUES (NEW.poll_id, NEW.option_id, get_byte(NEW.voter_key, 0) % 16, 1)
    ON CONFLICT (poll_id, option_id, shard) DO UPDATE SET votes = t.votes + 1;
    RETURN NULL;
END;
$$;

DROP TRIGGER IF EXISTS polls_vote_count ON polls_vote;
CREATE TRIGGER polls_vote_count AFTER INSERT ON polls_vote
    FOR EACH ROW EXECUTE FUNCTION polls_vote_count();
