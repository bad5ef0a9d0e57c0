---------------------------------------------------------------------------
-- ff_version
--
-- Returns the library version.
--
-- KEYS (0)
-- ARGV (0)
-- @reply string
-- @flags no-writes
---------------------------------------------------------------------------
redis.register_function{
  function_name = 'ff_version',
  callback = function() return 'test.1' end,
  flags = {'no-writes'},
}
