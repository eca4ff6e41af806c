-- Publishes one message to a room, atomically: number it, keep it, send it.
--
-- KEYS[1] offset counter   KEYS[2] epoch   KEYS[3] history stream
-- ARGV[1] channel          ARGV[2] a fresh epoch, used if the room has none
-- ARGV[3] history length (approximate MAXLEN)
-- ARGV[4] payload          ARGV[5] idle retention in ms (0 = keep)
-- ARGV[6] PUBLISH, or SPUBLISH for sharded pub/sub (Redis Cluster)
--
-- Returns {offset, epoch}. The epoch is created with the room's history and
-- lives as long as it does; if the epoch key is gone (the room expired, or
-- Redis lost its data), the room starts over under a new epoch.
local epoch = redis.call('GET', KEYS[2])
if not epoch then
  epoch = ARGV[2]
  redis.call('SET', KEYS[2], epoch)
  redis.call('SET', KEYS[1], 0)
  redis.call('DEL', KEYS[3])
end
local offset = redis.call('INCR', KEYS[1])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[3], offset .. '-0', 'p', ARGV[4])
redis.call(ARGV[6], ARGV[1], offset .. ' ' .. epoch .. ' ' .. ARGV[4])
local retention = tonumber(ARGV[5])
if retention > 0 then
  redis.call('PEXPIRE', KEYS[1], retention)
  redis.call('PEXPIRE', KEYS[2], retention)
  redis.call('PEXPIRE', KEYS[3], retention)
end
return {offset, epoch}
