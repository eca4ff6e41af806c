-- Deletes every live session of a user except `keep`, and announces them.
-- ARGV: prefix, user, keep ('' none), now, reason
-- Returns the revoked ids.
local prefix, user, keep = ARGV[1], ARGV[2], ARGV[3]
local now, reason = tonumber(ARGV[4]), ARGV[5]
local idx = index_key(prefix, user)
redis.call('ZREMRANGEBYSCORE', idx, '-inf', ms(now))
local revoked = {}
for _, id in ipairs(redis.call('ZRANGE', idx, 0, -1)) do
  if id ~= keep then
    redis.call('DEL', session_key(prefix, id))
    redis.call('ZREM', idx, id)
    table.insert(revoked, id)
  end
end
publish_revocation(prefix, user, revoked, reason)
return revoked
