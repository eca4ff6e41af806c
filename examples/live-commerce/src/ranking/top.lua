-- The top members of a window: the sum of its buckets, best first.
-- KEYS[1]: a scratch key for the union; KEYS[2..]: the window's buckets
-- ARGV[1]: how many members
-- Returns {member, score, member, score, ...}.
redis.call('ZUNIONSTORE', KEYS[1], #KEYS - 1, unpack(KEYS, 2))
local top = redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1, 'REV', 'WITHSCORES')
redis.call('DEL', KEYS[1])
return top
