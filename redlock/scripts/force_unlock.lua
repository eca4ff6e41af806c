-- Release the lock whoever holds it (an operator's action), and wake the
-- waiters. The holder's watchdog finds the lock gone at its next renewal
-- and signals the loss.
-- KEYS[1] lock key; ARGV[1] pub/sub channel of the lock
-- Returns 1 when a holder was removed, 0 when the lock was free.
local held = redis.call('DEL', KEYS[1])
if held == 1 then
  redis.call('PUBLISH', ARGV[1], 'released')
end
return held
