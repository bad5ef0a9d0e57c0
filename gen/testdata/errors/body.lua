local function err(code) return {0, code} end

-- ff_overread
-- KEYS (1): core
-- ARGV (2): id, ttl_ms:int
-- @reply ok()
-- @errors not_found
redis.register_function('ff_overread', function(keys, args)
  if redis.call('EXISTS', keys[2]) == 0 then
    return err('gone')
  end
  return {1, 'OK', args[3]}
end)
