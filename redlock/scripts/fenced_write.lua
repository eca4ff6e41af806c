-- Write a fenced value unless a newer holder has read or written it since
-- (read-modify-write, step 2; equal tokens are the same holder).
-- KEYS[1] the protected key (a hash: field 'value' and field 'fence')
-- ARGV[1] value, ARGV[2] the writer's fencing token
-- Returns {1, token} when written, {0, fence} when refused.
local fence = tonumber(redis.call('HGET', KEYS[1], 'fence') or '0')
local token = tonumber(ARGV[2])
if token < fence then
  return {0, fence}
end
redis.call('HSET', KEYS[1], 'value', ARGV[1], 'fence', ARGV[2])
return {1, token}
