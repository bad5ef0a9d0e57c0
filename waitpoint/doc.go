// Package waitpoint implements FlowFabric's waitpoint HMAC tokens in Go
// (suspend-signal spec §4), byte for byte as the flowfabric library computes
// them in Lua.
//
// A token is "<kid>:<digest>", digest = HMAC-SHA1 over
// "<waitpoint_id>|<waitpoint_key>|<created_at_ms>" in 40 lowercase hex
// characters. The keys live in a per-partition hash
// ff:sec:{fp:N}:waitpoint_hmac (keyspace.Partition.HMACSecrets): current_kid,
// secret:<kid> (hex), and expires_at:<kid> (ms) for retired kids, which keep
// verifying until their own expiry.
//
// Keyring.Verify checks a presented token in the library's order and with
// its error codes (ErrorCode maps an error to "invalid_token",
// "token_expired", ...), comparing digests in constant time. MACHex is the
// lowest level, hex secret and message in, digest out, the same contract as
// the Lua helper, for agreement tests between the two.
//
// Errors name the bad input (a kid, a length, an offset) but never include a
// secret or a digest; Token's LogValue redacts the digest in slog output.
package waitpoint
