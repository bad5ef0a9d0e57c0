---------------------------------------------------------------------------
-- ff_put_job
--
-- Stores a job. Rules 2-6 and 9-10 of the grammar in one header.
--
-- KEYS (2): job_hash, queue_zset
-- ARGV (7 or 9): job_id, payload:bytes, priority:int, weight:float,
--                urgent:bool, delay_until:int?, note?,
--                [source, retries:int]
-- @reply ok(job_id, position:int) | duplicate(job_id)
-- @errors invalid_input, queue_full
---------------------------------------------------------------------------
redis.register_function('ff_put_job', function(keys, args)
  if redis.call('EXISTS', keys[1]) == 1 then
    return ok_duplicate(args[1])
  end
  if args[3] == '' then
    return err('invalid_input', 'priority must be a number')
  end
  if redis.call('ZCARD', keys[2]) > 1000 then
    return err('queue_full')
  end
  redis.call('HSET', keys[1], 'payload', args[2], 'source', args[8] or '', 'retries', args[9] or '0')
  redis.call('ZADD', keys[2], tonumber(args[3]), args[1])
  return ok(args[1], tostring(redis.call('ZRANK', keys[2], args[1])))
end)

---------------------------------------------------------------------------
-- ff_tag_jobs
--
-- Sets tags on jobs: a repeated key and a repeated group (rule 7).
--
-- KEYS (1+N): index, job...
-- ARGV (1+2*N): namespace, tag(name, value:int)...
-- @reply ok(count:int, names...)
---------------------------------------------------------------------------
local function tag_jobs(keys, args)
  local names = {}
  for i = 2, #args, 2 do
    names[#names + 1] = args[i]
  end
  return {1, 'OK', tostring(#names), unpack(names)}
end
server.register_function('ff_tag_jobs', tag_jobs)

---------------------------------------------------------------------------
-- ff_peek_job
--
-- Reads a job without writing: sent as FCALL_RO.
--
-- KEYS (1): job_hash
-- ARGV (0)
-- @reply raw
-- @flags no-writes
---------------------------------------------------------------------------
redis.register_function{
  function_name = 'ff_peek_job',
  callback = function(keys) return redis.call('HGETALL', keys[1]) end,
  flags = {'no-writes'},
}

---------------------------------------------------------------------------
-- ff_count_jobs
--
-- KEYS (1): queue_zset
-- ARGV (1): min_score:int?
-- @reply int
-- @flags no-writes
---------------------------------------------------------------------------
redis.register_function{
  function_name = 'ff_count_jobs',
  callback = function(keys, args) return redis.call('ZCOUNT', keys[1], args[1] ~= '' and args[1] or '-inf', '+inf') end,
  flags = {'no-writes'},
}
