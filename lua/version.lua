---------------------------------------------------------------------------
-- ff_version
--
-- Returns the version of this library. Loaders compare it with the version
-- they embed and run FUNCTION LOAD REPLACE when it differs. It is ffgo's own
-- version, never a FlowFabric release number, and it changes whenever any
-- function's KEYS, ARGV or reply changes.
--
-- KEYS (0)
-- ARGV (0)
-- @reply string
-- @flags no-writes
---------------------------------------------------------------------------
redis.register_function{
  function_name = 'ff_version',
  callback = function(keys, args) return 'ffgo.1' end,
  flags = {'no-writes'},
}
