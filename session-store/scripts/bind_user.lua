-- Binds an existing session to a user (outside of the session's data).
-- ARGV: prefix, id, now, user, max_sessions
-- Returns the evicted ids, or false when the session is gone.
local prefix, id = ARGV[1], ARGV[2]
local now, user, max = tonumber(ARGV[3]), ARGV[4], tonumber(ARGV[5])
local key = session_key(prefix, id)
local expires_at = tonumber(redis.call('HGET', key, 'expires_at'))
if not expires_at or expires_at <= now then
  return false
end
return rebind(prefix, key, id, user, expires_at, max, now)
