-- vote_append_only: BEFORE UPDATE OR DELETE trigger on polls_vote.
--
-- Guarantees: a ballot, once cast, is never changed or deleted, by anyone who is not
-- the table's owner disabling triggers (SQLSTATE PV004 vote_immutable). That is what
-- lets the counters be a version that only grows, and the receipt ledger be final.
-- Read by: polls/errors.py (PV004 -> 409 vote_immutable); no endpoint changes a vote.
-- Installed by: django-pgtrigger, from polls.models.Vote (Meta.triggers); this file is
-- the body between its BEGIN and END. After changing it, run makemigrations.
--
-- reverse: SELECT 1; -- django-pgtrigger drops the trigger and function with its migration

RAISE EXCEPTION 'votes are append-only' USING ERRCODE = 'PV004';
