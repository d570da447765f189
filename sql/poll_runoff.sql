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
    -- Options by their place in the poll, numbered 1..k: their `ids` and `positions`.
    ids bigint[];
    positions integer[];
    k integer;
    -- The distinct rankings, numbered 1..g: how many ballots hold each (`ballots`), and
    -- their options one after another (`flat`, as option numbers), ranking r's from
    -- flat[first[r]] to flat[first[r + 1] - 1]; `at[r]` is where in flat its highest
    -- option still in the count stands (0 once it has none: exhausted).
    ballots bigint[];
    flat integer[];
    first integer[];
    at integer[];
    g integer;
    total bigint;
    out boolean[];  -- by option number: eliminated
    counts bigint[];
    firsts bigint[];
    exhausted bigint := 0;
    active bigint;
    leader integer;
    loser integer;
    moved integer[];
    r integer;
    round_number integer := 0;
    rounds jsonb := '[]';
    winner bigint;
BEGIN
    SELECT array_agg(o.id ORDER BY o.position), array_agg(o.position ORDER BY o.position)
    INTO ids, positions
    FROM polls_option o WHERE o.poll_id = poll_id;
    k := coalesce(cardinality(ids), 0);
    SELECT array_agg(t.n ORDER BY t.ranking), array_agg(cardinality(t.ranking) ORDER BY t.ranking)
    INTO ballots, first
    FROM (SELECT r.ranking, sum(r.ballots)::bigint AS n
          FROM polls_rankingtally r WHERE r.poll_id = poll_id
          GROUP BY r.ranking) t;
    g := coalesce(cardinality(ballots), 0);
    IF g = 0 OR k = 0 THEN
        RETURN jsonb_build_object('rounds', '[]'::jsonb, 'winner', NULL);
    END IF;
    SELECT array_agg(array_position(ids, u.option_id)::integer ORDER BY t.ranking, u.place)
    INTO flat
    FROM (SELECT DISTINCT r.ranking FROM polls_rankingtally r WHERE r.poll_id = poll_id) t,
         unnest(t.ranking) WITH ORDINALITY AS u(option_id, place);
    -- first[r]: the running sum of the lengths before r (first holds the lengths so far).
    SELECT array_agg(s.start ORDER BY s.r) INTO first
    FROM (SELECT l.r, 1 + sum(l.len) OVER (ORDER BY l.r) - l.len AS start
          FROM unnest(first) WITH ORDINALITY AS l(len, r)) s;
    first := first || (cardinality(flat) + 1);
    at := first[1:g];
    out := array_fill(false, ARRAY[k]);
    counts := array_fill(0::bigint, ARRAY[k]);
    total := 0;
    FOR r IN 1..g LOOP
        counts[flat[at[r]]] := counts[flat[at[r]]] + ballots[r];
        total := total + ballots[r];
    END LOOP;
    firsts := counts;

    LOOP
        round_number := round_number + 1;
        active := total - exhausted;
        leader := NULL;
        loser := NULL;
        FOR i IN 1..k LOOP
            CONTINUE WHEN out[i];
            IF leader IS NULL OR counts[i] > counts[leader] THEN
                leader := i;
            END IF;
            -- The fewest votes; then the fewest first preferences; then listed last.
            IF loser IS NULL OR counts[i] < counts[loser]
               OR (counts[i] = counts[loser] AND firsts[i] < firsts[loser])
               OR (counts[i] = counts[loser] AND firsts[i] = firsts[loser]
                   AND positions[i] > positions[loser]) THEN
                loser := i;
            END IF;
        END LOOP;
        IF counts[leader] * 2 > active THEN
            winner := ids[leader];
            loser := NULL;
        ELSIF leader = loser THEN
            loser := NULL;  -- one option left, and no ballot active: no winner
        END IF;
        rounds := rounds || jsonb_build_array(jsonb_build_object(
            'round', round_number,
            'options', (SELECT jsonb_agg(jsonb_build_object('id', ids[i], 'votes', counts[i])
                                         ORDER BY i)
                        FROM generate_series(1, k) AS i WHERE NOT out[i]),
            'eliminated', CASE WHEN loser IS NULL THEN '[]'::jsonb
                               ELSE jsonb_build_array(ids[loser]) END,
            'exhausted', exhausted));
        EXIT WHEN loser IS NULL;
        -- Only the rankings whose highest option goes out move: to their next option
        -- still in the count, or to the exhausted.
        out[loser] := true;
        SELECT array_agg(m.r) INTO moved
        FROM unnest(at) WITH ORDINALITY AS m(pos, r) WHERE flat[m.pos] = loser;
        FOREACH r IN ARRAY coalesce(moved, '{}') LOOP
            at[r] := at[r] + 1;
            WHILE at[r] < first[r + 1] AND out[flat[at[r]]] LOOP
                at[r] := at[r] + 1;
            END LOOP;
            IF at[r] < first[r + 1] THEN
                counts[flat[at[r]]] := counts[flat[at[r]]] + ballots[r];
            ELSE
                exhausted := exhausted + ballots[r];
                at[r] := 0;  -- flat[0] is NULL: no option of a later round matches it
            END IF;
        END LOOP;
        counts[loser] := 0;
    END LOOP;
    RETURN jsonb_build_object('rounds', rounds, 'winner', winner);
END;
$$;

COMMENT ON FUNCTION poll_runoff(bigint) IS
    'The instant runoff of a ranked poll, from the grouped rankings: {"rounds": [{round, options: [{id, votes}], eliminated, exhausted}], "winner"}. Counts per round only, never a ranking. sql/poll_runoff.sql';
