-- Release the lock, only for its owner, and wake the waiters.
-- KEYS[1] lock key; ARGV[1] owner id, ARGV[2] pub/sub channel of the lock
-- Returns 1 when released, 0 when the caller no longer owned the lock.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('PUBLISH', ARGV[2], 'released')
  return 1
end
return 0
