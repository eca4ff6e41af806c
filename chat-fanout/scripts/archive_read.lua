-- The archive relay takes (or keeps) a room's lease and reads the next batch
-- after the room's checkpoint, atomically.
--
-- KEYS[1] offset counter   KEYS[2] epoch   KEYS[3] history stream
-- KEYS[4] archive record (hash: epoch, offset = checkpoint, head)
-- KEYS[5] lease            KEYS[6] gap list
-- ARGV[1] relay name       ARGV[2] lease in ms   ARGV[3] batch size
--
-- Returns {0} if another relay holds the lease, otherwise
-- {1, room epoch or "", head, checkpoint epoch or "", checkpoint offset,
--  since, gaps recorded by the publish script, page after since}.
-- `since` is the checkpoint if it belongs to the room's epoch, else 0.
local holder = redis.call('GET', KEYS[5])
if holder and holder ~= ARGV[1] then
  return {0}
end
redis.call('SET', KEYS[5], ARGV[1], 'PX', ARGV[2])
local gaps = redis.call('LRANGE', KEYS[6], 0, -1)
local record = redis.call('HMGET', KEYS[4], 'epoch', 'offset')
local checkpoint_epoch = record[1] or ''
local checkpoint = tonumber(record[2] or '0')
local epoch = redis.call('GET', KEYS[2])
if not epoch then
  return {1, '', 0, checkpoint_epoch, checkpoint, 0, gaps, {}}
end
local head = tonumber(redis.call('GET', KEYS[1]) or '0')
local since = 0
if checkpoint_epoch == epoch then
  since = checkpoint
end
local page = redis.call('XRANGE', KEYS[3], (since + 1) .. '-0', '+', 'COUNT', ARGV[3])
return {1, epoch, head, checkpoint_epoch, checkpoint, since, gaps, page}
