-- Helpers shared by every session script (prepended to each of them).
--
-- Keys, all derived from the store's prefix (ARGV[1] of every script):
--   <prefix>:<session id>       hash, one per session (schema: docs/session-store.md)
--   <prefix>:user:<user id>     sorted set of a user's session ids, scored by expiry (ms)
--   <prefix>:revocations        pub/sub channel announcing revoked sessions
--
-- Timestamps are Unix milliseconds from the application's clock.

local function session_key(prefix, id)
  return prefix .. ':' .. id
end

local function index_key(prefix, user)
  return prefix .. ':user:' .. user
end

local function ms(n)
  return string.format('%.0f', n)
end

-- Tells every listener (the chat service's sockets, say) that these sessions
-- of `user` are gone.
local function publish_revocation(prefix, user, ids, reason)
  if #ids > 0 then
    redis.call('PUBLISH', prefix .. ':revocations',
      cjson.encode({ user_id = user, session_ids = ids, reason = reason }))
  end
end

-- Adds or refreshes one entry of a user's index, dropping entries that
-- expired (the index is pruned lazily, whenever it is touched), and keeps the
-- index itself alive exactly as long as its longest-lived session.
local function index_put(prefix, user, id, expires_at, now)
  local idx = index_key(prefix, user)
  redis.call('ZREMRANGEBYSCORE', idx, '-inf', ms(now))
  redis.call('ZADD', idx, ms(expires_at), id)
  local last = redis.call('ZRANGE', idx, -1, -1, 'WITHSCORES')
  redis.call('PEXPIREAT', idx, last[2])
end

local function index_remove(prefix, user, id)
  redis.call('ZREM', index_key(prefix, user), id)
end

-- Deletes sessions of `user` beyond `max`, oldest login first, never `keep`.
-- Returns the evicted ids (already announced on the revocation channel).
local function enforce_limit(prefix, user, keep, max, now)
  local evicted = {}
  if max <= 0 then
    return evicted
  end
  local idx = index_key(prefix, user)
  local ids = redis.call('ZRANGE', idx, 0, -1)
  if #ids <= max then
    return evicted
  end
  local live = {}
  for _, id in ipairs(ids) do
    if id ~= keep then
      local created = redis.call('HGET', session_key(prefix, id), 'created_at')
      if created then
        table.insert(live, { id = id, created = tonumber(created) })
      else
        redis.call('ZREM', idx, id)
      end
    end
  end
  table.sort(live, function(a, b) return a.created < b.created end)
  -- `keep` is live too and counts against the limit.
  for i = 1, #live + 1 - max do
    local id = live[i].id
    redis.call('DEL', session_key(prefix, id))
    redis.call('ZREM', idx, id)
    table.insert(evicted, id)
  end
  publish_revocation(prefix, user, evicted, 'evicted')
  return evicted
end

-- Points session `id` at `user` (or at nobody when `user` is false), moving
-- its index entry. Returns the sessions evicted to honour `max`.
local function rebind(prefix, key, id, user, expires_at, max, now)
  local current = redis.call('HGET', key, 'user_id')
  if current and current ~= user then
    index_remove(prefix, current, id)
  end
  if not user then
    redis.call('HDEL', key, 'user_id')
    return {}
  end
  redis.call('HSET', key, 'user_id', user)
  index_put(prefix, user, id, expires_at, now)
  if current ~= user then
    return enforce_limit(prefix, user, id, max, now)
  end
  return {}
end

-- Moves the session's deadline: hash field, key TTL and index score
-- together, so the index is always exact. `user` is the session's user or
-- false.
local function set_expiry(prefix, key, id, expires_at, now, user)
  redis.call('HSET', key, 'expires_at', ms(expires_at))
  redis.call('PEXPIREAT', key, ms(expires_at))
  if user then
    index_put(prefix, user, id, expires_at, now)
  end
end

-- Whether a deadline is worth writing: it moves back, or forward by at
-- least a tenth of the idle timeout (a second at most). A burst of requests
-- then costs one deadline write, not one each; the session may end up to
-- that step earlier than the nominal idle timeout.
local function deadline_moved(target, current, idle)
  if target < current then
    return true
  end
  local step = 1000
  if idle > 0 then
    step = math.min(step, idle / 10)
  end
  return target - current >= step
end

-- The deadline a session may have when used now: the one the application
-- asked for at its last create or save (`requested_expires_at`), capped by the
-- idle timeout (when set) and the absolute lifetime. A read or a touch passes
-- the stored `requested_expires_at`, so it never extends a session past what
-- the application asked for (the rule, with a worked trace: src/deadline.rs).
local function deadline(requested, now, idle, absolute)
  local target = requested
  if idle > 0 then
    target = math.min(target, now + idle)
  end
  if absolute then
    target = math.min(target, absolute)
  end
  return target
end

