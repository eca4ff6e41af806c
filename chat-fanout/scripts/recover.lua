-- Reads a room's position and a page of its history, atomically.
--
-- KEYS[1] offset counter   KEYS[2] epoch   KEYS[3] history stream
-- ARGV[1] first stream id wanted ("<since + 1>-0")   ARGV[2] page size
--
-- Returns {epoch or "", top offset, oldest entry (0 or 1 of them), page}.
local epoch = redis.call('GET', KEYS[2])
if not epoch then
  return {'', 0, {}, {}}
end
local top = tonumber(redis.call('GET', KEYS[1]) or '0')
local oldest = redis.call('XRANGE', KEYS[3], '-', '+', 'COUNT', 1)
local page = redis.call('XRANGE', KEYS[3], ARGV[1], '+', 'COUNT', ARGV[2])
return {epoch, top, oldest, page}
