-- Publishes one message to a room, atomically: number it, keep it, send it.
--
-- KEYS[1] offset counter   KEYS[2] epoch   KEYS[3] history stream
-- KEYS[4] archive record (hash), KEYS[5] archive pending set, KEYS[6]
--         archive gap list: only when the hub feeds an ArchiveRelay
-- ARGV[1] channel          ARGV[2] a fresh epoch, used if the room has none
-- ARGV[3] history length (approximate MAXLEN)
-- ARGV[4] payload          ARGV[5] idle retention in ms (0 = keep)
-- ARGV[6] PUBLISH, or SPUBLISH for sharded pub/sub (Redis Cluster)
-- ARGV[7] the room (member of the pending set)
--
-- Returns {offset, epoch}. The epoch is created with the room's history and
-- lives as long as it does; if the epoch key is gone (the room expired, or
-- Redis lost its data), the room starts over under a new epoch.
--
-- With the archive keys, the room's archive record keeps the head offset of
-- the epoch being archived, and the room joins the pending set: the relay
-- archives it from its checkpoint. When a new epoch starts while the old one
-- was not fully archived, the unarchived range is pushed onto the gap list
-- ("<epoch> <from> <to>") for the relay to report.
local archived = #KEYS >= 6
local epoch = redis.call('GET', KEYS[2])
if not epoch then
  epoch = ARGV[2]
  redis.call('SET', KEYS[2], epoch)
  redis.call('SET', KEYS[1], 0)
  redis.call('DEL', KEYS[3])
  if archived then
    local record = redis.call('HMGET', KEYS[4], 'epoch', 'offset', 'head')
    if record[1] and record[1] ~= '' then
      local done = tonumber(record[2] or '0')
      local head = tonumber(record[3] or '0')
      if head > done then
        redis.call('RPUSH', KEYS[6], record[1] .. ' ' .. (done + 1) .. ' ' .. head)
      end
    end
    redis.call('HSET', KEYS[4], 'epoch', epoch, 'offset', 0, 'head', 0)
  end
end
local offset = redis.call('INCR', KEYS[1])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[3], offset .. '-0', 'p', ARGV[4])
redis.call(ARGV[6], ARGV[1], offset .. ' ' .. epoch .. ' ' .. ARGV[4])
if archived then
  redis.call('HSET', KEYS[4], 'head', offset)
  redis.call('SADD', KEYS[5], ARGV[7])
end
local retention = tonumber(ARGV[5])
if retention > 0 then
  redis.call('PEXPIRE', KEYS[1], retention)
  redis.call('PEXPIRE', KEYS[2], retention)
  redis.call('PEXPIRE', KEYS[3], retention)
end
return {offset, epoch}
