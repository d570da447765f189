-- poll_has_ballots: whether a poll has at least one ballot, looked up by its index.
--
-- Guarantees: poll_has_ballots(poll_id) is true iff a row of polls_vote has that
-- poll_id, and it reads one index entry to say so, whatever the sizes of the polls. The
-- lookup is planned for the poll's id at every call (EXECUTE ... USING), never from a
-- cached generic plan: that plan cannot see the id, expects the average poll's share of
-- the ballots (all of them while one poll holds most) and scans every ballot, about a
-- second at 1,000,000, while its callers hold a lock that keeps every vote waiting.
-- Callers take their own locks: "has ballots" holds at commit only under the SHARE ROW
-- EXCLUSIVE lock on polls_vote that the freeze triggers take first.
-- Read by: sql/poll_locked_once_voted.sql, sql/option_frozen_once_voted_or_closed.sql.
-- Installed by: migrations_extra 0013 (sqlfiles.apply).
--
-- reverse: DROP FUNCTION IF EXISTS poll_has_ballots(bigint);

CREATE OR REPLACE FUNCTION poll_has_ballots(poll_id bigint) RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
DECLARE
    found boolean;
BEGIN
    EXECUTE 'SELECT EXISTS (SELECT 1 FROM polls_vote WHERE poll_id = $1)'
        INTO found USING poll_id;
    RETURN found;
END
$$;
