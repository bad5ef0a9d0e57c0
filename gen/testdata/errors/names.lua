-- ff_first
-- KEYS (2): lease_id, lease__id
-- ARGV (2): a, a
-- @reply ok()
redis.register_function('ff_second', function(keys, args) return {1, 'OK'} end)

-- ff_refers
-- KEYS (0)
-- ARGV (3): same as ff_missing (2 + token)
-- @reply ok()
redis.register_function('ff_refers', function(keys, args) return {1, 'OK'} end)

-- ff_refers
-- KEYS (0)
-- ARGV (0)
-- @reply ok()
redis.register_function('ff_refers', function(keys, args) return {1, 'OK'} end)
