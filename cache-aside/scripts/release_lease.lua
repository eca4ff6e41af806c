-- Give up a fill lease (the load failed, found nothing to cache, or its
-- caller went away) and wake the callers waiting for it, so the next one
-- loads now instead of when the lease would have expired.
-- KEYS[1] lease key; ARGV[1] token, ARGV[2] fill channel, ARGV[3] the key as announced
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('PUBLISH', ARGV[2], ARGV[3])
  return 1
end
return 0
