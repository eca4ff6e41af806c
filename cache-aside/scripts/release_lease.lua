-- Give up a fill lease (the load failed, or found nothing to cache), so the
-- next caller need not wait for it to expire.
-- KEYS[1] lease key; ARGV[1] token
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
