-- polls_vote_check: BEFORE INSERT trigger on polls_vote.
--
-- Guarantees: for every vote that lands, whoever inserts it (the API, a script, psql):
--   * its poll exists and is published (SQLSTATE PV005 unknown poll, PV006 draft);
--   * its option belongs to that poll (PV001 invalid_option);
--   * the poll is open by the database's clock: poll_status (sql/poll_status.sql, the
--     one definition) says 'open' at now(), the vote transaction's time (PV002
--     poll_not_open);
--   * cast_at is that same now(); a client cannot backdate a vote.
-- Read by: polls/errors.py, which maps the SQLSTATEs to the API's error codes.
--
-- It is plain plpgsql rather than a pgtrigger trigger because it runs on every vote:
-- pgtrigger's wrapper calls _pgtrigger_should_ignore(), whose EXCEPTION block opens a
-- subtransaction per row. It reads the poll and option rows without locking them (a
-- KEY SHARE lock per vote on the same poll row is what throttles a busy poll); the
-- triggers on polls_poll and polls_option take a table lock on polls_vote before any
-- change that could invalidate this check.
-- Installed by: migrations_extra 0001, again by 0010 (sqlfiles.apply).
--
-- reverse: DROP TRIGGER IF EXISTS polls_vote_check ON polls_vote; DROP FUNCTION IF EXISTS polls_vote_check();

CREATE OR REPLACE FUNCTION polls_vote_check() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    poll polls_poll%ROWTYPE;
    status text;
BEGIN
    SELECT * INTO poll FROM polls_poll WHERE id = NEW.poll_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no poll %', NEW.poll_id USING ERRCODE = 'PV005';
    END IF;
    status := poll_status(poll.published_at, poll.closed_at, poll.opens_at, poll.closes_at);
    IF status = 'draft' THEN
        RAISE EXCEPTION 'poll % is a draft', NEW.poll_id USING ERRCODE = 'PV006';
    END IF;
    PERFORM 1 FROM polls_option WHERE id = NEW.option_id AND poll_id = NEW.poll_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'option % is not an option of poll %', NEW.option_id, NEW.poll_id
            USING ERRCODE = 'PV001';
    END IF;
    IF status <> 'open' THEN
        RAISE EXCEPTION 'poll % is not open', NEW.poll_id USING ERRCODE = 'PV002';
    END IF;
    NEW.cast_at := now();
    RETURN NEW;
END;
$$;

DROP TRIGGER IF EXISTS polls_vote_check ON polls_vote;
CREATE TRIGGER polls_vote_check BEFORE INSERT ON polls_vote
    FOR EACH ROW EXECUTE FUNCTION polls_vote_check();
