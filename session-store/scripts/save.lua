-- Saves the fields a request changed, compare-and-set on the version it read.
--
-- The caller sends only what it changed since its load (set and deleted
-- fields) and the version it loaded. If nobody wrote in between, that diff
-- turns the stored record into the caller's. If somebody did (another
-- instance handling a concurrent request of the same user), the diff is
-- merged: fields only the other writer changed keep its values, and for a
-- field both changed this (later) write wins. `base` -1 means the caller has
-- no base (its session was cleared): every data field is replaced.
-- A session that is gone (expired, logged out, revoked) is not resurrected.
--
-- ARGV: prefix, id, now, requested_expiry, idle_ms, base_version,
--       user_mode ('keep' | 'set' | 'unset'), user, max_sessions,
--       n_set, field1, value1, ..., n_del, field1, ...
-- Returns {status, version, merged (0/1), expires_at, evicted}.
local prefix, id = ARGV[1], ARGV[2]
local now, requested = tonumber(ARGV[3]), tonumber(ARGV[4])
local idle, base = tonumber(ARGV[5]), tonumber(ARGV[6])
local user_mode, user, max = ARGV[7], ARGV[8], tonumber(ARGV[9])
local n_set = tonumber(ARGV[10])
local n_del = tonumber(ARGV[11 + 2 * n_set])
local key = session_key(prefix, id)

local stored = redis.call('HMGET', key, 'version', 'absolute_expires_at', 'expires_at', 'user_id',
  'requested_expires_at')
if not stored[1] then
  return { 'gone', 0, 0, 0, {} }
end
local version = tonumber(stored[1])
local current_expiry = tonumber(stored[3])
local merged = 0
if base >= 0 and version ~= base then
  merged = 1
end

if base < 0 then
  local stale = {}
  for _, field in ipairs(redis.call('HKEYS', key)) do
    if string.sub(field, 1, 5) == 'data:' then
      table.insert(stale, field)
    end
  end
  if #stale > 0 then
    redis.call('HDEL', key, unpack(stale))
  end
end
if n_del > 0 then
  local fields = {}
  for i = 1, n_del do
    table.insert(fields, ARGV[11 + 2 * n_set + i])
  end
  redis.call('HDEL', key, unpack(fields))
end
if n_set + n_del > 0 or user_mode ~= 'keep' or base < 0 then
  version = version + 1
  local fields = { 'version', tostring(version) }
  for i = 1, 2 * n_set do
    table.insert(fields, ARGV[10 + i])
  end
  redis.call('HSET', key, unpack(fields))
end

-- What the application asks for now caps every later read and touch.
if tonumber(stored[5]) ~= requested then
  redis.call('HSET', key, 'requested_expires_at', ms(requested))
end
local expires_at = deadline(requested, now, idle, tonumber(stored[2]))
if deadline_moved(expires_at, current_expiry, idle) then
  set_expiry(prefix, key, id, expires_at, now, stored[4])
else
  expires_at = current_expiry
end

local evicted = {}
if user_mode == 'set' then
  evicted = rebind(prefix, key, id, user, expires_at, max, now)
elseif user_mode == 'unset' then
  rebind(prefix, key, id, false, expires_at, max, now)
end
return { 'ok', version, merged, ms(expires_at), evicted }
