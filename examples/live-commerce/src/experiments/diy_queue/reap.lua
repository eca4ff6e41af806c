-- Gives a dead consumer's jobs back to the queue, in one atomic step.
--
-- KEYS[1] the consumer's heartbeat   KEYS[2] its processing list
-- KEYS[3] the queue                  KEYS[4] the set of consumers
-- ARGV[1] the consumer's id
--
-- Returns -1 when the consumer is alive (its heartbeat exists: nothing is
-- touched), otherwise how many jobs went back. The check is inside the
-- script so a heartbeat renewed between a reaper's look and its move is
-- seen: a live consumer's jobs are never taken.
if redis.call('EXISTS', KEYS[1]) == 1 then
  return -1
end
-- The processing list receives on the left, so its left end is the newest
-- job. Moving left-to-right onto the queue's right end (where consumers
-- take from) leaves the oldest returned job at the very end: it runs first.
local moved = 0
while redis.call('LMOVE', KEYS[2], KEYS[3], 'LEFT', 'RIGHT') do
  moved = moved + 1
end
redis.call('SREM', KEYS[4], ARGV[1])
return moved
