-- ff_version has no header at all, as in FlowFabric's own library.
redis.register_function('ff_version', function(keys, args)
  return '34'
end)
