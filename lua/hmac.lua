-- Waitpoint tokens: HMAC-SHA1 over "<waitpoint_id>|<waitpoint_key>|<created_at>", keyed
-- by a per-partition kid ring in ff:sec:<tag>:waitpoint_hmac (current_kid, secret:<kid>,
-- expires_at:<kid>, previous_kid, previous_expires_at).
--
-- Every helper of the suspend/signal area lives in the table SS (one top-level local;
-- signal.lua, suspend.lua and waitpoint.lua add to it). Only helpers.lua is used here.

local SS = {}

-- Byte maps for string.gsub, built on first use (SS.maps): hex pair -> byte (lowercase
-- pairs), byte -> byte xor 0x36 (ipad) and byte -> byte xor 0x5c (opad). One gsub with a
-- table replaces a Lua loop over the bytes.
function SS.maps()
  if SS.hex_map then return end
  local hex, ipad, opad = {}, {}, {}
  for b = 0, 255 do
    local c = string.char(b)
    hex[string.format('%02x', b)] = c
    ipad[c] = string.char(bit.bxor(b, 0x36))
    opad[c] = string.char(bit.bxor(b, 0x5c))
  end
  SS.hex_map, SS.ipad_map, SS.opad_map = hex, ipad, opad
end

-- Returns the bytes of an even-length hex string, or nil when it is not one.
function SS.unhex(h)
  if type(h) ~= 'string' or #h % 2 ~= 0 or string.find(h, '[^0-9a-fA-F]') then
    return nil
  end
  SS.maps()
  return (string.gsub(string.lower(h), '..', SS.hex_map))
end

-- The HMAC pads of the keys seen lately (a key is a partition's kid secret; a deployment
-- has a handful): key bytes -> {ipad block, opad block}. The cache lives as long as the
-- loaded library, holds no more than 64 keys (then starts over), and only saves work:
-- the pads are a pure function of the key.
SS.pad_cache, SS.pad_count = {}, 0

-- Returns the 64-byte ipad and opad blocks of key (RFC 2104: a key longer than the block
-- is hashed first, then zero-padded).
function SS.pads(key)
  local p = SS.pad_cache[key]
  if p then return p[1], p[2] end
  SS.maps()
  local k = key
  if #k > 64 then k = SS.unhex(redis.sha1hex(k)) end
  k = k .. string.rep('\0', 64 - #k)
  p = {(string.gsub(k, '.', SS.ipad_map)), (string.gsub(k, '.', SS.opad_map))}
  if SS.pad_count >= 64 then SS.pad_cache, SS.pad_count = {}, 0 end
  SS.pad_cache[key], SS.pad_count = p, SS.pad_count + 1
  return p[1], p[2]
end

-- Returns the 40 lowercase hex chars of HMAC-SHA1(key, msg) (RFC 2104 over redis.sha1hex).
-- About 8 us with the pads cached (a Lua loop over the 64 key bytes took ~47 us).
function SS.hmac_sha1(key, msg)
  local ipad, opad = SS.pads(key)
  return redis.sha1hex(opad .. SS.unhex(redis.sha1hex(ipad .. msg)))
end

-- Returns true when strings a and b are equal, comparing every byte (no early exit).
function SS.same(a, b)
  if #a ~= #b then return false end
  local acc = 0
  for i = 1, #a do
    acc = bit.bor(acc, bit.bxor(string.byte(a, i), string.byte(b, i)))
  end
  return acc == 0
end

-- Returns the integer (floored) of a numeric ARGV: dflt when raw is nil or "" (no dflt:
-- required), else nil plus an invalid_input tuple for a non-number or a value outside
-- +-(2^53-1), which Valkey could not take back as a count, score or TTL.
function SS.int(raw, name, dflt)
  local n, e
  if dflt == nil then n, e = arg_num(raw, name) else n, e = opt_num(raw, name, dflt) end
  if n == nil then return nil, e end
  n = math.floor(n)
  if n > 9007199254740991 or n < -9007199254740991 then
    return nil, err('invalid_input', name .. ' is out of range, got: ' .. tostring(raw))
  end
  return n
end

-- Returns the token message bound by the MAC.
function SS.token_msg(wp_id, wp_key, created_at)
  return wp_id .. '|' .. wp_key .. '|' .. created_at
end

-- Returns a minting signer: {kid=..., key=<bytes>}, or nil and an error code
-- (invalid_keys_missing_hmac, hmac_secret_not_initialized, invalid_secret).
-- It only reads, so callers load it before their first write.
function SS.signer(sec_key)
  if not H.set(sec_key) then return nil, 'invalid_keys_missing_hmac' end
  local kid = redis.call('HGET', sec_key, 'current_kid')
  if not H.set(kid) then return nil, 'hmac_secret_not_initialized' end
  local hex = redis.call('HGET', sec_key, 'secret:' .. kid)
  if not H.set(hex) then return nil, 'hmac_secret_not_initialized' end
  local key = SS.unhex(hex)
  if key == nil then return nil, 'invalid_secret' end
  return {kid = kid, key = key}
end

-- Returns the token "<kid>:<mac>" for a waitpoint, using a signer from SS.signer.
function SS.mint(signer, wp_id, wp_key, created_at)
  return signer.kid .. ':' .. SS.hmac_sha1(signer.key, SS.token_msg(wp_id, wp_key, created_at))
end

-- Validates a presented token (spec §4.4 order). Returns nil when it is good, else the
-- error code: invalid_keys_missing_hmac, missing_token, invalid_token,
-- hmac_secret_not_initialized, token_expired, invalid_secret.
function SS.check_token(sec_key, token, wp_id, wp_key, created_at, now)
  if not H.set(sec_key) then return 'invalid_keys_missing_hmac' end
  if type(token) ~= 'string' or token == '' then return 'missing_token' end
  local colon = string.find(token, ':', 1, true)
  if colon == nil or colon == 1 or colon == #token then return 'invalid_token' end
  local kid = string.sub(token, 1, colon - 1)
  local mac = string.sub(token, colon + 1)
  if #mac ~= 40 then return 'invalid_token' end
  local cur = redis.call('HGET', sec_key, 'current_kid')
  if not H.set(cur) then return 'hmac_secret_not_initialized' end
  local v = redis.call('HMGET', sec_key, 'secret:' .. kid, 'expires_at:' .. kid)
  local hex, exp = v[1], v[2]
  if not H.set(hex) then return 'invalid_token' end
  if kid ~= cur then
    local e = tonumber(exp)
    if e == nil or e ~= e or e <= 0 or e < now then return 'token_expired' end
  end
  local key = SS.unhex(hex)
  if key == nil then return 'invalid_secret' end
  local want = SS.hmac_sha1(key, SS.token_msg(wp_id, wp_key or '', created_at or ''))
  if not SS.same(want, mac) then return 'invalid_token' end
  return nil
end

---------------------------------------------------------------------------
-- ff_rotate_waitpoint_hmac_secret
--
-- Makes new_kid the minting kid of one partition's keystore (callers fan out to
-- every partition). The previous kid keeps verifying until now + grace_ms. Rotating
-- to the current kid with its own secret is a no-op; with another secret it is a
-- rotation_conflict. Before rotating, kids whose expiry passed are removed.
-- Reply fields: action is "noop" (kid = the current kid) or "rotated" (kid = the
-- previous current kid or "", new_kid, gc_count = kids removed).
-- Deviation (§13.9): a kid that becomes current loses any expires_at:<kid>, and
-- expiry GC never removes the current kid, so the current kid never expires.
--
-- KEYS (1): hmac_secrets
-- ARGV (3): new_kid, new_secret_hex, grace_ms:int
-- @reply ok(action, kid, new_kid?, gc_count:int?)
-- @errors invalid_input, invalid_kid, invalid_secret_hex, invalid_grace_ms,
--         rotation_conflict
---------------------------------------------------------------------------
redis.register_function('ff_rotate_waitpoint_hmac_secret', function(keys, args)
  local e = H.need_keys(keys, 1)
  if e then return e end
  local sec = keys[1]
  local kid, hex, grace_raw = args[1], args[2], args[3]
  if type(kid) ~= 'string' or kid == '' or string.find(kid, ':', 1, true) then
    return err('invalid_kid')
  end
  if type(hex) ~= 'string' or hex == '' or SS.unhex(hex) == nil then
    return err('invalid_secret_hex')
  end
  local grace = tonumber(grace_raw)
  if grace == nil or grace ~= grace or grace < 0 or grace > 9007199254740991
      or math.floor(grace) ~= grace then
    return err('invalid_grace_ms')
  end
  local now = now_ms()
  local cur = redis.call('HGET', sec, 'current_kid')
  if not H.set(cur) then cur = nil end
  if cur == kid then
    local stored = redis.call('HGET', sec, 'secret:' .. kid)
    if H.set(stored) and stored ~= hex then return err('rotation_conflict', kid) end
    if not H.set(stored) then redis.call('HSET', sec, 'secret:' .. kid, hex) end
    redis.call('HDEL', sec, 'expires_at:' .. kid)
    return ok('noop', kid)
  end
  local all = redis.call('HGETALL', sec)
  local gc = 0
  for i = 1, #all, 2 do
    local old = string.match(all[i], '^expires_at:(.*)$')
    if old and old ~= cur then
      local e = tonumber(all[i + 1])
      if e == nil or e ~= e or e <= 0 or e < now then
        redis.call('HDEL', sec, all[i], 'secret:' .. old)
        gc = gc + 1
      end
    end
  end
  if cur then
    local until_ms = now + grace
    redis.call('HSET', sec, 'previous_kid', cur, 'previous_expires_at', until_ms,
      'expires_at:' .. cur, until_ms, 'current_kid', kid, 'secret:' .. kid, hex)
  else
    redis.call('HSET', sec, 'current_kid', kid, 'secret:' .. kid, hex)
  end
  redis.call('HDEL', sec, 'expires_at:' .. kid)
  return ok('rotated', cur or '', kid, tostring(gc))
end)

---------------------------------------------------------------------------
-- ff_list_waitpoint_hmac_kids
--
-- Lists one partition's keystore: the current kid ("" when none) and every other kid
-- that still verifies, with its expiry (ms), sorted by kid.
--
-- KEYS (1): hmac_secrets
-- ARGV (0)
-- @reply ok(current_kid, kid_count:int, kid_expiries...)
-- @errors invalid_input
-- @flags no-writes
---------------------------------------------------------------------------
redis.register_function{
  function_name = 'ff_list_waitpoint_hmac_kids',
  flags = {'no-writes'},
  callback = function(keys, args)
    local e = H.need_keys(keys, 1)
    if e then return e end
    local all = redis.call('HGETALL', keys[1])
    local now = now_ms()
    local cur = ''
    local found = {}
    for i = 1, #all, 2 do
      if all[i] == 'current_kid' then cur = all[i + 1] end
    end
    for i = 1, #all, 2 do
      local kid = string.match(all[i], '^expires_at:(.*)$')
      local e = tonumber(all[i + 1])
      if kid and kid ~= cur and e and e == e and e > 0 and e >= now then
        found[#found + 1] = {kid, all[i + 1]}
      end
    end
    table.sort(found, function(a, b) return a[1] < b[1] end)
    local r = ok(cur, tostring(#found))
    for _, p in ipairs(found) do
      r[#r + 1] = p[1]
      r[#r + 1] = p[2]
    end
    return r
  end,
}
