-- Library-local helpers shared by every function of the flowfabric library.
-- They are plain locals: helpers are not FCALL-able.
--
-- Budget: Lua 5.1 allows 200 active locals in one chunk and the flattened
-- library is one chunk. Helpers are therefore few; small related ones live
-- in one table (H) instead of one local each. Names below are stable.

-- Success tuple: {1, "OK", ...}. Every payload element is a string.
local function ok(...)
  return {1, 'OK', ...}
end

-- Success that changed nothing because the goal already held: {1, "ALREADY_SATISFIED", ...}.
local function ok_already_satisfied(...)
  return {1, 'ALREADY_SATISFIED', ...}
end

-- Success that found an earlier identical request: {1, "DUPLICATE", ...}.
local function ok_duplicate(...)
  return {1, 'DUPLICATE', ...}
end

-- Error tuple: {0, code, details...}.
local function err(code, ...)
  return {0, code, ...}
end

-- Returns server time in integer milliseconds (TIME: sec*1000 + floor(usec/1000)).
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- Returns the hash tag of a key: its first balanced {...} group (e.g. "{fp:7}"), or "".
local function hash_tag(key)
  return string.match(key or '', '%b{}') or ''
end

-- Returns "T:E" for an exec key "ff:exec:T:E:<suffix>" (core key), used to build
-- ff:attempt:T:E:<i>, ff:stream:T:E:<i>:meta, ff:exec:T:E:policy inside Lua.
-- Falls back to hash_tag(key) .. ":" .. eid when the key has another shape.
local function exec_base(core_key, eid)
  local b = string.match(core_key or '', '^ff:exec:(.+):core$')
  if b then return b end
  return hash_tag(core_key) .. ':' .. (eid or '')
end

-- Returns n (a finite number) for a numeric ARGV, or nil plus the tuple
-- {0,"invalid_input","<name> must be a number, got: <raw>"}. "" / nil / nan / inf are rejected.
local function arg_num(raw, name)
  local n = tonumber(raw)
  if n == nil or n ~= n or n == math.huge or n == -math.huge then
    return nil, err('invalid_input', name .. ' must be a number, got: ' .. tostring(raw))
  end
  return n
end

-- Returns the number for an optional numeric ARGV: nil or "" -> dflt; otherwise as arg_num.
local function opt_num(raw, name, dflt)
  if raw == nil or raw == '' then return dflt end
  return arg_num(raw, name)
end

-- Returns a table field -> value for HMGET key <fields of each list...>; a missing
-- field (or missing key) maps to nil. Pass several name lists to merge them.
local function hmget_map(key, list, ...)
  local names = list
  local extra = select('#', ...)
  if extra > 0 then
    names = {unpack(list)}
    local n = #names
    for j = 1, extra do
      local more = select(j, ...)
      if more == nil then break end
      for i = 1, #more do n = n + 1; names[n] = more[i] end
    end
  end
  local vals = redis.call('HMGET', key, unpack(names))
  local m = {}
  for i = 1, #names do
    local v = vals[i]
    if v then m[names[i]] = v end
  end
  return m
end

-- Returns the exec_core fields that lease_check / mark_expired / not_active read.
-- Callers HMGET these plus their own: hmget_map(core_key, LEASE_FIELDS, {...}).
local LEASE_FIELDS = {
  'lifecycle_phase', 'ownership_state', 'eligibility_state', 'terminal_outcome',
  'lease_expires_at', 'lease_revoked_at', 'current_lease_id', 'current_lease_epoch',
  'current_attempt_id', 'current_attempt_index', 'current_worker_id',
  'current_worker_instance_id', 'flow_id', 'lane_id',
}

-- Returns the execution_not_active tuple with its 4 details (terminal_outcome,
-- current_lease_epoch, lifecycle_phase (or phase_override), current_attempt_id), "" when absent.
local function err_not_active(c, phase_override)
  return err('execution_not_active', c.terminal_outcome or '', c.current_lease_epoch or '',
    phase_override or c.lifecycle_phase or '', c.current_attempt_id or '')
end

-- Appends an event to a lease history stream (XADD key MAXLEN ~ 1000 * field value ...);
-- returns the entry id.
local function xadd_history(key, ...)
  return redis.call('XADD', key, 'MAXLEN', '~', '1000', '*', ...)
end

-- Small helpers grouped in one table to save top-level locals.
local H = {}

-- Returns true when v is a non-empty string (the library's "is set").
function H.set(v)
  return v ~= nil and v ~= false and v ~= ''
end

-- Returns the 16-element flat list of the 8 state-vector fields, ready for HSET.
function H.state(phase, ownership, eligibility, reason, detail, outcome, attempt, public)
  return {'lifecycle_phase', phase, 'ownership_state', ownership,
    'eligibility_state', eligibility, 'blocking_reason', reason,
    'blocking_detail', detail, 'terminal_outcome', outcome,
    'attempt_state', attempt, 'public_state', public}
end

-- Appends the varargs to list t; returns t.
function H.push(t, ...)
  local n, a = #t, {...}
  for i = 1, select('#', ...) do t[n + i] = a[i] end
  return t
end

-- Returns the stream meta key of attempt idx: ff:stream:T:E:<idx>:meta.
function H.stream_meta_key(core_key, eid, idx)
  return 'ff:stream:' .. exec_base(core_key, eid) .. ':' .. idx .. ':meta'
end

-- Returns the attempt hash key of attempt idx: ff:attempt:T:E:<idx>.
function H.attempt_key(core_key, eid, idx)
  return 'ff:attempt:' .. exec_base(core_key, eid) .. ':' .. idx
end

-- Returns a partition index key ff:idx:T:<rest> in the slot of key.
function H.idx_key(key, rest)
  return 'ff:idx:' .. hash_tag(key) .. ':' .. rest
end

-- Closes a stream meta hash if it exists (closed_at=now, closed_reason=reason);
-- with only_if_open, only when closed_at is still empty. Returns true if it wrote.
function H.close_stream(meta_key, now, reason, only_if_open)
  local closed = redis.call('HGET', meta_key, 'closed_at')
  if closed == false then return false end
  if only_if_open and closed ~= '' then return false end
  redis.call('HSET', meta_key, 'closed_at', now, 'closed_reason', reason)
  return true
end

-- Publishes {execution_id, flow_id, outcome} on ff:dag:completions when flow_id is set.
function H.publish_outcome(flow_id, eid, outcome)
  if H.set(flow_id) then
    redis.call('PUBLISH', 'ff:dag:completions',
      cjson.encode({execution_id = eid, flow_id = flow_id, outcome = outcome}))
  end
end

-- Wake-up extension (DEVIATIONS.md E1): publishes execution id eid on the lane's
-- wake-up channel "ff:wake:<lane>" when an execution of that lane has just become
-- claimable (eligible now, or due now in the delayed set, which a worker's poll promotes).
-- A worker subscribed to the channel polls at once instead of waiting out its back-off,
-- and can claim in the execution's partition ({fp:N}, the prefix of eid) directly.
-- A channel is not a key: no KEYS change, no slot check, nothing stored; the channel
-- names the lane only, as the eligible sets do (a worker claims a lane for every
-- namespace). PUBLISH with no subscriber costs about 1 us (lua/README.md, Cost).
function H.wake(lane, eid)
  if lane and lane ~= '' then redis.call('PUBLISH', 'ff:wake:' .. lane, eid) end
end

-- Releases a lease's index entries: DEL lease:current, ZREM lease_expiry, SREM the
-- worker-lease set(s) given (false/nil skipped), ZREM lane active (if given).
function H.release_lease(eid, lease_current, lease_expiry, active, ...)
  redis.call('DEL', lease_current)
  redis.call('ZREM', lease_expiry, eid)
  if active then redis.call('ZREM', active, eid) end
  for i = 1, select('#', ...) do
    local s = select(i, ...)
    if s then redis.call('SREM', s, eid) end
  end
end

-- Returns lease_id, lease_epoch, attempt_id after fence resolution (§8.0), or nil plus
-- an error tuple: partial_fence_triple, or fence_required when all three are empty and
-- override is false. With override, an empty triple resolves to exec_core's values (c).
local function resolve_fence(c, lease_id, lease_epoch, attempt_id, override)
  lease_id, lease_epoch, attempt_id = lease_id or '', lease_epoch or '', attempt_id or ''
  local n = 0
  if lease_id ~= '' then n = n + 1 end
  if lease_epoch ~= '' then n = n + 1 end
  if attempt_id ~= '' then n = n + 1 end
  if n == 3 then return lease_id, lease_epoch, attempt_id end
  if n > 0 then return nil, err('partial_fence_triple') end
  if not override then return nil, err('fence_required') end
  return c.current_lease_id or '', c.current_lease_epoch or '', c.current_attempt_id or ''
end

-- Marks the lease of an active execution expired (idempotent: no-op when ownership is
-- already lease_expired_reclaimable). c must hold LEASE_FIELDS. Writes exec_core, XADD
-- "expired" to hist_key, closes the current attempt's stream meta if still open.
-- Keeps lease:current and every index. Returns true if it wrote.
local function mark_expired(core_key, hist_key, eid, c, now)
  if c.ownership_state == 'lease_expired_reclaimable' then return false end
  local f = H.state(c.lifecycle_phase or 'active', 'lease_expired_reclaimable',
    c.eligibility_state or 'not_applicable', 'waiting_for_worker',
    'lease expired, awaiting reclaim', c.terminal_outcome or 'none',
    'attempt_interrupted', 'active')
  H.push(f, 'lease_expired_at', now, 'last_mutation_at', now)
  redis.call('HSET', core_key, unpack(f))
  xadd_history(hist_key, 'event', 'expired',
    'lease_id', c.current_lease_id or '', 'lease_epoch', c.current_lease_epoch or '',
    'attempt_index', c.current_attempt_index or '', 'attempt_id', c.current_attempt_id or '',
    'worker_id', c.current_worker_id or '', 'worker_instance_id', c.current_worker_instance_id or '',
    'ts', now)
  if H.set(c.current_attempt_index) then
    H.close_stream(H.stream_meta_key(core_key, eid, c.current_attempt_index), now,
      'lease_expired', true)
  end
  c.ownership_state = 'lease_expired_reclaimable'
  return true
end

-- Full lease check (§8.0) after resolve_fence. Returns nil when the caller holds the
-- lease, else an error tuple: execution_not_active (+4), lease_revoked, lease_expired
-- (after mark_expired, which persists), stale_lease. c must hold LEASE_FIELDS.
local function lease_check(core_key, hist_key, eid, c, now, lease_id, lease_epoch, attempt_id)
  if c.lifecycle_phase ~= 'active' then return err_not_active(c) end
  if c.ownership_state == 'lease_revoked' then return err('lease_revoked') end
  local exp = tonumber(c.lease_expires_at)
  if exp == nil or exp <= now then
    mark_expired(core_key, hist_key, eid, c, now)
    return err('lease_expired')
  end
  if (c.current_lease_id or '') ~= lease_id then return err('stale_lease') end
  if (c.current_lease_epoch or '') ~= lease_epoch then return err('stale_lease') end
  if (c.current_attempt_id or '') ~= attempt_id then return err('stale_lease') end
  return nil
end

-- Returns nil when keys holds at least n names, else the tuple
-- {0,"invalid_input","KEYS must hold at least <n> keys, got <m>"} (raw callers with too few KEYS).
function H.need_keys(keys, n)
  if #keys >= n then return nil end
  return err('invalid_input', 'KEYS must hold at least ' .. n .. ' keys, got ' .. #keys)
end

-- Returns the token list of a capability CSV ("" -> {}; empty tokens skipped), or nil plus
-- {0,"invalid_capabilities","<kind>:too_many_bytes|too_many_tokens"} (bounds 4096 bytes / 256 tokens).
function H.parse_caps(csv, kind)
  csv = csv or ''
  if #csv > 4096 then return nil, err('invalid_capabilities', kind .. ':too_many_bytes') end
  local list = {}
  for tok in string.gmatch(csv, '[^,]+') do
    list[#list + 1] = tok
    if #list > 256 then return nil, err('invalid_capabilities', kind .. ':too_many_tokens') end
  end
  return list
end

-- Returns nil when the worker CSV covers every required token, else an error tuple:
-- invalid_capabilities (required parsed first) or capability_mismatch with the missing
-- tokens sorted (byte order) and comma-joined. Writes nothing.
function H.match_caps(required_csv, worker_csv)
  local req, e = H.parse_caps(required_csv, 'required')
  if not req then return e end
  local have, e2 = H.parse_caps(worker_csv, 'worker')
  if not have then return e2 end
  if #req == 0 then return nil end
  local set, miss, seen = {}, {}, {}
  for _, t in ipairs(have) do set[t] = true end
  for _, t in ipairs(req) do
    if not set[t] and not seen[t] then seen[t] = true; miss[#miss + 1] = t end
  end
  if #miss == 0 then return nil end
  table.sort(miss)
  return err('capability_mismatch', table.concat(miss, ','))
end

-- Returns the eligible-ZSET score -(priority * 10^12) + created_at (numbers; "" -> 0).
function H.eligible_score(priority, created_at)
  return 0 - (tonumber(priority) or 0) * 1000000000000 + (tonumber(created_at) or 0)
end

-- Returns true when v is JSON null (cjson.null) or nil: "absent" for policy values.
function H.absent(v)
  return v == nil or v == cjson.null
end
