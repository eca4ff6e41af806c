-- Deletes one session (logout) and announces it when it belonged to a user.
-- ARGV: prefix, id, reason
-- Returns 1 when the session existed.
local prefix, id, reason = ARGV[1], ARGV[2], ARGV[3]
local key = session_key(prefix, id)
local user = redis.call('HGET', key, 'user_id')
local existed = redis.call('DEL', key)
if user then
  index_remove(prefix, user, id)
  publish_revocation(prefix, user, { id }, reason)
end
return existed
