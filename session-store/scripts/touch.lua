-- Extends a session's idle deadline without touching its data.
-- ARGV: prefix, id, now, idle_ms
-- Returns the new deadline, or false when the session is gone.
local prefix, id = ARGV[1], ARGV[2]
local now, idle = tonumber(ARGV[3]), tonumber(ARGV[4])
local key = session_key(prefix, id)

local current = redis.call('HMGET', key, 'expires_at', 'absolute_expires_at', 'user_id')
if not current[1] or tonumber(current[1]) <= now then
  return false
end
local target = deadline(now + idle, now, idle, tonumber(current[2]))
if target > tonumber(current[1]) then
  set_expiry(prefix, key, id, target, now, current[3])
  return ms(target)
end
return current[1]
