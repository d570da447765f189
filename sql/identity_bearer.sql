-- identity_bearer: the one definition of a valid bearer token, as a function.
--
-- Guarantees: identity_bearer(token_key, token_digest) returns one row for a token
-- whose key prefix and SHA-512 digest match a row of knox_authtoken that has not
-- expired (expiry > statement_timestamp(); not now(), which inside a transaction is
-- when it began), of an active user; no row otherwise. The row is the token, its
-- user and the user's voter identity (a NULL composite when unverified).
-- Why a function: a plain statement is planned anew on each request (0.33 ms of
-- planning for 0.04 ms of execution, EXPLAIN ANALYZE on this stack), and every
-- authenticated request sends one. PL/pgSQL plans its query once per connection and
-- keeps the plan, whatever pools the connections (a SQL-level PREPARE would not
-- survive a transaction pooler).
-- Read by: identity.authentication (every authenticated request) and
-- polls_cast_vote (the vote, sql/polls_cast_vote.sql).
-- Installed by: migrations_extra 0008 (sqlfiles.apply).
--
-- reverse: DROP FUNCTION IF EXISTS identity_bearer(text, text);

CREATE OR REPLACE FUNCTION identity_bearer(token_key text, token_digest text)
RETURNS TABLE (token knox_authtoken, account auth_user, identity identity_voteridentity)
LANGUAGE plpgsql STABLE AS $$
#variable_conflict use_variable
BEGIN
    RETURN QUERY
    SELECT t, u, v
    FROM knox_authtoken t
    JOIN auth_user u ON u.id = t.user_id AND u.is_active
    LEFT JOIN identity_voteridentity v ON v.user_id = t.user_id
    WHERE t.token_key = token_key AND t.digest = token_digest
      AND (t.expiry IS NULL OR t.expiry > statement_timestamp());
END;
$$;
