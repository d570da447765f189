-- Store an entry only if the generation it was built under is still current, and never
-- over an entry of that generation that counts more votes (two builders under one
-- generation may read the database at different moments; the later snapshot wins). With
-- no generation yet (a fresh or restarted Redis), start one with the entry.
--   KEYS: generation, entry, version stamp, the index of polls with an entry
--   ARGV: expected generation ('' for none), generation to start, entry, version stamp,
--         ttl, poll id, total votes
-- Returns 1 if it stored the entry, else 0.
local current = redis.call('GET', KEYS[1])
if ARGV[1] == '' then
    if current then return 0 end
    redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[5])
elseif current ~= ARGV[1] then
    return 0
else
    local stored = redis.call('GET', KEYS[3])
    if stored then
        local generation, total = string.match(stored, '^([^|]*)|[^|]*|(%d+)$')
        if generation == ARGV[1] and tonumber(total) > tonumber(ARGV[7]) then return 0 end
    end
end
redis.call('SET', KEYS[2], ARGV[3], 'EX', ARGV[5])
redis.call('SET', KEYS[3], ARGV[4], 'EX', ARGV[5])
redis.call('SADD', KEYS[4], ARGV[6])
return 1
