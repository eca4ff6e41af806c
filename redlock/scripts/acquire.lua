-- Acquire a lock if it is free.
-- KEYS[1] lock key (value = owner id, expires with the lease)
-- KEYS[2] fencing counter of the lock
-- KEYS[3] fair waiters' deadlines (sorted set owner id -> ms since epoch)
-- ARGV[1] owner id, ARGV[2] lease in milliseconds
-- Returns {1, fencing token} when acquired, {0, remaining lease in ms} when
-- held by another, {-1, 0} when fair waiters are queued for this lock: an
-- acquire that is not fair would jump their queue, so it is refused.
-- Safe to retry: an owner that already holds the lock gets its own token back
-- (nobody else can have incremented the counter while it held the lock).
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  -- (A fence counter lost to eviction restarts rather than break the reply.)
  local token = redis.call('GET', KEYS[2]) or redis.call('INCR', KEYS[2])
  return {1, tonumber(token)}
end
if redis.call('EXISTS', KEYS[3]) == 1 then
  local now_parts = redis.call('TIME')
  local now = tonumber(now_parts[1]) * 1000 + math.floor(tonumber(now_parts[2]) / 1000)
  if redis.call('ZCOUNT', KEYS[3], now, '+inf') > 0 then
    return {-1, 0}
  end
end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return {1, redis.call('INCR', KEYS[2])}
end
return {0, redis.call('PTTL', KEYS[1])}
