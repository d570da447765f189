-- polls_vote_ledger_idx: the index behind a poll's public receipt ledger.
--
-- Guarantees: GET /api/v1/polls/{id}/receipts (polls.audit.receipt_ledger) pages through
-- a poll's receipts in receipt order, and counts them, with index-only scans: (poll_id,
-- receipt) orders and filters, and cast_at rides along (INCLUDE) for the cast minute. The
-- ledger never reads the heap rows, which hold the voter key and the option.
-- Read by: the receipt ledger; DBAs, e.g.
--   SELECT receipt, date_trunc('minute', cast_at) FROM polls_vote
--   WHERE poll_id = 1 ORDER BY receipt LIMIT 20;
-- Written on every vote (one more index entry); the unique receipt index stays, for
-- GET /api/v1/receipts/{receipt}. Built without CONCURRENTLY because migrations run in a
-- transaction: on a large live table, create it by hand with CONCURRENTLY first (the
-- IF NOT EXISTS then makes this a no-op).
-- Installed by: migrations_extra 0003 (sqlfiles.apply).
--
-- reverse: DROP INDEX IF EXISTS polls_vote_ledger_idx;

CREATE INDEX IF NOT EXISTS polls_vote_ledger_idx ON polls_vote (poll_id, receipt) INCLUDE (cast_at);
