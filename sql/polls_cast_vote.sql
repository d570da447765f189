-- polls_cast_vote: a vote, from the bearer token to the counted ballot, in one call.
--
-- Guarantees: polls_cast_vote(token_key, token_digest, poll_id, option_id, receipt
-- [, idempotency_key, request_hash]) checks the token with identity_bearer and
--   * returns no row when the token is not valid (the API answers 401);
--   * returns (user_id, false, NULL) when its user is not a verified voter, and
--     inserts nothing (403 not_verified);
--   * else inserts the vote under the voter's key, so polls_vote_check, the unique
--     constraints and polls_vote_count decide and count exactly as for any writer,
--     with the idempotency key (when given) in the same transaction, and returns
--     (user_id, true, cast_at). A refusal raises the trigger's or the constraint's
--     error (polls/errors.py maps them), and nothing of the call remains.
-- Why a function: one round trip for what was a token lookup and an INSERT, and its
-- statements are planned once per connection (the same work as one statement cost
-- 0.4 ms of planning per vote, EXPLAIN ANALYZE).
-- Read by: polls.services.vote_cast.
-- Installed by: migrations_extra 0008 (sqlfiles.apply).
--
-- reverse: DROP FUNCTION IF EXISTS polls_cast_vote(text, text, bigint, bigint, text, text, text);

CREATE OR REPLACE FUNCTION polls_cast_vote(
    token_key text,
    token_digest text,
    poll_id bigint,
    option_id bigint,
    receipt text,
    idempotency_key text DEFAULT NULL,
    request_hash text DEFAULT NULL
) RETURNS TABLE (user_id integer, verified boolean, cast_at timestamptz)
LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
    voter integer;
    voter_key bytea;
    counted_at timestamptz;
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
    RETURNING v.cast_at INTO counted_at;
    IF idempotency_key IS NOT NULL THEN
        INSERT INTO polls_idempotencykey (user_id, key, request_hash, receipt)
        VALUES (voter, idempotency_key, request_hash, receipt);
    END IF;
    RETURN QUERY SELECT voter, true, counted_at;
END;
$$;
