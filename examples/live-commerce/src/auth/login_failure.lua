-- Counts one failed login against each key (the account, the client
-- address) in a fixed window that starts at the first failure.
-- KEYS: the counters. ARGV[i]: KEYS[i]'s window in milliseconds.
-- Returns the counts, in KEYS order.
local counts = {}
for i, key in ipairs(KEYS) do
  counts[i] = redis.call('INCR', key)
  if counts[i] == 1 then
    redis.call('PEXPIRE', key, ARGV[i])
  end
end
return counts
