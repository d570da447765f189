-- Experiment "more shards": polls_vote_count with 64 counter rows per option, not 16.
--
-- With every vote on one option, 16 rows take all the upserts; two concurrent votes
-- that pick the same row wait for each other's commit (the row lock is held until then,
-- fsync included). 64 rows make that 4 times rarer; results then sum options x 64 rows.
-- bench/db_layer.py installs it for one run and restores sql/polls_vote_count.sql after.

CREATE OR REPLACE FUNCTION polls_vote_count() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO polls_optiontally AS t (poll_id, option_id, shard, votes)
    VALUES (NEW.poll_id, NEW.option_id, get_byte(NEW.voter_key, 0) % 64, 1)
    ON CONFLICT (poll_id, option_id, shard) DO UPDATE SET votes = t.votes + 1;
    RETURN NULL;
END;
$$;
