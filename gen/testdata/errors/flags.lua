-- ff_reader
-- KEYS (1): core
-- ARGV (0)
-- @reply raw
-- @flags allow-oom
redis.register_function{function_name = 'ff_reader', callback = function(keys) return redis.call('GET', keys[1]) end, flags = {'no-writes'}}

-- ff_positional_ro
-- KEYS (0)
-- ARGV (0)
-- @reply int
-- @flags no-writes
redis.register_function('ff_positional_ro', function() return 1 end)
