-- Experiment "all three fixes": one BEFORE INSERT trigger that validates with one query
-- and counts on a shard picked by the backend, not the voter.
--
-- The shipped path fires two triggers per vote: the BEFORE check and an AFTER count,
-- and an AFTER ROW trigger also queues an event that is replayed at the end of the
-- statement. Counting in the BEFORE trigger is just as safe: if the insert then fails
-- (a duplicate vote), the statement's error rolls the counter back with it. Validation
-- is check_one_query.sql's single query; the shard is pid_shards.sql's.
-- bench/db_layer.py installs it for one run and restores sql/polls_vote_*.sql after.

CREATE OR REPLACE FUNCTION polls_vote_check() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    poll record;
BEGIN
    SELECT p.published_at, p.closed_at, p.opens_at, p.closes_at,
           EXISTS (SELECT 1 FROM polls_option o
                   WHERE o.id = NEW.option_id AND o.poll_id = NEW.poll_id) AS has_option
      INTO poll
      FROM polls_poll p
     WHERE p.id = NEW.poll_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no poll %', NEW.poll_id USING ERRCODE = 'PV005';
    END IF;
    IF poll.published_at IS NULL THEN
        RAISE EXCEPTION 'poll % is a draft', NEW.poll_id USING ERRCODE = 'PV006';
    END IF;
    IF NOT poll.has_option THEN
        RAISE EXCEPTION 'option % is not an option of poll %', NEW.option_id, NEW.poll_id
            USING ERRCODE = 'PV001';
    END IF;
    IF poll.closed_at IS NOT NULL OR now() < poll.opens_at OR now() >= poll.closes_at THEN
        RAISE EXCEPTION 'poll % is not open', NEW.poll_id USING ERRCODE = 'PV002';
    END IF;
    NEW.cast_at := now();
    INSERT INTO polls_optiontally AS t (poll_id, option_id, shard, votes)
    VALUES (NEW.poll_id, NEW.option_id, pg_backend_pid() % 64, 1)
    ON CONFLICT (poll_id, option_id, shard) DO UPDATE SET votes = t.votes + 1;
    RETURN NEW;
END;
$$;

DROP TRIGGER IF EXISTS polls_vote_count ON polls_vote;
