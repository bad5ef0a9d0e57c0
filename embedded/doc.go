// Package embedded runs Valkey function libraries in process: a server that
// speaks RESP, serves FUNCTION LOAD/DELETE/FLUSH/LIST, FCALL and FCALL_RO on
// github.com/yuin/gopher-lua with Valkey 8's scripting environment, and every
// data command from github.com/alicebob/miniredis/v2. An unchanged valkey-go
// client talks to it, so the same generated code (ffscripts) runs against the
// embedded engine and a real Valkey.
//
// It is the demo's default backend, a test double for users' own unit tests,
// and one side of the conformance suite.
//
// # Usage
//
//	s, err := embedded.New()
//	if err != nil { ... }
//	defer s.Close()
//	client, err := valkey.NewClient(s.ClientOption()) // in-memory, no socket
//	if err != nil { ... }
//	defer client.Close()
//	err = ffscripts.Load(ctx, client)
//
// Call Start to also listen on a loopback TCP address (Addr) for tools such as
// valkey-cli or clients in other processes.
//
// # What behaves like Valkey
//
//   - Library loading: the "#!lua name=<lib>" shebang, name rules, REPLACE that
//     is all or nothing, the load-time sandbox (only redis.register_function,
//     redis.log and the constants), and Valkey's error texts.
//   - The runtime: redis/server with call, pcall, error_reply, status_reply,
//     sha1hex, log (recorded: Logs), setresp (2 and 3), set_repl,
//     acl_check_cmd and the version constants; string, table, math, coroutine,
//     os.clock, cjson, bit; read-only globals and library tables.
//   - Conversions Lua <-> RESP in both directions, error replies with
//     " script: <fn>, on @user_function:<line>.", number formatting (%.14g in
//     tostring and cjson, Valkey's integer/shortest form for redis.call
//     arguments), no-writes and FCALL_RO checks.
//   - Atomicity: every command, and a whole FCALL, runs under one lock, as on
//     Valkey's single thread. A failing function keeps the writes it made.
//
// KNOWN_DIFFERENCES.md lists what differs, each entry pinned by a test; the
// differential test (diff_test.go) runs every case on both engines when
// VALKEY_ADDR points at a Valkey 8 server.
//
// # Time
//
// TIME and key expiry follow the wall clock until SetTime or FastForward
// freeze the clock; from then on only those calls move it, so lease expiry
// can be tested without sleeping. As on Valkey, time stands still for the
// length of one command (a whole FCALL or EXEC), and a key still exists at its
// expiry millisecond and is gone once the clock is past it. The engine expires
// keys itself (miniredis's clock only follows it): each command pays for the
// keys that actually expire, not for the keys that exist. A function that runs
// past the busy limit (WithBusyLimit, default 5s) is stopped with an error.
//
// # Sorted sets
//
// miniredis sorts a whole sorted set to answer a range read. The engine
// keeps its own ordered index of each sorted set that is range-read, kept in
// step with every command, so ZRANGE (by index or BYSCORE, REV, LIMIT,
// WITHSCORES), ZREVRANGE, ZRANGEBYSCORE, ZREVRANGEBYSCORE, ZRANK, ZREVRANK and
// ZCOUNT cost O(log n + k); their replies are miniredis's, byte for byte.
package embedded
