-- Removes members whose heartbeat expired and returns them (each one to
-- exactly one caller, so each departure is announced once).
-- KEYS[1] presence sorted set   ARGV[1] now (ms since the Unix epoch)
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if #expired > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
end
return expired
