package conformance

// KnownDifference is a documented difference the suite encodes rather than skips: a
// deviation of our library from FlowFabric's reference (lua/DEVIATIONS.md) that the
// scenarios assert in its fixed form, or a difference between the embedded engine and
// Valkey (embedded/KNOWN_DIFFERENCES.md) the differential mode normalises.
type KnownDifference struct {
	ID      string
	Source  string
	Summary string
}

// Known lists the differences the report names. TestKnownListedInDocs keeps it in step
// with the documents.
var Known = []KnownDifference{
	{"D1", "lua/DEVIATIONS.md", "retry backoff floored to whole ms (claim/fail_retry_promote_reclaim)"},
	{"D5", "lua/DEVIATIONS.md", "a past delay_until lands in eligible, not delayed (claim/create_delayed)"},
	{"D7", "lua/DEVIATIONS.md", "renew keeps the lane active score at the claim-time expiry (claim/renew)"},
	{"D8", "lua/DEVIATIONS.md", "cancel also SREMs the holder's worker lease set (claim/cancel)"},
	{"D13", "lua/DEVIATIONS.md", "summary-mode and stream_mode input errors are found before any write (claim/append_frame)"},
	{"D14", "lua/DEVIATIONS.md", "capability_mismatch detail lists each missing token once (claim/capability_block_unblock)"},
	{"S1", "lua/DEVIATIONS.md", "every resume closes all waitpoints and conditions of the suspension (signal/*)"},
	{"S2", "lua/DEVIATIONS.md", "a waitpoint of an earlier suspension answers waitpoint_closed (signal/stale_waitpoint)"},
	{"S7", "lua/DEVIATIONS.md", "kid listing and all_satisfier_signals are sorted (signal/tokens_and_rotation)"},
	{"number-coercion", "embedded/KNOWN_DIFFERENCES.md", "gopher-lua formats fractional numbers with more digits than Valkey's Lua (differential: not produced by the library's paths)"},
	{"vm-messages", "embedded/KNOWN_DIFFERENCES.md", "Lua runtime error texts differ (differential: runtime errors compared by kind, not text)"},
}
