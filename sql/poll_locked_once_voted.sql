-- poll_locked_once_voted: BEFORE UPDATE OR DELETE trigger on polls_poll.
--
-- Guarantees: a poll with votes cannot be deleted, and nothing about it but an early
-- close (closed_at) can change: not its title, description, times, publication,
-- results visibility, ballot kind or choice bounds (SQLSTATE PV003 poll_locked), whoever
-- writes (the API, psql).
-- "Has votes" holds at commit time, not just when checked: the trigger first takes
-- SHARE ROW EXCLUSIVE on polls_vote, which waits for vote inserts in flight to commit
-- and holds new ones back until this change commits. Only staff writes take that lock,
-- and they are rare; votes never take it.
-- Whether the poll has ballots: poll_has_ballots (sql/poll_has_ballots.sql, an index
-- lookup however the ballots spread over polls).
-- Read by: polls/errors.py (PV003 -> 409 poll_locked), the staff endpoints of polls/apis.py.
-- Installed by: django-pgtrigger, from polls.models.Poll (Meta.triggers); this file is
-- the body between its BEGIN and END. After changing it, run makemigrations.
--
-- reverse: SELECT 1; -- django-pgtrigger drops the trigger and function with its migration

LOCK TABLE polls_vote IN SHARE ROW EXCLUSIVE MODE;
IF poll_has_ballots(OLD.id) AND (
    TG_OP = 'DELETE'
    OR (NEW.title, NEW.description, NEW.opens_at, NEW.closes_at, NEW.published_at,
        NEW.results_visibility, NEW.ballot_kind, NEW.min_choices, NEW.max_choices)
       IS DISTINCT FROM
       (OLD.title, OLD.description, OLD.opens_at, OLD.closes_at, OLD.published_at,
        OLD.results_visibility, OLD.ballot_kind, OLD.min_choices, OLD.max_choices)
) THEN
    RAISE EXCEPTION 'this poll has votes' USING ERRCODE = 'PV003';
END IF;
IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
RETURN NEW;
