package ffscripts_test

import (
	"strconv"
	"testing"

	"github.com/flowfabric/ffgo/ffscripts"
	"github.com/google/go-cmp/cmp"
	"github.com/valkey-io/valkey-go"
)

// D4 (spec §1, §11.4): bad input in any numeric or JSON slot is answered with a structured
// error before the first write. The generated bindings cannot send a non-number in an :int
// slot, so these rows build the FCALL by hand in the generated KEYS order and parse the
// reply with the generated parser. Each row snapshots the execution's keys and partition
// indexes before and after the call.
func TestValidationLeavesNoWrites(t *testing.T) {
	eachTarget(t, func(t *testing.T, f *fx) {
		type row struct {
			name  string
			setup string // "", "created", "active", "interrupted", "expired"
			call  func(e *exe, bad string) valkey.Completed
			bad   string
			want  string
		}
		fcall := func(fn string, keys []string, args ...string) valkey.Completed {
			return f.db.B().Fcall().Function(fn).Numkeys(int64(len(keys))).Key(keys...).Arg(args...).Build()
		}
		create := func(slot int) func(e *exe, bad string) valkey.Completed {
			return func(e *exe, bad string) valkey.Completed {
				k := e.createKeys(e.laneIdx("eligible"))
				a := []string{e.id, "ns", f.lane, "kind", "0", "me", "{}", "p", "", "", "{}", "", "1"}
				a[slot-1] = bad
				return fcall("ff_create_execution", []string{k.ExecCore, k.Payload, k.Policy, k.Tags,
					k.SchedulingZset, k.IdempotencyKey, k.ExecutionDeadline, k.AllExecutions}, a...)
			}
		}
		claim := func(slot int) func(e *exe, bad string) valkey.Completed {
			return func(e *exe, bad string) valkey.Completed {
				k := e.claimKeys(0, "wi-a")
				a := []string{e.id, "w-a", "wi-a", f.lane, "", "lid", "30000", "20000", "aid", "{}", "", ""}
				a[slot-1] = bad
				return fcall("ff_claim_execution", []string{k.ExecCore, k.ClaimGrant, k.LaneEligible,
					k.LeaseExpiry, k.WorkerLeases, k.AttemptHash, k.AttemptUsage, k.AttemptPolicy,
					k.AttemptsZset, k.LeaseCurrent, k.LeaseHistory, k.LaneActive, k.AttemptTimeout,
					k.ExecutionDeadline}, a...)
			}
		}
		rows := []row{
			{"create_priority", "", create(5), "abc", "invalid_input priority must be a number, got: abc"},
			{"create_priority_empty", "", create(5), "", "invalid_input priority must be a number, got: "},
			{"create_priority_nan", "", create(5), "nan", "invalid_input priority must be a number, got: nan"},
			{"create_delay_until", "", create(9), "soon", "invalid_input delay_until must be a number, got: soon"},
			{"create_dedup_ttl", "", create(10), "x", "invalid_input dedup_ttl_ms must be a number, got: x"},
			{"create_deadline", "", create(12), "inf", "invalid_input execution_deadline_at must be a number, got: inf"},
			{"claim_lease_ttl", "granted", claim(7), "abc", "invalid_input lease_ttl_ms must be a number, got: abc"},
			{"claim_renew_before", "granted", claim(8), "", "invalid_input renew_before_ms must be a number, got: "},
			{"claim_attempt_timeout", "granted", claim(11), "x", "invalid_input attempt_timeout_ms must be a number, got: x"},
			{"claim_deadline", "granted", claim(12), "x", "invalid_input execution_deadline_at must be a number, got: x"},
			{"claim_policy_malformed", "granted", claim(10), "{", "invalid_policy_json attempt_policy:malformed"},
			{"claim_policy_not_object", "granted", claim(10), "5", "invalid_policy_json attempt_policy:not_object"},
			{"grant_ttl", "created", func(e *exe, bad string) valkey.Completed {
				return fcall("ff_issue_claim_grant", []string{e.x("core"), e.x("claim_grant"), e.laneIdx("eligible")},
					e.id, "w-a", "wi-a", f.lane, "", bad, "", "", "")
			}, "", "invalid_input grant_ttl_ms must be a number, got: "},
			{"resume_remaining_timeout", "interrupted", func(e *exe, bad string) valkey.Completed {
				return fcall("ff_claim_resumed_execution", []string{e.x("core"), e.x("claim_grant"),
					e.laneIdx("eligible"), e.idx("lease_expiry"), e.workerSet("wi-a"), e.attempt(0),
					e.x("lease:current"), e.x("lease:history"), e.laneIdx("active"), e.idx("attempt_timeout"),
					e.idx("execution_deadline")}, e.id, "w-a", "wi-a", f.lane, "", "lid2", "30000", bad)
			}, "later", "invalid_input remaining_attempt_timeout_ms must be a number, got: later"},
			{"renew_ttl", "active", func(e *exe, bad string) valkey.Completed {
				c := e.core()
				return fcall("ff_renew_lease", []string{e.x("core"), e.x("lease:current"), e.x("lease:history"),
					e.idx("lease_expiry")}, e.id, "0", c["current_attempt_id"], c["current_lease_id"], "1", bad, "5000")
			}, "inf", "invalid_input lease_ttl_ms must be a number, got: inf"},
			{"renew_grace", "active", func(e *exe, bad string) valkey.Completed {
				c := e.core()
				return fcall("ff_renew_lease", []string{e.x("core"), e.x("lease:current"), e.x("lease:history"),
					e.idx("lease_expiry")}, e.id, "0", c["current_attempt_id"], c["current_lease_id"], "1", "30000", bad)
			}, "", "invalid_input lease_history_grace_ms must be a number, got: "},
			{"delay_until", "active", func(e *exe, bad string) valkey.Completed {
				c := e.core()
				return fcall("ff_delay_execution", []string{e.x("core"), e.attempt(0), e.x("lease:current"),
					e.x("lease:history"), e.idx("lease_expiry"), e.workerSet("wi-a"), e.laneIdx("active"),
					e.laneIdx("delayed"), e.idx("attempt_timeout")},
					e.id, c["current_lease_id"], "1", c["current_attempt_id"], bad)
			}, "tomorrow", "invalid_input delay_until must be a number, got: tomorrow"},
			{"promote_now", "created", func(e *exe, bad string) valkey.Completed {
				return fcall("ff_promote_delayed", []string{e.x("core"), e.laneIdx("delayed"), e.laneIdx("eligible")}, e.id, bad)
			}, "x", "invalid_input now_ms must be a number, got: x"},
			{"block_now", "created", func(e *exe, bad string) valkey.Completed {
				return fcall("ff_block_execution_for_admission", []string{e.x("core"), e.laneIdx("eligible"),
					e.laneIdx("blocked:route")}, e.id, "paused_by_operator", "d", bad)
			}, "x", "invalid_input now_ms must be a number, got: x"},
			{"unblock_now", "created", func(e *exe, bad string) valkey.Completed {
				return fcall("ff_unblock_execution", []string{e.x("core"), e.laneIdx("blocked:route"), e.laneIdx("eligible")}, e.id, bad, "")
			}, "", "invalid_input now_ms must be a number, got: "},
			{"reclaim_grant_ttl", "expired", func(e *exe, bad string) valkey.Completed {
				return fcall("ff_issue_reclaim_grant", []string{e.x("core"), e.x("claim_grant"), e.idx("lease_expiry")},
					e.id, "w-b", "wi-b", f.lane, "", bad, "", "", "")
			}, "x", "invalid_input grant_ttl_ms must be a number, got: x"},
			{"reclaim_max", "expired", func(e *exe, bad string) valkey.Completed {
				return fcall("ff_reclaim_execution", []string{e.x("core"), e.x("claim_grant"), e.attempt(0),
					e.streamKey(0) + ":meta", e.attempt(1), e.attempt(1) + ":usage", e.x("attempts"),
					e.x("lease:current"), e.x("lease:history"), e.idx("lease_expiry"), e.workerSet("wi-b"),
					e.laneIdx("active"), e.idx("attempt_timeout"), e.idx("execution_deadline")},
					e.id, "w-b", "wi-b", f.lane, "lid2", "30000", "aid2", "{}", bad)
			}, "many", "invalid_input default_max_reclaim_count must be a number, got: many"},
			{"frame_max_payload", "active", func(e *exe, bad string) valkey.Completed {
				return e.frameCmd("log", "x", "", bad, "")
			}, "x", "invalid_input max_payload_bytes must be a number, got: x"},
			{"frame_mode", "active", func(e *exe, bad string) valkey.Completed {
				return e.frameCmd("log", "x", bad, "65536", "")
			}, "weird", "invalid_input unsupported stream_mode"},
			{"frame_summary_not_json", "active", func(e *exe, bad string) valkey.Completed {
				return e.frameCmd("log", bad, "summary", "65536", "")
			}, "{", "invalid_input patch payload is not valid JSON"},
			{"frame_summary_patch_kind", "active", func(e *exe, bad string) valkey.Completed {
				return e.frameCmd("log", "{}", "summary", "65536", bad)
			}, "json-patch", "invalid_input unsupported patch_kind"},
		}
		for _, r := range rows {
			t.Run(r.name, func(t *testing.T) {
				e := f.newExec()
				switch r.setup {
				case "created":
					e.mustCreate(nil)
				case "granted":
					e.mustCreate(nil)
					if _, err := e.grant("w-a", "wi-a", ""); err != nil {
						t.Fatal(err)
					}
				case "active":
					e.mustCreate(nil)
					e.mustGrantClaim("w-a", "wi-a", 30000)
				case "interrupted":
					e.mustCreate(nil)
					l := e.mustGrantClaim("w-a", "wi-a", 30000)
					if _, err := e.delay(l, 1); err != nil {
						t.Fatal(err)
					}
					if _, err := e.promote(f.serverMs()); err != nil {
						t.Fatal(err)
					}
					if _, err := e.grant("w-a", "wi-a", ""); err != nil {
						t.Fatal(err)
					}
				case "expired":
					e.mustCreate(nil)
					e.mustGrantClaim("w-a", "wi-a", 0)
					if _, err := e.mark(); err != nil {
						t.Fatal(err)
					}
					if _, err := e.reclaimGrant("w-b", "wi-b", ""); err != nil && r.name != "reclaim_grant_ttl" {
						t.Fatal(err)
					}
					if r.name == "reclaim_grant_ttl" {
						f.do(f.db.B().Del().Key(e.x("claim_grant")).Build())
					}
				}
				before := e.snapshot()
				if r.setup != "" && before[e.x("core")] == "" {
					t.Fatalf("snapshot misses exec_core: the no-write check would be vacuous")
				}
				res := f.do(r.call(e, r.bad))
				_, err := ffscripts.ParseClaimExecution(res) // any tuple parser yields the *fcall.Error
				if got := codeDetail(err); got != r.want {
					t.Errorf("reply = %q, want %q", got, r.want)
				}
				if diff := cmp.Diff(before, e.snapshot()); diff != "" {
					t.Errorf("rejected call wrote (-before +after):\n%s", diff)
				}
			})
		}
	})
}

// frameCmd builds an ff_append_frame FCALL for the current lease with raw string slots.
func (e *exe) frameCmd(frameType, payload, mode, maxPayload, patchKind string) valkey.Completed {
	c := e.core()
	idx := c["current_attempt_index"]
	n, _ := strconv.ParseInt(idx, 10, 64)
	keys := []string{e.x("core"), e.streamKey(n), e.streamKey(n) + ":meta", e.attempt(n) + ":summary"}
	args := []string{e.id, idx, c["current_lease_id"], c["current_lease_epoch"], frameType, "", payload,
		"", "", "", "0", c["current_attempt_id"], maxPayload, mode, patchKind, "0", "0", "0", "0"}
	return e.f.db.B().Fcall().Function("ff_append_frame").Numkeys(4).Key(keys...).Arg(args...).Build()
}

// D11: fractional durations are floored to whole ms (the bindings send integers, so the
// FCALL is built by hand).
func TestFractionalDurationsFloored(t *testing.T) {
	eachTarget(t, func(t *testing.T, f *fx) {
		e := f.newExec()
		e.mustCreate(nil)
		if _, err := e.grant("w-a", "wi-a", ""); err != nil {
			t.Fatal(err)
		}
		k := e.claimKeys(0, "wi-a")
		res := f.do(f.db.B().Fcall().Function("ff_claim_execution").Numkeys(14).Key(k.ExecCore, k.ClaimGrant,
			k.LaneEligible, k.LeaseExpiry, k.WorkerLeases, k.AttemptHash, k.AttemptUsage, k.AttemptPolicy,
			k.AttemptsZset, k.LeaseCurrent, k.LeaseHistory, k.LaneActive, k.AttemptTimeout, k.ExecutionDeadline).
			Arg(e.id, "w-a", "wi-a", f.lane, "", "lid", "30000.7", "20000.5", "aid", "{}", "", "").Build())
		r, err := ffscripts.ParseClaimExecution(res) // an int64 parse fails on a fraction
		if err != nil {
			t.Fatal(err)
		}
		c := e.core()
		acq, _ := strconv.ParseInt(c["lease_acquired_at"], 10, 64)
		if r.LeaseExpiresAt != acq+30000 || c["lease_renewal_deadline"] != strconv.FormatInt(acq+20000, 10) {
			t.Errorf("expires %d deadline %s acquired %d", r.LeaseExpiresAt, c["lease_renewal_deadline"], acq)
		}
		rr := f.do(f.db.B().Fcall().Function("ff_renew_lease").Numkeys(4).Key(e.x("core"), e.x("lease:current"),
			e.x("lease:history"), e.idx("lease_expiry")).Arg(e.id, "0", "aid", "lid", "1", "999.9", "0.5").Build())
		if _, err := ffscripts.ParseRenewLease(rr); err != nil {
			t.Errorf("renew with fractional ttl: %v", err)
		}
	})
}

// A raw caller passing too few KEYS gets invalid_input, not a Lua runtime error, and
// nothing is written.
func TestTooFewKeys(t *testing.T) {
	eachTarget(t, func(t *testing.T, f *fx) {
		need := map[string]int{"ff_create_execution": 8, "ff_set_execution_tags": 2, "ff_promote_delayed": 3,
			"ff_block_execution_for_admission": 3, "ff_unblock_execution": 3, "ff_cancel_execution": 21,
			"ff_expire_execution": 14, "ff_issue_claim_grant": 3, "ff_claim_execution": 14,
			"ff_claim_resumed_execution": 11, "ff_issue_reclaim_grant": 3, "ff_reclaim_execution": 14,
			"ff_claim_next": 7, "ff_renew_lease": 4, "ff_update_progress": 1, "ff_complete_execution": 12,
			"ff_fail_execution": 12, "ff_delay_execution": 9, "ff_mark_lease_expired_if_due": 4,
			"ff_revoke_lease": 5, "ff_append_frame": 4}
		for fn, n := range need {
			t.Run(fn, func(t *testing.T) {
				e := f.newExec()
				e.mustCreate(nil)
				e.mustGrantClaim("w-a", "wi-a", 30000)
				before := e.snapshot()
				keys := []string{e.x("core")}[:min(1, n-1)]
				res := f.do(f.db.B().Fcall().Function(fn).Numkeys(int64(len(keys))).Key(keys...).Build())
				_, err := ffscripts.ParseClaimExecution(res)
				want := "invalid_input KEYS must hold at least " + strconv.Itoa(n) + " keys, got " + strconv.Itoa(len(keys))
				if got := codeDetail(err); got != want {
					t.Errorf("reply = %q, want %q", got, want)
				}
				if diff := cmp.Diff(before, e.snapshot()); diff != "" {
					t.Errorf("wrote (-before +after):\n%s", diff)
				}
			})
		}
	})
}
