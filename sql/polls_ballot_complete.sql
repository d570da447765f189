-- polls_ballot_complete: deferred constraint trigger on polls_vote, for multiple and
-- ranked ballots (a vote row without option_id).
--
-- Guarantees: at commit (or at SET CONSTRAINTS polls_ballot_complete IMMEDIATE, which
-- polls_cast_ballot runs so the API's answer says it), whoever wrote the ballot:
--   * it chooses at least min_choices options (PV008 too_few_choices) and at most
--     max_choices, or as many as the poll has when that is empty (PV007 too_many_choices);
--   * a ranked ballot's ranks are 1 to n, n its number of choices (PV009 invalid_ranking;
--     no rank twice is polls_choice_one_per_rank);
--   * it is sealed: no choice can be added to it afterwards (polls_choice_check);
--   * it is counted, in its own transaction: +1 ballot in polls_ballottally; a multiple
--     ballot's approvals, +1 per chosen option, and a ranked ballot's first preference, +1
--     for its rank-1 option, in polls_optiontally; a ranked ballot's whole ranking (option
--     ids, most preferred first), +1 in polls_rankingtally, which the runoff reads
--     (sql/poll_runoff.sql).
-- A ballot that breaks a rule rolls back with its transaction: no partial or malformed
-- ballot is ever stored, and no counter moves for it. Counter rows are sharded by the
-- connection, as in polls_vote_count (64 shards for options and ballots; 8 for rankings,
-- whose rows the runoff reads: a poll's distinct rankings times 8).
-- Read by: polls/errors.py (the SQLSTATEs), the tally views (sql/poll_results.sql,
-- sql/poll_results_version.sql, sql/tally_audit.sql), sql/poll_runoff.sql.
-- Installed by: migrations_extra 0012 (sqlfiles.apply).
--
-- reverse: DROP TRIGGER IF EXISTS polls_ballot_complete ON polls_vote; DROP FUNCTION IF EXISTS polls_ballot_complete();

CREATE OR REPLACE FUNCTION polls_ballot_complete() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    poll polls_poll%ROWTYPE;
    chosen integer;
    last_rank integer;
    chosen_options bigint[];
    most integer;
BEGIN
    SELECT * INTO poll FROM polls_poll WHERE id = NEW.poll_id;
    SELECT count(*), max(c.rank), array_agg(c.option_id ORDER BY c.rank, c.option_id)
    INTO chosen, last_rank, chosen_options
    FROM polls_choice c WHERE c.vote_id = NEW.id;
    most := COALESCE(poll.max_choices,
                     (SELECT count(*) FROM polls_option o WHERE o.poll_id = NEW.poll_id));
    IF chosen > most THEN
        RAISE EXCEPTION 'ballot % chooses % options; poll % takes at most %',
            NEW.id, chosen, NEW.poll_id, most USING ERRCODE = 'PV007';
    END IF;
    IF chosen < poll.min_choices THEN
        RAISE EXCEPTION 'ballot % chooses % options; poll % takes at least %',
            NEW.id, chosen, NEW.poll_id, poll.min_choices USING ERRCODE = 'PV008';
    END IF;
    IF poll.ballot_kind = 'ranked' AND last_rank <> chosen THEN
        RAISE EXCEPTION 'ballot % ranks % options with ranks up to %: ranks run 1 to n',
            NEW.id, chosen, last_rank USING ERRCODE = 'PV009';
    END IF;
    IF current_setting('polls.open_ballot', true) = NEW.id::text THEN
        PERFORM set_config('polls.open_ballot', '', true);
    END IF;

    INSERT INTO polls_ballottally AS t (poll_id, shard, ballots)
    VALUES (NEW.poll_id, pg_backend_pid() % 64, 1)
    ON CONFLICT (poll_id, shard) DO UPDATE SET ballots = t.ballots + 1;
    IF poll.ballot_kind = 'ranked' THEN
        INSERT INTO polls_optiontally AS t (poll_id, option_id, shard, votes)
        VALUES (NEW.poll_id, chosen_options[1], pg_backend_pid() % 64, 1)
        ON CONFLICT (poll_id, option_id, shard) DO UPDATE SET votes = t.votes + 1;
        INSERT INTO polls_rankingtally AS t (poll_id, ranking, shard, ballots)
        VALUES (NEW.poll_id, chosen_options, pg_backend_pid() % 8, 1)
        ON CONFLICT (poll_id, ranking, shard) DO UPDATE SET ballots = t.ballots + 1;
    ELSE
        INSERT INTO polls_optiontally AS t (poll_id, option_id, shard, votes)
        SELECT NEW.poll_id, o, pg_backend_pid() % 64, 1 FROM unnest(chosen_options) o
        ON CONFLICT (poll_id, option_id, shard) DO UPDATE SET votes = t.votes + 1;
    END IF;
    RETURN NULL;
END;
$$;

DROP TRIGGER IF EXISTS polls_ballot_complete ON polls_vote;
CREATE CONSTRAINT TRIGGER polls_ballot_complete AFTER INSERT ON polls_vote
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (NEW.option_id IS NULL) EXECUTE FUNCTION polls_ballot_complete();
