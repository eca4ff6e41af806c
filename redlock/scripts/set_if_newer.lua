-- Write a value only if its fencing token is newer than the last accepted one.
-- KEYS[1] the protected key (a hash: field 'value' and field 'fence')
-- ARGV[1] value, ARGV[2] fencing token
-- Returns 1 when written, 0 when rejected as stale.
local last = tonumber(redis.call('HGET', KEYS[1], 'fence') or '0')
if tonumber(ARGV[2]) <= last then
  return 0
end
redis.call('HSET', KEYS[1], 'value', ARGV[1], 'fence', ARGV[2])
return 1
