package conformance

import (
	"encoding/json"
	"strconv"

	"github.com/flowfabric/ffgo/ffscripts"
)

// Scenarios for what a lease holder does besides claiming and ending its attempt
// (progress, output frames), tags, grant expiry and the expiry scanner's function.

// Progress runs ff_update_progress as the holder of l.
func (e *Exec) Progress(l *Lease, pct, msg string) (ffscripts.UpdateProgressReply, error) {
	var r ffscripts.UpdateProgressReply
	var err error
	e.s.timed("progress", func() {
		r, err = e.s.C.UpdateProgress(e.s.ctx, ffscripts.UpdateProgressKeys{ExecCore: e.K.Core()},
			ffscripts.UpdateProgressArgs{ExecutionID: e.ID, LeaseID: l.LeaseID, LeaseEpoch: l.Epoch,
				ProgressPct: pct, ProgressMessage: msg})
	})
	return r, err
}

// Frame runs ff_append_frame as the holder of l: a's execution id, attempt index, lease
// id and epoch are taken from e and l, and the keys are those of l's attempt.
func (e *Exec) Frame(l *Lease, a ffscripts.AppendFrameArgs) (ffscripts.AppendFrameReply, error) {
	a.ExecutionID = e.ID
	a.AttemptIndex = strconv.FormatInt(l.Index, 10)
	a.LeaseID, a.LeaseEpoch = l.LeaseID, l.Epoch
	var r ffscripts.AppendFrameReply
	var err error
	e.s.timed("frame", func() {
		r, err = e.s.C.AppendFrame(e.s.ctx, ffscripts.AppendFrameKeys{ExecCore: e.K.Core(),
			Stream: e.K.Stream(l.idx()), StreamMeta: e.K.StreamMeta(l.idx()),
			StreamSummary: e.K.AttemptSummary(l.idx())}, a)
	})
	return r, err
}

// SetTags runs ff_set_execution_tags with the pairs k1, v1, k2, v2, ...
func (e *Exec) SetTags(kv ...string) (ffscripts.SetExecutionTagsReply, error) {
	var tags []ffscripts.SetExecutionTagsArgsTag
	for i := 0; i+1 < len(kv); i += 2 {
		tags = append(tags, ffscripts.SetExecutionTagsArgsTag{Key: kv[i], Value: kv[i+1]})
	}
	var r ffscripts.SetExecutionTagsReply
	var err error
	e.s.timed("tags", func() {
		r, err = e.s.C.SetExecutionTags(e.s.ctx, ffscripts.SetExecutionTagsKeys{ExecCore: e.K.Core(), Tags: e.K.Tags()},
			ffscripts.SetExecutionTagsArgs{Tags: tags})
	})
	return r, err
}

// Expire runs ff_expire_execution; inst is the worker instance whose lease set is passed.
func (e *Exec) Expire(reason, inst string) (ffscripts.ExpireExecutionReply, error) {
	idx := uint32(0)
	if n, err := strconv.ParseUint(e.CoreField("current_attempt_index"), 10, 32); err == nil {
		idx = uint32(n)
	}
	var r ffscripts.ExpireExecutionReply
	var err error
	e.s.timed("expire", func() {
		r, err = e.s.C.ExpireExecution(e.s.ctx, ffscripts.ExpireExecutionKeys{ExecCore: e.K.Core(),
			AttemptHash: e.K.Attempt(idx), StreamMeta: e.K.StreamMeta(idx), LeaseCurrent: e.K.LeaseCurrent(),
			LeaseHistory: e.K.LeaseHistory(), LeaseExpiry: e.P.LeaseExpiry(), WorkerLeases: e.P.WorkerLeases(inst),
			LaneActive: e.P.LaneActive(e.Lane), LaneTerminal: e.P.LaneTerminal(e.Lane),
			AttemptTimeout: e.P.AttemptTimeout(), ExecutionDeadline: e.P.ExecutionDeadline(),
			LaneSuspended: e.P.LaneSuspended(e.Lane), SuspensionTimeout: e.P.SuspensionTimeout(),
			SuspensionCurrent: e.K.SuspensionCurrent()}, ffscripts.ExpireExecutionArgs{ExecutionID: e.ID, ExpireReason: reason})
	})
	return r, err
}

// grantTTL issues a claim grant that expires after ttl ms.
func (e *Exec) grantTTL(worker, inst string, ttl int64) (ffscripts.IssueClaimGrantReply, error) {
	var r ffscripts.IssueClaimGrantReply
	var err error
	e.s.timed("grant", func() {
		r, err = e.s.C.IssueClaimGrant(e.s.ctx, ffscripts.IssueClaimGrantKeys{
			ExecCore: e.K.Core(), ClaimGrant: e.K.ClaimGrant(), LaneEligible: e.P.LaneEligible(e.Lane),
		}, ffscripts.IssueClaimGrantArgs{ExecutionID: e.ID, WorkerID: worker, WorkerInstanceID: inst,
			LaneID: e.Lane, GrantTTLMs: ttl})
	})
	return r, err
}

func claimUpdateProgress(s *S) {
	e := s.NewExec()
	e.Create(CreateOpts{})
	l := e.MustClaim(workerA, instA, longTTL)
	e.Merge(claimedCore(l, e.Lane, 0, "1", "~claim"))

	s.Step("progress with pct and message")
	r, err := e.Progress(l, "40", "halfway")
	s.OK("ff_update_progress", err)
	s.Eq("reply", ffscripts.UpdateProgressReply{Status: "OK"}, r)
	e.ExpectCore(map[string]string{"progress_pct": "40", "progress_message": "halfway",
		"progress_updated_at": "~progress", "last_mutation_at": "~progress"})

	s.Step("empty pct keeps the stored pct")
	_, err = e.Progress(l, "", "three quarters")
	s.OK("ff_update_progress", err)
	e.ExpectCore(map[string]string{"progress_message": "three quarters",
		"progress_updated_at": "~progress", "last_mutation_at": "~progress"})

	s.Step("empty message keeps the stored message")
	_, err = e.Progress(l, "75", "")
	s.OK("ff_update_progress", err)
	e.ExpectCore(map[string]string{"progress_pct": "75",
		"progress_updated_at": "~progress", "last_mutation_at": "~progress"})

	bad := func(mod func(*Lease)) *Lease {
		c := *l
		mod(&c)
		return &c
	}
	cases := []struct {
		name string
		l    *Lease
	}{
		{"another lease id", bad(func(c *Lease) { c.LeaseID = "x" })},
		{"a stale epoch", bad(func(c *Lease) { c.Epoch = "0" })},
		{"no lease id (no fence_required rule)", bad(func(c *Lease) { c.LeaseID, c.Epoch = "", "" })},
	}
	for _, c := range cases {
		s.Step("progress with " + c.name)
		_, err = e.Progress(c.l, "99", "no")
		s.WantErr("progress", err, "ff_update_progress", "stale_lease")
		e.ExpectCore(nil)
	}
	s.Step("progress with another attempt id (not checked)")
	_, err = e.Progress(bad(func(c *Lease) { c.AttemptID = "y" }), "80", "")
	s.OK("ff_update_progress", err)
	e.ExpectCore(map[string]string{"progress_pct": "80",
		"progress_updated_at": "~progress", "last_mutation_at": "~progress"})

	s.Step("progress on a missing execution")
	_, err = s.NewExec().Progress(l, "1", "")
	s.WantErr("progress", err, "ff_update_progress", "execution_not_found")

	s.Step("progress after revoke")
	v := s.NewExec()
	v.Create(CreateOpts{})
	vl := v.MustClaim(workerB, instB, longTTL)
	if _, err := v.Revoke(vl.LeaseID, "ops", instB); err != nil {
		s.Fatalf("revoke: %v", err)
	}
	before := s.Hash(v.K.Core())
	_, err = v.Progress(vl, "1", "")
	s.WantErr("progress", err, "ff_update_progress", "lease_revoked")
	s.Eq("exec_core unchanged", before, s.Hash(v.K.Core()))

	s.Step("progress after complete")
	if _, err := e.Complete(l, ""); err != nil {
		s.Fatalf("complete: %v", err)
	}
	before = s.Hash(e.K.Core())
	_, err = e.Progress(l, "100", "done")
	s.WantErr("progress", err, "ff_update_progress", "execution_not_active", "success", "1", "terminal", l.AttemptID)
	s.Eq("exec_core unchanged", before, s.Hash(e.K.Core()))
}

// metaFields is the stream meta hash a first frame creates (§5.5).
func metaFields(e *Exec, l *Lease) map[string]string {
	return map[string]string{"stream_id": e.ID + ":" + strconv.FormatInt(l.Index, 10), "execution_id": e.ID,
		"attempt_id": l.AttemptID, "attempt_index": strconv.FormatInt(l.Index, 10), "created_at": "~frame",
		"closed_at": "", "closed_reason": "", "durability_mode": "durable_full", "retention_maxlen": "0",
		"last_sequence": "", "frame_count": "0", "total_bytes": "0", "last_frame_at": "", "has_durable_frame": "0"}
}

// jsonDoc decodes a summary document (cjson does not keep key order).
func jsonDoc(s *S, doc string) map[string]any {
	var m map[string]any
	if err := json.Unmarshal([]byte(doc), &m); err != nil {
		s.Fatalf("summary document %q: %v", doc, err)
	}
	return m
}

func claimAppendFrame(s *S) {
	e := s.NewExec()
	e.Create(CreateOpts{})
	l := e.MustClaim(workerA, instA, longTTL)
	e.Merge(claimedCore(l, e.Lane, 0, "1", "~claim"))
	stream, meta, summary := e.K.Stream(0), e.K.StreamMeta(0), e.K.AttemptSummary(0)

	s.Step("input errors before the first frame write nothing (D13)")
	inputErrs := []struct {
		name   string
		a      ffscripts.AppendFrameArgs
		code   string
		detail []string
	}{
		{"payload over max_payload_bytes", ffscripts.AppendFrameArgs{FrameType: "log", Payload: []byte("hello"),
			MaxPayloadBytes: ptr(int64(4))}, "retention_limit_exceeded", nil},
		{"unknown stream_mode", ffscripts.AppendFrameArgs{FrameType: "log", Payload: []byte("x"),
			StreamMode: "fast"}, "invalid_input", []string{"unsupported stream_mode"}},
		{"summary with an unknown patch_kind", ffscripts.AppendFrameArgs{FrameType: "summary", Payload: []byte(`{"a":1}`),
			StreamMode: "summary", PatchKind: "json-patch"}, "invalid_input", []string{"unsupported patch_kind"}},
		{"summary with a payload that is not JSON", ffscripts.AppendFrameArgs{FrameType: "summary", Payload: []byte(`{a:`),
			StreamMode: "summary"}, "invalid_input", []string{"patch payload is not valid JSON"}},
		{"summary with a payload that is not an object", ffscripts.AppendFrameArgs{FrameType: "summary", Payload: []byte(`42`),
			StreamMode: "summary"}, "invalid_input", []string{"patch must be a JSON object"}},
	}
	for _, c := range inputErrs {
		s.Step("input error: " + c.name)
		_, err := e.Frame(l, c.a)
		s.WantErr("append", err, "ff_append_frame", c.code, c.detail...)
		for _, k := range []string{stream, meta, summary} {
			s.Eq("key "+k+" exists", false, s.Exists(k))
		}
	}

	s.Step("first frame creates the stream and its meta hash")
	r, err := e.Frame(l, ffscripts.AppendFrameArgs{FrameType: "log", Payload: []byte("hello"),
		CorrelationID: "c-1", AttemptID: l.AttemptID})
	s.OK("ff_append_frame", err)
	s.Eq("reply", ffscripts.AppendFrameReply{Status: "OK", EntryID: r.EntryID, FrameCount: 1}, r)
	wantMeta := metaFields(e, l)
	for k, v := range map[string]string{"last_sequence": r.EntryID, "frame_count": "1", "total_bytes": "5",
		"last_frame_at": "~frame", "has_durable_frame": "1"} {
		wantMeta[k] = v
	}
	gotMeta := s.Hash(meta)
	s.Want("stream meta", wantMeta, gotMeta)
	wantMeta["created_at"] = gotMeta["created_at"]
	entries := s.StreamFields(stream)
	if len(entries) != 1 {
		s.Fatalf("stream has %d entries, want 1", len(entries))
	}
	s.Want("frame 1", map[string]string{"frame_type": "log", "ts": "~frame", "payload": "hello",
		"encoding": "utf8", "source": "worker", "mode": "durable", "correlation_id": "c-1"}, entries[0])
	e.ExpectCore(nil)

	s.Step("second frame with its own ts, encoding and source")
	r2, err := e.Frame(l, ffscripts.AppendFrameArgs{FrameType: "result", Ts: "12345", Payload: []byte(`{"a":1}`),
		Encoding: "json", Source: "sdk", RetentionMaxlen: ptr(int64(100))})
	s.OK("ff_append_frame", err)
	s.Eq("reply", ffscripts.AppendFrameReply{Status: "OK", EntryID: r2.EntryID, FrameCount: 2}, r2)
	if r2.EntryID == r.EntryID {
		s.Fatalf("second frame has the first frame's entry id %s", r.EntryID)
	}
	for k, v := range map[string]string{"last_sequence": r2.EntryID, "frame_count": "2", "total_bytes": "12",
		"last_frame_at": "~frame"} {
		wantMeta[k] = v
	}
	s.Want("stream meta", wantMeta, s.Hash(meta))
	entries = s.StreamFields(stream)
	if len(entries) != 2 {
		s.Fatalf("stream has %d entries, want 2", len(entries))
	}
	s.Eq("frame 2", map[string]string{"frame_type": "result", "ts": "12345", "payload": `{"a":1}`,
		"encoding": "json", "source": "sdk", "mode": "durable"}, entries[1])

	s.Step("summary frame creates the summary document")
	r3, err := e.Frame(l, ffscripts.AppendFrameArgs{FrameType: "summary", Payload: []byte(`{"step":"a","n":1,"m":"x"}`),
		StreamMode: "summary", PatchKind: "json-merge-patch"})
	s.OK("ff_append_frame", err)
	s.Eq("reply", ffscripts.AppendFrameReply{Status: "OK", EntryID: r3.EntryID, FrameCount: 3, SummaryVersion: "1"}, r3)
	sum := s.Hash(summary)
	s.Eq("summary document", map[string]any{"step": "a", "n": float64(1), "m": "x"}, jsonDoc(s, sum["document"]))
	sum["document"] = "*"
	s.Want("summary", map[string]string{"version": "1", "document": "*", "patch_kind": "json-merge-patch",
		"last_updated_ms": "~frame", "first_applied_ms": "~frame"}, sum)
	first := sum["first_applied_ms"]
	entries = s.StreamFields(stream)
	s.Want("frame 3", map[string]string{"frame_type": "summary", "ts": "~frame", "payload": `{"step":"a","n":1,"m":"x"}`,
		"encoding": "utf8", "source": "worker", "mode": "summary", "summary_version": "1"}, entries[len(entries)-1])

	s.Step("summary merge patch: null removes, __ff_null__ stores null")
	r4, err := e.Frame(l, ffscripts.AppendFrameArgs{FrameType: "summary", Payload: []byte(`{"step":"b","n":null,"m":"__ff_null__"}`),
		StreamMode: "summary"})
	s.OK("ff_append_frame", err)
	s.Eq("reply", ffscripts.AppendFrameReply{Status: "OK", EntryID: r4.EntryID, FrameCount: 4, SummaryVersion: "2"}, r4)
	sum = s.Hash(summary)
	s.Eq("summary document", map[string]any{"step": "b", "m": nil}, jsonDoc(s, sum["document"]))
	sum["document"] = "*"
	s.Want("summary", map[string]string{"version": "2", "document": "*", "patch_kind": "json-merge-patch",
		"last_updated_ms": "~frame", "first_applied_ms": first}, sum)

	s.Step("summary validation after frames writes nothing")
	metaBefore, sumBefore := s.Hash(meta), s.Hash(summary)
	for _, c := range inputErrs {
		_, err := e.Frame(l, c.a)
		s.WantErr("append ("+c.name+")", err, "ff_append_frame", c.code, c.detail...)
	}
	s.Eq("stream meta unchanged", metaBefore, s.Hash(meta))
	s.Eq("summary unchanged", sumBefore, s.Hash(summary))
	s.Eq("stream length", 4, len(s.StreamFields(stream)))

	bad := func(mod func(*Lease)) *Lease {
		c := *l
		mod(&c)
		return &c
	}
	for _, c := range []struct {
		name string
		l    *Lease
	}{
		{"a stale epoch", bad(func(c *Lease) { c.Epoch = "2" })},
		{"another lease id", bad(func(c *Lease) { c.LeaseID = "x" })},
		{"another attempt index", bad(func(c *Lease) { c.Index = 1 })},
	} {
		s.Step("append with " + c.name)
		_, err := e.Frame(c.l, ffscripts.AppendFrameArgs{FrameType: "log", Payload: []byte("late")})
		s.WantErr("append", err, "ff_append_frame", "stale_owner_cannot_append")
	}
	s.Eq("stream meta unchanged", metaBefore, s.Hash(meta))
	e.ExpectCore(nil)

	s.Step("complete closes the stream")
	if _, err := e.Complete(l, ""); err != nil {
		s.Fatalf("complete: %v", err)
	}
	wantMeta = s.Hash(meta)
	s.Want("stream meta closed", map[string]string{"closed_at": "~complete", "closed_reason": "attempt_success"},
		pick(wantMeta, "closed_at", "closed_reason"))
	_, err = e.Frame(l, ffscripts.AppendFrameArgs{FrameType: "log", Payload: []byte("after")})
	s.WantErr("append", err, "ff_append_frame", "stream_closed")
	s.Eq("stream meta unchanged", wantMeta, s.Hash(meta))

	s.Step("append on a missing execution")
	_, err = s.NewExec().Frame(l, ffscripts.AppendFrameArgs{FrameType: "log", Payload: []byte("x")})
	s.WantErr("append", err, "ff_append_frame", "stream_closed")
}

func claimSetTags(s *S) {
	e := s.NewExec()
	e.Create(CreateOpts{})
	e.ExpectCore(nil)
	tags := s.Hash(e.K.Tags())

	s.Step("set two tags")
	r, err := e.SetTags("app.team", "core", "app.tier", "gold")
	s.OK("ff_set_execution_tags", err)
	s.Eq("reply", ffscripts.SetExecutionTagsReply{Status: "OK", PairCount: 2}, r)
	tags["app.team"], tags["app.tier"] = "core", "gold"
	s.Eq("tags", tags, s.Hash(e.K.Tags()))
	e.ExpectCore(map[string]string{"last_mutation_at": "~tags"})

	s.Step("overwrite one, add others; keys need a namespace, a dot and a non-dot")
	r, err = e.SetTags("app.tier", "silver", "ops_2.x.y", "1", "z9.Y", "")
	s.OK("ff_set_execution_tags", err)
	s.Eq("reply", ffscripts.SetExecutionTagsReply{Status: "OK", PairCount: 3}, r)
	tags["app.tier"], tags["ops_2.x.y"], tags["z9.Y"] = "silver", "1", ""
	s.Eq("tags", tags, s.Hash(e.K.Tags()))
	e.ExpectCore(map[string]string{"last_mutation_at": "~tags"})

	for _, key := range []string{"team", "App.team", "1app.team", "app.", ".team", "app..team", "app-x.team", "app_x"} {
		s.Step("invalid key " + strconv.Quote(key))
		_, err = e.SetTags("app.ok", "v", key, "v")
		s.WantErr("set tags", err, "ff_set_execution_tags", "invalid_tag_key", key)
		s.Eq("tags unchanged", tags, s.Hash(e.K.Tags()))
		e.ExpectCore(nil)
	}

	s.Step("the first invalid key is reported")
	_, err = e.SetTags("bad", "v", "worse", "v")
	s.WantErr("set tags", err, "ff_set_execution_tags", "invalid_tag_key", "bad")

	s.Step("no pairs")
	_, err = e.SetTags()
	s.WantErr("set tags", err, "ff_set_execution_tags", "invalid_input", "tags must be non-empty even-length key/value pairs")
	e.ExpectCore(nil)

	s.Step("missing execution")
	m := s.NewExec()
	_, err = m.SetTags("app.team", "core")
	s.WantErr("set tags", err, "ff_set_execution_tags", "execution_not_found")
	s.Eq("tags written", false, s.Exists(m.K.Tags()))

	s.Step("no pairs is checked before the execution")
	_, err = m.SetTags()
	s.WantErr("set tags", err, "ff_set_execution_tags", "invalid_input", "tags must be non-empty even-length key/value pairs")
}

// claimGrantExpired checks both ways a grant runs out: normally its key vanishes at
// grant_expires_at (PEXPIREAT) and the claim answers invalid_claim_grant; a grant hash
// that outlived grant_expires_at (here: its TTL removed with PERSIST) answers
// claim_grant_expired and is left in place.
func claimGrantExpired(s *S) {
	e := s.NewExec()
	e.Create(CreateOpts{})
	e.ExpectCore(nil)

	// The TTL grows when a slow machine lets the key expire before PERSIST reaches it.
	ttl := int64(40)
	for {
		s.Step("grant with a " + strconv.FormatInt(ttl, 10) + " ms TTL")
		g, err := e.grantTTL(workerA, instA, ttl)
		s.OK("ff_issue_claim_grant", err)
		s.Eq("reply", ffscripts.IssueClaimGrantReply{Status: "OK", ExecutionID: e.ID}, g)
		n, err := s.T.Client.Do(s.ctx, s.T.Client.B().Persist().Key(e.K.ClaimGrant()).Build()).AsInt64()
		if err != nil {
			s.Fatalf("PERSIST: %v", err)
		}
		if n == 1 || ttl >= 4000 {
			break
		}
		ttl *= 10
	}
	grant := s.Hash(e.K.ClaimGrant())
	s.Want("claim_grant", map[string]string{"worker_id": workerA, "worker_instance_id": instA,
		"lane_id": e.Lane, "capability_hash": "", "route_snapshot_json": "", "admission_summary": "",
		"created_at": "~grant", "grant_expires_at": "~grant+" + strconv.FormatInt(ttl, 10)}, grant)
	gexp, _ := strconv.ParseInt(grant["grant_expires_at"], 10, 64)
	s.Advance(gexp)

	s.Step("another worker's claim is checked first")
	_, _, err := e.Claim(workerB, instB, longTTL)
	s.WantErr("claim", err, "ff_claim_execution", "invalid_claim_grant")

	s.Step("claim after grant_expires_at")
	_, _, err = e.Claim(workerA, instA, longTTL)
	s.WantErr("claim", err, "ff_claim_execution", "claim_grant_expired")
	s.Eq("grant left in place", grant, s.Hash(e.K.ClaimGrant()))
	e.ExpectCore(nil)
	e.WantWhere(map[string]string{"eligible": e.EligibleScore(0)})
	s.Eq("attempts", 0, len(s.ZSet(e.K.Attempts())))

	s.Step("a grant whose key expires")
	f := s.NewExec()
	f.Create(CreateOpts{})
	f.ExpectCore(nil)
	if _, err := f.grantTTL(workerA, instA, 40); err != nil {
		s.Fatalf("grant: %v", err)
	}
	// grant_expires_at is at most the end of the grant call's window plus the TTL.
	s.Advance(s.windows["grant"].hi + 40)
	s.Eq("grant key gone", false, s.Exists(f.K.ClaimGrant()))
	_, _, err = f.Claim(workerA, instA, longTTL)
	s.WantErr("claim", err, "ff_claim_execution", "invalid_claim_grant")
	f.ExpectCore(nil)
	f.WantWhere(map[string]string{"eligible": f.EligibleScore(0)})

	s.Step("a new grant after the expired one")
	l := f.MustClaim(workerA, instA, longTTL)
	f.Merge(claimedCore(l, f.Lane, 0, "1", "~claim"))
	f.ExpectCore(nil)
}

// claimHolderAfterLeaseExpiry checks that progress and frames after the lease expired
// are refused without marking the lease expired (§8.7, §8.8).
func claimHolderAfterLeaseExpiry(s *S) {
	e := s.NewExec()
	e.Create(CreateOpts{})
	l := e.MustClaim(workerA, instA, 40)
	e.Merge(claimedCore(l, e.Lane, 0, "1", "~claim"))
	e.Merge(map[string]string{"lease_expires_at": "~claim+40", "lease_renewal_deadline": "~claim+26"})
	e.ExpectCore(nil)
	s.Advance(l.ExpiresAt)

	s.Step("progress after expiry")
	_, err := e.Progress(l, "50", "late")
	s.WantErr("progress", err, "ff_update_progress", "lease_expired")
	e.ExpectCore(nil)

	s.Step("append after expiry")
	_, err = e.Frame(l, ffscripts.AppendFrameArgs{FrameType: "log", Payload: []byte("late")})
	s.WantErr("append", err, "ff_append_frame", "stale_owner_cannot_append")
	e.ExpectCore(nil)
	s.Eq("stream meta created", false, s.Exists(e.K.StreamMeta(0)))
	s.Eq("lease history events", 1, len(s.StreamFields(e.K.LeaseHistory())))
}

func claimExpireActive(s *S) {
	e := s.NewExec()
	e.Create(CreateOpts{})
	l := e.MustClaim(workerA, instA, longTTL)
	e.Merge(claimedCore(l, e.Lane, 0, "1", "~claim"))
	if _, err := e.Frame(l, ffscripts.AppendFrameArgs{FrameType: "log", Payload: []byte("x")}); err != nil {
		s.Fatalf("append: %v", err)
	}

	s.Step("expire an active execution")
	r, err := e.Expire("execution_deadline", instA)
	s.OK("ff_expire_execution", err)
	s.Eq("reply", ffscripts.ExpireExecutionReply{Status: "OK", Result: "expired", PreviousPhase: "active"}, r)
	e.ExpectCore(map[string]string{"lifecycle_phase": "terminal", "ownership_state": "unowned",
		"eligibility_state": "not_applicable", "blocking_reason": "none", "blocking_detail": "",
		"terminal_outcome": "expired", "attempt_state": "attempt_terminal", "public_state": "expired",
		"failure_reason": "execution_deadline", "completed_at": "~expire", "current_lease_id": "",
		"current_worker_id": "", "current_worker_instance_id": "", "lease_expires_at": "",
		"lease_last_renewed_at": "", "lease_renewal_deadline": "", "current_suspension_id": "",
		"current_waitpoint_id": "", "last_transition_at": "~expire", "last_mutation_at": "~expire"})
	e.WantWhere(map[string]string{"terminal": "~expire"}, instA)
	s.Eq("lease:current deleted", false, s.Exists(e.K.LeaseCurrent()))
	s.Want("attempt 0", map[string]string{"attempt_state": "ended_failure", "ended_at": "~expire",
		"failure_reason": "execution_deadline"}, pick(s.Hash(e.K.Attempt(0)), "attempt_state", "ended_at", "failure_reason"))
	s.Want("stream meta", map[string]string{"closed_at": "~expire", "closed_reason": "expired"},
		pick(s.Hash(e.K.StreamMeta(0)), "closed_at", "closed_reason"))
	hist := s.StreamFields(e.K.LeaseHistory())
	s.Want("released event", map[string]string{"event": "released", "lease_id": l.LeaseID,
		"lease_epoch": "1", "attempt_index": "0", "reason": "expired:execution_deadline", "ts": "~expire"}, hist[len(hist)-1])

	s.Step("the old holder")
	_, err = e.Complete(l, "")
	s.WantErr("complete", err, "ff_complete_execution", "execution_not_active", "expired", "1", "terminal", l.AttemptID)
	_, err = e.Progress(l, "1", "")
	s.WantErr("progress", err, "ff_update_progress", "execution_not_active", "expired", "1", "terminal", l.AttemptID)

	s.Step("expire again")
	r, err = e.Expire("execution_deadline", instA)
	s.OK("ff_expire_execution", err)
	s.Eq("reply", ffscripts.ExpireExecutionReply{Status: "OK", Result: "already_terminal"}, r)
	e.ExpectCore(nil)

	s.Step("default reason is attempt_timeout")
	d := s.NewExec()
	d.Create(CreateOpts{})
	dl := d.MustClaim(workerB, instB, longTTL)
	if _, err := d.Expire("", instB); err != nil {
		s.Fatalf("expire: %v", err)
	}
	s.Want("exec_core", map[string]string{"public_state": "expired", "failure_reason": "attempt_timeout"},
		pick(s.Hash(d.K.Core()), "public_state", "failure_reason"))
	d.WantWhere(map[string]string{"terminal": "~expire"}, instB)
	hist = s.StreamFields(d.K.LeaseHistory())
	s.Want("released event", map[string]string{"event": "released", "lease_id": dl.LeaseID,
		"lease_epoch": "1", "attempt_index": "0", "reason": "expired:attempt_timeout", "ts": "~expire"}, hist[len(hist)-1])

	s.Step("expire a missing execution")
	r, err = s.NewExec().Expire("", instA)
	s.OK("ff_expire_execution", err)
	s.Eq("reply", ffscripts.ExpireExecutionReply{Status: "OK", Result: "not_found_cleaned"}, r)
}
