local function err(code) return {0, code} end

-- ff_short
-- KEYS (4): a, b, c
-- ARGV (2 or 3): x, y
-- @reply ok()
redis.register_function('ff_short', function(keys, args) return {1, 'OK'} end)

-- ff_bad_count
-- KEYS (four): a
-- ARGV (1+N): x, y
-- @reply ok()
redis.register_function('ff_bad_count', function(keys, args) return {1, 'OK'} end)
