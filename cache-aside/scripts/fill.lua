-- Write a loaded value, only if the caller's lease is still the current one.
-- An invalidation (or a write-through put) deletes the lease, so a load that
-- started before it cannot write its now-stale value.
-- KEYS[1] value key, KEYS[2] lease key
-- ARGV[1] token, ARGV[2] encoded entry, ARGV[3] time to live in ms,
-- ARGV[4] fill channel, ARGV[5] the key as announced on the channel
-- Returns 1 when written, 0 when rejected as stale.
if redis.call('GET', KEYS[2]) ~= ARGV[1] then
  return 0
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
redis.call('DEL', KEYS[2])
redis.call('PUBLISH', ARGV[4], ARGV[5])
return 1
