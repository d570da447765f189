-- polls_cast_vote: a ballot, from the bearer token to the counted ballot, in one call.
--
-- Guarantees: polls_cast_vote(token_key, token_digest, poll_id, option_id, receipt
-- [, idempotency_key, request_hash, not_after, choices, ranked]) checks the token with
-- identity_bearer and
--   * returns no row when the token is not valid (the API answers 401);
--   * returns (user_id, false, NULL) when its user is not a verified voter, and
--     inserts nothing (403 not_verified);
--   * else inserts the ballot under the voter's key: a single one as a vote row with its
--     option_id; a multiple or ranked one (option_id NULL, `choices` the option ids,
--     most preferred first when `ranked`) as a vote row and a polls_choice row per
--     choice (rank = its place when `ranked`), then has it judged and counted at once
--     (SET CONSTRAINTS polls_ballot_complete IMMEDIATE, then back to DEFERRED for the
--     rest of a caller's transaction). So polls_vote_check, polls_choice_check,
--     polls_ballot_complete, the unique constraints and the counters decide and count
--     exactly as for any writer, with the idempotency key (when given) in the same
--     transaction, and it returns (user_id, true, cast_at). A refusal raises the
--     trigger's or the constraint's error (polls/errors.py maps them), and nothing of
--     the call remains;
--   * counts nothing once `not_after` has passed (by the server's clock, checked after
--     the inserts, so after every lock wait): it raises query_canceled (57014) and the
--     vote is rolled back. The API sets it a margin before it gives up waiting on the
--     server (DB_SOCKET_TIMEOUT), so a statement that reaches the server late, after a
--     freeze or behind a lock, cannot count a vote whose client was told 503.
-- Why a function: one round trip for what was a token lookup and an INSERT, and its
-- statements are planned once per connection (the same work as one statement cost
-- 0.4 ms of planning per vote, EXPLAIN ANALYZE).
-- Read by: polls.services.vote_cast.
-- Installed by: migrations_extra 0008, again by 0009 and 0012 (sqlfiles.apply).
--
-- reverse: DROP FUNCTION IF EXISTS polls_cast_vote(text, text, bigint, bigint, text, text, text, timestamptz, bigint[], boolean);

-- The versions before not_after (migrations_extra 0008) and before choices (0009),
-- which a new argument would otherwise keep as overloads.
DROP FUNCTION IF EXISTS polls_cast_vote(text, text, bigint, bigint, text, text, text);
DROP FUNCTION IF EXISTS polls_cast_vote(text, text, bigint, bigint, text, text, text, timestamptz);

CREATE OR REPLACE FUNCTION polls_cast_vote(
    token_key text,
    token_digest text,
    poll_id bigint,
    option_id bigint,
    receipt text,
    idempotency_key text DEFAULT NULL,
    request_hash text DEFAULT NULL,
    not_after timestamptz DEFAULT NULL,
    choices bigint[] DEFAULT NULL,
    ranked boolean DEFAULT false
) RETURNS TABLE (user_id integer, verified boolean, cast_at timestamptz)
LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
    voter integer;
    voter_key bytea;
    counted_at timestamptz;
    ballot bigint;
BEGIN
    SELECT (b.account).id, (b.identity).voter_key INTO voter, voter_key
    FROM identity_bearer(token_key, token_digest) b;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    IF voter_key IS NULL THEN
        RETURN QUERY SELECT voter, false, NULL::timestamptz;
        RETURN;
    END IF;
    INSERT INTO polls_vote AS v (poll_id, option_id, voter_key, receipt)
    VALUES (poll_id, option_id, voter_key, receipt)
    RETURNING v.id, v.cast_at INTO ballot, counted_at;
    IF choices IS NOT NULL THEN
        INSERT INTO polls_choice (vote_id, poll_id, option_id, rank)
        SELECT ballot, poll_id, c.option_id, CASE WHEN ranked THEN c.place END
        FROM unnest(choices) WITH ORDINALITY AS c(option_id, place);
        SET CONSTRAINTS polls_ballot_complete IMMEDIATE;
        SET CONSTRAINTS polls_ballot_complete DEFERRED;
    END IF;
    IF idempotency_key IS NOT NULL THEN
        INSERT INTO polls_idempotencykey (user_id, key, request_hash, receipt)
        VALUES (voter, idempotency_key, request_hash, receipt);
    END IF;
    -- clock_timestamp(), not now(): now() is when the statement began, and a frozen or
    -- blocked statement began long before it got here.
    IF not_after IS NOT NULL AND clock_timestamp() > not_after THEN
        RAISE EXCEPTION 'the vote reached the database after its deadline (%)', not_after
            USING ERRCODE = 'query_canceled';
    END IF;
    RETURN QUERY SELECT voter, true, counted_at;
END;
$$;
