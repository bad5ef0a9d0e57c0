-- Suspension: suspend an active execution on one or more waitpoints, resume it
-- explicitly, and expire it when its timeout passes.

-- reason_code -> exec_core.blocking_reason (anything else: waiting_for_signal).
SS.BLOCKING = {
  waiting_for_signal = 'waiting_for_signal', waiting_for_approval = 'waiting_for_approval',
  waiting_for_callback = 'waiting_for_callback',
  waiting_for_tool_result = 'waiting_for_tool_result',
  waiting_for_operator_review = 'paused_by_operator', paused_by_policy = 'paused_by_policy',
  paused_by_budget = 'waiting_for_budget', step_boundary = 'waiting_for_signal',
  manual_pause = 'paused_by_operator',
}

-- Returns the parts of s split on TAB, keeping empty parts.
function SS.split_tab(s)
  local out, start = {}, 1
  while true do
    local i = string.find(s, '\t', start, true)
    if i == nil then
      out[#out + 1] = string.sub(s, start)
      return out
    end
    out[#out + 1] = string.sub(s, start, i - 1)
    start = i + 1
  end
end

-- Writes a condition hash from scratch.
function SS.write_cond(k_cond, cond, st, now)
  redis.call('DEL', k_cond)
  redis.call('HSET', k_cond, unpack(SS.cond_fields(cond, st, now)))
end

-- Stores a suspend outcome under the dedup key (TAB-joined reply fields).
function SS.store_outcome(k_dedup, ttl, reply)
  local parts = {}
  for i = 2, #reply do parts[#parts + 1] = reply[i] end
  redis.call('HSET', k_dedup, 'outcome', table.concat(parts, '\t'))
  if ttl > 0 then redis.call('PEXPIRE', k_dedup, ttl) end
end

---------------------------------------------------------------------------
-- ff_suspend_execution
--
-- Releases the lease of an active execution and suspends it on a waitpoint: a fresh
-- one (waitpoint_id/key minted by the caller) or, with use_pending_waitpoint "1", the
-- pending waitpoint created earlier, whose buffered signals are replayed against the
-- condition first: when they already satisfy it the reply is already_satisfied and the
-- execution keeps its lease. Extra waitpoints (fresh only) share the composite
-- condition. Every token is minted here. A non-empty idempotency_key (with the dedup
-- key in KEYS) makes a replay return the first reply without any check. Everything is
-- validated before the first write (resume_condition_json, numbers, extras, tokens).
-- timeout_behavior: fail (default), cancel, expire, auto_resume,
-- auto_resume_with_timeout_signal, escalate. Set num_extra_waitpoints to the number
-- of extras. The 17 KEYS / 17 ARGV shape without dedup and extras is accepted too.
--
-- KEYS (18+3*N): exec_core, attempt_hash, lease_current, lease_history, lease_expiry,
--                worker_leases, suspension_current, waitpoint_hash, waitpoint_signals,
--                suspension_timeout, pending_waitpoint_expiry, lane_active,
--                lane_suspended, waitpoint_history, waitpoint_condition,
--                attempt_timeout, hmac_secrets, suspend_dedup,
--                extra(waitpoint_hash, waitpoint_signals, waitpoint_condition)...
-- ARGV (20+2*N): execution_id, attempt_index:int, attempt_id?, lease_id?, lease_epoch?,
--                suspension_id, waitpoint_id, waitpoint_key?, reason_code,
--                requested_by?, timeout_at:int?, resume_condition_json,
--                resume_policy_json?, continuation_metadata_pointer?,
--                use_pending_waitpoint:bool?, timeout_behavior?,
--                lease_history_maxlen:int?, idempotency_key?, dedup_ttl_ms:int?,
--                num_extra_waitpoints:int, extra(waitpoint_id, waitpoint_key)...
-- @reply ok(suspension_id, waitpoint_id, waitpoint_key, waitpoint_token,
--           extra_count:int, extra_tokens...)
--        | already_satisfied(suspension_id, waitpoint_id, waitpoint_key,
--           waitpoint_token, extra_count:int)
-- @errors invalid_input, additional_waitpoint_binding_malformed, execution_not_found,
--         partial_fence_triple, fence_required, execution_not_active, lease_revoked,
--         lease_expired, stale_lease, invalid_lease_for_suspend, already_suspended,
--         waitpoint_not_found, waitpoint_not_pending, invalid_waitpoint_for_execution,
--         pending_waitpoint_expired, waitpoint_not_token_bound,
--         use_pending_with_extras_unsupported, invalid_keys_missing_hmac,
--         hmac_secret_not_initialized, invalid_secret
---------------------------------------------------------------------------
redis.register_function('ff_suspend_execution', function(keys, args)
  local e = H.need_keys(keys, 16)
  if e then return e end
  local eid, idx = args[1] or '', args[2] or ''
  local susp_id, wp_id, wp_key = args[6] or '', args[7] or '', args[8] or ''
  local reason, by = args[9] or '', args[10] or ''
  local timeout_raw, cond_json = args[11] or '', args[12]
  local use_pending = args[15] == '1'
  local behavior = args[16]
  if behavior == nil or behavior == '' then behavior = 'fail' end
  local idem = args[18] or ''
  local k_dedup = keys[18]
  local n
  n, e = SS.int(args[20], 'num_extra_waitpoints', 0)
  if n == nil then return e end
  if n < 0 or math.floor(n) ~= n or n > 1000 then
    return err('invalid_input', 'num_extra_waitpoints must be a small non-negative integer')
  end
  -- 0. extras bindings
  for x = 0, n - 1 do
    local xid, xkey = args[21 + 2 * x], args[22 + 2 * x]
    if xid == nil or xid == '' or xkey == nil or xkey == '' then
      return err('additional_waitpoint_binding_malformed', tostring(x))
    end
  end
  if (n > 0 and #keys ~= 18 + 3 * n) or #keys > 18 + 3 * n then
    return err('invalid_input', 'KEYS must hold 18 + 3 * num_extra_waitpoints keys')
  end
  if #args > 20 + 2 * n then
    return err('invalid_input', 'ARGV holds more extra waitpoints than num_extra_waitpoints')
  end
  -- 1. dedup replay
  local dedup_on = idem ~= '' and H.set(k_dedup)
  if dedup_on then
    local stored = redis.call('HGET', k_dedup, 'outcome')
    if stored then
      local parts = SS.split_tab(stored)
      if #parts >= 5 then
        local r = {1}
        for i, p in ipairs(parts) do r[i + 1] = p end
        if r[2] ~= 'ALREADY_SATISFIED' then r[2] = 'OK' end
        return r
      end
    end
  end
  -- input validation (no writes before it; spec §13.12 fixed)
  local timeout_at
  if timeout_raw ~= '' then
    timeout_at, e = SS.int(timeout_raw, 'timeout_at')
    if timeout_at == nil then return e end
  end
  local maxlen
  maxlen, e = SS.int(args[17], 'lease_history_maxlen', 1000)
  if maxlen == nil then return e end
  local ttl
  ttl, e = SS.int(args[19], 'dedup_ttl_ms', 0)
  if ttl == nil then return e end
  if susp_id == '' or wp_id == '' then
    return err('invalid_input', 'suspension_id and waitpoint_id must not be empty')
  end
  local cond, why = SS.parse_condition(cond_json)
  if cond == nil then return err('invalid_input', why) end
  -- 2.-5. execution and lease
  local k_core = keys[1]
  if redis.call('EXISTS', k_core) == 0 then return err('execution_not_found') end
  local c = hmget_map(k_core, LEASE_FIELDS, {'priority', 'created_at'})
  local lease_id, lease_epoch, attempt_id = resolve_fence(c, args[4], args[5], args[3], false)
  if lease_id == nil then return lease_epoch end
  local now = now_ms()
  e = lease_check(k_core, keys[4], eid, c, now, lease_id, lease_epoch, attempt_id)
  if e then return e end
  if (c.current_attempt_index or '') ~= idx then return err('invalid_lease_for_suspend') end
  -- 6. previous suspension
  local k_susp = keys[7]
  local old = hmget_map(k_susp, {'suspension_id', 'closed_at', 'waitpoint_id'})
  if H.set(old.suspension_id) and not H.set(old.closed_at) then
    return err('already_suspended')
  end
  -- 7. waitpoint checks / signer
  local k_wp, k_cond = keys[8], keys[15]
  local token, signer
  if use_pending then
    local w = SS.hgetall(k_wp)
    if next(w) == nil then return err('waitpoint_not_found') end
    if w.state ~= 'pending' then return err('waitpoint_not_pending') end
    if w.execution_id ~= eid or w.attempt_index ~= idx then
      return err('invalid_waitpoint_for_execution')
    end
    local wexp = tonumber(w.expires_at)
    if H.set(w.expires_at) and (wexp == nil or wexp <= now) then
      return err('pending_waitpoint_expired')
    end
    if not H.set(w.waitpoint_token) then return err('waitpoint_not_token_bound') end
    if n > 0 then return err('use_pending_with_extras_unsupported') end
    wp_id, wp_key, token = w.waitpoint_id or wp_id, w.waitpoint_key or '', w.waitpoint_token
  else
    local code
    signer, code = SS.signer(keys[17])
    if signer == nil then return err(code) end
    token = SS.mint(signer, wp_id, wp_key, now)
  end

  -- writes from here on
  if H.set(old.suspension_id) then
    if H.set(old.waitpoint_id) then redis.call('SADD', keys[14], old.waitpoint_id) end
    redis.call('DEL', k_susp)
  end
  local timeout_s = timeout_at and string.format('%d', timeout_at) or ''
  local st = (not cond.composite) and SS.nc_new(cond) or nil
  if use_pending then
    redis.call('HSET', k_wp, 'suspension_id', susp_id, 'state', 'active', 'activated_at', now,
      'expires_at', timeout_s)
    redis.call('ZREM', keys[11], wp_id)
    if st then
      local entries = redis.call('XRANGE', keys[9], '-', '+')
      local done = false
      for _, ent in ipairs(entries) do
        local f, name, sig = ent[2], '', ''
        for i = 1, #f, 2 do
          if f[i] == 'signal_name' then name = f[i + 1] end
          if f[i] == 'signal_id' then sig = f[i + 1] end
        end
        if SS.nc_offer(st, name, sig) and SS.nc_done(st) then
          done = true
          break
        end
      end
      SS.write_cond(k_cond, cond, st, now)
      if done then
        redis.call('HSET', k_wp, 'state', 'closed', 'satisfied_at', now, 'closed_at', now,
          'close_reason', 'resumed')
        local r = ok_already_satisfied(susp_id, wp_id, wp_key, token, '0')
        if dedup_on then SS.store_outcome(k_dedup, ttl, r) end
        return r
      end
    else
      SS.write_cond(k_cond, cond, st, now)
    end
  else
    redis.call('HSET', k_wp, 'waitpoint_id', wp_id, 'execution_id', eid, 'attempt_index', idx,
      'suspension_id', susp_id, 'waitpoint_key', wp_key, 'waitpoint_token', token,
      'state', 'active', 'created_at', now, 'activated_at', now, 'expires_at', timeout_s,
      'satisfied_at', '', 'closed_at', '', 'close_reason', '', 'signal_count', '0',
      'matched_signal_count', '0', 'last_signal_at', '')
    SS.write_cond(k_cond, cond, st, now)
  end
  local reply = ok(susp_id, wp_id, wp_key, token, tostring(n))
  local extras = {}
  for x = 0, n - 1 do
    local xid, xkey = args[21 + 2 * x], args[22 + 2 * x]
    local xtoken = SS.mint(signer, xid, xkey, now)
    local xk = 19 + 3 * x
    redis.call('HSET', keys[xk], 'waitpoint_id', xid, 'execution_id', eid,
      'attempt_index', idx, 'suspension_id', susp_id, 'waitpoint_key', xkey,
      'waitpoint_token', xtoken, 'state', 'active', 'created_at', now, 'activated_at', now,
      'expires_at', timeout_s, 'satisfied_at', '', 'closed_at', '', 'close_reason', '',
      'signal_count', '0', 'matched_signal_count', '0', 'last_signal_at', '')
    local xst = nil
    if not cond.composite then xst = SS.nc_new(cond) end
    SS.write_cond(keys[xk + 2], cond, xst, now)
    redis.call('SADD', keys[14], xid)
    extras[#extras + 1] = {waitpoint_id = xid, waitpoint_key = xkey}
    H.push(reply, xid, xkey, xtoken)
  end
  redis.call('SADD', keys[14], wp_id)
  -- 10.-12. execution, attempt, lease
  local f = H.state('suspended', 'unowned', 'not_applicable',
    SS.BLOCKING[reason] or 'waiting_for_signal',
    'suspended: waitpoint ' .. wp_id .. ' awaiting ' .. reason, 'none',
    'attempt_interrupted', 'suspended')
  H.push(f, 'current_lease_id', '', 'current_worker_id', '', 'current_worker_instance_id', '',
    'lease_expires_at', '', 'lease_last_renewed_at', '', 'lease_renewal_deadline', '',
    'current_suspension_id', susp_id, 'current_waitpoint_id', wp_id,
    'last_transition_at', now, 'last_mutation_at', now)
  redis.call('HSET', k_core, unpack(f))
  redis.call('HSET', keys[2], 'attempt_state', 'suspended', 'suspended_at', now,
    'suspension_id', susp_id)
  H.release_lease(eid, keys[3], keys[5], keys[12], keys[6])
  redis.call('ZREM', keys[16], eid)
  redis.call('XADD', keys[4], 'MAXLEN', '~', maxlen, '*', 'event', 'released',
    'lease_id', lease_id, 'lease_epoch', lease_epoch, 'attempt_index', idx,
    'attempt_id', c.current_attempt_id or '', 'reason', 'suspend', 'ts', now)
  -- 13.-15. suspension record, member map, indexes
  local extras_json = '[]'
  if #extras > 0 then extras_json = cjson.encode(extras) end
  redis.call('HSET', k_susp, 'suspension_id', susp_id, 'execution_id', eid,
    'attempt_index', idx, 'waitpoint_id', wp_id, 'waitpoint_key', wp_key,
    'additional_waitpoints_json', extras_json, 'reason_code', reason, 'requested_by', by,
    'created_at', now, 'timeout_at', timeout_s, 'timeout_behavior', behavior,
    'resume_condition_json', cond_json, 'resume_policy_json', args[13] or '',
    'continuation_metadata_pointer', args[14] or '',
    'buffered_signal_summary_json', '{"total_count":0,"matched_count":0,"signal_names":[]}',
    'last_signal_at', '', 'satisfied_at', '', 'closed_at', '', 'close_reason', '')
  if cond.composite and cond.tree then
    local wpks = {wp_key}
    for _, x in ipairs(extras) do wpks[#wpks + 1] = x.waitpoint_key end
    for _, key in ipairs(wpks) do
      local cands = {}
      SS.comp_collect(cond.tree, key, cands, 1)
      for _, node in ipairs(cands) do
        local p = SS.path(node)
        redis.call('HSETNX', k_susp .. ':member_map', 'wp:' .. key .. ':' .. p, p)
      end
    end
  end
  redis.call('ZADD', keys[13], timeout_at or 9999999999999, eid)
  if timeout_at then redis.call('ZADD', keys[10], timeout_at, eid) end
  if dedup_on then SS.store_outcome(k_dedup, ttl, reply) end
  return reply
end)

---------------------------------------------------------------------------
-- ff_resume_execution
--
-- Resumes a suspended execution without a signal (operator or policy): no token, no
-- lease and no condition check. The same attempt continues once it is claimed again
-- (ff_claim_resumed_execution). trigger_type (signal, operator, auto_resume) is
-- informational. public_state is waiting, or delayed when resume_delay_ms > 0.
-- Deviation (§13.2): every waitpoint of the suspension and its condition is closed, so
-- an old token can never resume a later suspension. Extension E1: a resume without
-- delay is published on "ff:wake:<lane>".
--
-- KEYS (8): exec_core, suspension_current, waitpoint_hash, waitpoint_signals,
--           suspension_timeout, lane_eligible, lane_delayed, lane_suspended
-- ARGV (3): execution_id, trigger_type?, resume_delay_ms:int?
-- @reply ok(public_state)
-- @errors invalid_input, execution_not_found, execution_not_suspended
---------------------------------------------------------------------------
redis.register_function('ff_resume_execution', function(keys, args)
  local e = H.need_keys(keys, 8)
  if e then return e end
  local eid = args[1] or ''
  local delay
  delay, e = SS.int(args[3], 'resume_delay_ms', 0)
  if delay == nil then return e end
  delay = math.floor(delay)
  if delay < 0 then delay = 0 end
  if redis.call('EXISTS', keys[1]) == 0 then return err('execution_not_found') end
  local c = hmget_map(keys[1], {'lifecycle_phase', 'priority', 'created_at', 'lane_id'})
  if c.lifecycle_phase ~= 'suspended' then return err('execution_not_suspended') end
  local s = SS.hgetall(keys[2])
  if not H.set(s.suspension_id) or H.set(s.closed_at) then
    return err('execution_not_suspended')
  end
  local now = now_ms()
  local public = SS.resume_core(keys[1], eid, c, now, delay,
    'resume delay ' .. delay .. 'ms', keys[6], keys[7], keys[8])
  SS.close_wp(keys[3], now, 'resumed', true)
  SS.close_cond(keys[3] .. ':condition', now, 'resumed')
  redis.call('HSET', keys[2], 'satisfied_at', now, 'closed_at', now, 'close_reason', 'resumed')
  SS.close_suspension_wps(keys[2], s, now, 'resumed', 'resumed', true)
  redis.call('ZREM', keys[5], eid)
  return ok(public)
end)

---------------------------------------------------------------------------
-- ff_expire_suspension
--
-- Target of the suspension-timeout scanner. outcome is not_found_cleaned,
-- not_suspended_cleaned, no_active_suspension_cleaned or not_yet_due (public_state
-- absent), else the timeout behavior applied with the resulting public_state:
-- auto_resume (waiting), escalate (suspended, waiting for an operator, no timeout
-- any more), or fail/cancel/expire (terminal failed/cancelled/expired; an unknown
-- behavior fails). A suspension without timeout_at is never due. Extension E1:
-- auto_resume is published on "ff:wake:<lane>".
--
-- KEYS (12): exec_core, suspension_current, waitpoint_hash, waitpoint_condition,
--            attempt_hash, stream_meta, suspension_timeout, lane_suspended,
--            lane_terminal, lane_eligible, lane_delayed, lease_history
-- ARGV (1): execution_id
-- @reply ok(outcome, public_state?)
-- @errors invalid_input
---------------------------------------------------------------------------
redis.register_function('ff_expire_suspension', function(keys, args)
  local e = H.need_keys(keys, 11)
  if e then return e end
  local eid = args[1] or ''
  local k_core, k_susp, k_tmo = keys[1], keys[2], keys[7]
  if redis.call('EXISTS', k_core) == 0 then
    redis.call('ZREM', k_tmo, eid)
    return ok('not_found_cleaned')
  end
  local c = hmget_map(k_core, {'lifecycle_phase', 'priority', 'created_at', 'flow_id',
    'current_attempt_index', 'lane_id'})
  if c.lifecycle_phase ~= 'suspended' then
    redis.call('ZREM', k_tmo, eid)
    return ok('not_suspended_cleaned')
  end
  local s = SS.hgetall(k_susp)
  if not H.set(s.suspension_id) or H.set(s.closed_at) then
    redis.call('ZREM', k_tmo, eid)
    return ok('no_active_suspension_cleaned')
  end
  local now = now_ms()
  local due = tonumber(s.timeout_at)
  if due == nil or due == 0 or due > now then return ok('not_yet_due') end
  local behavior = s.timeout_behavior
  if not H.set(behavior) then behavior = 'fail' end
  if behavior == 'escalate' then
    redis.call('HSET', k_core, 'blocking_reason', 'paused_by_operator',
      'blocking_detail', 'suspension escalated: timeout at ' .. s.timeout_at,
      'last_mutation_at', now)
    redis.call('HSET', k_susp, 'reason_code', 'waiting_for_operator_review',
      'timeout_at', '', 'timeout_behavior', '')
    redis.call('ZREM', k_tmo, eid)
    return ok('escalate', 'suspended')
  end
  if behavior == 'auto_resume' or behavior == 'auto_resume_with_timeout_signal' then
    SS.resume_core(k_core, eid, c, now, 0, '', keys[10], keys[11], keys[8])
    SS.close_wp(keys[3], now, 'timed_out_auto_resume', false)
    SS.close_cond(keys[4], now, 'timed_out_auto_resume')
    redis.call('HSET', k_susp, 'closed_at', now, 'close_reason', 'timed_out_auto_resume')
    SS.close_suspension_wps(k_susp, s, now, 'timed_out_auto_resume', 'timed_out_auto_resume',
      false)
    redis.call('ZREM', k_tmo, eid)
    return ok('auto_resume', 'waiting')
  end
  local outcome, reason = 'failed', 'timed_out_fail'
  if behavior == 'cancel' then
    outcome, reason = 'cancelled', 'timed_out_cancel'
  elseif behavior == 'expire' then
    outcome, reason = 'expired', 'timed_out_expire'
  end
  local failure = 'suspension_timeout:' .. behavior
  local f = H.state('terminal', 'unowned', 'not_applicable', 'none', '', outcome,
    'attempt_terminal', outcome)
  H.push(f, 'failure_reason', failure, 'completed_at', now, 'current_suspension_id', '',
    'current_waitpoint_id', '', 'last_transition_at', now, 'last_mutation_at', now)
  redis.call('HSET', k_core, unpack(f))
  if H.set(c.current_attempt_index) then
    redis.call('HSET', keys[5], 'attempt_state',
      behavior == 'cancel' and 'ended_cancelled' or 'ended_failure', 'ended_at', now,
      'failure_reason', failure, 'suspended_at', '', 'suspension_id', '')
  end
  H.close_stream(keys[6], now, 'suspension_timeout', false)
  SS.close_wp(keys[3], now, reason, false)
  SS.close_cond(keys[4], now, reason)
  redis.call('HSET', k_susp, 'closed_at', now, 'close_reason', reason)
  SS.close_suspension_wps(k_susp, s, now, reason, reason, false)
  redis.call('ZREM', k_tmo, eid)
  redis.call('ZREM', keys[8], eid)
  redis.call('ZADD', keys[9], now, eid)
  H.publish_outcome(c.flow_id, eid, outcome)
  return ok(behavior, outcome)
end)
