-- A fair waiter gives up: leave the queue and, if it was first, wake the next one.
-- KEYS[1] waiting queue, KEYS[2] waiters' deadlines; ARGV[1] owner id, ARGV[2] channel
local head = redis.call('LINDEX', KEYS[1], 0)
redis.call('LREM', KEYS[1], 0, ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if head == ARGV[1] then
  redis.call('PUBLISH', ARGV[2], 'released')
end
return 1
