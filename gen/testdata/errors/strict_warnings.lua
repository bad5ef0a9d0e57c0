-- ff_lenient
-- KEYS (1): core
-- ARGV (2): id, now_ms (IGNORED — server time used)
redis.register_function('ff_lenient', function(keys, args)
  return {1, 'OK'}
end)
