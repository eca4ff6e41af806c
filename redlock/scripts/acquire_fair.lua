-- Acquire a lock in arrival order.
-- KEYS[1] lock key, KEYS[2] fencing counter,
-- KEYS[3] waiting queue (list of owner ids, oldest first),
-- KEYS[4] waiters' deadlines (sorted set owner id -> ms since epoch)
-- ARGV[1] owner id, ARGV[2] lease ms, ARGV[3] how long a queued waiter stays
-- valid without calling again (ms), ARGV[4] pub/sub channel of the lock
-- Returns {1, fencing token} when acquired, {0, remaining lease in ms} when
-- held, {0, -1} when free but promised to an earlier waiter.
-- Safe to retry: an owner that already holds the lock gets its own token back.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  -- (A fence counter lost to eviction restarts rather than break the reply.)
  local token = redis.call('GET', KEYS[2]) or redis.call('INCR', KEYS[2])
  return {1, tonumber(token)}
end
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000 + math.floor(tonumber(now_parts[2]) / 1000)

-- Waiters that stopped calling (their process died) are dropped from the head.
local pruned = 0
while true do
  local head = redis.call('LINDEX', KEYS[3], 0)
  if not head then break end
  local deadline = redis.call('ZSCORE', KEYS[4], head)
  if deadline and tonumber(deadline) >= now then break end
  redis.call('LPOP', KEYS[3])
  redis.call('ZREM', KEYS[4], head)
  pruned = pruned + 1
end

local head = redis.call('LINDEX', KEYS[3], 0)
if redis.call('EXISTS', KEYS[1]) == 0 and (not head or head == ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  if head then
    redis.call('LPOP', KEYS[3])
  end
  redis.call('ZREM', KEYS[4], ARGV[1])
  local token = redis.call('INCR', KEYS[2])
  -- Keep the queue keys from outliving their use.
  redis.call('PEXPIRE', KEYS[3], ARGV[3] * 2 + ARGV[2])
  redis.call('PEXPIRE', KEYS[4], ARGV[3] * 2 + ARGV[2])
  return {1, token}
end

-- Join the queue (once) or refresh this waiter's deadline.
if not redis.call('ZSCORE', KEYS[4], ARGV[1]) then
  redis.call('RPUSH', KEYS[3], ARGV[1])
end
redis.call('ZADD', KEYS[4], now + tonumber(ARGV[3]), ARGV[1])
redis.call('PEXPIRE', KEYS[3], ARGV[3] * 2 + ARGV[2])
redis.call('PEXPIRE', KEYS[4], ARGV[3] * 2 + ARGV[2])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  -- Free, but an earlier waiter goes first. If dead waiters were just skipped,
  -- the new first waiter may be asleep: wake everyone to let it take its turn.
  if pruned > 0 then
    redis.call('PUBLISH', ARGV[4], 'released')
  end
  return {0, -1}
end
return {0, ttl}
