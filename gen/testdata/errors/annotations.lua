-- ff_typo
-- KEYS (1): core
-- ARGV (2): id, count:integer
-- @retrun ok()
-- @reply ok(a:int) | duplicate(a)
-- @flags no-writes, fast
redis.register_function('ff_typo', function(keys, args) return {1, 'OK'} end)
