-- polls_vote_check: BEFORE INSERT trigger on polls_vote.
--
-- Guarantees: for every vote (a ballot's row) that lands, whoever inserts it (the API, a
-- script, psql):
--   * its poll exists and is published (SQLSTATE PV005 unknown poll, PV006 draft);
--   * it is of its poll's ballot kind (PV010 wrong_ballot_kind, with the poll's kind as
--     the DETAIL): a single ballot names an option, and that option belongs to the poll
--     (PV001 invalid_option); a multiple or ranked ballot names none: its choices follow
--     as rows of polls_choice, and this ballot is the one they may be added to until the
--     next ballot or its judgement (the setting polls.open_ballot, local to the
--     transaction: sql/polls_choice_check.sql);
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
-- Installed by: migrations_extra 0001, again by 0010 and 0012 (sqlfiles.apply).
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
    IF (poll.ballot_kind = 'single') <> (NEW.option_id IS NOT NULL) THEN
        RAISE EXCEPTION 'poll % takes % ballots', NEW.poll_id, poll.ballot_kind
            USING ERRCODE = 'PV010', DETAIL = poll.ballot_kind;
    END IF;
    IF NEW.option_id IS NOT NULL THEN
        PERFORM 1 FROM polls_option WHERE id = NEW.option_id AND poll_id = NEW.poll_id;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'option % is not an option of poll %', NEW.option_id, NEW.poll_id
                USING ERRCODE = 'PV001';
        END IF;
    ELSE
        PERFORM set_config('polls.open_ballot', NEW.id::text, true);
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
