-- Drops a claim still in progress; never a completed id.
-- KEYS[1]: the inbox key of a message id.
if redis.call('GET', KEYS[1]) == 'processing' then
  return redis.call('DEL', KEYS[1])
end
return 0
