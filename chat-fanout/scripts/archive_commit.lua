-- The archive relay moves a room's checkpoint after Kafka acknowledged every
-- message up to it.
--
-- KEYS[1] offset counter   KEYS[2] epoch   KEYS[3] archive record
-- KEYS[4] lease            KEYS[5] gap list   KEYS[6] pending set
-- ARGV[1] relay name       ARGV[2] lease in ms
-- ARGV[3] the epoch archived   ARGV[4] the last offset archived
-- ARGV[5] how many entries of the gap list were reported   ARGV[6] the room
--
-- Returns 1 (moved), 0 (the lease was lost: nothing changed) or -1 (the
-- room's epoch changed meanwhile: the publish script recorded what the old
-- epoch was missing; the checkpoint stays with the new epoch).
if redis.call('GET', KEYS[4]) ~= ARGV[1] then
  return 0
end
local reported = tonumber(ARGV[5])
if reported > 0 then
  redis.call('LTRIM', KEYS[5], reported, -1)
end
redis.call('PEXPIRE', KEYS[4], ARGV[2])
local offset = tonumber(ARGV[4])
local record = redis.call('HMGET', KEYS[3], 'epoch', 'offset')
local epoch = redis.call('GET', KEYS[2])
if not epoch then
  -- The room is gone (expired, evicted): what its epoch published beyond
  -- the checkpoint is lost; record it for the relay to report, and forget
  -- the epoch (a new one starts from scratch).
  local done = tonumber(record[2] or '0')
  if ARGV[3] ~= '' and record[1] == ARGV[3] and done < offset then
    done = offset
  end
  if record[1] and record[1] ~= '' then
    local head = tonumber(redis.call('HGET', KEYS[3], 'head') or '0')
    if head > done then
      redis.call('RPUSH', KEYS[5], record[1] .. ' ' .. (done + 1) .. ' ' .. head)
    end
    redis.call('HSET', KEYS[3], 'epoch', '', 'offset', 0, 'head', 0)
  end
  if redis.call('LLEN', KEYS[5]) == 0 then
    redis.call('SREM', KEYS[6], ARGV[6])
    redis.call('DEL', KEYS[4])
  end
  return 1
end
if epoch ~= ARGV[3] then
  return -1
end
if record[1] ~= epoch or tonumber(record[2] or '0') < offset then
  redis.call('HSET', KEYS[3], 'epoch', epoch, 'offset', offset)
end
local head = tonumber(redis.call('GET', KEYS[1]) or '0')
if head <= offset and redis.call('LLEN', KEYS[5]) == 0 then
  -- Caught up: the room leaves the pending set and its lease is released,
  -- so any relay can take it when it gets a new message.
  redis.call('SREM', KEYS[6], ARGV[6])
  redis.call('DEL', KEYS[4])
end
return 1
