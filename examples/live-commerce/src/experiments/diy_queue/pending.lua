-- Jobs not yet acknowledged: waiting in the queue plus held in every
-- registered consumer's processing list, read in one atomic step (read one
-- by one, a job moving between two reads could be counted twice or not at
-- all, and a drained-looking queue would not be).
--
-- KEYS[1] the queue   KEYS[2] the set of consumers
-- ARGV[1] the processing lists' key prefix (`…:processing:`)
--
-- It reads keys named after the set's members; they carry the queue's hash
-- tag, so on a cluster they live in the same slot.
local pending = redis.call('LLEN', KEYS[1])
for _, id in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  pending = pending + redis.call('LLEN', ARGV[1] .. id)
end
return pending
