-- Execution records: create, tags, scheduling moves (promote, block, unblock)
-- and the two operator/scanner terminal paths (cancel, expire).

-- Returns the sorted CSV of policy.routing_requirements.required_capabilities ("" when
-- none), or nil plus an invalid_policy_json / invalid_capabilities tuple. JSON null is
-- treated as absent (DEVIATIONS.md D2); a non-empty JSON object is not an array (D3).
local function policy_required_caps(policy)
  if type(policy) ~= 'table' then return nil, err('invalid_policy_json', 'not_object') end
  local rr = policy.routing_requirements
  if H.absent(rr) then return '' end
  if type(rr) ~= 'table' then return nil, err('invalid_policy_json', 'routing_requirements:not_object') end
  local rc = rr.required_capabilities
  if H.absent(rc) then return '' end
  if type(rc) ~= 'table' then return nil, err('invalid_capabilities', 'required:not_array') end
  local n = 0
  for _ in pairs(rc) do n = n + 1 end
  if n ~= #rc then return nil, err('invalid_capabilities', 'required:not_array') end
  local list = {}
  for i = 1, n do
    local tok = rc[i]
    if type(tok) ~= 'string' then return nil, err('invalid_capabilities', 'required:non_string_token') end
    if tok == '' then return nil, err('invalid_capabilities', 'required:empty_token') end
    if string.find(tok, ',', 1, true) then return nil, err('invalid_capabilities', 'required:comma_in_token') end
    if string.find(tok, '[\1-\32\127]') or string.find(tok, '\0', 1, true) then
      return nil, err('invalid_capabilities', 'required:control_or_whitespace')
    end
    list[i] = tok
  end
  if n > 256 then return nil, err('invalid_capabilities', 'required:too_many_tokens') end
  table.sort(list)
  local csv = table.concat(list, ',')
  if #csv > 4096 then return nil, err('invalid_capabilities', 'required:too_many_bytes') end
  return csv
end

-- Writes a new exec_core with one literal HSET (no table growth on the hot path); the
-- varargs (e.g. 'required_capabilities', csv) go last. Field order is the listpack's order,
-- and every HGET/HMGET/HSET of a field scans from the head: the state vector comes first,
-- then the lease and attempt fields that claim, renew and complete read and write, and the
-- fields the hot path never touches last (lua/README.md, Cost). The order is not part of
-- the contract (a hash converted to a hashtable has none).
local function write_new_core(key, eid, ns, lane, kind, part, creator, priority, elig, reason,
    detail, public, until_s, now, ...)
  redis.call('HSET', key, 'lifecycle_phase', 'runnable', 'ownership_state', 'unowned',
    'eligibility_state', elig, 'blocking_reason', reason, 'blocking_detail', detail,
    'terminal_outcome', 'none', 'attempt_state', 'pending_first_attempt', 'public_state', public,
    'current_lease_epoch', '0', 'current_lease_id', '', 'lease_expires_at', '',
    'current_attempt_id', '', 'current_attempt_index', '', 'current_worker_instance_id', '',
    'current_worker_id', '', 'lease_last_renewed_at', '', 'lease_renewal_deadline', '',
    'lease_revoked_at', '', 'last_mutation_at', now, 'lease_expired_at', '',
    'lease_revoke_reason', '', 'total_attempt_count', '0', 'started_at', '',
    'last_transition_at', now, 'lease_acquired_at', '', 'current_lane', lane, 'completed_at', '',
    'execution_kind', kind, 'namespace', ns, 'flow_id', '', 'pending_retry_reason', '',
    'pending_replay_reason', '', 'pending_replay_requested_by', '',
    'pending_previous_attempt_index', '', 'execution_id', eid, 'lane_id', lane,
    'partition_id', part, 'creator_identity', creator, 'priority', priority,
    'delay_until', until_s, 'retry_count', '0', 'replay_count', '0', 'lease_reclaim_count', '0',
    'created_at', now, 'current_suspension_id', '', 'current_waitpoint_id', '',
    'progress_pct', '', 'progress_message', '', 'progress_updated_at', '', ...)
end

---------------------------------------------------------------------------
-- ff_create_execution
--
-- Creates an execution: exec_core in the waiting (or delayed) state, payload,
-- policy, tags, scheduling and deadline indexes, optional idempotency key.
-- Every ARGV is validated before the first write. The scheduling key may be
-- the lane's eligible or delayed ZSET: the function uses the sibling that
-- matches its own delayed/eligible decision (DEVIATIONS.md D5).
-- Extension E1: an execution created eligible is published on "ff:wake:<lane>".
--
-- KEYS (8): exec_core, payload, policy, tags, scheduling_zset, idempotency_key,
--           execution_deadline, all_executions
-- ARGV (13): execution_id, namespace, lane_id, execution_kind, priority:int,
--            creator_identity?, policy_json?, input_payload:bytes?, delay_until:int?,
--            dedup_ttl_ms:int?, tags_json?, execution_deadline_at:int?, partition_id
-- @reply ok(execution_id, public_state) | duplicate(execution_id)
-- @errors invalid_input, invalid_policy_json, invalid_capabilities
---------------------------------------------------------------------------
redis.register_function('ff_create_execution', function(keys, args)
  local bad_keys = H.need_keys(keys, 8)
  if bad_keys then return bad_keys end
  local eid, lane = args[1] or '', args[3] or ''
  local priority, e = arg_num(args[5], 'priority')
  if e then return e end
  local delay_until, deadline, dedup_ttl
  delay_until, e = opt_num(args[9], 'delay_until', nil)
  if e then return e end
  dedup_ttl, e = opt_num(args[10], 'dedup_ttl_ms', 0)
  if e then return e end
  deadline, e = opt_num(args[12], 'execution_deadline_at', nil)
  if e then return e end
  if priority < 0 then priority = 0 elseif priority > 9000 then priority = 9000 end

  local idem = keys[6] or ''
  local real_idem = idem ~= '' and not string.find(idem, 'ff:noop:', 1, true)
  if real_idem then
    local prior = redis.call('GET', idem)
    if prior then return ok_duplicate(prior) end
  end
  if redis.call('EXISTS', keys[1]) == 1 then return ok_duplicate(eid) end

  local policy_json, required = args[7] or '', ''
  if policy_json ~= '' and policy_json ~= '{}' then
    local okd, policy = pcall(cjson.decode, policy_json)
    if not okd then return err('invalid_policy_json', 'malformed') end
    required, e = policy_required_caps(policy)
    if e then return e end
  end
  local tags_json, tags = args[11] or '', nil
  if tags_json ~= '' and tags_json ~= '{}' then
    local okd, t = pcall(cjson.decode, tags_json)
    if not okd or type(t) ~= 'table' then
      return err('invalid_input', 'tags_json must be a JSON object')
    end
    tags = {}
    for k, v in pairs(t) do
      if type(v) == 'table' then v = cjson.encode(v) elseif v == cjson.null then v = '' else v = tostring(v) end
      H.push(tags, tostring(k), v)
    end
  end

  local now = now_ms()
  local delayed = delay_until ~= nil and delay_until > now
  local elig, reason, detail, public, until_s = 'eligible_now', 'waiting_for_worker', '', 'waiting', ''
  if delayed then
    elig, reason, public, until_s = 'not_eligible_until_time', 'waiting_for_delay', 'delayed', args[9]
    detail = 'delayed until ' .. args[9]
  end
  local ns, kind, part, creator = args[2] or '', args[4] or '', args[13] or '', args[6] or ''
  if required ~= '' then
    write_new_core(keys[1], eid, ns, lane, kind, part, creator, priority, elig, reason, detail,
      public, until_s, now, 'required_capabilities', required)
  else
    write_new_core(keys[1], eid, ns, lane, kind, part, creator, priority, elig, reason, detail,
      public, until_s, now)
  end
  if (args[8] or '') ~= '' then redis.call('SET', keys[2], args[8]) end
  if policy_json ~= '' then redis.call('SET', keys[3], policy_json) end
  if tags and #tags > 0 then redis.call('HSET', keys[4], unpack(tags)) end

  local sched = keys[5]
  local sbase = string.match(sched, '^(.*):delayed$') or string.match(sched, '^(.*):eligible$')
  if sbase then sched = sbase .. (delayed and ':delayed' or ':eligible') end
  if delayed then
    redis.call('ZADD', sched, delay_until, eid)
  else
    redis.call('ZADD', sched, H.eligible_score(priority, now), eid)
  end
  redis.call('SADD', keys[8], eid)
  if deadline then redis.call('ZADD', keys[7], deadline, eid) end
  if real_idem and dedup_ttl > 0 then
    redis.call('SET', idem, eid, 'PX', math.max(1, math.floor(dedup_ttl)))
  end
  if not delayed then H.wake(lane, eid) end -- extension E1
  return ok(eid, delayed and 'delayed' or 'waiting')
end)

---------------------------------------------------------------------------
-- ff_set_execution_tags
--
-- Sets user tags. Every key must look like "<namespace>.<name>"
-- (^[a-z][a-z0-9_]*\.[^.]); the first key that does not is reported and
-- nothing is written.
--
-- KEYS (2): exec_core, tags
-- ARGV (2*N): tag(key, value)...
-- @reply ok(pair_count:int)
-- @errors invalid_input, execution_not_found, invalid_tag_key
---------------------------------------------------------------------------
redis.register_function('ff_set_execution_tags', function(keys, args)
  local bad_keys = H.need_keys(keys, 2)
  if bad_keys then return bad_keys end
  local n = #args
  if n == 0 or n % 2 ~= 0 then
    return err('invalid_input', 'tags must be non-empty even-length key/value pairs')
  end
  if redis.call('EXISTS', keys[1]) == 0 then return err('execution_not_found') end
  for i = 1, n, 2 do
    if not string.find(args[i], '^[a-z][a-z0-9_]*%.[^.]') then
      return err('invalid_tag_key', args[i])
    end
  end
  redis.call('HSET', keys[2], unpack(args))
  redis.call('HSET', keys[1], 'last_mutation_at', now_ms())
  return ok(tostring(n / 2))
end)

---------------------------------------------------------------------------
-- ff_promote_delayed
--
-- Moves a due delayed execution (initial delay, retry backoff, self-delay) to
-- the eligible ZSET, keeping attempt_state. Uses the caller's now_ms, not TIME.
-- Extension E1: a promoted execution is published on "ff:wake:<lane>".
--
-- KEYS (3): exec_core, lane_delayed, lane_eligible
-- ARGV (2): execution_id, now_ms:int
-- @reply ok(result)
-- @errors invalid_input
---------------------------------------------------------------------------
redis.register_function('ff_promote_delayed', function(keys, args)
  local bad_keys = H.need_keys(keys, 3)
  if bad_keys then return bad_keys end
  local eid = args[1] or ''
  local now, e = arg_num(args[2], 'now_ms')
  if e then return e end
  local c = hmget_map(keys[1], {'lifecycle_phase', 'eligibility_state', 'attempt_state',
    'delay_until', 'priority', 'created_at', 'lane_id'})
  if not c.lifecycle_phase then
    redis.call('ZREM', keys[2], eid)
    return ok('not_found_cleaned')
  end
  if c.lifecycle_phase ~= 'runnable' then
    redis.call('ZREM', keys[2], eid)
    return ok('not_runnable_cleaned')
  end
  if c.eligibility_state ~= 'not_eligible_until_time' then
    redis.call('ZREM', keys[2], eid)
    return ok('not_delayed_cleaned')
  end
  local due = tonumber(c.delay_until)
  if due and due > now then return ok('not_yet_due') end
  local f = H.state('runnable', 'unowned', 'eligible_now', 'waiting_for_worker', '', 'none',
    c.attempt_state or 'pending_first_attempt', 'waiting')
  H.push(f, 'delay_until', '', 'last_transition_at', args[2], 'last_mutation_at', args[2])
  redis.call('HSET', keys[1], unpack(f))
  redis.call('ZREM', keys[2], eid)
  redis.call('ZADD', keys[3], H.eligible_score(c.priority, c.created_at), eid)
  H.wake(c.lane_id, eid) -- extension E1
  return ok('promoted')
end)

-- blocking_reason -> eligibility_state for ff_block_execution_for_admission.
local BLOCK_ELIGIBILITY = {
  waiting_for_budget = 'blocked_by_budget',
  waiting_for_quota = 'blocked_by_quota',
  waiting_for_capable_worker = 'blocked_by_route',
  paused_by_operator = 'blocked_by_operator',
  paused_by_policy = 'blocked_by_lane_state',
}

---------------------------------------------------------------------------
-- ff_block_execution_for_admission
--
-- Parks a runnable execution in a blocked ZSET (route, budget, quota,
-- operator, lane state). now_ms is the caller's clock, written verbatim and
-- used as the score; it is validated before any write (DEVIATIONS.md D4).
--
-- KEYS (3): exec_core, lane_eligible, blocked_zset
-- ARGV (4): execution_id, blocking_reason, blocking_detail?, now_ms:int
-- @reply ok(result)
-- @errors invalid_input, execution_not_found, execution_not_active,
--         execution_not_eligible, invalid_blocking_reason
---------------------------------------------------------------------------
redis.register_function('ff_block_execution_for_admission', function(keys, args)
  local bad_keys = H.need_keys(keys, 3)
  if bad_keys then return bad_keys end
  local eid, reason = args[1] or '', args[2] or ''
  local now, e = arg_num(args[4], 'now_ms')
  if e then return e end
  local c = hmget_map(keys[1], {'lifecycle_phase', 'attempt_state', 'terminal_outcome',
    'current_lease_epoch', 'current_attempt_id'})
  if not c.lifecycle_phase then return err('execution_not_found') end
  if c.lifecycle_phase ~= 'runnable' then
    if c.lifecycle_phase == 'terminal' then return err_not_active(c, 'terminal') end
    return err('execution_not_eligible')
  end
  local elig = BLOCK_ELIGIBILITY[reason]
  if not elig then return err('invalid_blocking_reason') end
  local f = H.state('runnable', 'unowned', elig, reason, args[3] or '', 'none',
    c.attempt_state or 'pending_first_attempt', 'rate_limited')
  H.push(f, 'last_transition_at', args[4], 'last_mutation_at', args[4])
  redis.call('HSET', keys[1], unpack(f))
  redis.call('ZREM', keys[2], eid)
  redis.call('ZADD', keys[3], now, eid)
  return ok('blocked')
end)

-- eligibility states ff_unblock_execution accepts.
local UNBLOCKABLE = {
  blocked_by_budget = true, blocked_by_quota = true,
  blocked_by_route = true, blocked_by_operator = true,
}

---------------------------------------------------------------------------
-- ff_unblock_execution
--
-- Moves a blocked (route, budget, quota, operator) execution back to the
-- eligible ZSET. expected_blocking_reason, when given, must match.
-- Extension E1: an unblocked execution is published on "ff:wake:<lane>".
--
-- KEYS (3): exec_core, blocked_zset, lane_eligible
-- ARGV (3): execution_id, now_ms:int, expected_blocking_reason?
-- @reply ok(result)
-- @errors invalid_input, execution_not_found, execution_not_eligible
---------------------------------------------------------------------------
redis.register_function('ff_unblock_execution', function(keys, args)
  local bad_keys = H.need_keys(keys, 3)
  if bad_keys then return bad_keys end
  local eid = args[1] or ''
  local _, e = arg_num(args[2], 'now_ms')
  if e then return e end
  local c = hmget_map(keys[1], {'lifecycle_phase', 'eligibility_state', 'blocking_reason',
    'attempt_state', 'priority', 'created_at', 'lane_id'})
  if not c.lifecycle_phase then return err('execution_not_found') end
  if c.lifecycle_phase ~= 'runnable' then return err('execution_not_eligible') end
  if not UNBLOCKABLE[c.eligibility_state or ''] then return err('execution_not_eligible') end
  local expected = args[3] or ''
  if expected ~= '' and expected ~= c.blocking_reason then return err('execution_not_eligible') end
  local f = H.state('runnable', 'unowned', 'eligible_now', 'waiting_for_worker', '', 'none',
    c.attempt_state or 'pending_first_attempt', 'waiting')
  H.push(f, 'last_transition_at', args[2], 'last_mutation_at', args[2])
  redis.call('HSET', keys[1], unpack(f))
  redis.call('ZREM', keys[2], eid)
  redis.call('ZADD', keys[3], H.eligible_score(c.priority, c.created_at), eid)
  H.wake(c.lane_id, eid) -- extension E1
  return ok('unblocked')
end)

-- Closes an open suspension record and its primary waitpoint + condition with reason
-- (cancel path). Returns nothing. Extra waitpoints and composite state are left to the
-- suspension code.
local function close_suspension(susp_key, wp_key, cond_key, now, reason, close_wp)
  local sid = redis.call('HGET', susp_key, 'suspension_id')
  if not sid or sid == '' then return end
  redis.call('HSET', susp_key, 'closed_at', now, 'close_reason', reason)
  if close_wp then
    if redis.call('EXISTS', wp_key) == 1 then
      redis.call('HSET', wp_key, 'state', 'closed', 'closed_at', now, 'close_reason', reason)
    end
    if redis.call('EXISTS', cond_key) == 1 then
      redis.call('HSET', cond_key, 'closed', '1', 'closed_at', now, 'closed_reason', reason)
    end
  end
end

---------------------------------------------------------------------------
-- ff_cancel_execution
--
-- Cancels any non-terminal execution. For an active one the caller's lease
-- (if given) is checked unless source is operator_override. Removes the
-- execution from every scheduling index, also from the lease holder's
-- worker-lease set (DEVIATIONS.md D8).
--
-- KEYS (21): exec_core, attempt_hash, stream_meta, lease_current, lease_history,
--            lease_expiry, worker_leases, suspension_current, waitpoint_hash,
--            waitpoint_condition, suspension_timeout, lane_terminal, attempt_timeout,
--            execution_deadline, lane_eligible, lane_delayed, blocked_dependencies,
--            blocked_budget, blocked_quota, blocked_route, blocked_operator
-- ARGV (5): execution_id, reason?, source?, lease_id?, lease_epoch?
-- @reply ok(result, previous_phase)
-- @errors invalid_input, execution_not_found, execution_not_active, lease_revoked, stale_lease
---------------------------------------------------------------------------
redis.register_function('ff_cancel_execution', function(keys, args)
  local bad_keys = H.need_keys(keys, 21)
  if bad_keys then return bad_keys end
  local eid, reason, source = args[1] or '', args[2] or '', args[3] or ''
  local c = hmget_map(keys[1], LEASE_FIELDS, {'attempt_state'})
  local phase = c.lifecycle_phase
  if not phase then return err('execution_not_found') end
  if phase == 'terminal' then return err_not_active(c, 'terminal') end
  if phase == 'active' and source ~= 'operator_override' then
    if c.ownership_state == 'lease_revoked' then return err('lease_revoked') end
    if (args[4] or '') ~= '' then
      if args[4] ~= (c.current_lease_id or '') then return err('stale_lease') end
      if (args[5] or '') ~= (c.current_lease_epoch or '') then return err('stale_lease') end
    end
  end
  local now = now_ms()
  local has_attempt = H.set(c.current_attempt_index)
  if (phase == 'active' or phase == 'suspended') and has_attempt then
    redis.call('HSET', keys[2], 'attempt_state', 'ended_cancelled', 'ended_at', now,
      'failure_reason', 'cancelled: ' .. reason)
    H.close_stream(keys[3], now, 'attempt_cancelled', false)
  end
  if phase == 'active' then
    redis.call('DEL', keys[4])
    xadd_history(keys[5], 'event', 'released', 'lease_id', c.current_lease_id or '',
      'lease_epoch', c.current_lease_epoch or '', 'attempt_index', c.current_attempt_index or '',
      'reason', 'cancelled', 'ts', now)
  elseif phase == 'suspended' then
    close_suspension(keys[8], keys[9], keys[10], now, 'cancelled', true)
  end
  local f = H.state('terminal', 'unowned', 'not_applicable', 'none', '', 'cancelled',
    has_attempt and 'attempt_terminal' or (c.attempt_state or 'pending_first_attempt'), 'cancelled')
  H.push(f, 'cancellation_reason', reason, 'cancelled_by', source ~= '' and source or eid,
    'completed_at', now, 'current_lease_id', '', 'current_worker_id', '',
    'current_worker_instance_id', '', 'lease_expires_at', '', 'lease_last_renewed_at', '',
    'lease_renewal_deadline', '', 'current_suspension_id', '', 'current_waitpoint_id', '',
    'last_transition_at', now, 'last_mutation_at', now)
  redis.call('HSET', keys[1], unpack(f))
  local lane = c.lane_id or ''
  for i = 15, 21 do redis.call('ZREM', keys[i], eid) end
  redis.call('ZREM', H.idx_key(keys[1], 'lane:' .. lane .. ':active'), eid)
  redis.call('ZREM', H.idx_key(keys[1], 'lane:' .. lane .. ':suspended'), eid)
  redis.call('ZREM', keys[6], eid)
  redis.call('ZREM', keys[11], eid)
  redis.call('ZREM', keys[13], eid)
  redis.call('ZREM', keys[14], eid)
  redis.call('SREM', keys[7], eid)
  if H.set(c.current_worker_instance_id) then
    redis.call('SREM', H.idx_key(keys[1], 'worker:' .. c.current_worker_instance_id .. ':leases'), eid)
  end
  redis.call('ZADD', keys[12], now, eid)
  if source ~= 'flow_cascade' then H.publish_outcome(c.flow_id, eid, 'cancelled') end
  return ok('cancelled', phase)
end)

-- lane index suffix for each eligibility_state of a runnable execution (expire path).
local ELIGIBILITY_INDEX = {
  eligible_now = 'eligible', not_eligible_until_time = 'delayed',
  blocked_by_dependencies = 'blocked:dependencies', blocked_by_budget = 'blocked:budget',
  blocked_by_quota = 'blocked:quota', blocked_by_route = 'blocked:route',
  blocked_by_operator = 'blocked:operator',
}

---------------------------------------------------------------------------
-- ff_expire_execution
--
-- Attempt-timeout / execution-deadline scanner target: ends any non-terminal
-- execution as expired. Missing or already terminal executions only get
-- their timeout index entries removed.
--
-- KEYS (14): exec_core, attempt_hash, stream_meta, lease_current, lease_history,
--            lease_expiry, worker_leases, lane_active, lane_terminal, attempt_timeout,
--            execution_deadline, lane_suspended, suspension_timeout, suspension_current
-- ARGV (2): execution_id, expire_reason?
-- @reply ok(result, previous_phase?)
-- @errors invalid_input
---------------------------------------------------------------------------
redis.register_function('ff_expire_execution', function(keys, args)
  local bad_keys = H.need_keys(keys, 14)
  if bad_keys then return bad_keys end
  local eid = args[1] or ''
  local reason = args[2] or ''
  if reason == '' then reason = 'attempt_timeout' end
  local c = hmget_map(keys[1], LEASE_FIELDS, {'attempt_state'})
  local phase = c.lifecycle_phase
  if not phase or phase == 'terminal' then
    redis.call('ZREM', keys[10], eid)
    redis.call('ZREM', keys[11], eid)
    return ok(phase and 'already_terminal' or 'not_found_cleaned')
  end
  local now = now_ms()
  local has_attempt = H.set(c.current_attempt_index)
  if (phase == 'active' or phase == 'suspended') and has_attempt then
    redis.call('HSET', keys[2], 'attempt_state', 'ended_failure', 'ended_at', now,
      'failure_reason', reason)
    H.close_stream(keys[3], now, 'expired', false)
  end
  if phase == 'active' then
    local holder = false
    if H.set(c.current_worker_instance_id) then
      holder = H.idx_key(keys[1], 'worker:' .. c.current_worker_instance_id .. ':leases')
    end
    H.release_lease(eid, keys[4], keys[6], keys[8], keys[7], holder)
    xadd_history(keys[5], 'event', 'released', 'lease_id', c.current_lease_id or '',
      'lease_epoch', c.current_lease_epoch or '', 'attempt_index', c.current_attempt_index or '',
      'reason', 'expired:' .. reason, 'ts', now)
  elseif phase == 'suspended' then
    close_suspension(keys[14], nil, nil, now, 'expired:' .. reason, false)
    redis.call('ZREM', keys[12], eid)
    redis.call('ZREM', keys[13], eid)
  elseif phase == 'runnable' then
    local lane = 'lane:' .. (c.lane_id or '') .. ':'
    local which = ELIGIBILITY_INDEX[c.eligibility_state or '']
    if which then
      redis.call('ZREM', H.idx_key(keys[1], lane .. which), eid)
    else
      for _, w in pairs(ELIGIBILITY_INDEX) do redis.call('ZREM', H.idx_key(keys[1], lane .. w), eid) end
    end
  end
  local f = H.state('terminal', 'unowned', 'not_applicable', 'none', '', 'expired',
    has_attempt and 'attempt_terminal' or (c.attempt_state or 'pending_first_attempt'), 'expired')
  H.push(f, 'failure_reason', reason, 'completed_at', now, 'current_lease_id', '',
    'current_worker_id', '', 'current_worker_instance_id', '', 'lease_expires_at', '',
    'lease_last_renewed_at', '', 'lease_renewal_deadline', '', 'current_suspension_id', '',
    'current_waitpoint_id', '', 'last_transition_at', now, 'last_mutation_at', now)
  redis.call('HSET', keys[1], unpack(f))
  redis.call('ZREM', keys[10], eid)
  redis.call('ZREM', keys[11], eid)
  redis.call('ZADD', keys[9], now, eid)
  H.publish_outcome(c.flow_id, eid, 'expired')
  return ok('expired', phase)
end)
