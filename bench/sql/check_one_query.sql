-- Experiment "cheaper validation": polls_vote_check with one query instead of two.
--
-- The shipped trigger (sql/polls_vote_check.sql) runs SELECT * INTO a polls_poll row,
-- then PERFORM on polls_option: two SPI executions per vote, the first copying every
-- column of the poll. This one reads the four columns it needs and the option's
-- membership in one statement. Same errors, same SQLSTATEs, same cast_at.
-- bench/db_layer.py installs it for one run and restores sql/polls_vote_check.sql after.

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
    RETURN NEW;
END;
$$;
