-- Experiment "fewer lock waits" (adopted in sql/polls_vote_count.sql since; kept to compare):
-- polls_vote_count on 64 shards picked by the backend.
--
-- The shipped trigger picks the counter row from the voter key's first byte: random,
-- so two concurrent votes for the same option land on the same row often (with 8
-- clients and 16 rows, about one vote in three), and the second waits until the first
-- commits, fsync included, because the row lock is held until then. Picking the row by
-- pg_backend_pid() gives each connection its own row: concurrent backends have distinct
-- pids, which stay distinct modulo 64 unless 64 apart. Counters are only ever summed,
-- so which row a vote lands on does not matter to results or to tally_audit.
-- bench/db_layer.py installs it for one run and restores sql/polls_vote_count.sql after.

CREATE OR REPLACE FUNCTION polls_vote_count() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO polls_optiontally AS t (poll_id, option_id, shard, votes)
    VALUES (NEW.poll_id, NEW.option_id, pg_backend_pid() % 64, 1)
    ON CONFLICT (poll_id, option_id, shard) DO UPDATE SET votes = t.votes + 1;
    RETURN NULL;
END;
$$;
