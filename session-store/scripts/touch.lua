-- Extends a session's idle deadline without touching its data, never past
-- the deadline the application asked for at its last create or save, nor past
-- its absolute lifetime. A session without `requested_expires_at` (written
-- before the field existed) is not extended until its next save.
-- ARGV: prefix, id, now, idle_ms
-- Returns the deadline, or false when the session is gone.
local prefix, id = ARGV[1], ARGV[2]
local now, idle = tonumber(ARGV[3]), tonumber(ARGV[4])
local key = session_key(prefix, id)

local current = redis.call('HMGET', key, 'expires_at', 'absolute_expires_at', 'user_id',
  'requested_expires_at')
local expires_at = tonumber(current[1])
if not expires_at or expires_at <= now then
  return false
end
local requested = tonumber(current[4]) or expires_at
local target = deadline(requested, now, idle, tonumber(current[2]))
if target > expires_at then
  set_expiry(prefix, key, id, target, now, current[3])
  return ms(target)
end
return current[1]
