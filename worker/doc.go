// Package worker runs FlowFabric executions from Go: it claims work from the
// flowfabric function library on Valkey, keeps each claim's lease alive while a
// handler runs, and reports the outcome back through the library's functions.
//
// It is the Go counterpart of FlowFabric's Rust worker (FlowFabricWorker and
// ClaimedTask), built on the generated bindings in package ffscripts and the key
// schema in package keyspace.
//
// # Running handlers
//
//	w, err := worker.Connect(ctx, client, worker.Options{
//		WorkerID:   "billing",
//		InstanceID: "billing-1",
//		Lanes:      []string{"default"},
//	})
//	if err != nil { ... }
//	defer w.Close(context.Background())
//	err = w.Run(ctx, func(ctx context.Context, t *worker.Task) error {
//		return process(ctx, t.Payload)
//	})
//
// Run claims with back-off while there is no work, runs up to
// Options.MaxConcurrentTasks handlers at once and renews their leases. A handler
// that returns nil completes its execution, one that returns an error fails it
// (with a retry when the execution's retry policy allows one, never when the
// error is wrapped with Permanent), and a panic fails it too. A handler may also
// end its task itself (Task.Complete, Task.Fail, Task.Suspend, ...). When ctx is
// cancelled Run stops claiming, waits up to Options.ShutdownTimeout for the
// running handlers and hands back the executions still held.
//
// The task's context is cancelled when its lease is lost (expired, revoked or
// taken over by another worker), so a handler stops doing work whose result
// would be refused.
//
// # Claiming by hand
//
// ClaimNext claims one execution from the worker's lanes. It claims where the
// lane last found work, in one call when the server has the ff_claim_next
// extension; when that partition has run dry (and every 16 claims, so that
// partitions take turns) it looks at a rolling window of partitions (plus each
// lane's own partition, where solo executions live) with one pipelined read.
// Without the extension it claims with a grant and a claim pipelined together.
// ClaimFromGrant and ClaimFromReclaimGrant consume grants issued by a
// scheduler. Every claimed Task holds one of the worker's concurrency permits
// until it ends.
//
// Polls also do the small jobs a worker needs no engine for, in the same
// pipelined read: at most once per PollInterval (and as soon as an execution
// this worker delayed, handed back or scheduled for retry is due) they promote
// delayed executions that are due; at most once per MaxPollInterval a worker
// with capabilities returns to the eligible set the executions parked for want
// of a capable worker that it can run; and at most once per MaxPollInterval
// they read the partitions' lease-expiry sets and reclaim the executions of
// the worker's lanes whose lease ran out (their worker died or stopped
// renewing): the lease is marked expired, and a reclaim grant and
// ff_reclaim_execution start a new attempt of type "reclaim" here. The
// library refuses all but one claimant, and gives up at the reclaim cap.
//
// # Suspending and signals
//
// Task.Suspend parks an execution on a waitpoint until a resume condition
// (package signal) is met by signals delivered with DeliverSignal, authenticated
// with the waitpoint's token; the execution is then claimed again and continues
// the same attempt. Tokens are signed with a per-partition secret that must be
// installed once per deployment (Client.EnsureWaitpointSecret). Passing the
// waitpoint's lane back (Signal.Lane = Waitpoint.Lane) makes a delivery one
// round trip instead of two. A resume wakes
// a Run loop that is backing off wherever the signal was delivered (see Wake-ups).
//
// # Wake-ups
//
// The library publishes the id of every execution that becomes claimable
// (created, promoted, unblocked, resumed, a retry or a hand-back due at once)
// on its lane's channel, keyspace.WakeChannel(lane) = "ff:wake:<lane>" (an ffgo
// extension, lua/DEVIATIONS.md E1). Connect subscribes to the channels of the
// worker's lanes on one dedicated connection; a message wakes Run, which first
// claims in the partition the execution id names (one round trip) and polls
// when that finds nothing. Polling stays the fallback: a lost subscription is
// retried in the background, messages published meanwhile are made up for by a
// poll after the new subscription, and a server whose library does not publish
// just leaves the worker polling. On a cluster PUBLISH reaches every node, so
// the subscription may sit on any of them. Close ends the subscription;
// Options.PollOnly turns it off.
//
// # Producing work and signals
//
// Client is the other side: it creates executions, reads their state and result,
// delivers signals to suspended executions and installs the waitpoint HMAC
// secret. A Worker offers the same through Worker.Client.
package worker
