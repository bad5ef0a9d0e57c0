// Package conformance certifies that a server runs the flowfabric library contract
// (spec/claim-lease.md and spec/suspend-signal.md, with the deviations of
// lua/DEVIATIONS.md): the people who change the Lua run it in CI, operators run it
// (cmd/ffconform) against a deployment.
//
// # Targets
//
// A Target is the embedded engine ("embedded"), a standalone Valkey
// ("valkey://host:port") or a cluster ("cluster://host:port,..."), opened with Open.
// With load set the generated library is loaded on every primary; without it the
// library must already answer ff_version with this build's version (certifying a
// deployment someone else loaded).
//
// # Scenarios
//
// Each Scenario drives one part of the contract only through the generated ffscripts
// calls, so one scenario runs unchanged on every target, and asserts replies and the
// resulting state with go-cmp: the whole exec_core hash (tracked step by step), index
// members and scores, and records (claim grant, attempts, lease, lease history,
// waitpoints, conditions, suspensions, signals). Scenarios work in a random partition of
// their own, chosen so that consecutive scenarios fall into different thirds of the slot
// space (the three primaries of a default 3-node cluster); they never flush a server.
//
// Server timestamps are asserted against the server time window of the call that wrote
// them: every call is bracketed by TIME reads, and an expectation such as "~claim+60000"
// means "a ms timestamp taken during the last claim, plus 60000". On the embedded engine
// the clock is frozen, so the windows are exact.
//
// Expiry (Scenario.Time): "poll" scenarios use tiny TTLs (tens of ms) and then poll the
// server clock until it passes the deadline, bounded by a timeout; the assertions never
// depend on how long that took. "clock" scenarios move the clock and run only on the
// embedded engine; elsewhere they are reported as skipped, with the reason.
//
// # Differential mode
//
// RunDiff applies seeded random call sequences (several executions in two partitions,
// three workers with different capabilities, grants, claims, renewals, failures with
// retry policies, delays, blocks, cancels, revokes, reclaims, suspensions on every
// condition kind, signals with good and bad tokens, pending waitpoints, timeouts, pauses
// of real time) to a Valkey server of its own and to the embedded engine, and compares
// the decoded replies and a canonical snapshot of the whole keyspace after every step.
// Each call runs on Valkey inside MULTI [TIME, FCALL, TIME] EXEC (Valkey freezes its clock
// within a transaction) and the embedded clock is set to that millisecond before the same
// call, so timestamps, tokens and expiry decisions compare exactly; TTLs compare within
// 50 ms. A failure prints the seed, the failing step and every step before it (the
// shortest failing prefix), and the command that replays it.
//
// # Known differences
//
// Known lists the documented differences the suite encodes (deviations from the
// reference library that the scenarios assert in their fixed form, and engine
// differences the differential mode normalises); the report names them. Nothing is
// skipped silently: each relaxation is counted and printed.
//
// # Mutants
//
// mutant_test.go loads deliberately broken libraries (text substitutions of
// ffscripts.Source()) on the embedded engine and on a private valkey-server, and
// requires the scenarios and the differential mode to fail, naming the scenario and the
// difference.
package conformance
