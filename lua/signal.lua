-- Signals: resume-condition state (non-composite matchers and the composite tree),
-- the resume transition and waitpoint closing shared with suspend.lua, and the two
-- signal entry points (deliver, buffer for a pending waitpoint).

-- Tree walks stop at this depth (the Rust side caps composite depth at 4).
SS.MAX_DEPTH = 16

-- Returns the table decoded from a JSON string, or nil when it is not a JSON object/array.
function SS.decode(s)
  if type(s) ~= 'string' or s == '' then return nil end
  local okd, v = pcall(cjson.decode, s)
  if not okd or type(v) ~= 'table' then return nil end
  return v
end

-- Returns v unless it is absent or JSON null, else nil.
function SS.val(v)
  if v == nil or v == cjson.null then return nil end
  return v
end

-- Returns a node's path as a string ("" when absent).
function SS.path(node)
  local p = node.path
  if type(p) == 'string' then return p end
  if type(p) == 'number' then return tostring(p) end
  return ''
end

-- Checks a composite tree node (recursively). Returns nil when usable, else a message.
function SS.check_tree(node, depth)
  if depth > SS.MAX_DEPTH then return 'tree deeper than ' .. SS.MAX_DEPTH end
  if type(node) ~= 'table' then return 'tree node must be an object' end
  if type(node.kind) ~= 'string' then return 'tree node needs a string kind' end
  if node.kind == 'AllOf' then
    if type(node.members) ~= 'table' then return 'AllOf needs members' end
    for _, m in ipairs(node.members) do
      local e = SS.check_tree(m, depth + 1)
      if e then return e end
    end
  elseif node.kind == 'Single' then
    if type(node.waitpoint_key) ~= 'string' then return 'Single needs a waitpoint_key' end
  elseif node.kind == 'Count' then
    if type(node.waitpoints) ~= 'table' then return 'Count needs waitpoints' end
    if type(node.n) ~= 'number' then return 'Count needs a numeric n' end
  end
  return nil
end

-- Parses resume_condition_json (spec §3.1). Returns a condition table or nil plus the
-- invalid_input detail. Nothing is written: callers parse before their first write.
-- Non-composite: {mode, ctype, min, names}; composite: {composite=true, tree, tree_json}.
function SS.parse_condition(json)
  local c = SS.decode(json)
  if c == nil then return nil, 'resume_condition_json must be a JSON object' end
  if SS.val(c.composite) then
    local v = SS.val(c.v)
    if v ~= nil and v ~= 1 then return {composite = true, tree_json = ''} end
    local e = SS.check_tree(c.tree, 1)
    if e then return nil, 'resume_condition_json: ' .. e end
    return {composite = true, tree = c.tree, tree_json = cjson.encode(c.tree)}
  end
  local r = {ctype = SS.val(c.condition_type) or 'signal_set',
    mode = SS.val(c.signal_match_mode) or 'any',
    min = SS.val(c.minimum_signal_count) or 1, names = {}}
  if type(r.ctype) ~= 'string' or type(r.mode) ~= 'string' then
    return nil, 'resume_condition_json: condition_type and signal_match_mode must be strings'
  end
  if type(r.min) ~= 'number' or r.min < 0 or math.floor(r.min) ~= r.min or r.min > 1e9 then
    return nil, 'resume_condition_json: minimum_signal_count must be a non-negative integer'
  end
  local names = SS.val(c.required_signal_names)
  if names ~= nil then
    if type(names) ~= 'table' then
      return nil, 'resume_condition_json: required_signal_names must be an array'
    end
    for i, n in ipairs(names) do
      if type(n) ~= 'string' then
        return nil, 'resume_condition_json: required_signal_names must hold strings'
      end
      r.names[i] = n
    end
  end
  return r
end

-- Returns the in-memory matcher state of a fresh non-composite condition.
function SS.nc_new(cond)
  local st = {mode = cond.mode, min = cond.min, count = 0, m = {}}
  if #cond.names == 0 then
    st.m[1] = {name = '', sat = '0', sig = ''}
  else
    for i, n in ipairs(cond.names) do st.m[i] = {name = n, sat = '0', sig = ''} end
  end
  st.total = #st.m
  return st
end

-- Returns the matcher state stored in a condition hash map (HGETALL as a table).
function SS.nc_load(h)
  local st = {mode = h.match_mode or 'any', min = tonumber(h.minimum_signal_count) or 1,
    count = tonumber(h.satisfied_count) or 0, m = {}}
  local total = tonumber(h.total_matchers) or 0
  if total > 100000 then total = 100000 end
  for i = 1, total do
    local p = 'matcher:' .. (i - 1) .. ':'
    st.m[i] = {name = h[p .. 'name'] or '', sat = h[p .. 'satisfied'] or '0',
      sig = h[p .. 'signal_id'] or ''}
  end
  st.total = #st.m
  return st
end

-- Offers a signal to the matchers (first open matcher with that name or a wildcard).
-- Returns the 1-based index it satisfied, or nil.
function SS.nc_offer(st, name, sig)
  for i, m in ipairs(st.m) do
    if m.sat ~= '1' and (m.name == '' or m.name == name) then
      m.sat, m.sig = '1', sig
      st.count = st.count + 1
      return i
    end
  end
  return nil
end

-- Returns true when the matcher state satisfies its condition.
function SS.nc_done(st)
  if st.mode == 'all' then return st.count >= st.total end
  return st.count >= st.min
end

-- Returns the HSET field list of a whole condition hash (non-composite state st or a
-- composite condition table).
function SS.cond_fields(cond, st, now)
  if cond.composite then
    return {'condition_type', 'composite', 'composite', '1', 'match_mode', 'composite',
      'minimum_signal_count', '1', 'total_matchers', '0', 'satisfied_count', '0',
      'closed', '0', 'updated_at', now, 'tree_json', cond.tree_json}
  end
  local f = {'condition_type', cond.ctype, 'match_mode', st.mode,
    'minimum_signal_count', tostring(st.min), 'total_matchers', tostring(st.total),
    'satisfied_count', tostring(st.count), 'closed', '0', 'updated_at', now}
  for i, m in ipairs(st.m) do
    local p = 'matcher:' .. (i - 1) .. ':'
    H.push(f, p .. 'name', m.name, p .. 'satisfied', m.sat, p .. 'signal_id', m.sig)
  end
  return f
end

-- Appends to out every composite candidate node for waitpoint key wpk (spec §6.5.2).
function SS.comp_collect(node, wpk, out, depth)
  if type(node) ~= 'table' or depth > SS.MAX_DEPTH then return end
  if node.kind == 'Single' then
    if node.waitpoint_key == wpk then out[#out + 1] = node end
  elseif node.kind == 'Count' then
    if type(node.waitpoints) == 'table' then
      for _, w in ipairs(node.waitpoints) do
        if w == wpk then
          out[#out + 1] = node
          break
        end
      end
    end
  elseif node.kind == 'AllOf' and type(node.members) == 'table' then
    for _, m in ipairs(node.members) do SS.comp_collect(m, wpk, out, depth + 1) end
  end
end

-- Returns true when a composite matcher accepts signal name.
function SS.comp_accepts(m, name)
  m = SS.val(m)
  if m == nil then return true end
  if type(m) ~= 'table' then return false end
  if m.kind == 'Wildcard' then return true end
  if m.kind == 'ByName' then return m.name == name end
  return false
end

-- Returns the satisfied-set prefix counted by a Count node.
function SS.count_prefix(node)
  if node.count_kind == 'DistinctSignals' then return 'sig:' end
  if node.count_kind == 'DistinctSources' then return 'src:' end
  return 'wp:'
end

-- Returns true when a composite node is satisfied by the set (a Lua table of members).
function SS.comp_eval(node, set, depth)
  if type(node) ~= 'table' or depth > SS.MAX_DEPTH then return false end
  if node.kind == 'Single' then return set['leaf:' .. SS.path(node)] == true end
  if node.kind == 'AllOf' then
    if type(node.members) ~= 'table' or #node.members == 0 then return false end
    for _, m in ipairs(node.members) do
      if type(m) ~= 'table' then return false end
      local t = (m.kind == 'Single' and 'leaf:' or 'node:') .. SS.path(m)
      if not set[t] then return false end
    end
    return true
  end
  if node.kind == 'Count' then
    local n = tonumber(node.n)
    if n == nil then return false end
    local prefix, cnt = SS.count_prefix(node), 0
    for t in pairs(set) do
      if string.sub(t, 1, 8) == 'timeout:' then return true end
      if string.sub(t, 1, #prefix) == prefix then cnt = cnt + 1 end
    end
    return cnt >= n
  end
  return false
end

-- Adds node:<path> to the set for every non-Single member of an AllOf that is
-- satisfied, children before parents.
function SS.comp_propagate(node, set, skey, depth)
  if type(node) ~= 'table' or node.kind ~= 'AllOf' or type(node.members) ~= 'table'
      or depth > SS.MAX_DEPTH then
    return
  end
  for _, m in ipairs(node.members) do
    SS.comp_propagate(m, set, skey, depth + 1)
    if type(m) == 'table' and m.kind ~= 'Single' then
      local t = 'node:' .. SS.path(m)
      if not set[t] and SS.comp_eval(m, set, depth + 1) then
        redis.call('SADD', skey, t)
        set[t] = true
      end
    end
  end
end

-- Runs one signal through a composite condition. s: {wp, wpk, sig, name, stype, sid};
-- skey: <suspension_current>:satisfied_set. Returns the effect string.
function SS.comp_deliver(tree_json, s, skey)
  local tree = SS.decode(tree_json)
  local cands = {}
  if tree then SS.comp_collect(tree, s.wpk, cands, 1) end
  if #cands == 0 then return 'signal_ignored_not_in_condition' end
  local accepted, added = 0, false
  for _, node in ipairs(cands) do
    if SS.comp_accepts(node.matcher, s.name) then
      accepted = accepted + 1
      local t
      if node.kind == 'Single' then
        t = 'leaf:' .. SS.path(node)
      else
        local p = SS.count_prefix(node)
        if p == 'sig:' then t = p .. s.sig
        elseif p == 'src:' then t = p .. s.stype .. ':' .. s.sid
        else t = p .. s.wp end
      end
      if redis.call('SADD', skey, t) == 1 then added = true end
    end
  end
  if accepted == 0 then return 'signal_ignored_matcher_failed' end
  if not added then return 'appended_to_waitpoint_duplicate' end
  redis.call('SADD', skey .. ':signals', s.sig)
  local set = {}
  for _, t in ipairs(redis.call('SMEMBERS', skey)) do set[t] = true end
  SS.comp_propagate(tree, set, skey, 1)
  if SS.comp_eval(tree, set, 1) then return 'resume_condition_satisfied' end
  return 'appended_to_waitpoint'
end

-- Moves a suspended execution to runnable (eligible now, or delayed when delay > 0),
-- keeping its attempt. c holds priority, created_at and lane_id. Eligible now is
-- published on "ff:wake:<lane>" (extension E1, H.wake). Returns the public_state.
function SS.resume_core(k_core, eid, c, now, delay, detail, k_elig, k_delayed, k_suspended)
  local f
  if delay > 0 then
    f = H.state('runnable', 'unowned', 'not_eligible_until_time', 'waiting_for_resume_delay',
      detail, 'none', 'attempt_interrupted', 'delayed')
  else
    f = H.state('runnable', 'unowned', 'eligible_now', 'waiting_for_worker', '', 'none',
      'attempt_interrupted', 'waiting')
  end
  H.push(f, 'current_suspension_id', '', 'current_waitpoint_id', '',
    'last_transition_at', now, 'last_mutation_at', now)
  redis.call('HSET', k_core, unpack(f))
  redis.call('ZREM', k_suspended, eid)
  if delay > 0 then
    redis.call('ZADD', k_delayed, now + delay, eid)
    return 'delayed'
  end
  local score = 0 - (tonumber(c.priority) or 0) * 1000000000000 + (tonumber(c.created_at) or 0)
  redis.call('ZADD', k_elig, score, eid)
  H.wake(c.lane_id, eid) -- extension E1: eligible now
  return 'waiting'
end

-- Closes a waitpoint hash if it exists and is not closed yet.
function SS.close_wp(k_wp, now, reason, satisfied)
  local st = redis.call('HGET', k_wp, 'state')
  if st == false or st == 'closed' then return end
  local f = {'state', 'closed', 'closed_at', now, 'close_reason', reason}
  if satisfied then H.push(f, 'satisfied_at', now) end
  redis.call('HSET', k_wp, unpack(f))
end

-- Closes a condition hash if it exists and is still open.
function SS.close_cond(k_cond, now, reason)
  local cl = redis.call('HGET', k_cond, 'closed')
  if cl == false or cl == '1' then return end
  redis.call('HSET', k_cond, 'closed', '1', 'closed_at', now, 'closed_reason', reason)
end

-- Closes every waitpoint of a suspension record s (its primary and the extras of
-- additional_waitpoints_json) plus their conditions, and drops the composite state.
function SS.close_suspension_wps(k_susp, s, now, wp_reason, cond_reason, satisfied)
  local tag = hash_tag(k_susp)
  local ids = {}
  if H.set(s.waitpoint_id) then ids[1] = s.waitpoint_id end
  local extras = SS.decode(s.additional_waitpoints_json)
  if extras then
    for _, x in ipairs(extras) do
      if type(x) == 'table' and type(x.waitpoint_id) == 'string' and x.waitpoint_id ~= '' then
        ids[#ids + 1] = x.waitpoint_id
      end
    end
  end
  for _, id in ipairs(ids) do
    SS.close_wp('ff:wp:' .. tag .. ':' .. id, now, wp_reason, satisfied)
    SS.close_cond('ff:wp:' .. tag .. ':' .. id .. ':condition', now, cond_reason)
  end
  redis.call('DEL', k_susp .. ':satisfied_set', k_susp .. ':satisfied_set:signals',
    k_susp .. ':member_map')
end

-- Returns a table of the fields of hash key (HGETALL), empty when the key is missing.
function SS.hgetall(key)
  local a = redis.call('HGETALL', key)
  local m = {}
  for i = 1, #a, 2 do m[a[i]] = a[i + 1] end
  return m
end

-- Parses the 18 ARGV shared by deliver and buffer. "" in a numeric slot means its
-- default (spec §13.3 fixed). Returns a table, or nil plus an invalid_input tuple.
function SS.signal_args(args)
  local a = {sig = args[1] or '', eid = args[2] or '', wp = args[3] or '',
    name = args[4] or '', category = args[5] or '', stype = args[6] or '',
    sid = args[7] or '', payload = args[8] or '', encoding = args[9] or 'json',
    idem = args[10] or '', corr = args[11] or '', scope = args[12] or 'waitpoint',
    created = args[13] or '', token = args[18] or ''}
  if a.sig == '' then return nil, err('invalid_input', 'signal_id must not be empty') end
  if a.eid == '' then return nil, err('invalid_input', 'execution_id must not be empty') end
  if a.wp == '' then return nil, err('invalid_input', 'waitpoint_id must not be empty') end
  local e
  if a.created ~= '' then
    local n
    n, e = SS.int(a.created, 'created_at')
    if n == nil then return nil, e end
  end
  a.dedup_ttl, e = SS.int(args[14], 'dedup_ttl_ms', 86400000)
  if a.dedup_ttl == nil then return nil, e end
  a.delay, e = SS.int(args[15], 'resume_delay_ms', 0)
  if a.delay == nil then return nil, e end
  a.maxlen, e = SS.int(args[16], 'signal_maxlen', 1000)
  if a.maxlen == nil then return nil, e end
  a.max_signals, e = SS.int(args[17], 'max_signals_per_execution', 10000)
  if a.max_signals == nil then return nil, e end
  if a.maxlen < 0 or math.floor(a.maxlen) ~= a.maxlen then
    return nil, err('invalid_input', 'signal_maxlen must be a non-negative integer, got: ' .. args[16])
  end
  a.dedup_ttl = math.floor(a.dedup_ttl)
  a.delay = math.floor(a.delay)
  if a.delay < 0 then a.delay = 0 end
  return a
end

-- Returns a DUPLICATE tuple when the idempotency key was seen, else claims it and
-- returns nil (spec §6.4 step 7).
function SS.dedup(k_idem, a)
  if a.idem == '' or a.dedup_ttl <= 0 then return nil end
  local first = redis.call('GET', k_idem)
  if first then return ok_duplicate(first) end
  redis.call('SET', k_idem, a.sig, 'PX', a.dedup_ttl, 'NX')
  return nil
end

-- Records an accepted signal: signal hash, payload, waitpoint stream, exec_signals.
function SS.record_signal(k, a, now, effect)
  local f = {'signal_id', a.sig, 'target_execution_id', a.eid, 'target_waitpoint_id', a.wp,
    'target_scope', a.scope, 'signal_name', a.name, 'signal_category', a.category,
    'source_type', a.stype, 'source_identity', a.sid, 'correlation_id', a.corr,
    'idempotency_key', a.idem, 'created_at', a.created ~= '' and a.created or now,
    'accepted_at', now, 'matched_waitpoint_id', a.wp, 'payload_encoding', a.encoding}
  if effect then H.push(f, 'observed_effect', effect) end
  redis.call('HSET', k.sig, unpack(f))
  if a.payload ~= '' then redis.call('SET', k.payload, a.payload) end
  redis.call('XADD', k.stream, 'MAXLEN', '~', a.maxlen, '*', 'signal_id', a.sig,
    'signal_name', a.name, 'signal_category', a.category, 'source_type', a.stype,
    'source_identity', a.sid, 'matched', '0', 'accepted_at', now)
  redis.call('ZADD', k.sigs, now, a.sig)
end

-- Returns nil or the signal_limit_exceeded tuple.
function SS.limit(k_sigs, a)
  if a.max_signals > 0 and redis.call('ZCARD', k_sigs) >= a.max_signals then
    return err('signal_limit_exceeded')
  end
  return nil
end

---------------------------------------------------------------------------
-- ff_deliver_signal
--
-- Delivers a signal to a waitpoint of a suspended execution: authenticates the
-- waitpoint token, deduplicates on idempotency_key, records the signal, evaluates the
-- resume condition and, when it is satisfied, resumes the execution (eligible now, or
-- delayed by resume_delay_ms). effect is one of no_op, appended_to_waitpoint,
-- resume_condition_satisfied, appended_to_waitpoint_duplicate,
-- signal_ignored_not_in_condition, signal_ignored_matcher_failed.
-- Empty numeric arguments take their defaults: dedup_ttl_ms 86400000, resume_delay_ms
-- 0, signal_maxlen 1000, max_signals_per_execution 10000 (0 = unlimited).
-- Deviations (lua/DEVIATIONS.md): a waitpoint of an earlier suspension, or a closed
-- one, is refused with waitpoint_closed; a resume closes every waitpoint of the
-- suspension, the primary included. Extension E1: a resume without delay is published
-- on "ff:wake:<lane>".
--
-- KEYS (15): exec_core, waitpoint_condition, waitpoint_signals, exec_signals,
--            signal_hash, signal_payload, idempotency, waitpoint_hash,
--            suspension_current, lane_eligible, lane_suspended, lane_delayed,
--            suspension_timeout, hmac_secrets, signal_delivery_feed
-- ARGV (18): signal_id, execution_id, waitpoint_id, signal_name, signal_category?,
--            source_type?, source_identity?, payload:bytes?, payload_encoding?,
--            idempotency_key?, correlation_id?, target_scope?, created_at:int?,
--            dedup_ttl_ms:int?, resume_delay_ms:int?, signal_maxlen:int?,
--            max_signals_per_execution:int?, waitpoint_token
-- @reply ok(signal_id, effect) | duplicate(signal_id)
-- @errors invalid_input, execution_not_found, invalid_keys_missing_hmac, missing_token,
--         invalid_token, hmac_secret_not_initialized, token_expired, invalid_secret,
--         target_not_signalable, waitpoint_pending_use_buffer_script,
--         waitpoint_not_found, waitpoint_closed, signal_limit_exceeded
---------------------------------------------------------------------------
redis.register_function('ff_deliver_signal', function(keys, args)
  -- 13 KEYS reach the token check (invalid_keys_missing_hmac); 14 would fail the feed XADD.
  local e = H.need_keys(keys, 13)
  if e then return e end
  if #keys == 14 then return err('invalid_input', 'KEYS must hold 15 keys (signal_delivery_feed)') end
  local a
  a, e = SS.signal_args(args)
  if a == nil then return e end
  local k = {core = keys[1], cond = keys[2], stream = keys[3], sigs = keys[4], sig = keys[5],
    payload = keys[6], idem = keys[7], wp = keys[8], susp = keys[9]}
  if redis.call('EXISTS', k.core) == 0 then return err('execution_not_found') end
  local now = now_ms()
  local c = hmget_map(k.core, {'lifecycle_phase', 'current_suspension_id', 'priority',
    'created_at', 'lane_id'})
  local w = hmget_map(k.wp, {'waitpoint_id', 'execution_id', 'waitpoint_key', 'state',
    'created_at', 'suspension_id'})
  local code
  if not H.set(w.created_at) then
    code = 'invalid_token'
  else
    code = SS.check_token(keys[14], a.token, a.wp, w.waitpoint_key, w.created_at, now)
    if code == nil and ((w.waitpoint_id and w.waitpoint_id ~= a.wp)
        or (w.execution_id and w.execution_id ~= a.eid)) then
      code = 'invalid_token'
    end
  end
  if code then
    redis.call('HSET', k.core, 'last_hmac_validation_failed_at', now)
    return err(code)
  end
  local phase = c.lifecycle_phase
  if phase == 'terminal' then return err('target_not_signalable') end
  if w.state == 'pending' then return err('waitpoint_pending_use_buffer_script') end
  if phase == 'active' or phase == 'runnable' or phase == 'submitted' then
    if w.state ~= 'active' then return err('target_not_signalable') end
  elseif w.state ~= 'active' or (w.suspension_id or '') ~= (c.current_suspension_id or '') then
    return err('waitpoint_closed')
  end
  local cond = SS.hgetall(k.cond)
  if next(cond) == nil then return err('waitpoint_not_found') end
  if cond.closed == '1' then return err('waitpoint_closed') end
  e = SS.limit(k.sigs, a)
  if e then return e end
  e = SS.dedup(k.idem, a)
  if e then return e end

  SS.record_signal(k, a, now, nil)
  local composite = cond.composite == '1'
  local effect, matched
  if composite then
    effect = SS.comp_deliver(cond.tree_json, {wp = a.wp, wpk = w.waitpoint_key or '',
      sig = a.sig, name = a.name, stype = a.stype, sid = a.sid}, k.susp .. ':satisfied_set')
    matched = effect ~= 'signal_ignored_not_in_condition'
      and effect ~= 'signal_ignored_matcher_failed'
  else
    local st = SS.nc_load(cond)
    local i = SS.nc_offer(st, a.name, a.sig)
    if i == nil then
      effect = 'no_op'
    else
      local p = 'matcher:' .. (i - 1) .. ':'
      redis.call('HSET', k.cond, p .. 'satisfied', '1', p .. 'signal_id', a.sig,
        'satisfied_count', tostring(st.count))
      effect = SS.nc_done(st) and 'resume_condition_satisfied' or 'appended_to_waitpoint'
    end
    matched = i ~= nil
  end

  local resumed = effect == 'resume_condition_satisfied'
  if resumed then
    if phase == 'suspended' then
      SS.resume_core(k.core, a.eid, c, now, a.delay,
        'resume delay ' .. a.delay .. 'ms after signal ' .. a.name, keys[10], keys[12], keys[11])
    end
    SS.close_cond(k.cond, now, 'satisfied')
    SS.close_wp(k.wp, now, 'resumed', true)
    local s = SS.hgetall(k.susp)
    if H.set(s.suspension_id) and not H.set(s.closed_at) then
      local f = {'satisfied_at', now, 'closed_at', now, 'close_reason', 'resumed'}
      if composite then
        local sigs = redis.call('SMEMBERS', k.susp .. ':satisfied_set:signals')
        table.sort(sigs)
        H.push(f, 'closer_signal_id', a.sig, 'all_satisfier_signals', cjson.encode(sigs))
      end
      if not composite then H.push(f, 'last_signal_at', now) end
      redis.call('HSET', k.susp, unpack(f))
      SS.close_suspension_wps(k.susp, s, now, 'resumed', 'satisfied', true)
    end
    redis.call('ZREM', keys[13], a.eid)
  elseif redis.call('EXISTS', k.susp) == 1 then
    redis.call('HSET', k.susp, 'last_signal_at', now)
  end
  redis.call('HSET', k.sig, 'observed_effect', effect)
  redis.call('HINCRBY', k.wp, 'signal_count', 1)
  if matched then redis.call('HINCRBY', k.wp, 'matched_signal_count', 1) end
  redis.call('HSET', k.wp, 'last_signal_at', now)
  redis.call('XADD', keys[15], 'MAXLEN', '~', '1000', '*', 'signal_id', a.sig,
    'execution_id', a.eid, 'waitpoint_id', a.wp, 'source_identity', a.sid,
    'effect', effect, 'delivered_at_ms', now)
  return ok(a.sig, effect)
end)

---------------------------------------------------------------------------
-- ff_buffer_signal_for_pending_waitpoint
--
-- Records a signal for a waitpoint that is still pending (created with
-- ff_create_pending_waitpoint) without evaluating any condition; ff_suspend_execution
-- replays the buffered signals when it activates the waitpoint. ARGV as
-- ff_deliver_signal; resume_delay_ms is ignored. Empty numerics take the defaults.
--
-- KEYS (9): exec_core, waitpoint_condition, waitpoint_signals, exec_signals,
--           signal_hash, signal_payload, idempotency, waitpoint_hash, hmac_secrets
-- ARGV (18): signal_id, execution_id, waitpoint_id, signal_name, signal_category?,
--            source_type?, source_identity?, payload:bytes?, payload_encoding?,
--            idempotency_key?, correlation_id?, target_scope?, created_at:int?,
--            dedup_ttl_ms:int?, resume_delay_ms:int?, signal_maxlen:int?,
--            max_signals_per_execution:int?, waitpoint_token
-- @reply ok(signal_id, effect) | duplicate(signal_id)
-- @errors invalid_input, execution_not_found, waitpoint_not_found,
--         invalid_keys_missing_hmac, missing_token, invalid_token,
--         hmac_secret_not_initialized, token_expired, invalid_secret,
--         waitpoint_closed, signal_limit_exceeded
---------------------------------------------------------------------------
redis.register_function('ff_buffer_signal_for_pending_waitpoint', function(keys, args)
  local e = H.need_keys(keys, 8)
  if e then return e end
  local a
  a, e = SS.signal_args(args)
  if a == nil then return e end
  local k = {core = keys[1], stream = keys[3], sigs = keys[4], sig = keys[5],
    payload = keys[6], idem = keys[7], wp = keys[8]}
  if redis.call('EXISTS', k.core) == 0 then return err('execution_not_found') end
  local now = now_ms()
  local w = hmget_map(k.wp, {'waitpoint_id', 'execution_id', 'waitpoint_key', 'state',
    'created_at'})
  if not H.set(w.created_at) then return err('waitpoint_not_found') end
  local code = SS.check_token(keys[9], a.token, a.wp, w.waitpoint_key, w.created_at, now)
  if code == nil and ((w.waitpoint_id and w.waitpoint_id ~= a.wp)
      or (w.execution_id and w.execution_id ~= a.eid)) then
    code = 'invalid_token'
  end
  if code then
    redis.call('HSET', k.core, 'last_hmac_validation_failed_at', now)
    return err(code)
  end
  if w.state == 'closed' or w.state == 'expired' then return err('waitpoint_closed') end
  e = SS.limit(k.sigs, a)
  if e then return e end
  e = SS.dedup(k.idem, a)
  if e then return e end
  SS.record_signal(k, a, now, 'buffered_for_pending_waitpoint')
  return ok(a.sig, 'buffered_for_pending_waitpoint')
end)
