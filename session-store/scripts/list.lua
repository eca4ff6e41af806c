-- Lists a user's live sessions, soonest-expiring first.
-- ARGV: prefix, user, now
-- Returns a flat list: id, created_at, expires_at, ...
local prefix, user, now = ARGV[1], ARGV[2], tonumber(ARGV[3])
local idx = index_key(prefix, user)
redis.call('ZREMRANGEBYSCORE', idx, '-inf', ms(now))
local out = {}
for _, id in ipairs(redis.call('ZRANGE', idx, 0, -1)) do
  local times = redis.call('HMGET', session_key(prefix, id), 'created_at', 'expires_at')
  if times[1] and times[2] then
    table.insert(out, id)
    table.insert(out, times[1])
    table.insert(out, times[2])
  else
    redis.call('ZREM', idx, id)
  end
end
return out
