-- A read: record a lease on the poll, then return its generation and its entry.
--   KEYS: generation, entry, lease
--   ARGV: the lease, in milliseconds
redis.call('SET', KEYS[3], '1', 'PX', ARGV[1])
return redis.call('MGET', KEYS[1], KEYS[2])
