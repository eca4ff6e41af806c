-- Write-through: store a value, revoke any fill lease (its load is older than
-- this write) and tell every instance to drop its local copy.
-- KEYS[1] value key, KEYS[2] lease key
-- ARGV[1] encoded entry, ARGV[2] time to live ms, ARGV[3] invalidation channel, ARGV[4] key
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('DEL', KEYS[2])
redis.call('PUBLISH', ARGV[3], ARGV[4])
return 1
