-- poll_status: the one definition of a poll's status (draft, scheduled, open, closed).
--
-- Guarantees: poll_status(published_at, closed_at, opens_at, closes_at, as_of) is
--   'draft'      unpublished (published_at IS NULL);
--   'closed'     else, closed early by staff (closed_at set) or as_of >= closes_at;
--   'scheduled'  else, as_of < opens_at;
--   'open'       else: opens_at <= as_of < closes_at.
-- `as_of` defaults to now(), the calling transaction's time. Every rule that depends on
-- whether a poll is open asks this function: the vote check, the option freeze, the
-- results document, the lifecycle's clock jobs and the poll list's status filter.
-- Python mirrors it in one place, polls/status.py, which a test holds to this function.
-- An IMMUTABLE SQL function of its arguments (now() is evaluated by the caller, as a
-- default argument), so the planner inlines it into the query or trigger that calls it:
-- it costs what the expression inside it costs.
-- Read by: sql/polls_vote_check.sql, sql/option_frozen_once_voted_or_closed.sql,
-- sql/poll_results_document.sql, polls/status.py (PollStatus, for the ORM), DBAs.
-- Installed by: migrations_extra 0010 (sqlfiles.apply).
--
-- reverse: DROP FUNCTION IF EXISTS poll_status(timestamptz, timestamptz, timestamptz, timestamptz, timestamptz);

CREATE OR REPLACE FUNCTION poll_status(
    published_at timestamptz,
    closed_at timestamptz,
    opens_at timestamptz,
    closes_at timestamptz,
    as_of timestamptz DEFAULT now()
) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN published_at IS NULL THEN 'draft'
        WHEN closed_at IS NOT NULL OR as_of >= closes_at THEN 'closed'
        WHEN as_of < opens_at THEN 'scheduled'
        ELSE 'open'
    END
$$;

COMMENT ON FUNCTION poll_status(timestamptz, timestamptz, timestamptz, timestamptz, timestamptz) IS
    'A poll''s status at a time (now() by default): draft, scheduled, open or closed. '
    'Call it as poll_status(p.published_at, p.closed_at, p.opens_at, p.closes_at).';
