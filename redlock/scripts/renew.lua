-- Extend the lease, only for its owner.
-- KEYS[1] lock key; ARGV[1] owner id, ARGV[2] lease ms
-- Returns 1 when renewed, 0 when the caller no longer owns the lock.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
