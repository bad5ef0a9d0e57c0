-- Lease-holder operations: renew, progress, complete, fail (retry or terminal),
-- self-delay; and the lease scanners / operator tools: mark expired, revoke.

---------------------------------------------------------------------------
-- ff_renew_lease
--
-- Extends a still-valid lease; lease_id and lease_epoch are kept. The full
-- fence is required. The lane active ZSET keeps its claim-time score; only
-- lease_expiry follows renewals.
--
-- KEYS (4): exec_core, lease_current, lease_history, lease_expiry
-- ARGV (7): execution_id, attempt_index, attempt_id, lease_id, lease_epoch,
--           lease_ttl_ms:int, lease_history_grace_ms:int
-- @reply ok(expires_at:int)
-- @errors invalid_input, execution_not_found, partial_fence_triple, fence_required,
--         execution_not_active, lease_revoked, lease_expired, stale_lease
---------------------------------------------------------------------------
redis.register_function('ff_renew_lease', function(keys, args)
  if #keys < 4 then return H.need_keys(keys, 4) end
  local eid = args[1] or ''
  local ttl, e = arg_num(args[6], 'lease_ttl_ms')
  if e then return e end
  local grace
  grace, e = arg_num(args[7], 'lease_history_grace_ms')
  if e then return e end
  ttl, grace = math.floor(ttl), math.floor(grace)
  local core = keys[1]
  local v = redis.call('HMGET', core, 'lifecycle_phase', 'ownership_state', 'lease_revoked_at',
    'lease_expires_at', 'current_attempt_index', 'current_attempt_id', 'current_lease_id',
    'current_lease_epoch')
  if not v[1] then return err('execution_not_found') end
  local lid, ep, aid
  lid, ep, aid = resolve_fence(nil, args[4], args[5], args[3], false)
  if not lid then return ep end
  -- the error paths need more fields (err_not_active, mark_expired): read them then
  if v[1] ~= 'active' then return err_not_active(hmget_map(core, LEASE_FIELDS)) end
  if v[2] == 'lease_revoked' or (v[3] and v[3] ~= '') then return err('lease_revoked') end
  local now = now_ms()
  local exp = tonumber(v[4])
  if exp == nil or exp <= now then
    mark_expired(core, keys[3], eid, hmget_map(core, LEASE_FIELDS), now)
    return err('lease_expired')
  end
  if (v[5] or '') ~= (args[2] or '') or (v[6] or '') ~= aid
    or (v[7] or '') ~= lid or (v[8] or '') ~= ep then
    return err('stale_lease')
  end
  local new_exp = now + ttl
  local deadline = now + math.floor(ttl * 2 / 3)
  redis.call('HSET', core, 'lease_last_renewed_at', now, 'lease_renewal_deadline', deadline,
    'lease_expires_at', new_exp, 'last_mutation_at', now)
  redis.call('HSET', keys[2], 'last_renewed_at', now, 'renewal_deadline', deadline,
    'expires_at', new_exp)
  redis.call('PEXPIREAT', keys[2], new_exp + grace)
  redis.call('ZADD', keys[4], new_exp, eid)
  return ok(tostring(new_exp))
end)

---------------------------------------------------------------------------
-- ff_update_progress
--
-- Records progress of the lease holder. An empty pct or message leaves the
-- stored value. An expired lease is reported but not marked.
--
-- KEYS (1): exec_core
-- ARGV (5): execution_id, lease_id, lease_epoch, progress_pct?, progress_message?
-- @reply ok()
-- @errors invalid_input, execution_not_found, execution_not_active, lease_revoked, lease_expired,
--         stale_lease
---------------------------------------------------------------------------
redis.register_function('ff_update_progress', function(keys, args)
  local bad_keys = H.need_keys(keys, 1)
  if bad_keys then return bad_keys end
  local c = hmget_map(keys[1], LEASE_FIELDS)
  if not c.lifecycle_phase then return err('execution_not_found') end
  if c.lifecycle_phase ~= 'active' then return err_not_active(c) end
  if c.ownership_state == 'lease_revoked' then return err('lease_revoked') end
  local now = now_ms()
  local exp = tonumber(c.lease_expires_at)
  if exp == nil or exp <= now then return err('lease_expired') end
  if (c.current_lease_id or '') ~= (args[2] or '') then return err('stale_lease') end
  if (c.current_lease_epoch or '') ~= (args[3] or '') then return err('stale_lease') end
  local f = {'last_mutation_at', now, 'progress_updated_at', now}
  if (args[4] or '') ~= '' then H.push(f, 'progress_pct', args[4]) end
  if (args[5] or '') ~= '' then H.push(f, 'progress_message', args[5]) end
  redis.call('HSET', keys[1], unpack(f))
  return ok()
end)

-- The six lease/worker fields every lease release clears, as an HSET list.
local function lease_clear_fields(f)
  return H.push(f, 'current_lease_id', '', 'current_worker_id', '', 'current_worker_instance_id', '',
    'lease_expires_at', '', 'lease_last_renewed_at', '', 'lease_renewal_deadline', '')
end

-- Fence resolution + full lease check for complete / fail / delay.
-- Returns c (exec_core fields: LEASE_FIELDS + extra), now; or nil plus an error tuple.
local function holder_check(core_key, hist_key, eid, lid, ep, aid, source, extra)
  local c
  if extra then c = hmget_map(core_key, LEASE_FIELDS, extra) else c = hmget_map(core_key, LEASE_FIELDS) end
  if not c.lifecycle_phase then return nil, err('execution_not_found') end
  local e
  lid, ep, aid = resolve_fence(c, lid, ep, aid, source == 'operator_override')
  if not lid then return nil, ep end
  local now = now_ms()
  e = lease_check(core_key, hist_key, eid, c, now, lid, ep, aid)
  if e then return nil, e end
  return c, now
end

-- Returns the worker-lease set of the current holder when it differs from given, else false.
local function holder_set(core_key, c, given)
  if not H.set(c.current_worker_instance_id) then return false end
  local k = H.idx_key(core_key, 'worker:' .. c.current_worker_instance_id .. ':leases')
  if k == given then return false end
  return k
end

---------------------------------------------------------------------------
-- ff_complete_execution
--
-- Ends the current attempt successfully and makes the execution terminal
-- (completed). Unfenced calls are allowed only with source operator_override.
--
-- KEYS (12): exec_core, attempt_hash, lease_expiry, worker_leases, lane_terminal,
--            lease_current, lease_history, lane_active, stream_meta, result,
--            attempt_timeout, execution_deadline
-- ARGV (5 or 6): execution_id, lease_id?, lease_epoch?, attempt_id?, result_payload:bytes?,
--                [source]
-- @reply ok(result)
-- @errors invalid_input, execution_not_found, partial_fence_triple, fence_required,
--         execution_not_active, lease_revoked, lease_expired, stale_lease
---------------------------------------------------------------------------
redis.register_function('ff_complete_execution', function(keys, args)
  if #keys < 12 then return H.need_keys(keys, 12) end
  local eid, core = args[1] or '', keys[1]
  -- Fast path: the fenced holder of a live lease (one HMGET of the fields the writes need).
  -- Anything else (unfenced, another phase, revoked, expired, stale) takes the general
  -- path below, which re-reads LEASE_FIELDS and checks in the specified order.
  local v = redis.call('HMGET', core, 'lifecycle_phase', 'ownership_state', 'lease_expires_at',
    'current_lease_id', 'current_lease_epoch', 'current_attempt_id', 'current_attempt_index',
    'current_worker_instance_id', 'flow_id')
  if not v[1] then return err('execution_not_found') end
  local now, lid, ep, idx, wi, flow
  local l, le, la = args[2], args[3], args[4]
  if v[1] == 'active' and v[2] ~= 'lease_revoked' and l and l ~= '' and le and le ~= ''
    and la and la ~= '' and l == v[4] and le == v[5] and la == v[6] then
    now = now_ms()
    local exp = tonumber(v[3])
    if exp ~= nil and exp > now then
      lid, ep, idx, wi, flow = v[4], v[5], v[7] or '', v[8], v[9]
    end
  end
  if not lid then
    local c
    c, now = holder_check(core, keys[7], eid, l, le, la, args[6])
    if not c then return now end
    lid, ep, idx = c.current_lease_id or '', c.current_lease_epoch or '', c.current_attempt_index or ''
    wi, flow = c.current_worker_instance_id, c.flow_id
  end
  redis.call('HSET', keys[2], 'attempt_state', 'ended_success', 'ended_at', now)
  H.close_stream(keys[9], now, 'attempt_success', false)
  local result = args[5]
  if result and result ~= '' then redis.call('SET', keys[10], result) end
  redis.call('HSET', core, 'lifecycle_phase', 'terminal', 'ownership_state', 'unowned',
    'eligibility_state', 'not_applicable', 'blocking_reason', 'none', 'blocking_detail', '',
    'terminal_outcome', 'success', 'attempt_state', 'attempt_terminal', 'public_state', 'completed',
    'current_lease_id', '', 'current_worker_id', '', 'current_worker_instance_id', '',
    'lease_expires_at', '', 'lease_last_renewed_at', '', 'lease_renewal_deadline', '',
    'completed_at', now, 'lease_expired_at', '', 'lease_revoked_at', '', 'lease_revoke_reason', '',
    'last_transition_at', now, 'last_mutation_at', now)
  local wl = keys[4]
  redis.call('DEL', keys[6])
  redis.call('ZREM', keys[3], eid)
  redis.call('ZREM', keys[8], eid)
  redis.call('SREM', wl, eid)
  if wi and wi ~= '' then
    local held = 'ff:idx:' .. hash_tag(core) .. ':worker:' .. wi .. ':leases'
    if held ~= wl then redis.call('SREM', held, eid) end
  end
  redis.call('ZREM', keys[11], eid)
  redis.call('ZREM', keys[12], eid)
  redis.call('ZADD', keys[5], now, eid)
  redis.call('XADD', keys[7], 'MAXLEN', '~', '1000', '*', 'event', 'released', 'lease_id', lid,
    'lease_epoch', ep, 'attempt_index', idx, 'reason', 'completed', 'ts', now)
  if flow and flow ~= '' then H.publish_outcome(flow, eid, 'success') end
  return ok('completed')
end)

-- Returns the retry delay in whole ms for retry policy p (a decoded table) after
-- retry_count earlier retries, or nil when no retry applies. JSON null = absent;
-- fractions are floored (DEVIATIONS.md D1, D2).
local function retry_delay_ms(p, retry_count)
  if type(p) ~= 'table' then return nil end
  local max_retries = H.absent(p.max_retries) and 0 or tonumber(p.max_retries) or 0
  if retry_count >= max_retries then return nil end
  local b = p.backoff
  local d = 1000
  if type(b) == 'table' then
    local function num(v, dflt)
      if H.absent(v) then return dflt end
      local n = tonumber(v)
      if n == nil or n ~= n then return dflt end
      return n
    end
    if b.type == 'exponential' then
      d = math.min(num(b.initial_delay_ms, 1000) * num(b.multiplier, 2) ^ retry_count,
        num(b.max_delay_ms, 60000))
    elseif b.type == 'fixed' then
      d = num(b.delay_ms, 1000)
    end
  end
  if d ~= d or d < 0 then d = 0 end
  if d == math.huge then d = 60000 end
  return math.floor(d)
end

---------------------------------------------------------------------------
-- ff_fail_execution
--
-- Ends the current attempt as failed. When retry_policy_json allows another
-- attempt the execution goes to the lane's delayed ZSET (retry backoff),
-- otherwise it becomes terminal (failed). Unfenced calls are allowed only with
-- source operator_override. Extension E1: a retry due at once (zero backoff) is
-- published on "ff:wake:<lane>", so a worker's poll promotes and claims it.
--
-- KEYS (12): exec_core, attempt_hash, lease_expiry, worker_leases, lane_terminal,
--            lane_delayed, lease_current, lease_history, lane_active, stream_meta,
--            attempt_timeout, execution_deadline
-- ARGV (7 or 8): execution_id, lease_id?, lease_epoch?, attempt_id?, failure_reason?,
--                failure_category?, retry_policy_json?, [source]
-- @reply ok(result, delay_until:int?)
-- @errors invalid_input, execution_not_found, partial_fence_triple, fence_required,
--         execution_not_active, lease_revoked, lease_expired, stale_lease
---------------------------------------------------------------------------
redis.register_function('ff_fail_execution', function(keys, args)
  local bad_keys = H.need_keys(keys, 12)
  if bad_keys then return bad_keys end
  local eid, reason = args[1] or '', args[5] or ''
  local c, now = holder_check(keys[1], keys[8], eid, args[2], args[3], args[4], args[8],
    {'retry_count'})
  if not c then return now end
  local retry_count = tonumber(c.retry_count) or 0
  local delay
  if (args[7] or '') ~= '' then
    local okd, p = pcall(cjson.decode, args[7])
    if okd then delay = retry_delay_ms(p, retry_count) end
  end
  redis.call('HSET', keys[2], 'attempt_state', 'ended_failure', 'ended_at', now,
    'failure_reason', reason, 'failure_category', args[6] or '')
  H.close_stream(keys[10], now, 'attempt_failure', false)
  local idx = c.current_attempt_index or ''
  local holder = holder_set(keys[1], c, keys[4])
  local f
  if delay then
    local due = now + delay
    f = H.state('runnable', 'unowned', 'not_eligible_until_time', 'waiting_for_retry_backoff',
      'retry backoff until ' .. due .. ' (attempt ' .. idx .. ' failed: ' .. reason .. ')',
      'none', 'pending_retry_attempt', 'delayed')
    lease_clear_fields(f)
    H.push(f, 'pending_retry_reason', reason, 'pending_previous_attempt_index', idx,
      'retry_count', retry_count + 1, 'current_attempt_id', '', 'delay_until', due,
      'failure_reason', reason, 'last_transition_at', now, 'last_mutation_at', now)
    redis.call('HSET', keys[1], unpack(f))
    H.release_lease(eid, keys[7], keys[3], keys[9], keys[4], holder)
    redis.call('ZREM', keys[11], eid)
    redis.call('ZADD', keys[6], due, eid)
    xadd_history(keys[8], 'event', 'released', 'lease_id', c.current_lease_id or '',
      'lease_epoch', c.current_lease_epoch or '', 'attempt_index', idx,
      'reason', 'failed_retry_scheduled', 'ts', now)
    if delay <= 0 then H.wake(c.lane_id, eid) end -- extension E1: due now
    return ok('retry_scheduled', tostring(due))
  end
  f = H.state('terminal', 'unowned', 'not_applicable', 'none', '', 'failed',
    'attempt_terminal', 'failed')
  lease_clear_fields(f)
  H.push(f, 'failure_reason', reason, 'completed_at', now, 'last_transition_at', now,
    'last_mutation_at', now)
  redis.call('HSET', keys[1], unpack(f))
  H.release_lease(eid, keys[7], keys[3], keys[9], keys[4], holder)
  redis.call('ZREM', keys[11], eid)
  redis.call('ZREM', keys[12], eid)
  redis.call('ZADD', keys[5], now, eid)
  xadd_history(keys[8], 'event', 'released', 'lease_id', c.current_lease_id or '',
    'lease_epoch', c.current_lease_epoch or '', 'attempt_index', idx,
    'reason', 'failed_terminal', 'ts', now)
  H.publish_outcome(c.flow_id, eid, 'failed')
  return ok('terminal_failed')
end)

---------------------------------------------------------------------------
-- ff_delay_execution
--
-- The lease holder parks its own attempt until delay_until; the attempt stays
-- open (attempt_interrupted) and is continued with ff_claim_resumed_execution
-- after promotion. delay_until is validated before any write. Extension E1: a
-- delay_until not in the future (a hand-back) is published on "ff:wake:<lane>".
--
-- KEYS (9): exec_core, attempt_hash, lease_current, lease_history, lease_expiry,
--           worker_leases, lane_active, lane_delayed, attempt_timeout
-- ARGV (5 or 6): execution_id, lease_id?, lease_epoch?, attempt_id?, delay_until:int,
--                [source]
-- @reply ok(delay_until:int)
-- @errors invalid_input, execution_not_found, partial_fence_triple, fence_required,
--         execution_not_active, lease_revoked, lease_expired, stale_lease
---------------------------------------------------------------------------
redis.register_function('ff_delay_execution', function(keys, args)
  local bad_keys = H.need_keys(keys, 9)
  if bad_keys then return bad_keys end
  local eid = args[1] or ''
  local due, e = arg_num(args[5], 'delay_until')
  if e then return e end
  local c, now = holder_check(keys[1], keys[4], eid, args[2], args[3], args[4], args[6])
  if not c then return now end
  local f = H.state('runnable', 'unowned', 'not_eligible_until_time', 'waiting_for_delay',
    'delayed until ' .. args[5], 'none', 'attempt_interrupted', 'delayed')
  lease_clear_fields(f)
  H.push(f, 'delay_until', args[5], 'last_transition_at', now, 'last_mutation_at', now)
  redis.call('HSET', keys[1], unpack(f))
  redis.call('HSET', keys[2], 'attempt_state', 'suspended', 'suspended_at', now,
    'suspension_id', 'worker_delay')
  H.release_lease(eid, keys[3], keys[5], keys[7], keys[6], holder_set(keys[1], c, keys[6]))
  redis.call('ZREM', keys[9], eid)
  redis.call('ZADD', keys[8], due, eid)
  xadd_history(keys[4], 'event', 'released', 'lease_id', c.current_lease_id or '',
    'lease_epoch', c.current_lease_epoch or '', 'attempt_index', c.current_attempt_index or '',
    'attempt_id', c.current_attempt_id or '', 'reason', 'worker_delay', 'ts', now)
  if due <= now then H.wake(c.lane_id, eid) end -- extension E1: due now (a hand-back)
  return ok(args[5])
end)

---------------------------------------------------------------------------
-- ff_mark_lease_expired_if_due
--
-- Lease-expiry scanner target. Marks a lapsed lease expired (reclaimable);
-- the lease_expiry entry is kept so reclaimers can find the execution.
--
-- KEYS (4): exec_core, lease_current, lease_expiry, lease_history
-- ARGV (1): execution_id
-- @reply ok(result) | already_satisfied(result)
-- @errors invalid_input
---------------------------------------------------------------------------
redis.register_function('ff_mark_lease_expired_if_due', function(keys, args)
  local bad_keys = H.need_keys(keys, 4)
  if bad_keys then return bad_keys end
  local eid = args[1] or ''
  local c = hmget_map(keys[1], LEASE_FIELDS)
  if not c.lifecycle_phase then
    redis.call('ZREM', keys[3], eid)
    return ok_already_satisfied('execution_not_found')
  end
  if c.lifecycle_phase ~= 'active' then
    redis.call('ZREM', keys[3], eid)
    return ok_already_satisfied('not_active')
  end
  local own = c.ownership_state
  if own == 'lease_expired_reclaimable' then return ok_already_satisfied('already_expired') end
  if own == 'lease_revoked' then return ok_already_satisfied('already_revoked') end
  if own == 'unowned' then
    redis.call('ZREM', keys[3], eid)
    return ok_already_satisfied('unowned')
  end
  local now = now_ms()
  local exp = tonumber(c.lease_expires_at)
  if exp ~= nil and exp > now then return ok_already_satisfied('not_yet_expired') end
  mark_expired(keys[1], keys[4], eid, c, now)
  return ok('marked_expired')
end)

---------------------------------------------------------------------------
-- ff_revoke_lease
--
-- Operator tool: takes the lease away from its holder. The execution stays
-- active and waits for a reclaim. expected_lease_id "" revokes any lease.
--
-- KEYS (5): exec_core, lease_current, lease_history, lease_expiry, worker_leases
-- ARGV (3): execution_id, expected_lease_id?, revoke_reason?
-- @reply ok(result, lease_id, lease_epoch) | already_satisfied(result)
-- @errors invalid_input, execution_not_found, execution_not_active, no_active_lease, stale_lease
---------------------------------------------------------------------------
redis.register_function('ff_revoke_lease', function(keys, args)
  local bad_keys = H.need_keys(keys, 5)
  if bad_keys then return bad_keys end
  local eid, expected, reason = args[1] or '', args[2] or '', args[3] or ''
  local c = hmget_map(keys[1], LEASE_FIELDS)
  if not c.lifecycle_phase then return err('execution_not_found') end
  if c.lifecycle_phase ~= 'active' then return err_not_active(c) end
  local own = c.ownership_state
  if own ~= 'leased' then
    if own == 'lease_revoked' then return ok_already_satisfied('already_revoked') end
    if own == 'lease_expired_reclaimable' then return ok_already_satisfied('already_expired') end
    return err('no_active_lease')
  end
  local lid = c.current_lease_id or ''
  if expected ~= '' and expected ~= lid then
    return err('stale_lease', 'expected ' .. expected .. ' but current is ' .. lid)
  end
  local now = now_ms()
  local f = H.state('active', 'lease_revoked', c.eligibility_state or 'not_applicable',
    'waiting_for_worker', 'lease revoked: ' .. reason, 'none', 'attempt_interrupted', 'active')
  H.push(f, 'lease_revoked_at', now, 'lease_revoke_reason', reason, 'last_mutation_at', now)
  redis.call('HSET', keys[1], unpack(f))
  H.release_lease(eid, keys[2], keys[4], false, keys[5], holder_set(keys[1], c, keys[5]))
  xadd_history(keys[3], 'event', 'revoked', 'lease_id', lid,
    'lease_epoch', c.current_lease_epoch or '', 'attempt_index', c.current_attempt_index or '',
    'attempt_id', c.current_attempt_id or '', 'worker_id', c.current_worker_id or '',
    'worker_instance_id', c.current_worker_instance_id or '', 'reason', reason, 'ts', now)
  return ok('revoked', lid, c.current_lease_epoch or '')
end)
