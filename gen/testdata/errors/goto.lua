-- ff_loop
-- KEYS (0)
-- ARGV (0)
-- @reply int
redis.register_function('ff_loop', function(keys, args)
  local i = 0
  ::again::
  i = i + 1
  if i < 3 then goto again end
  return i
end)
