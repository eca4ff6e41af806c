-- Forget a key everywhere: the stored value, any fill lease (so a load in
-- flight cannot write what it read before), and every instance's local copy.
-- KEYS[1] value key, KEYS[2] lease key; ARGV[1] invalidation channel, ARGV[2] key
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('PUBLISH', ARGV[1], ARGV[2])
return 1
