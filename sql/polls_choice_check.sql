-- polls_choice_check: BEFORE INSERT trigger on polls_choice.
--
-- Guarantees: for every choice (one option of a multiple or ranked ballot) that lands,
-- whoever inserts it (the API, a script, psql):
--   * it is added to the ballot still open in its own transaction: the vote row this
--     transaction inserted last, before that ballot was judged (the setting
--     polls.open_ballot, set by sql/polls_vote_check.sql); so no choice is ever added to
--     a ballot already cast (PV004 vote_immutable: ballots are append-only);
--   * its poll is its ballot's poll (set here, whatever was given);
--   * its option belongs to that poll (PV001 invalid_option);
--   * its rank fits the poll's kind: ranked ballots rank every choice, multiple ones rank
--     none (PV010 wrong_ballot_kind, with the kind as the DETAIL), and a rank is 1 or
--     more (PV009 invalid_ranking).
-- The rest of a ballot's rules need all its choices: polls_ballot_complete judges them
-- at commit. No option twice in a ballot is the primary key (vote_id, option_id); no
-- rank twice, polls_choice_one_per_rank.
-- Read by: polls/errors.py, which maps the SQLSTATEs and constraints to the API's codes.
-- Installed by: migrations_extra 0012 (sqlfiles.apply).
--
-- reverse: DROP TRIGGER IF EXISTS polls_choice_check ON polls_choice; DROP FUNCTION IF EXISTS polls_choice_check();

CREATE OR REPLACE FUNCTION polls_choice_check() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    ballot_poll bigint;
    kind text;
BEGIN
    IF current_setting('polls.open_ballot', true) IS DISTINCT FROM NEW.vote_id::text THEN
        RAISE EXCEPTION 'vote % is not the ballot open in this transaction', NEW.vote_id
            USING ERRCODE = 'PV004',
                  HINT = 'Insert a ballot''s choices right after its vote row, in its transaction.';
    END IF;
    SELECT v.poll_id, p.ballot_kind INTO ballot_poll, kind
    FROM polls_vote v JOIN polls_poll p ON p.id = v.poll_id
    WHERE v.id = NEW.vote_id;
    NEW.poll_id := ballot_poll;
    PERFORM 1 FROM polls_option WHERE id = NEW.option_id AND poll_id = ballot_poll;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'option % is not an option of poll %', NEW.option_id, ballot_poll
            USING ERRCODE = 'PV001';
    END IF;
    IF (kind = 'ranked') <> (NEW.rank IS NOT NULL) THEN
        RAISE EXCEPTION 'poll % takes % ballots', ballot_poll, kind
            USING ERRCODE = 'PV010', DETAIL = kind;
    END IF;
    IF NEW.rank < 1 THEN
        RAISE EXCEPTION 'rank % is not a rank: 1 is the most preferred', NEW.rank
            USING ERRCODE = 'PV009';
    END IF;
    RETURN NEW;
END;
$$;

DROP TRIGGER IF EXISTS polls_choice_check ON polls_choice;
CREATE TRIGGER polls_choice_check BEFORE INSERT ON polls_choice
    FOR EACH ROW EXECUTE FUNCTION polls_choice_check();
