-- Take one permit of a semaphore if one is free.
-- KEYS[1] sorted set of permits (member = permit id, score = lease expiry, ms since epoch)
-- ARGV[1] permit id, ARGV[2] total permits, ARGV[3] lease ms
-- Returns {1, 0} when taken, {0, ms until the earliest permit expires}.
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000 + math.floor(tonumber(now_parts[2]) / 1000)
-- Permits whose holder stopped renewing are free again.
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
  if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[3]) then
    redis.call('PEXPIRE', KEYS[1], ARGV[3])
  end
  return {1, 0}
end
local earliest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {0, math.max(tonumber(earliest[2]) - now, 0)}
