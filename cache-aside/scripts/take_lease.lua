-- Take the fill lease of a key: the right to load it and write the result.
-- KEYS[1] lease key; ARGV[1] token, ARGV[2] lease ms
-- Returns {1, 0} when taken, {0, remaining lease ms} when another caller holds it.
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return {1, 0}
end
return {0, redis.call('PTTL', KEYS[1])}
