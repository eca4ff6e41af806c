-- Creates a session that must not exist yet (ids are random; a collision is
-- reported so the caller draws another). When `previous` names the session
-- this one replaces (an id cycled at login), that one is deleted here, after
-- the new record is written, and its creation time and user carry over.
-- ARGV: prefix, id, now, requested_expiry, idle_ms, absolute_ms, user ('' none),
--       max_sessions (0 none), previous ('' none), n, field1, value1, ...
-- Returns {status, version, merged, expires_at, evicted}.
local prefix, id = ARGV[1], ARGV[2]
local now, requested = tonumber(ARGV[3]), tonumber(ARGV[4])
local idle, absolute_ms = tonumber(ARGV[5]), tonumber(ARGV[6])
local user, max, previous = ARGV[7], tonumber(ARGV[8]), ARGV[9]
local n = tonumber(ARGV[10])
local key = session_key(prefix, id)

if redis.call('EXISTS', key) == 1 then
  return { 'collision', 0, 0, 0, {} }
end

local created_at = now
local previous_user = false
if previous ~= '' then
  local old = redis.call('HMGET', session_key(prefix, previous), 'created_at', 'user_id')
  created_at = tonumber(old[1]) or now
  previous_user = old[2]
end
local absolute = created_at + absolute_ms
local expires_at = deadline(requested, now, idle, absolute)

local fields = { 'version', '1', 'created_at', ms(created_at),
  'absolute_expires_at', ms(absolute), 'requested_expires_at', ms(requested),
  'expires_at', ms(expires_at) }
for i = 1, n do
  table.insert(fields, ARGV[10 + 2 * i - 1])
  table.insert(fields, ARGV[10 + 2 * i])
end
redis.call('HSET', key, unpack(fields))
redis.call('PEXPIREAT', key, ms(expires_at))

if previous ~= '' then
  redis.call('DEL', session_key(prefix, previous))
  if previous_user then
    index_remove(prefix, previous_user, previous)
  end
end

if user == '' then
  user = previous_user
end
local evicted = {}
if user then
  evicted = rebind(prefix, key, id, user, expires_at, max, now)
end
return { 'ok', 1, 0, ms(expires_at), evicted }
