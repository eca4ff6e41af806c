-- Read a fenced value and raise its fence to the reader's token, so that from
-- now on no older holder can write it (read-modify-write, step 1).
-- KEYS[1] the protected key (a hash: field 'value' and field 'fence')
-- ARGV[1] the reader's fencing token
-- Returns {1, value or false} when read (the fence is now the token),
-- {0, fence} when a newer holder has already read or written the key.
local fence = tonumber(redis.call('HGET', KEYS[1], 'fence') or '0')
local token = tonumber(ARGV[1])
if token < fence then
  return {0, fence}
end
if token > fence then
  redis.call('HSET', KEYS[1], 'fence', ARGV[1])
end
return {1, redis.call('HGET', KEYS[1], 'value')}
