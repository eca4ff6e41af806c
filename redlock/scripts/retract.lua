-- Undo a partial quorum acquisition on one node: delete the lock if we hold
-- it, without publishing a release (nobody held it long enough to wait for
-- it, and a publish would wake the caller's own waiters into a retry loop).
-- KEYS[1] lock key; ARGV[1] owner id
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
