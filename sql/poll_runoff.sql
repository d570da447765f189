-- poll_runoff: the instant runoff of a ranked poll, round by round.
--
-- Guarantees: poll_runoff(poll_id) returns {"rounds": [...], "winner": option id or
-- null}, counted from polls_rankingtally (the ballots per distinct ranking: a few
-- thousand grouped rows for a million ballots, never the ballots themselves). Each
-- round: every ballot counts for the option it ranks highest among those still in the
-- count; {"round": k, "options": [{"id", "votes"}, ...] (those still in the count, in
-- the poll's order), "eliminated": [id] (after this round; empty in the last),
-- "exhausted": ballots that rank no option still in the count}. An option with more
-- than half of the ballots still active (not exhausted) wins, and the count stops;
-- else the option with the fewest votes is eliminated and its ballots go on to their
-- next choice. Ties for the fewest are broken by a rule fixed in advance: fewer first
-- preferences (round 1) goes first, then the option listed later in the poll (the
-- higher position). One option left wins if any ballot is active. No ballots: no
-- rounds and no winner.
-- It lists counts per round only, never a ranking: a rare ranking can sign a ballot
-- (docs/privacy.md). So it runs with its owner's rights (SECURITY DEFINER, its
-- search_path fixed), and polls_reader, who may not read polls_rankingtally, may call it.
-- Read by: sql/poll_results_document.sql (the ranked results' rounds and winner),
-- polls/audit.py (the export), DBAs: SELECT poll_runoff(1);
-- Installed by: migrations_extra 0012 (sqlfiles.apply).
--
-- reverse: DROP FUNCTION IF EXISTS poll_runoff(bigint);

CREATE OR REPLACE FUNCTION poll_runoff(poll_id bigint) RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
#variable_conflict use_variable
DECLARE
    -- The grouped rankings, one element per (ranking, place): which ranking, the place,
    -- the option there, and how many ballots hold that ranking.
    e_group bigint[];
    e_place bigint[];
    e_option bigint[];
    e_ballots bigint[];
    total bigint;
    -- The options still in the count, in the poll's order, and their tie-breakers.
    continuing bigint[];
    positions jsonb;
    firsts jsonb := '{}';
    eliminated bigint[] := '{}';
    counts jsonb;
    active bigint;
    leader bigint;
    leader_votes bigint;
    loser bigint;
    round_number integer := 0;
    rounds jsonb := '[]';
    winner bigint;
BEGIN
    SELECT array_agg(g.id ORDER BY g.id, u.place), array_agg(u.place ORDER BY g.id, u.place),
           array_agg(u.option_id ORDER BY g.id, u.place), array_agg(g.n ORDER BY g.id, u.place)
    INTO e_group, e_place, e_option, e_ballots
    FROM (SELECT row_number() OVER () AS id, t.ranking, t.n
          FROM (SELECT r.ranking, sum(r.ballots)::bigint AS n
                FROM polls_rankingtally r WHERE r.poll_id = poll_id
                GROUP BY r.ranking) t) g,
         unnest(g.ranking) WITH ORDINALITY AS u(option_id, place);
    SELECT coalesce(sum(r.ballots), 0)::bigint INTO total
    FROM polls_rankingtally r WHERE r.poll_id = poll_id;
    SELECT array_agg(o.id ORDER BY o.position), jsonb_object_agg(o.id, o.position)
    INTO continuing, positions
    FROM polls_option o WHERE o.poll_id = poll_id;
    IF total = 0 OR continuing IS NULL THEN
        RETURN jsonb_build_object('rounds', '[]'::jsonb, 'winner', NULL);
    END IF;

    LOOP
        round_number := round_number + 1;
        -- Each ranking's highest option still in the count; then the votes per option.
        SELECT coalesce(jsonb_object_agg(t.top, t.votes), '{}'), coalesce(sum(t.votes), 0)
        INTO counts, active
        FROM (SELECT h.top, sum(h.n)::bigint AS votes
              FROM (SELECT (min(ARRAY[e.place, e.option_id]))[2] AS top, max(e.n) AS n
                    FROM unnest(e_group, e_place, e_option, e_ballots) AS e(grp, place, option_id, n)
                    WHERE e.option_id <> ALL (eliminated)
                    GROUP BY e.grp) h
              GROUP BY h.top) t;
        IF round_number = 1 THEN
            firsts := counts;
        END IF;
        SELECT c.id, coalesce((counts ->> c.id::text)::bigint, 0) INTO leader, leader_votes
        FROM unnest(continuing) AS c(id)
        ORDER BY coalesce((counts ->> c.id::text)::bigint, 0) DESC LIMIT 1;
        IF leader_votes * 2 > active OR cardinality(continuing) = 1 THEN
            IF leader_votes * 2 > active THEN
                winner := leader;
            END IF;
            loser := NULL;
        ELSE
            -- The fewest votes; then the fewest first preferences; then listed last.
            SELECT c.id INTO loser
            FROM unnest(continuing) AS c(id)
            ORDER BY coalesce((counts ->> c.id::text)::bigint, 0),
                     coalesce((firsts ->> c.id::text)::bigint, 0),
                     (positions ->> c.id::text)::integer DESC
            LIMIT 1;
        END IF;
        rounds := rounds || jsonb_build_array(jsonb_build_object(
            'round', round_number,
            'options', (SELECT jsonb_agg(jsonb_build_object(
                            'id', c.id, 'votes', coalesce((counts ->> c.id::text)::bigint, 0))
                            ORDER BY c.n)
                        FROM unnest(continuing) WITH ORDINALITY AS c(id, n)),
            'eliminated', CASE WHEN loser IS NULL THEN '[]'::jsonb ELSE jsonb_build_array(loser) END,
            'exhausted', total - active));
        EXIT WHEN loser IS NULL;
        eliminated := eliminated || loser;
        continuing := array_remove(continuing, loser);
    END LOOP;
    RETURN jsonb_build_object('rounds', rounds, 'winner', winner);
END;
$$;

COMMENT ON FUNCTION poll_runoff(bigint) IS
    'The instant runoff of a ranked poll, from the grouped rankings: {"rounds": [{round, options: [{id, votes}], eliminated, exhausted}], "winner"}. Counts per round only, never a ranking. sql/poll_runoff.sql';
