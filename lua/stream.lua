-- Attempt output streams: ff_append_frame (durable, summary and best-effort modes).

-- Returns the nesting depth of a decoded JSON value (scalars 0).
local function json_depth(v)
  if type(v) ~= 'table' then return 0 end
  local d = 0
  for _, x in pairs(v) do
    local xd = json_depth(x)
    if xd > d then d = xd end
  end
  return d + 1
end

-- RFC 7396 merge of patch into doc (both decoded tables); returns the merged doc.
-- String leaves "__ff_null__" become JSON null in the result.
local function merge_patch(doc, patch)
  if type(patch) ~= 'table' then
    if patch == '__ff_null__' then return cjson.null end
    return patch
  end
  if type(doc) ~= 'table' then doc = {} end
  for k, v in pairs(patch) do
    if v == cjson.null then
      doc[k] = nil
    else
      doc[k] = merge_patch(doc[k], v)
    end
  end
  return doc
end

-- stream_mode values ff_append_frame accepts ("" = durable).
local STREAM_MODES = {[''] = 'durable', durable = 'durable', summary = 'summary',
  best_effort = 'best_effort'}

---------------------------------------------------------------------------
-- ff_append_frame
--
-- Appends one output frame to the current attempt's stream. Only the current
-- lease holder (lease_id, lease_epoch, attempt_index) may append. In summary
-- mode the payload is a JSON merge patch applied to the attempt's summary
-- document. Every ARGV is validated before the first write. stream_summary
-- is always passed (ff:attempt:T:E:I:summary): an empty key breaks cluster routing.
--
-- KEYS (4): exec_core, stream, stream_meta, stream_summary
-- ARGV (19): execution_id, attempt_index, lease_id, lease_epoch, frame_type, ts?,
--            payload:bytes?, encoding?, correlation_id?, source?, retention_maxlen:int?,
--            attempt_id?, max_payload_bytes:int?, stream_mode?, patch_kind?, ttl_ms:int?,
--            maxlen_floor:int?, maxlen_ceiling:int?, ema_alpha:float?
-- @reply ok(entry_id, frame_count:int, summary_version?)
-- @errors invalid_input, retention_limit_exceeded, stream_closed, stale_owner_cannot_append,
--         corruption
---------------------------------------------------------------------------
redis.register_function('ff_append_frame', function(keys, args)
  local bad_keys = H.need_keys(keys, 4)
  if bad_keys then return bad_keys end
  local eid, payload = args[1] or '', args[7] or ''
  local e, max_payload, retention, ttl, floor_n, ceil_n, alpha
  max_payload, e = opt_num(args[13], 'max_payload_bytes', 65536)
  if e then return e end
  if #payload > max_payload then return err('retention_limit_exceeded') end
  retention, e = opt_num(args[11], 'retention_maxlen', 0)
  if e then return e end
  ttl, e = opt_num(args[16], 'ttl_ms', 0)
  if e then return e end
  floor_n, e = opt_num(args[17], 'maxlen_floor', 64)
  if e then return e end
  ceil_n, e = opt_num(args[18], 'maxlen_ceiling', 16384)
  if e then return e end
  alpha, e = opt_num(args[19], 'ema_alpha', 0.2)
  if e then return e end
  local mode = STREAM_MODES[args[14] or '']
  if not mode then return err('invalid_input', 'unsupported stream_mode') end

  local c = hmget_map(keys[1], {'lifecycle_phase', 'ownership_state', 'lease_expires_at',
    'current_attempt_index', 'current_lease_id', 'current_lease_epoch'})
  if c.lifecycle_phase ~= 'active' then return err('stream_closed') end
  if c.ownership_state == 'lease_expired_reclaimable' or c.ownership_state == 'lease_revoked' then
    return err('stale_owner_cannot_append')
  end
  local now = now_ms()
  local exp = tonumber(c.lease_expires_at)
  if exp == nil or exp <= now then return err('stale_owner_cannot_append') end
  if (c.current_attempt_index or '') ~= (args[2] or '') then return err('stale_owner_cannot_append') end
  if (c.current_lease_id or '') ~= (args[3] or '') or (c.current_lease_epoch or '') ~= (args[4] or '') then
    return err('stale_owner_cannot_append')
  end
  local m = hmget_map(keys[3], {'closed_at', 'has_durable_frame', 'last_frame_at', 'ema_window_frames'})
  if H.set(m.closed_at) then return err('stream_closed') end

  -- summary mode: everything is checked before the first write.
  local doc, summary_key, version = nil, keys[4] or '', ''
  if mode == 'summary' then
    if summary_key == '' then return err('invalid_input', 'summary mode requires stream_summary key') end
    local pk = args[15] or ''
    if pk ~= '' and pk ~= 'json-merge-patch' then return err('invalid_input', 'unsupported patch_kind') end
    local okd, patch = pcall(cjson.decode, payload)
    if not okd then return err('invalid_input', 'patch payload is not valid JSON') end
    if type(patch) ~= 'table' then return err('invalid_input', 'patch must be a JSON object') end
    local stored = redis.call('HGET', summary_key, 'document')
    local cur = {}
    if stored and stored ~= '' then
      local okc, d = pcall(cjson.decode, stored)
      if not okc or type(d) ~= 'table' then return err('corruption') end
      cur = d
    end
    if json_depth(patch) > 16 then return err('invalid_input', 'patch_depth_exceeded') end
    doc = merge_patch(cur, patch)
    if json_depth(doc) > 16 then return err('invalid_input', 'patch_depth_exceeded') end
  end

  local idx = c.current_attempt_index
  if not m.closed_at then
    redis.call('HSET', keys[3], 'stream_id', eid .. ':' .. idx, 'execution_id', eid,
      'attempt_id', args[12] or '', 'attempt_index', idx, 'created_at', now, 'closed_at', '',
      'closed_reason', '', 'durability_mode', 'durable_full', 'retention_maxlen', retention,
      'last_sequence', '', 'frame_count', '0', 'total_bytes', '0', 'last_frame_at', '',
      'has_durable_frame', '0')
  end
  if mode == 'summary' then
    version = redis.call('HINCRBY', summary_key, 'version', 1)
    local sf = {'document', cjson.encode(doc), 'patch_kind', 'json-merge-patch',
      'last_updated_ms', now}
    if version == 1 then H.push(sf, 'first_applied_ms', now) end
    redis.call('HSET', summary_key, unpack(sf))
    version = tostring(version)
  end

  local ts = args[6] or ''
  if ts == '' then ts = tostring(now) end
  local encoding, source = args[8] or '', args[10] or ''
  if encoding == '' then encoding = 'utf8' end
  if source == '' then source = 'worker' end
  local trim
  if mode == 'summary' then
    trim = {'MAXLEN', '~', 64}
  elseif mode == 'best_effort' then
    -- window size: EMA of the frames expected within ttl_ms at the current frame rate.
    local last = tonumber(m.last_frame_at)
    local ema = tonumber(m.ema_window_frames) or floor_n
    if last and ttl > 0 then
      local gap = math.max(1, now - last)
      ema = alpha * (ttl / gap) + (1 - alpha) * ema
    end
    m.ema_window_frames = ema
    trim = {'MAXLEN', '~', math.max(floor_n, math.min(ceil_n, math.ceil(ema)))}
  elseif retention > 0 then
    trim = {'MAXLEN', math.floor(retention)}
  else
    trim = {'MAXLEN', '~', 10000}
  end
  local fields = {'frame_type', args[5] or '', 'ts', ts, 'payload', payload,
    'encoding', encoding, 'source', source, 'mode', mode}
  if (args[9] or '') ~= '' then H.push(fields, 'correlation_id', args[9]) end
  if mode == 'summary' then H.push(fields, 'summary_version', version) end
  if mode == 'best_effort' then H.push(fields, 'ttl_ms', ttl) end
  H.push(trim, '*')
  for _, v in ipairs(fields) do trim[#trim + 1] = v end
  local id = redis.call('XADD', keys[2], unpack(trim))
  local count = redis.call('HINCRBY', keys[3], 'frame_count', 1)
  redis.call('HINCRBY', keys[3], 'total_bytes', #payload)
  local mf = {'last_sequence', id, 'last_frame_at', now}
  if mode == 'best_effort' then
    H.push(mf, 'ema_window_frames', m.ema_window_frames)
    if m.has_durable_frame ~= '1' and ttl > 0 then
      redis.call('PEXPIRE', keys[2], math.floor(2 * ttl))
    end
  elseif m.has_durable_frame ~= '1' then
    H.push(mf, 'has_durable_frame', '1')
    redis.call('PERSIST', keys[2])
  end
  redis.call('HSET', keys[3], unpack(mf))
  return ok(id, tostring(count), version)
end)
