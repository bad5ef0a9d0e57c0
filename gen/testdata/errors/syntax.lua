-- ff_broken
-- KEYS (0)
-- ARGV (0)
-- @reply ok()
redis.register_function('ff_broken', function(keys, args)
  return {1, 'OK'
end)
