-- poll_results_document: what a poll's results document is made of, in one call.
--
-- Guarantees: poll_results_document(poll_id, as_of) returns, in one snapshot, one row per
-- option in position order (or one row with NULL option columns for a poll without
-- options; no row for no such poll): the poll's times, its status at `as_of` (poll_status,
-- sql/poll_status.sql; the caller passes the instant its document is dated, so the
-- status and the times it computes from agree), results visibility, ballot kind, its
-- poll_digest and ballots (poll_results_version), for a ranked poll its runoff
-- (poll_runoff, computed once per call), and the option's id, label and votes from the
-- poll_results view (the counters summed, never a COUNT of ballots). It adds nothing to
-- those views and functions: they stay the one definition of each value.
-- Why a function: the results cache builds a document after each vote on a poll being
-- read, and the same query sent as a statement was planned anew each time (0.23-0.37 ms
-- of planning for 0.26-0.33 ms of execution, EXPLAIN ANALYZE); PL/pgSQL keeps its plan
-- per connection.
-- Read by: polls/results.py (the results cache's builder).
-- Installed by: migrations_extra 0007, again by 0010 and 0012 (sqlfiles.apply).
--
-- reverse: DROP FUNCTION IF EXISTS poll_results_document(bigint, timestamptz);

-- Before 0010 it took no `as_of` and returned no status, and before 0012 no ballot kind,
-- ballots or runoff: what it returns changed, so it is dropped and created again.
DROP FUNCTION IF EXISTS poll_results_document(bigint);
DROP FUNCTION IF EXISTS poll_results_document(bigint, timestamptz);

CREATE OR REPLACE FUNCTION poll_results_document(poll_id bigint, as_of timestamptz DEFAULT now())
RETURNS TABLE (
    ballot_kind varchar,
    ballots bigint,
    runoff jsonb,
    status text,
    published_at timestamptz,
    closed_at timestamptz,
    opens_at timestamptz,
    closes_at timestamptz,
    results_visibility varchar,
    poll_digest text,
    option_id bigint,
    label varchar,
    votes bigint
)
LANGUAGE plpgsql STABLE AS $$
#variable_conflict use_variable
DECLARE
    rounds jsonb;
BEGIN
    IF EXISTS (SELECT 1 FROM polls_poll p WHERE p.id = poll_id AND p.ballot_kind = 'ranked') THEN
        rounds := poll_runoff(poll_id);
    END IF;
    RETURN QUERY
    SELECT p.ballot_kind, v.total_votes, rounds,
           poll_status(p.published_at, p.closed_at, p.opens_at, p.closes_at, as_of),
           p.published_at, p.closed_at, p.opens_at, p.closes_at, p.results_visibility,
           v.poll_digest, r.option_id, r.label, r.votes
    FROM polls_poll p
    JOIN poll_results_version v ON v.poll_id = p.id
    LEFT JOIN poll_results r ON r.poll_id = p.id
    WHERE p.id = poll_id
    ORDER BY r.position;
END;
$$;
