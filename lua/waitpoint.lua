-- Waitpoints outside a suspension: pre-created (pending) waitpoints and explicit close.

---------------------------------------------------------------------------
-- ff_create_pending_waitpoint
--
-- Creates an addressable waitpoint, and its token, while the worker still holds the
-- lease, so that signals arriving before the suspension can be buffered with
-- ff_buffer_signal_for_pending_waitpoint. ff_suspend_execution with
-- use_pending_waitpoint "1" activates it. expires_at is absolute (ms); the pending
-- waitpoint expiry scanner closes it after that. A closed waitpoint with the same id
-- is replaced.
--
-- KEYS (4): exec_core, waitpoint_hash, pending_waitpoint_expiry, hmac_secrets
-- ARGV (5): execution_id, attempt_index:int, waitpoint_id, waitpoint_key?, expires_at:int
-- @reply ok(waitpoint_id, waitpoint_key, waitpoint_token)
-- @errors invalid_input, execution_not_found, execution_not_active, no_active_lease,
--         stale_lease, waitpoint_already_exists, invalid_keys_missing_hmac,
--         hmac_secret_not_initialized, invalid_secret
---------------------------------------------------------------------------
redis.register_function('ff_create_pending_waitpoint', function(keys, args)
  local e = H.need_keys(keys, 3)
  if e then return e end
  local eid, idx, wp, wpk = args[1] or '', args[2] or '', args[3] or '', args[4] or ''
  local exp
  exp, e = SS.int(args[5], 'expires_at')
  if exp == nil then return e end
  if wp == '' then return err('invalid_input', 'waitpoint_id must not be empty') end
  if redis.call('EXISTS', keys[1]) == 0 then return err('execution_not_found') end
  local c = hmget_map(keys[1], LEASE_FIELDS)
  if c.lifecycle_phase ~= 'active' then return err_not_active(c) end
  if c.ownership_state ~= 'leased' then return err('no_active_lease') end
  if (c.current_attempt_index or '') ~= idx then return err('stale_lease') end
  local st = redis.call('HGET', keys[2], 'state')
  if st == 'pending' or st == 'active' then return err('waitpoint_already_exists') end
  local signer, code = SS.signer(keys[4])
  if signer == nil then return err(code) end
  local now = now_ms()
  local token = SS.mint(signer, wp, wpk, now)
  redis.call('DEL', keys[2])
  redis.call('HSET', keys[2], 'waitpoint_id', wp, 'execution_id', eid, 'attempt_index', idx,
    'suspension_id', '', 'waitpoint_key', wpk, 'waitpoint_token', token, 'state', 'pending',
    'created_at', now, 'activated_at', '', 'expires_at', string.format('%d', exp), 'satisfied_at', '',
    'closed_at', '', 'close_reason', '', 'signal_count', '0', 'matched_signal_count', '0',
    'last_signal_at', '')
  redis.call('ZADD', keys[3], exp, wp)
  return ok(wp, wpk, token)
end)

---------------------------------------------------------------------------
-- ff_close_waitpoint
--
-- Closes a pending or active waitpoint (reason defaults to proactive_close; the
-- pending-expiry scanner passes never_committed). Closing an already closed waitpoint
-- answers ok with result "already_closed". A closed waitpoint refuses signals.
--
-- KEYS (3): exec_core, waitpoint_hash, pending_waitpoint_expiry
-- ARGV (2): waitpoint_id, reason?
-- @reply ok(result?)
-- @errors invalid_input, waitpoint_not_found, waitpoint_not_open
---------------------------------------------------------------------------
redis.register_function('ff_close_waitpoint', function(keys, args)
  local e = H.need_keys(keys, 3)
  if e then return e end
  local wp = args[1] or ''
  local reason = args[2]
  if reason == nil or reason == '' then reason = 'proactive_close' end
  local st = redis.call('HGET', keys[2], 'state')
  if st == false and redis.call('EXISTS', keys[2]) == 0 then return err('waitpoint_not_found') end
  if st == 'closed' or st == 'expired' then return ok('already_closed') end
  if st ~= 'pending' and st ~= 'active' then return err('waitpoint_not_open') end
  redis.call('HSET', keys[2], 'state', 'closed', 'closed_at', now_ms(), 'close_reason', reason)
  redis.call('ZREM', keys[3], wp)
  return ok()
end)
