-- Claiming: grants, new-attempt claim, resumed claim, reclaim after an expired
-- or revoked lease, and the one-call fast path ff_claim_next (an extension).

-- Writes a claim grant hash (grant ARGV layout 2..8) expiring at now + ttl; returns that time.
local function write_grant(grant_key, a, now, ttl)
  local exp = now + ttl
  redis.call('HSET', grant_key, 'worker_id', a[2] or '', 'worker_instance_id', a[3] or '',
    'lane_id', a[4] or '', 'capability_hash', a[5] or '', 'route_snapshot_json', a[7] or '',
    'admission_summary', a[8] or '', 'created_at', now, 'grant_expires_at', exp)
  redis.call('PEXPIREAT', grant_key, exp)
  return exp
end

-- Returns the decoded attempt policy (nil when raw is "" or "{}": no policy fields to
-- write), or nil plus an invalid_policy_json tuple (DEVIATIONS.md D4: validated before
-- any write).
local function decode_attempt_policy(raw)
  if raw == nil or raw == '' or raw == '{}' then return nil end
  local okd, p = pcall(cjson.decode, raw)
  if not okd then return nil, err('invalid_policy_json', 'attempt_policy:malformed') end
  if type(p) ~= 'table' then return nil, err('invalid_policy_json', 'attempt_policy:not_object') end
  return p
end

-- Returns nil when c may take a new attempt (§8.4 checks 3-8), else the error tuple.
local function claimable(c)
  if c.lifecycle_phase ~= 'runnable' then return err('execution_not_leaseable') end
  if c.ownership_state ~= 'unowned' then return err('lease_conflict') end
  if c.eligibility_state ~= 'eligible_now' then return err('execution_not_leaseable') end
  if (c.terminal_outcome or 'none') ~= 'none' then return err('execution_not_leaseable') end
  if c.attempt_state == 'running_attempt' then return err('active_attempt_exists') end
  if c.attempt_state == 'attempt_interrupted' then return err('use_claim_resumed_execution') end
  return nil
end

-- Writes a fresh lease: DEL + HSET lease:current, ZREM eligible, ZADD lease_expiry and
-- lane active (expires_at), SADD worker leases. k: named keys; a: named args.
local function write_lease(k, a, epoch, attempt_id, now, exp, renew_deadline)
  local eid = a.eid
  redis.call('DEL', k.lease_current)
  redis.call('HSET', k.lease_current, 'lease_id', a.lease_id, 'lease_epoch', epoch,
    'execution_id', eid, 'attempt_id', attempt_id, 'worker_id', a.worker_id,
    'worker_instance_id', a.worker_instance_id, 'acquired_at', now, 'expires_at', exp,
    'last_renewed_at', now, 'renewal_deadline', renew_deadline)
  if k.eligible then redis.call('ZREM', k.eligible, eid) end
  redis.call('ZADD', k.lease_expiry, exp, eid)
  redis.call('SADD', k.worker_leases, eid)
  redis.call('ZADD', k.active, exp, eid)
end

-- The claim's exec_core write (§8.4, DEVIATIONS.md D6) in one direct HSET (no intermediate
-- table: Lua 5.1 table growth is costly on the hot path), less terminal_outcome and
-- started_at; the varargs (field, value, ...) go last.
local function write_claim_core(core, a, idx, epoch, exp, renew_deadline, now, ...)
  redis.call('HSET', core, 'lifecycle_phase', 'active', 'ownership_state', 'leased',
    'eligibility_state', 'not_applicable', 'blocking_reason', 'none', 'blocking_detail', '',
    'attempt_state', 'running_attempt', 'public_state', 'active',
    'current_attempt_index', idx, 'total_attempt_count', idx + 1,
    'current_attempt_id', a.attempt_id, 'current_lease_id', a.lease_id,
    'current_lease_epoch', epoch, 'current_worker_id', a.worker_id,
    'current_worker_instance_id', a.worker_instance_id, 'current_lane', a.lane,
    'lease_acquired_at', now, 'lease_expires_at', exp, 'lease_last_renewed_at', now,
    'lease_renewal_deadline', renew_deadline, 'lease_expired_at', '', 'lease_revoked_at', '',
    'lease_revoke_reason', '', 'pending_retry_reason', '', 'pending_replay_reason', '',
    'pending_replay_requested_by', '', 'pending_previous_attempt_index', '',
    'last_transition_at', now, 'last_mutation_at', now, ...)
end

-- The exec_core fields a new-attempt claim reads first (ff_claim_execution, ff_claim_next):
-- v[1..8] = lifecycle_phase, ownership_state, eligibility_state, terminal_outcome,
-- attempt_state, current_lease_epoch, total_attempt_count, started_at.

-- Creates attempt <total_attempt_count> and its lease and moves the execution to running.
-- v holds exec_core's fields as read (layout above; false when absent); the pending_*
-- lineage of a retry or replay is read here (before exec_core is written). exec_core gets
-- the claim's fields (§8.4, DEVIATIONS.md D6) except those v shows already hold the value
-- the claim writes: terminal_outcome "none" and a set started_at (kept) are not rewritten
-- (lua/README.md, Cost).
-- k.attempt_base is "ff:attempt:T:E:". Returns lease_id, epoch, expires_at, attempt_id,
-- index, type (strings). Shared by ff_claim_execution and ff_claim_next so both write the
-- same state.
local function claim_new_attempt(k, a, v, now)
  local eid, core, st = a.eid, k.core, v[5]
  local epoch = (tonumber(v[6]) or 0) + 1
  local idx = tonumber(v[7]) or 0
  local exp = now + a.ttl
  local renew_deadline = now + a.renew_before
  local atype = 'initial'
  if st == 'pending_retry_attempt' then atype = 'retry'
  elseif st == 'pending_replay_attempt' then atype = 'replay' end
  local akey = k.attempt_base .. idx
  redis.call('HSET', akey, 'attempt_id', a.attempt_id, 'execution_id', eid, 'attempt_index', idx,
    'attempt_type', atype, 'attempt_state', 'started', 'created_at', now, 'started_at', now,
    'lease_id', a.lease_id, 'lease_epoch', epoch, 'worker_id', a.worker_id,
    'worker_instance_id', a.worker_instance_id)
  if atype == 'retry' then
    local p = redis.call('HMGET', core, 'pending_retry_reason', 'pending_previous_attempt_index')
    redis.call('HSET', akey, 'retry_reason', p[1] or '', 'previous_attempt_index', p[2] or '')
  elseif atype == 'replay' then
    local p = redis.call('HMGET', core, 'pending_replay_reason', 'pending_replay_requested_by',
      'pending_previous_attempt_index')
    redis.call('HSET', akey, 'replay_reason', p[1] or '', 'replay_requested_by', p[2] or '',
      'replayed_from_attempt_index', p[3] or '')
  end
  redis.call('ZADD', k.attempts, now, idx)
  redis.call('HSET', akey .. ':usage', 'last_usage_report_seq', '0')
  local policy = a.policy
  if policy then
    local pf, n = {}, 0
    for pk, pv in pairs(policy) do
      if type(pv) == 'table' then pv = cjson.encode(pv)
      elseif pv == cjson.null then pv = ''
      else pv = tostring(pv) end
      pf[n + 1], pf[n + 2] = tostring(pk), pv
      n = n + 2
    end
    if n > 0 then redis.call('HSET', akey .. ':policy', unpack(pf)) end
  end
  write_lease(k, a, epoch, a.attempt_id, now, exp, renew_deadline)
  -- started_at is set once: written only while empty (the varargs of write_claim_core)
  local started = v[8]
  if started == false or started == '' then
    write_claim_core(core, a, idx, epoch, exp, renew_deadline, now, 'started_at', now)
  else
    write_claim_core(core, a, idx, epoch, exp, renew_deadline, now)
  end
  -- claimable() let only terminal_outcome "none" or a missing field through; a missing
  -- field is written like any other
  if v[4] ~= 'none' then redis.call('HSET', core, 'terminal_outcome', 'none') end
  local at = a.attempt_timeout
  if at and at ~= 0 then redis.call('ZADD', k.attempt_timeout, now + at, eid) end
  local dl = a.deadline
  if dl and dl ~= 0 then redis.call('ZADD', k.deadline, dl, eid) end
  redis.call('XADD', k.lease_history, 'MAXLEN', '~', '1000', '*', 'event', 'acquired',
    'lease_id', a.lease_id, 'lease_epoch', epoch, 'attempt_id', a.attempt_id,
    'attempt_index', idx, 'worker_id', a.worker_id, 'ts', now)
  return a.lease_id, tostring(epoch), tostring(exp), a.attempt_id, tostring(idx), atype
end

-- Continues the interrupted attempt of c with a new lease. c needs current_lease_epoch,
-- current_attempt_id, current_attempt_index. Returns the reply fields (type "resumed").
local function claim_resumed_attempt(k, a, c, now)
  local epoch = (tonumber(c.current_lease_epoch) or 0) + 1
  local exp = now + a.ttl
  local renew_deadline = now + math.floor(a.ttl * 2 / 3)
  local aid, idx = c.current_attempt_id or '', c.current_attempt_index or ''
  redis.call('HSET', k.attempt, 'attempt_state', 'started', 'resumed_at', now,
    'lease_id', a.lease_id, 'lease_epoch', epoch, 'worker_id', a.worker_id,
    'worker_instance_id', a.worker_instance_id, 'suspended_at', '', 'suspension_id', '')
  write_lease(k, a, epoch, aid, now, exp, renew_deadline)
  redis.call('HSET', k.core, 'lifecycle_phase', 'active', 'ownership_state', 'leased',
    'eligibility_state', 'not_applicable', 'blocking_reason', 'none', 'blocking_detail', '',
    'terminal_outcome', 'none', 'attempt_state', 'running_attempt', 'public_state', 'active',
    'current_lease_id', a.lease_id, 'current_lease_epoch', epoch,
    'current_worker_id', a.worker_id, 'current_worker_instance_id', a.worker_instance_id,
    'current_lane', a.lane, 'lease_acquired_at', now, 'lease_expires_at', exp,
    'lease_last_renewed_at', now, 'lease_renewal_deadline', renew_deadline,
    'lease_expired_at', '', 'lease_revoked_at', '', 'lease_revoke_reason', '',
    'last_transition_at', now, 'last_mutation_at', now)
  if a.attempt_timeout and a.attempt_timeout > 0 then
    redis.call('ZADD', k.attempt_timeout, now + a.attempt_timeout, a.eid)
  end
  redis.call('XADD', k.lease_history, 'MAXLEN', '~', '1000', '*', 'event', 'acquired',
    'lease_id', a.lease_id, 'lease_epoch', epoch, 'attempt_index', idx, 'attempt_id', aid,
    'worker_id', a.worker_id, 'reason', 'claim_resumed', 'ts', now)
  return a.lease_id, tostring(epoch), tostring(exp), aid, idx, 'resumed'
end

---------------------------------------------------------------------------
-- ff_issue_claim_grant
--
-- Reserves a runnable, eligible execution for one worker for grant_ttl_ms,
-- after checking the worker's capabilities against the execution's required
-- capabilities. On a mismatch last_capability_mismatch_at is stamped and no
-- grant is written.
--
-- KEYS (3): exec_core, claim_grant, lane_eligible
-- ARGV (9): execution_id, worker_id, worker_instance_id, lane_id, capability_hash?,
--           grant_ttl_ms:int, route_snapshot_json?, admission_summary?, worker_capabilities_csv?
-- @reply ok(execution_id)
-- @errors invalid_input, execution_not_found, execution_not_eligible, grant_already_exists,
--         execution_not_in_eligible_set, invalid_capabilities, capability_mismatch
---------------------------------------------------------------------------
redis.register_function('ff_issue_claim_grant', function(keys, args)
  local bad_keys = H.need_keys(keys, 3)
  if bad_keys then return bad_keys end
  local eid = args[1] or ''
  local ttl, e = arg_num(args[6], 'grant_ttl_ms')
  if e then return e end
  local c = hmget_map(keys[1], {'lifecycle_phase', 'eligibility_state', 'required_capabilities'})
  if not c.lifecycle_phase then return err('execution_not_found') end
  if c.lifecycle_phase ~= 'runnable' then return err('execution_not_eligible') end
  if c.eligibility_state ~= 'eligible_now' then return err('execution_not_eligible') end
  if redis.call('EXISTS', keys[2]) == 1 then return err('grant_already_exists') end
  if not redis.call('ZSCORE', keys[3], eid) then return err('execution_not_in_eligible_set') end
  local now = now_ms()
  e = H.match_caps(c.required_capabilities, args[9])
  if e then
    if e[2] == 'capability_mismatch' then
      redis.call('HSET', keys[1], 'last_capability_mismatch_at', now)
    end
    return e
  end
  write_grant(keys[2], args, now, math.floor(ttl))
  return ok(eid)
end)

-- Returns nil when grant_key holds a grant for worker_id, else invalid_claim_grant;
-- the grant's expiry (number or nil) is the second result.
local function grant_for(grant_key, worker_id)
  local g = redis.call('HMGET', grant_key, 'worker_id', 'grant_expires_at')
  if not g[1] or g[1] ~= worker_id then return err('invalid_claim_grant') end
  return nil, tonumber(g[2])
end

---------------------------------------------------------------------------
-- ff_claim_execution
--
-- Consumes a claim grant and starts a new attempt (initial, retry or replay)
-- under a new lease. An interrupted attempt must be continued with
-- ff_claim_resumed_execution instead. KEYS 6-8 are accepted for wire
-- compatibility; the attempt keys are built from exec_core's key and the
-- attempt index. All ARGV (attempt policy JSON included) are validated
-- before any write.
--
-- KEYS (14): exec_core, claim_grant, lane_eligible, lease_expiry, worker_leases,
--            attempt_hash, attempt_usage, attempt_policy, attempts_zset, lease_current,
--            lease_history, lane_active, attempt_timeout, execution_deadline
-- ARGV (12): execution_id, worker_id, worker_instance_id, lane_id, capability_snapshot_hash?,
--            lease_id, lease_ttl_ms:int, renew_before_ms:int, attempt_id,
--            attempt_policy_json?, attempt_timeout_ms:int?, execution_deadline_at:int?
-- @reply ok(lease_id, lease_epoch:int, lease_expires_at:int, attempt_id, attempt_index:int,
--           attempt_type)
-- @errors invalid_input, invalid_policy_json, execution_not_found, execution_not_leaseable,
--         lease_conflict, active_attempt_exists, use_claim_resumed_execution,
--         invalid_claim_grant, claim_grant_expired
---------------------------------------------------------------------------
redis.register_function('ff_claim_execution', function(keys, args)
  if #keys < 14 then return H.need_keys(keys, 14) end
  local eid = args[1] or ''
  local ttl, e = arg_num(args[7], 'lease_ttl_ms')
  if e then return e end
  local renew_before, attempt_timeout, deadline, policy
  renew_before, e = arg_num(args[8], 'renew_before_ms')
  if e then return e end
  attempt_timeout, e = opt_num(args[11], 'attempt_timeout_ms', 0)
  if e then return e end
  deadline, e = opt_num(args[12], 'execution_deadline_at', 0)
  if e then return e end
  policy, e = decode_attempt_policy(args[10])
  if e then return e end
  local core = keys[1]
  local v = redis.call('HMGET', core, 'lifecycle_phase', 'ownership_state', 'eligibility_state',
    'terminal_outcome', 'attempt_state', 'current_lease_epoch', 'total_attempt_count', 'started_at')
  if not v[1] then return err('execution_not_found') end
  local c = {lifecycle_phase = v[1], ownership_state = v[2], eligibility_state = v[3],
    terminal_outcome = v[4], attempt_state = v[5], current_lease_epoch = v[6],
    total_attempt_count = v[7]}
  e = claimable(c)
  if e then return e end
  local a = {eid = eid, worker_id = args[2] or '', worker_instance_id = args[3] or '',
    lane = args[4] or '', lease_id = args[6] or '', attempt_id = args[9] or '',
    ttl = math.floor(ttl), renew_before = math.floor(renew_before), policy = policy,
    attempt_timeout = attempt_timeout, deadline = deadline}
  local gexp
  e, gexp = grant_for(keys[2], a.worker_id)
  if e then return e end
  local now = now_ms()
  if gexp and gexp < now then return err('claim_grant_expired') end
  redis.call('DEL', keys[2])
  local k = {core = core, eligible = keys[3], lease_expiry = keys[4], worker_leases = keys[5],
    attempts = keys[9], lease_current = keys[10], lease_history = keys[11], active = keys[12],
    attempt_timeout = keys[13], deadline = keys[14],
    attempt_base = 'ff:attempt:' .. exec_base(core, eid) .. ':'}
  return ok(claim_new_attempt(k, a, v, now))
end)

---------------------------------------------------------------------------
-- ff_claim_resumed_execution
--
-- Consumes a claim grant and continues the interrupted attempt (after a
-- self-delay, a suspension or waiting for children) under a new lease.
--
-- KEYS (11): exec_core, claim_grant, lane_eligible, lease_expiry, worker_leases,
--            attempt_hash, lease_current, lease_history, lane_active, attempt_timeout,
--            execution_deadline
-- ARGV (8): execution_id, worker_id, worker_instance_id, lane_id, capability_snapshot_hash?,
--           lease_id, lease_ttl_ms:int, remaining_attempt_timeout_ms:int?
-- @reply ok(lease_id, lease_epoch:int, lease_expires_at:int, attempt_id, attempt_index:int,
--           attempt_type)
-- @errors invalid_input, execution_not_found, execution_not_leaseable, not_a_resumed_execution,
--         invalid_claim_grant, claim_grant_expired
---------------------------------------------------------------------------
redis.register_function('ff_claim_resumed_execution', function(keys, args)
  local bad_keys = H.need_keys(keys, 11)
  if bad_keys then return bad_keys end
  local a = {eid = args[1] or '', worker_id = args[2] or '', worker_instance_id = args[3] or '',
    lane = args[4] or '', lease_id = args[6] or ''}
  local e
  a.ttl, e = arg_num(args[7], 'lease_ttl_ms')
  if e then return e end
  a.attempt_timeout, e = opt_num(args[8], 'remaining_attempt_timeout_ms', 0)
  if e then return e end
  a.ttl = math.floor(a.ttl)
  local c = hmget_map(keys[1], {'lifecycle_phase', 'attempt_state', 'current_lease_epoch',
    'current_attempt_id', 'current_attempt_index'})
  if not c.lifecycle_phase then return err('execution_not_found') end
  if c.lifecycle_phase ~= 'runnable' then return err('execution_not_leaseable') end
  if c.attempt_state ~= 'attempt_interrupted' then return err('not_a_resumed_execution') end
  local gexp
  e, gexp = grant_for(keys[2], a.worker_id)
  if e then return e end
  local now = now_ms()
  redis.call('DEL', keys[2])
  if gexp and gexp < now then return err('claim_grant_expired') end
  local k = {core = keys[1], eligible = keys[3], lease_expiry = keys[4], worker_leases = keys[5],
    attempt = keys[6], lease_current = keys[7], lease_history = keys[8], active = keys[9],
    attempt_timeout = keys[10]}
  return ok(claim_resumed_attempt(k, a, c, now))
end)

---------------------------------------------------------------------------
-- ff_issue_reclaim_grant
--
-- Reserves an active execution whose lease expired or was revoked for a
-- worker that will take it over with ff_reclaim_execution.
--
-- KEYS (3): exec_core, claim_grant, lease_expiry
-- ARGV (9): execution_id, worker_id, worker_instance_id, lane_id, capability_hash?,
--           grant_ttl_ms:int, route_snapshot_json?, admission_summary?, worker_capabilities_csv?
-- @reply ok(execution_id, grant_expires_at:int)
-- @errors invalid_input, execution_not_found, execution_not_reclaimable, grant_already_exists,
--         invalid_capabilities, capability_mismatch
---------------------------------------------------------------------------
redis.register_function('ff_issue_reclaim_grant', function(keys, args)
  local bad_keys = H.need_keys(keys, 3)
  if bad_keys then return bad_keys end
  local eid = args[1] or ''
  local ttl, e = arg_num(args[6], 'grant_ttl_ms')
  if e then return e end
  local c = hmget_map(keys[1], {'lifecycle_phase', 'ownership_state', 'required_capabilities'})
  if not c.lifecycle_phase then return err('execution_not_found') end
  if c.lifecycle_phase ~= 'active' then return err('execution_not_reclaimable') end
  if c.ownership_state ~= 'lease_expired_reclaimable' and c.ownership_state ~= 'lease_revoked' then
    return err('execution_not_reclaimable')
  end
  if redis.call('EXISTS', keys[2]) == 1 then return err('grant_already_exists') end
  local now = now_ms()
  e = H.match_caps(c.required_capabilities, args[9])
  if e then
    if e[2] == 'capability_mismatch' then
      redis.call('HSET', keys[1], 'last_capability_mismatch_at', now)
    end
    return e
  end
  return ok(eid, tostring(write_grant(keys[2], args, now, math.floor(ttl))))
end)

---------------------------------------------------------------------------
-- ff_reclaim_execution
--
-- A second worker takes over an execution whose lease expired or was
-- revoked: the old attempt ends interrupted_reclaimed and a new attempt
-- (type reclaim) starts under a new lease. At the reclaim cap the execution
-- fails terminally instead (max_retries_exhausted, no grant needed). The cap
-- is default_max_reclaim_count (100 when absent), overridden by the stored
-- policy's max_reclaim_count (JSON null = absent). attempt_policy_json and
-- KEYS 5-6 are accepted for wire compatibility and not used.
--
-- KEYS (14): exec_core, claim_grant, old_attempt_hash, old_stream_meta, new_attempt_hash,
--            new_attempt_usage, attempts_zset, lease_current, lease_history, lease_expiry,
--            worker_leases, lane_active, attempt_timeout, execution_deadline
-- ARGV (8 or 9): execution_id, worker_id, worker_instance_id, lane_id, lease_id,
--                lease_ttl_ms:int, attempt_id, attempt_policy_json?,
--                [default_max_reclaim_count:int]
-- @reply ok(lease_id, lease_epoch:int, lease_expires_at:int, attempt_id, attempt_index:int,
--           attempt_type)
-- @errors invalid_input, execution_not_found, execution_not_reclaimable,
--         max_retries_exhausted, invalid_claim_grant
---------------------------------------------------------------------------
redis.register_function('ff_reclaim_execution', function(keys, args)
  local bad_keys = H.need_keys(keys, 14)
  if bad_keys then return bad_keys end
  local eid = args[1] or ''
  local a = {eid = eid, worker_id = args[2] or '', worker_instance_id = args[3] or '',
    lane = args[4] or '', lease_id = args[5] or '', attempt_id = args[7] or ''}
  local e, max
  a.ttl, e = arg_num(args[6], 'lease_ttl_ms')
  if e then return e end
  max, e = opt_num(args[9], 'default_max_reclaim_count', 100)
  if e then return e end
  a.ttl = math.floor(a.ttl)
  local c = hmget_map(keys[1], LEASE_FIELDS, {'lease_reclaim_count', 'total_attempt_count'})
  if not c.lifecycle_phase then return err('execution_not_found') end
  if c.lifecycle_phase ~= 'active' then return err('execution_not_reclaimable') end
  local own = c.ownership_state
  if own ~= 'lease_expired_reclaimable' and own ~= 'lease_revoked' then
    return err('execution_not_reclaimable')
  end
  local raw_policy = redis.call('GET', 'ff:exec:' .. exec_base(keys[1], eid) .. ':policy')
  if raw_policy then
    local okd, p = pcall(cjson.decode, raw_policy)
    if okd and type(p) == 'table' and not H.absent(p.max_reclaim_count) then
      max = tonumber(p.max_reclaim_count) or max
    end
  end
  local count = tonumber(c.lease_reclaim_count) or 0
  local now = now_ms()
  local old_set = false
  if H.set(c.current_worker_instance_id) then
    old_set = H.idx_key(keys[1], 'worker:' .. c.current_worker_instance_id .. ':leases')
  end
  if count >= max then
    local f = H.state('terminal', 'unowned', 'not_applicable', 'none', '', 'failed',
      'attempt_terminal', 'failed')
    H.push(f, 'failure_reason', 'max_reclaims_exceeded', 'completed_at', now,
      'current_lease_id', '', 'current_worker_id', '', 'current_worker_instance_id', '',
      'last_transition_at', now, 'last_mutation_at', now)
    redis.call('HSET', keys[1], unpack(f))
    H.release_lease(eid, keys[8], keys[10], keys[12], keys[11], old_set)
    redis.call('ZREM', keys[13], eid)
    redis.call('ZREM', keys[14], eid)
    redis.call('ZADD', H.idx_key(keys[1], 'lane:' .. (c.lane_id or '') .. ':terminal'), now, eid)
    return err('max_retries_exhausted', tostring(max))
  end
  e = grant_for(keys[2], a.worker_id)
  if e then return e end
  redis.call('DEL', keys[2])
  redis.call('HSET', keys[3], 'attempt_state', 'interrupted_reclaimed', 'ended_at', now,
    'failure_reason', 'lease_' .. own)
  H.close_stream(keys[4], now, 'reclaimed', false)
  local epoch = (tonumber(c.current_lease_epoch) or 0) + 1
  local idx = tonumber(c.total_attempt_count) or 0
  local exp = now + a.ttl
  local renew_deadline = now + math.floor(a.ttl * 2 / 3)
  local akey = H.attempt_key(keys[1], eid, idx)
  redis.call('HSET', akey, 'attempt_id', a.attempt_id, 'execution_id', eid, 'attempt_index', idx,
    'attempt_type', 'reclaim', 'attempt_state', 'started', 'created_at', now, 'started_at', now,
    'lease_id', a.lease_id, 'lease_epoch', epoch, 'worker_id', a.worker_id,
    'worker_instance_id', a.worker_instance_id, 'reclaim_reason', 'lease_' .. own,
    'previous_attempt_index', c.current_attempt_index or '')
  redis.call('ZADD', keys[7], now, idx)
  redis.call('HSET', akey .. ':usage', 'last_usage_report_seq', '0')
  if old_set and old_set ~= keys[11] then redis.call('SREM', old_set, eid) end
  write_lease({lease_current = keys[8], lease_expiry = keys[10], worker_leases = keys[11],
    active = keys[12]}, a, epoch, a.attempt_id, now, exp, renew_deadline)
  local f = H.state('active', 'leased', 'not_applicable', 'none', '', 'none',
    'running_attempt', 'active')
  H.push(f, 'current_attempt_index', idx, 'total_attempt_count', idx + 1,
    'current_attempt_id', a.attempt_id, 'current_lease_id', a.lease_id,
    'current_lease_epoch', epoch, 'current_worker_id', a.worker_id,
    'current_worker_instance_id', a.worker_instance_id, 'current_lane', a.lane,
    'lease_acquired_at', now, 'lease_expires_at', exp, 'lease_last_renewed_at', now,
    'lease_renewal_deadline', renew_deadline, 'lease_expired_at', '', 'lease_revoked_at', '',
    'lease_revoke_reason', '', 'lease_reclaim_count', count + 1,
    'last_transition_at', now, 'last_mutation_at', now)
  redis.call('HSET', keys[1], unpack(f))
  xadd_history(keys[9], 'event', 'reclaimed', 'old_lease_epoch', c.current_lease_epoch or '',
    'new_lease_id', a.lease_id, 'new_lease_epoch', epoch, 'new_attempt_id', a.attempt_id,
    'new_attempt_index', idx, 'worker_id', a.worker_id, 'ts', now)
  return ok(a.lease_id, tostring(epoch), tostring(exp), a.attempt_id, tostring(idx), 'reclaim')
end)

-- The named args (a) and keys (k) ff_claim_next hands to claim_new_attempt /
-- claim_resumed_attempt, reused from call to call: two fresh 11-13 field tables were about
-- 40% of the Lua memory a claim allocates, and the garbage collector's work follows it
-- (lua/README.md, Cost). Calls never overlap (one function runs at a time, and these
-- tables never leave the call).
local claim_next_a, claim_next_k = {}, {}

---------------------------------------------------------------------------
-- ff_claim_next
--
-- Extension (not in FlowFabric's contract): one-call claim inside one
-- partition. Looks at the best scan_limit members of the lane's eligible
-- ZSET (default 16) and claims the first one this worker may take, writing
-- exactly what ff_issue_claim_grant followed by ff_claim_execution (or
-- ff_claim_resumed_execution for an interrupted attempt) would write. A
-- candidate whose required capabilities the worker lacks is blocked as
-- ff_block_execution_for_admission(waiting_for_capable_worker) would block it
-- (server time); candidates with an outstanding grant are skipped. The reply
-- carries what the worker needs: ids, lease, attempt, kind, payload and tags
-- (flat key/value tail).
--
-- KEYS (7): lane_eligible, lane_blocked_route, lease_expiry, worker_leases, lane_active,
--           attempt_timeout, execution_deadline
-- ARGV (11): worker_id, worker_instance_id, lane_id, worker_capabilities_csv?, lease_id,
--            attempt_id, lease_ttl_ms:int, renew_before_ms:int, attempt_policy_json?,
--            attempt_timeout_ms:int?, scan_limit:int?
-- @reply ok(execution_id, lease_id, lease_epoch:int, lease_expires_at:int, attempt_id,
--           attempt_index:int, attempt_type, execution_kind, namespace, payload:bytes,
--           tags...)
-- @errors invalid_input, invalid_policy_json, invalid_capabilities, no_eligible_execution
---------------------------------------------------------------------------
redis.register_function('ff_claim_next', function(keys, args)
  if #keys < 7 then return H.need_keys(keys, 7) end
  local ttl, e = arg_num(args[7], 'lease_ttl_ms')
  if e then return e end
  local renew_before, policy, attempt_timeout, limit
  renew_before, e = arg_num(args[8], 'renew_before_ms')
  if e then return e end
  policy, e = decode_attempt_policy(args[9])
  if e then return e end
  attempt_timeout, e = opt_num(args[10], 'attempt_timeout_ms', 0)
  if e then return e end
  limit, e = opt_num(args[11], 'scan_limit', 16)
  if e then return e end
  local wcaps = args[4]
  -- a CSV of at most 512 bytes holds at most 256 tokens: parse_caps can only fail above that
  if wcaps and #wcaps > 512 then
    local _, werr = H.parse_caps(wcaps, 'worker')
    if werr then return werr end
  end
  limit = math.max(1, math.min(1000, math.floor(limit)))
  local eligible = keys[1]
  local tag = hash_tag(eligible)
  local now
  -- the head is nearly always claimable: fetch it alone, the rest of the window only if not
  local ids = redis.call('ZRANGE', eligible, 0, 0)
  local i, n, whole = 1, #ids, limit == 1
  while i <= n do
    local eid = ids[i]
    local base = 'ff:exec:' .. tag .. ':' .. eid .. ':'
    local core = base .. 'core'
    local v = redis.call('HMGET', core, 'lifecycle_phase', 'ownership_state', 'eligibility_state',
      'terminal_outcome', 'attempt_state', 'current_lease_epoch', 'total_attempt_count',
      'started_at', 'required_capabilities', 'execution_kind', 'namespace')
    local st = v[5]
    local resumed = st == 'attempt_interrupted'
    local usable = v[1] == 'runnable' and v[3] == 'eligible_now'
      and redis.call('EXISTS', base .. 'claim_grant') == 0
    -- claimable() for a new attempt (phase and eligibility are checked above)
    if usable and not resumed and (v[2] ~= 'unowned' or (v[4] or 'none') ~= 'none'
      or st == 'running_attempt') then
      usable = false
    end
    local req = v[9]
    if usable and req and req ~= '' then
      now = now or now_ms()
      local miss = H.match_caps(req, wcaps)
      if miss then
        usable = false
        if not whole then
          -- the whole window, read before this candidate leaves the eligible ZSET
          ids, whole = redis.call('ZRANGE', eligible, 0, limit - 1), true
          n = #ids
        end
        if miss[2] == 'capability_mismatch' then
          redis.call('HSET', core, 'lifecycle_phase', 'runnable', 'ownership_state', 'unowned',
            'eligibility_state', 'blocked_by_route', 'blocking_reason', 'waiting_for_capable_worker',
            'blocking_detail', 'no connected worker satisfies required_capabilities',
            'terminal_outcome', 'none', 'attempt_state', st or 'pending_first_attempt',
            'public_state', 'rate_limited', 'last_capability_mismatch_at', now,
            'last_transition_at', now, 'last_mutation_at', now)
          redis.call('ZREM', eligible, eid)
          redis.call('ZADD', keys[2], now, eid)
        end
      end
    end
    if usable then
      now = now or now_ms()
      -- every field of both is assigned on every claim (see claim_next_a)
      local a, k = claim_next_a, claim_next_k
      a.eid, a.worker_id, a.worker_instance_id = eid, args[1] or '', args[2] or ''
      a.lane, a.lease_id, a.attempt_id = args[3] or '', args[5] or '', args[6] or ''
      a.ttl, a.renew_before, a.policy = math.floor(ttl), math.floor(renew_before), policy
      a.attempt_timeout, a.deadline = attempt_timeout, false
      k.core, k.eligible, k.lease_expiry, k.worker_leases = core, eligible, keys[3], keys[4]
      k.active, k.attempt_timeout, k.deadline = keys[5], keys[6], keys[7]
      k.attempts, k.lease_current = base .. 'attempts', base .. 'lease:current'
      k.lease_history, k.attempt = base .. 'lease:history', false
      k.attempt_base = 'ff:attempt:' .. tag .. ':' .. eid .. ':'
      local lid, epoch, exp, aid, idx, atype
      if resumed then
        local r = redis.call('HMGET', core, 'current_attempt_id', 'current_attempt_index')
        k.attempt = k.attempt_base .. (r[2] or '')
        a.attempt_timeout = 0
        lid, epoch, exp, aid, idx, atype = claim_resumed_attempt(k, a, {current_lease_epoch = v[6],
          current_attempt_id = r[1], current_attempt_index = r[2]}, now)
      else
        lid, epoch, exp, aid, idx, atype = claim_new_attempt(k, a, v, now)
      end
      local reply = {1, 'OK', eid, lid, epoch, exp, aid, idx, atype, v[10] or '', v[11] or '',
        redis.call('GET', base .. 'payload') or ''}
      local tags = redis.call('HGETALL', base .. 'tags')
      for j = 1, #tags do reply[12 + j] = tags[j] end
      return reply
    end
    if not whole then
      ids, whole = redis.call('ZRANGE', eligible, 0, limit - 1), true
      n = #ids
    end
    i = i + 1
  end
  return err('no_eligible_execution')
end)
