-- tally_written_by_votes_only: BEFORE INSERT OR UPDATE OR DELETE trigger on
-- polls_optiontally, WHEN (pg_trigger_depth() < 1).
--
-- Guarantees: the counters change only through polls_vote_count, so they always equal
-- the ballots; a statement aimed straight at polls_optiontally is refused (SQLSTATE PV004
-- vote_immutable). The WHEN sees the depth of the statement that fires it: 0 for a
-- statement from a client, 1 for polls_vote_count's upsert, where it is false and this
-- body never runs, so the vote path pays nothing for the guard.
-- Read by: polls/errors.py (PV004); tally_audit, which this keeps at drift 0.
-- Installed by: django-pgtrigger, from polls.models.OptionTally (Meta.triggers, which
-- also holds the WHEN); this file is the body between its BEGIN and END. After changing
-- it, run makemigrations.
--
-- reverse: SELECT 1; -- django-pgtrigger drops the trigger and function with its migration

RAISE EXCEPTION 'counters change only through votes' USING ERRCODE = 'PV004';
