-- Adds or refreshes a member. KEYS[1] presence sorted set.
-- ARGV[1] member   ARGV[2] expiry (ms since the Unix epoch)
-- Returns 1 if the member was not present (a join), 0 for a heartbeat.
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
if score then
  return 0
end
return 1
