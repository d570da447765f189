-- option_frozen_once_voted_or_closed: BEFORE INSERT OR UPDATE OR DELETE trigger on
-- polls_option.
--
-- Guarantees: a poll's options cannot be added, changed or removed once the poll has
-- votes, nor added or changed once it is closed (poll_status, sql/poll_status.sql: early,
-- or by closes_at; a draft is never closed); a closed poll without votes may still be
-- deleted with its options (SQLSTATE PV003 poll_locked). As
-- in poll_locked_once_voted, SHARE ROW EXCLUSIVE on polls_vote makes "has votes" hold at
-- commit time; only staff writes take it.
-- Whether the poll has ballots: poll_has_ballots (sql/poll_has_ballots.sql, an index
-- lookup however the ballots spread over polls).
-- Read by: polls/errors.py (PV003 -> 409 poll_locked), POST /api/v1/polls/{id}/options.
-- Installed by: django-pgtrigger, from polls.models.Option (Meta.triggers); this file is
-- the body between its BEGIN and END. After changing it, run makemigrations.
--
-- reverse: SELECT 1; -- django-pgtrigger drops the trigger and function with its migration

LOCK TABLE polls_vote IN SHARE ROW EXCLUSIVE MODE;
IF poll_has_ballots(COALESCE(NEW.poll_id, OLD.poll_id))
   OR (TG_OP <> 'DELETE' AND EXISTS (
          SELECT 1 FROM polls_poll
          WHERE id = NEW.poll_id
            AND poll_status(published_at, closed_at, opens_at, closes_at) = 'closed')) THEN
    RAISE EXCEPTION 'the options of this poll are frozen' USING ERRCODE = 'PV003';
END IF;
IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
RETURN NEW;
