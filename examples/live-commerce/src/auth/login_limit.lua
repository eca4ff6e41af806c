-- Which of the failed-login counters is at its limit, and for how long.
-- KEYS: the counters. ARGV[i]: KEYS[i]'s limit.
-- Returns the longest remaining window (ms) among the counters at or past
-- their limit, or 0 when a login may be tried.
local wait = 0
for i, key in ipairs(KEYS) do
  local count = tonumber(redis.call('GET', key) or '0')
  if count >= tonumber(ARGV[i]) then
    local ttl = redis.call('PTTL', key)
    if ttl > wait then wait = ttl end
  end
end
return wait
