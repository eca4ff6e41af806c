-- Takes `count` units of an item's stock, all or nothing.
-- KEYS[1]: the stock counter (stock:<item id>)
-- ARGV[1]: count (1..10)
-- Returns the units left after taking them, -1 when fewer than `count` are
-- left (nothing taken), -2 when the counter is not loaded.
local left = redis.call('GET', KEYS[1])
if not left then
  return -2
end
left = tonumber(left)
local count = tonumber(ARGV[1])
if left < count then
  return -1
end
return redis.call('DECRBY', KEYS[1], count)
