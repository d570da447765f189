-- A change: a new generation for each poll, and how many milliseconds the longest lease
-- on them still runs (what the change waits before its answer goes out).
--   KEYS: the generation and the lease of each poll, in turn
--   ARGV: the keys' ttl, then each poll's new generation
local wait = 0
for i = 1, #KEYS, 2 do
    redis.call('SET', KEYS[i], ARGV[(i + 1) / 2 + 1], 'EX', ARGV[1])
    wait = math.max(wait, redis.call('PTTL', KEYS[i + 1]))
end
return wait
