-- Gives an expired order's units back to the Redis stock counter, once.
-- KEYS[1]: the stock counter (stock:<item id>)
-- KEYS[2]: the order's release marker (order:<id>:released)
-- ARGV[1]: units; ARGV[2]: the marker's lifetime in seconds
-- Returns the units left after the release, 0 when this order was released
-- before (a redelivered expiry), -1 when the counter is not loaded (nothing
-- to give back to: an operator reloads it from the database, which has them).
if not redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[2]) then
  return 0
end
if redis.call('EXISTS', KEYS[1]) == 0 then
  return -1
end
return redis.call('INCRBY', KEYS[1], ARGV[1])
