-- Return a permit and wake the waiters.
-- KEYS[1] permits; ARGV[1] permit id, ARGV[2] pub/sub channel
local removed = redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('PUBLISH', ARGV[2], 'released')
return removed
