-- Takes `count` units of an item's stock, all or nothing.
-- KEYS[1]: the stock counter (stock:<item id>)
-- ARGV[1]: count (1..10)
-- Returns {outcome, left}: outcome 1 taken (left = units after taking them),
-- 0 not enough (nothing taken, left = units there are), -1 counter not loaded.
local left = redis.call('GET', KEYS[1])
if not left then
  return { -1, 0 }
end
left = tonumber(left)
local count = tonumber(ARGV[1])
if left < count then
  return { 0, left }
end
return { 1, redis.call('DECRBY', KEYS[1], count) }
