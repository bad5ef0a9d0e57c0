-- Headers in the style of a library written elsewhere: every irregular form ffgen must read.

---------------------------------------------------------------------------
-- ff_renew_lease
--
-- Renew a lease.
--
-- KEYS (4): exec_core, lease_current, lease_history, lease_expiry_zset
-- ARGV (7): execution_id, attempt_index, attempt_id, lease_id, lease_epoch,
--           lease_ttl_ms, lease_history_grace_ms
-- KEYS[3] (lease_history) is accepted but only appended to.
---------------------------------------------------------------------------
redis.register_function('ff_renew_lease', function(keys, args)
  return ok(args[6])
end)

---------------------------------------------------------------------------
-- ff_set_tags
--
-- KEYS (1): tags_hash
-- ARGV (>=2, even): k1, v1, k2, v2, ...
---------------------------------------------------------------------------
redis.register_function('ff_set_tags', function(keys, args)
  return ok()
end)

---------------------------------------------------------------------------
-- ff_cancel
--
-- KEYS (2): exec_core, history
-- ARGV (8 or 9): execution_id, reason, source, lease_id, lease_epoch,
--                attempt_id, now_ms (IGNORED — server time used), actor, [flow_id]
---------------------------------------------------------------------------
redis.register_function('ff_cancel', function(keys, args)
  return ok()
end)

---------------------------------------------------------------------------
-- ff_stage_edges
--
-- KEYS (4+N): flow_core, members, edges, graph, [e, f, g, edge_0..N]
-- ARGV (2+N): flow_id, now_ms, [id_0..N]
---------------------------------------------------------------------------
redis.register_function('ff_stage_edges', function(keys, args)
  return ok()
end)

---------------------------------------------------------------------------
-- ff_suspend
--
-- KEYS (3 + 3*N_extra): exec_core, waitpoint, condition
--   then for each extra waitpoint: wp_hash, wp_signals, wp_condition
-- ARGV (2 + 1 + 2*N_extra): execution_id, condition_json, extra_count
--   then for each extra: extra_id, extra_key
---------------------------------------------------------------------------
redis.register_function('ff_suspend', function(keys, args)
  return ok()
end)

---------------------------------------------------------------------------
-- ff_report_usage
--
-- KEYS (1): usage
-- ARGV (variable): count, dim_1..dim_N, hard_1..hard_N, ...
---------------------------------------------------------------------------
redis.register_function('ff_report_usage', function(keys, args)
  return ok()
end)

---------------------------------------------------------------------------
-- ff_deliver
--
-- KEYS (2): exec_core, signals
-- ARGV (3): execution_id, signal_name,
--           source  — RFC-009: who sent it, free text that runs on
--           for two lines, with a comma in it
---------------------------------------------------------------------------
redis.register_function('ff_deliver', function(keys, args)
  return ok()
end)

---------------------------------------------------------------------------
-- ff_deliver_with_token
--
-- KEYS (2): exec_core, signals
-- ARGV (4): same as ff_deliver (3 + waitpoint_token)
---------------------------------------------------------------------------
redis.register_function('ff_deliver_with_token', function(keys, args)
  return ok()
end)

---------------------------------------------------------------------------
-- ff_ping
--
-- KEYS (0)
-- ARGV (0)
---------------------------------------------------------------------------
redis.register_function('ff_ping', function() return ok() end)
