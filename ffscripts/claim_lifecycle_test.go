package ffscripts_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/flowfabric/ffgo/ffscripts"
	"github.com/flowfabric/ffgo/ffscripts/fcall"
	"github.com/google/go-cmp/cmp"
)

// code renders an error as its library code ("" for nil), or "go: <text>" for other errors.
func code(err error) string {
	if err == nil {
		return ""
	}
	var fe *fcall.Error
	if errors.As(err, &fe) {
		return fe.Code
	}
	return "go: " + err.Error()
}

// codeDetail renders an error as "code detail1 detail2 ...".
func codeDetail(err error) string {
	var fe *fcall.Error
	if errors.As(err, &fe) {
		return strings.Join(append([]string{fe.Code}, fe.Detail...), " ")
	}
	return code(err)
}

func TestCreate(t *testing.T) {
	eachTarget(t, func(t *testing.T, f *fx) {
		type check struct {
			status, public, state string
			where                 []string
		}
		tests := []struct {
			name string
			mod  func(e *exe) func(*ffscripts.CreateExecutionKeys, *ffscripts.CreateExecutionArgs)
			want check
		}{
			{"plain", nil, check{"OK", "waiting", sWaiting, []string{"eligible"}}},
			{"future_delay", func(e *exe) func(*ffscripts.CreateExecutionKeys, *ffscripts.CreateExecutionArgs) {
				return func(k *ffscripts.CreateExecutionKeys, a *ffscripts.CreateExecutionArgs) {
					k.SchedulingZset = e.laneIdx("delayed")
					a.DelayUntil = ptr(f.serverMs() + 60000)
				}
			}, check{"OK", "delayed", sDelayed, []string{"delayed"}}},
			// D5: a past delay passed with the delayed key lands in the eligible ZSET.
			{"past_delay_goes_eligible", func(e *exe) func(*ffscripts.CreateExecutionKeys, *ffscripts.CreateExecutionArgs) {
				return func(k *ffscripts.CreateExecutionKeys, a *ffscripts.CreateExecutionArgs) {
					k.SchedulingZset = e.laneIdx("delayed")
					a.DelayUntil = ptr(f.serverMs() - 1000)
				}
			}, check{"OK", "waiting", sWaiting, []string{"eligible"}}},
			{"deadline", func(e *exe) func(*ffscripts.CreateExecutionKeys, *ffscripts.CreateExecutionArgs) {
				return func(k *ffscripts.CreateExecutionKeys, a *ffscripts.CreateExecutionArgs) {
					a.ExecutionDeadlineAt = ptr(f.serverMs() + 60000)
				}
			}, check{"OK", "waiting", sWaiting, []string{"eligible", "execution_deadline"}}},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				e := f.newExec()
				var mod func(*ffscripts.CreateExecutionKeys, *ffscripts.CreateExecutionArgs)
				if tc.mod != nil {
					mod = tc.mod(e)
				}
				r, err := e.create(mod)
				if err != nil {
					t.Fatal(err)
				}
				got := check{r.Status, r.PublicState, e.state(), e.where()}
				if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(check{})); diff != "" {
					t.Errorf("create (-want +got):\n%s", diff)
				}
				if r.ExecutionID != e.id {
					t.Errorf("execution_id = %q, want %q", r.ExecutionID, e.id)
				}
			})
		}

		t.Run("eligible_score_and_clamp", func(t *testing.T) {
			e := f.newExec()
			e.mustCreate(func(_ *ffscripts.CreateExecutionKeys, a *ffscripts.CreateExecutionArgs) { a.Priority = 99999 })
			c := e.core()
			created, _ := strconv.ParseFloat(c["created_at"], 64)
			s, _ := e.score(e.laneIdx("eligible"))
			if c["priority"] != "9000" || s != -9000*1e12+created {
				t.Errorf("priority %q score %v, want 9000 and %v", c["priority"], s, -9000*1e12+created)
			}
		})

		t.Run("duplicate", func(t *testing.T) {
			e := f.newExec()
			idem := "ff:idem:" + f.tag + ":ns:" + e.id
			withIdem := func(k *ffscripts.CreateExecutionKeys, a *ffscripts.CreateExecutionArgs) {
				k.IdempotencyKey = idem
				a.DedupTTLMs = ptr(int64(60000))
			}
			e.mustCreate(withIdem)
			r, err := e.create(nil)
			if err != nil || r.Status != "DUPLICATE" || r.ExecutionID != e.id {
				t.Errorf("same id: %+v %v, want DUPLICATE %s", r, err, e.id)
			}
			other := f.newExec()
			r, err = other.create(withIdem)
			if err != nil || r.Status != "DUPLICATE" || r.ExecutionID != e.id {
				t.Errorf("same idempotency key: %+v %v, want DUPLICATE %s", r, err, e.id)
			}
			if other.exists(other.x("core")) {
				t.Error("duplicate by idempotency key wrote a core")
			}
		})
	})
}

func TestCreateValidation(t *testing.T) {
	eachTarget(t, func(t *testing.T, f *fx) {
		tests := []struct {
			name, policy, tags, want string
		}{
			{"malformed", `{"a":`, "{}", "invalid_policy_json malformed"},
			{"policy_not_object", `5`, "{}", "invalid_policy_json not_object"},
			{"routing_not_object", `{"routing_requirements":"x"}`, "{}", "invalid_policy_json routing_requirements:not_object"},
			{"caps_not_array", `{"routing_requirements":{"required_capabilities":"gpu"}}`, "{}", "invalid_capabilities required:not_array"},
			{"caps_object", `{"routing_requirements":{"required_capabilities":{"a":"gpu"}}}`, "{}", "invalid_capabilities required:not_array"},
			{"non_string", `{"routing_requirements":{"required_capabilities":["gpu",1]}}`, "{}", "invalid_capabilities required:non_string_token"},
			{"empty_token", `{"routing_requirements":{"required_capabilities":[""]}}`, "{}", "invalid_capabilities required:empty_token"},
			{"comma", `{"routing_requirements":{"required_capabilities":["a,b"]}}`, "{}", "invalid_capabilities required:comma_in_token"},
			{"space", `{"routing_requirements":{"required_capabilities":["a b"]}}`, "{}", "invalid_capabilities required:control_or_whitespace"},
			{"too_many_tokens", `{"routing_requirements":{"required_capabilities":[` + strings.Repeat(`"x",`, 256) + `"x"]}}`, "{}", "invalid_capabilities required:too_many_tokens"},
			{"too_many_bytes", `{"routing_requirements":{"required_capabilities":[` + strings.Repeat(`"`+strings.Repeat("y", 40)+`",`, 100) + `"z"]}}`, "{}", "invalid_capabilities required:too_many_bytes"},
			{"tags_not_object", "{}", `[1`, "invalid_input tags_json must be a JSON object"},
			// D2: null means absent.
			{"null_routing_requirements", `{"routing_requirements":null}`, "{}", ""},
			{"null_required_capabilities", `{"routing_requirements":{"required_capabilities":null}}`, "{}", ""},
			{"utf8_token_ok", `{"routing_requirements":{"required_capabilities":["gpu","é"]}}`, "{}", ""},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				e := f.newExec()
				_, err := e.create(func(_ *ffscripts.CreateExecutionKeys, a *ffscripts.CreateExecutionArgs) {
					a.PolicyJSON, a.TagsJSON = tc.policy, tc.tags
				})
				if got := codeDetail(err); got != tc.want {
					t.Errorf("create = %q, want %q", got, tc.want)
				}
				if tc.want != "" && (e.exists(e.x("core")) || len(e.where()) != 0) {
					t.Errorf("rejected create wrote state")
				}
			})
		}
		t.Run("required_capabilities_sorted", func(t *testing.T) {
			e := f.newExec()
			e.mustCreate(func(_ *ffscripts.CreateExecutionKeys, a *ffscripts.CreateExecutionArgs) {
				a.PolicyJSON = `{"routing_requirements":{"required_capabilities":["gpu","cuda","avx"]}}`
			})
			if got := e.core()["required_capabilities"]; got != "avx,cuda,gpu" {
				t.Errorf("required_capabilities = %q", got)
			}
		})
	})
}

func TestIssueClaimGrant(t *testing.T) {
	eachTarget(t, func(t *testing.T, f *fx) {
		caps := func(a *ffscripts.CreateExecutionArgs) {
			a.PolicyJSON = `{"routing_requirements":{"required_capabilities":["gpu","cuda"]}}`
		}
		tests := []struct {
			name  string
			setup func(e *exe)
			caps  string
			want  string
		}{
			{"ok", func(e *exe) { e.mustCreate(nil) }, "", ""},
			{"not_found", func(e *exe) {}, "", "execution_not_found"},
			{"not_runnable", func(e *exe) { e.mustCreate(nil); e.mustGrantClaim("w-a", "wi-a", 30000) }, "", "execution_not_eligible"},
			{"delayed", func(e *exe) {
				e.mustCreate(func(k *ffscripts.CreateExecutionKeys, a *ffscripts.CreateExecutionArgs) {
					k.SchedulingZset = e.laneIdx("delayed")
					a.DelayUntil = ptr(e.f.serverMs() + 60000)
				})
			}, "", "execution_not_eligible"},
			{"grant_exists", func(e *exe) {
				e.mustCreate(nil)
				if _, err := e.grant("w-b", "wi-b", ""); err != nil {
					t.Fatal(err)
				}
			}, "", "grant_already_exists"},
			{"not_in_eligible_set", func(e *exe) {
				e.mustCreate(nil)
				e.f.do(e.f.db.B().Zrem().Key(e.laneIdx("eligible")).Member(e.id).Build())
			}, "", "execution_not_in_eligible_set"},
			{"capability_mismatch", func(e *exe) {
				e.mustCreate(func(_ *ffscripts.CreateExecutionKeys, a *ffscripts.CreateExecutionArgs) { caps(a) })
			}, "gpu", "capability_mismatch cuda"},
			// D14: each missing token once, sorted.
			{"capability_mismatch_dedup", func(e *exe) {
				e.mustCreate(func(_ *ffscripts.CreateExecutionKeys, a *ffscripts.CreateExecutionArgs) {
					a.PolicyJSON = `{"routing_requirements":{"required_capabilities":["gpu","gpu","cuda","avx"]}}`
				})
			}, "avx", "capability_mismatch cuda,gpu"},
			{"capability_match", func(e *exe) {
				e.mustCreate(func(_ *ffscripts.CreateExecutionKeys, a *ffscripts.CreateExecutionArgs) { caps(a) })
			}, "avx,cuda,gpu", ""},
			{"worker_caps_too_many_bytes", func(e *exe) { e.mustCreate(nil) }, strings.Repeat("a", 4097), "invalid_capabilities worker:too_many_bytes"},
			{"worker_caps_too_many_tokens", func(e *exe) { e.mustCreate(nil) }, strings.Repeat("a,", 257), "invalid_capabilities worker:too_many_tokens"},
			{"worker_caps_256_tokens_ok", func(e *exe) { e.mustCreate(nil) }, strings.Repeat("a,", 256), ""},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				e := f.newExec()
				tc.setup(e)
				before := e.exists(e.x("claim_grant"))
				r, err := e.grant("w-a", "wi-a", tc.caps)
				if got := codeDetail(err); got != tc.want {
					t.Fatalf("grant = %q, want %q", got, tc.want)
				}
				if err == nil {
					g := e.hgetall(e.x("claim_grant"))
					if r.ExecutionID != e.id || g["worker_id"] != "w-a" || g["lane_id"] != f.lane {
						t.Errorf("grant reply %+v, hash %v", r, g)
					}
					if _, ok := e.score(e.laneIdx("eligible")); !ok {
						t.Error("grant removed the execution from eligible")
					}
				} else if !before && e.exists(e.x("claim_grant")) {
					t.Error("failed grant wrote a grant")
				}
				if tc.name == "capability_mismatch" && e.core()["last_capability_mismatch_at"] == "" {
					t.Error("mismatch did not stamp last_capability_mismatch_at")
				}
			})
		}
	})
}

func TestClaimExecution(t *testing.T) {
	eachTarget(t, func(t *testing.T, f *fx) {
		t.Run("success_state", func(t *testing.T) {
			e := f.newExec()
			e.mustCreate(nil)
			l := e.mustGrantClaim("w-a", "wi-a", 30000)
			if l.epoch != "1" || l.index != 0 || l.attemptType != "initial" {
				t.Errorf("claim = %+v", l)
			}
			if got := e.state(); got != sRunning {
				t.Errorf("state %s", got)
			}
			if diff := cmp.Diff([]string{"active", "lease_expiry", "worker:wi-a"}, e.where("wi-a")); diff != "" {
				t.Errorf("indexes (-want +got):\n%s", diff)
			}
			c := e.core()
			want := map[string]string{"current_attempt_index": "0", "total_attempt_count": "1",
				"current_attempt_id": l.aid, "current_lease_id": l.leaseID, "current_lease_epoch": "1",
				"current_worker_id": "w-a", "current_worker_instance_id": "wi-a",
				"lease_expires_at": strconv.FormatInt(l.expiresAt, 10)}
			for k, v := range want {
				if c[k] != v {
					t.Errorf("core %s = %q, want %q", k, c[k], v)
				}
			}
			if s, _ := e.score(e.laneIdx("active")); int64(s) != l.expiresAt {
				t.Errorf("active score %v, want %d", s, l.expiresAt)
			}
			a := e.hgetall(e.attempt(0))
			if a["attempt_state"] != "started" || a["attempt_type"] != "initial" || a["lease_epoch"] != "1" {
				t.Errorf("attempt %v", a)
			}
			lc := e.hgetall(e.x("lease:current"))
			if lc["lease_id"] != l.leaseID || lc["attempt_id"] != l.aid {
				t.Errorf("lease:current %v", lc)
			}
			if e.exists(e.x("claim_grant")) {
				t.Error("grant not consumed")
			}
		})

		tests := []struct {
			name  string
			setup func(e *exe)
			want  string
		}{
			{"not_found", func(e *exe) {}, "execution_not_found"},
			{"already_active", func(e *exe) { e.mustCreate(nil); e.mustGrantClaim("w-b", "wi-b", 30000) }, "execution_not_leaseable"},
			{"no_grant", func(e *exe) { e.mustCreate(nil) }, "invalid_claim_grant"},
			{"grant_other_worker", func(e *exe) {
				e.mustCreate(nil)
				if _, err := e.grant("w-b", "wi-b", ""); err != nil {
					t.Fatal(err)
				}
			}, "invalid_claim_grant"},
			{"grant_expired", func(e *exe) {
				e.mustCreate(nil)
				e.f.do(e.f.db.B().Hset().Key(e.x("claim_grant")).FieldValue().FieldValue("worker_id", "w-a").
					FieldValue("grant_expires_at", strconv.FormatInt(e.f.serverMs()-1, 10)).Build())
			}, "claim_grant_expired"},
			{"interrupted", func(e *exe) {
				e.mustCreate(nil)
				l := e.mustGrantClaim("w-b", "wi-b", 30000)
				if _, err := e.delay(l, 1); err != nil {
					t.Fatal(err)
				}
				if _, err := e.promote(e.f.serverMs()); err != nil {
					t.Fatal(err)
				}
				if _, err := e.grant("w-a", "wi-a", ""); err != nil {
					t.Fatal(err)
				}
			}, "use_claim_resumed_execution"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				e := f.newExec()
				tc.setup(e)
				_, err := e.claim("w-a", "wi-a", 30000)
				if got := code(err); got != tc.want {
					t.Errorf("claim = %q, want %q", got, tc.want)
				}
			})
		}
	})
}

// D6: a claim clears lease markers that an earlier lease left behind.
func TestClaimClearsLeaseMarkers(t *testing.T) {
	eachTarget(t, func(t *testing.T, f *fx) {
		e := f.newExec()
		e.mustCreate(nil)
		e.f.do(f.db.B().Hset().Key(e.x("core")).FieldValue().FieldValue("lease_expired_at", "1").
			FieldValue("lease_revoked_at", "2").FieldValue("lease_revoke_reason", "old").Build())
		l := e.mustGrantClaim("w-a", "wi-a", 30000)
		c := e.core()
		if c["lease_expired_at"] != "" || c["lease_revoked_at"] != "" || c["lease_revoke_reason"] != "" {
			t.Errorf("markers kept: %q %q %q", c["lease_expired_at"], c["lease_revoked_at"], c["lease_revoke_reason"])
		}
		if _, err := e.renew(l, 30000); err != nil {
			t.Errorf("renew after claim: %v", err)
		}
	})
}

func TestRenewLease(t *testing.T) {
	eachTarget(t, func(t *testing.T, f *fx) {
		tests := []struct {
			name string
			mod  func(l *lease)
			ttl  int64
			want string
		}{
			{"ok", func(l *lease) {}, 30000, ""},
			{"fence_required", func(l *lease) { l.leaseID, l.epoch, l.aid = "", "", "" }, 30000, "fence_required"},
			{"partial_fence", func(l *lease) { l.epoch = "" }, 30000, "partial_fence_triple"},
			{"wrong_index", func(l *lease) { l.index = 7 }, 30000, "stale_lease"},
			{"wrong_attempt", func(l *lease) { l.aid = "other" }, 30000, "stale_lease"},
			{"wrong_lease", func(l *lease) { l.leaseID = "other" }, 30000, "stale_lease"},
			{"stale_epoch", func(l *lease) { l.epoch = "0" }, 30000, "stale_lease"},
			{"epoch_not_normalised", func(l *lease) { l.epoch = "01" }, 30000, "stale_lease"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				e := f.newExec()
				e.mustCreate(nil)
				l := e.mustGrantClaim("w-a", "wi-a", 30000)
				activeBefore, _ := e.score(e.laneIdx("active"))
				cp := *l
				tc.mod(&cp)
				r, err := e.renew(&cp, tc.ttl)
				if got := code(err); got != tc.want {
					t.Fatalf("renew = %q, want %q", got, tc.want)
				}
				if err != nil {
					return
				}
				exp, _ := e.score(e.idx("lease_expiry"))
				active, _ := e.score(e.laneIdx("active"))
				c := e.core()
				if int64(exp) != r.ExpiresAt || c["lease_expires_at"] != strconv.FormatInt(r.ExpiresAt, 10) {
					t.Errorf("lease_expiry %v core %s reply %d", exp, c["lease_expires_at"], r.ExpiresAt)
				}
				// D7 (reproduced): the lane active score keeps the claim-time expiry.
				if active != activeBefore {
					t.Errorf("active score moved %v -> %v", activeBefore, active)
				}
				pttl, _ := f.do(f.db.B().Pttl().Key(e.x("lease:current")).Build()).AsInt64()
				if pttl <= 30000 || pttl > 35000 {
					t.Errorf("lease:current PTTL %d, want (30000, 35000]", pttl)
				}
			})
		}
		t.Run("expired_marks", func(t *testing.T) {
			e := f.newExec()
			e.mustCreate(nil)
			l := e.mustGrantClaim("w-a", "wi-a", 0) // expires_at = now: already due
			if _, err := e.renew(l, 30000); code(err) != "lease_expired" {
				t.Fatalf("renew = %v, want lease_expired", err)
			}
			if got := e.state(); got != sLeaseExpired {
				t.Errorf("state %s", got)
			}
			if _, err := e.renew(l, 30000); code(err) != "lease_expired" {
				t.Errorf("second renew = %v, want lease_expired", err)
			}
		})
		t.Run("revoked", func(t *testing.T) {
			e := f.newExec()
			e.mustCreate(nil)
			l := e.mustGrantClaim("w-a", "wi-a", 30000)
			if _, err := e.revoke("", "ops", "wi-a"); err != nil {
				t.Fatal(err)
			}
			if _, err := e.renew(l, 30000); code(err) != "lease_revoked" {
				t.Errorf("renew = %v, want lease_revoked", err)
			}
		})
		t.Run("not_active", func(t *testing.T) {
			e := f.newExec()
			e.mustCreate(nil)
			l := e.mustGrantClaim("w-a", "wi-a", 30000)
			if _, err := e.complete(l, ""); err != nil {
				t.Fatal(err)
			}
			_, err := e.renew(l, 30000)
			if got, want := codeDetail(err), "execution_not_active success 1 terminal "+l.aid; got != want {
				t.Errorf("renew = %q, want %q", got, want)
			}
		})
		t.Run("not_found", func(t *testing.T) {
			e := f.newExec()
			if _, err := e.renew(&lease{leaseID: "a", epoch: "1", aid: "b"}, 30000); code(err) != "execution_not_found" {
				t.Errorf("renew = %v", err)
			}
		})
	})
}

func TestCompleteExecution(t *testing.T) {
	eachTarget(t, func(t *testing.T, f *fx) {
		e := f.newExec()
		e.mustCreate(nil)
		l := e.mustGrantClaim("w-a", "wi-a", 30000)
		r, err := e.complete(l, "the result")
		if err != nil || r.Status != "OK" || r.Result != "completed" {
			t.Fatalf("complete = %+v, %v", r, err)
		}
		if got := e.state(); got != sCompleted {
			t.Errorf("state %s", got)
		}
		if diff := cmp.Diff([]string{"terminal"}, e.where("wi-a")); diff != "" {
			t.Errorf("indexes (-want +got):\n%s", diff)
		}
		c := e.core()
		if c["current_lease_epoch"] != "1" || c["current_attempt_id"] != l.aid || c["current_lease_id"] != "" || c["terminal_outcome"] != "success" {
			t.Errorf("core after complete: %v", c)
		}
		if v, _ := f.do(f.db.B().Get().Key(e.x("result")).Build()).ToString(); v != "the result" {
			t.Errorf("result %q", v)
		}
		if e.exists(e.x("lease:current")) || e.hget(e.attempt(0), "attempt_state") != "ended_success" {
			t.Error("lease:current kept or attempt not ended")
		}
		// Replay of a terminal call: the SDK reads the 4 details.
		_, err = e.complete(l, "the result")
		if got, want := codeDetail(err), "execution_not_active success 1 terminal "+l.aid; got != want {
			t.Errorf("replayed complete = %q, want %q", got, want)
		}
		if _, err := e.fail(l, "x", ""); code(err) != "execution_not_active" {
			t.Errorf("fail after complete = %v", err)
		}

		t.Run("errors_in_order", func(t *testing.T) {
			tests := []struct {
				name string
				mod  func(l *lease)
				ttl  int64
				want string
			}{
				{"fence_required", func(l *lease) { l.leaseID, l.epoch, l.aid = "", "", "" }, 30000, "fence_required"},
				{"partial", func(l *lease) { l.aid = "" }, 30000, "partial_fence_triple"},
				// expiry is checked before identity
				{"expired_before_identity", func(l *lease) { l.leaseID = "other" }, 0, "lease_expired"},
				{"stale_lease", func(l *lease) { l.leaseID = "other" }, 30000, "stale_lease"},
				{"stale_epoch", func(l *lease) { l.epoch = "2" }, 30000, "stale_lease"},
				{"stale_attempt", func(l *lease) { l.aid = "other" }, 30000, "stale_lease"},
			}
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					e := f.newExec()
					e.mustCreate(nil)
					l := e.mustGrantClaim("w-a", "wi-a", tc.ttl)
					cp := *l
					tc.mod(&cp)
					if _, err := e.complete(&cp, ""); code(err) != tc.want {
						t.Errorf("complete = %v, want %s", err, tc.want)
					}
				})
			}
		})

		t.Run("operator_override", func(t *testing.T) {
			e := f.newExec()
			e.mustCreate(nil)
			e.mustGrantClaim("w-a", "wi-a", 30000)
			_, err := f.c.CompleteExecution(f.ctx, e.completeKeys(0, "wi-a"), ffscripts.CompleteExecutionArgs{
				ExecutionID: e.id, Source: ptr("operator_override")})
			if err != nil || e.state() != sCompleted {
				t.Errorf("override complete: %v, state %s", err, e.state())
			}
		})
	})
}

func TestFailRetry(t *testing.T) {
	eachTarget(t, func(t *testing.T, f *fx) {
		tests := []struct {
			name, policy string
			retries      int // prior retries to run before the checked fail
			wantResult   string
			wantDelay    int64
		}{
			{"no_policy", "", 0, "terminal_failed", 0},
			{"malformed_policy_no_retry", "{", 0, "terminal_failed", 0},
			{"fixed", `{"max_retries":2,"backoff":{"type":"fixed","delay_ms":250}}`, 0, "retry_scheduled", 250},
			{"exponential_second", `{"max_retries":3,"backoff":{"type":"exponential","initial_delay_ms":100,"multiplier":3,"max_delay_ms":60000}}`, 1, "retry_scheduled", 300},
			{"exponential_capped", `{"max_retries":5,"backoff":{"type":"exponential","initial_delay_ms":100,"multiplier":10,"max_delay_ms":500}}`, 2, "retry_scheduled", 500},
			{"unknown_type", `{"max_retries":1,"backoff":{"type":"linear"}}`, 0, "retry_scheduled", 1000},
			// D1: floored, never fractional.
			{"fractional_multiplier", `{"max_retries":3,"backoff":{"type":"exponential","initial_delay_ms":5,"multiplier":1.5}}`, 1, "retry_scheduled", 7},
			// D2: null max_retries is absent (no retry), not a runtime error.
			{"null_max_retries", `{"max_retries":null}`, 0, "terminal_failed", 0},
			{"exhausted", `{"max_retries":1,"backoff":{"type":"fixed","delay_ms":1}}`, 1, "terminal_failed", 0},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				e := f.newExec()
				e.mustCreate(nil)
				var l *lease
				for i := 0; i < tc.retries; i++ {
					l = e.mustGrantClaim("w-a", "wi-a", 30000)
					r, err := e.fail(l, "boom", tc.policy)
					if err != nil || r.Result != "retry_scheduled" {
						t.Fatalf("prior fail %d: %+v %v", i, r, err)
					}
					if _, err := e.promote(r.DelayUntil); err != nil {
						t.Fatal(err)
					}
				}
				l = e.mustGrantClaim("w-a", "wi-a", 30000)
				before := f.serverMs()
				r, err := e.fail(l, "boom", tc.policy)
				after := f.serverMs()
				if err != nil || r.Result != tc.wantResult {
					t.Fatalf("fail = %+v %v, want %s", r, err, tc.wantResult)
				}
				if tc.wantResult == "terminal_failed" {
					if e.state() != sFailed || r.DelayUntil != 0 {
						t.Errorf("state %s delay %v", e.state(), r.DelayUntil)
					}
					if diff := cmp.Diff([]string{"terminal"}, e.where("wi-a")); diff != "" {
						t.Errorf("indexes (-want +got):\n%s", diff)
					}
					return
				}
				d := r.DelayUntil
				if d < before+tc.wantDelay || d > after+tc.wantDelay {
					t.Errorf("delay_until %d not in [%d, %d]", d, before+tc.wantDelay, after+tc.wantDelay)
				}
				c := e.core()
				if e.state() != sRetryBackoff || c["delay_until"] != strconv.FormatInt(d, 10) ||
					c["retry_count"] != strconv.Itoa(tc.retries+1) || c["current_attempt_id"] != "" {
					t.Errorf("state %s core %v", e.state(), c)
				}
				if s, _ := e.score(e.laneIdx("delayed")); int64(s) != d {
					t.Errorf("delayed score %v, want %d", s, d)
				}
				if diff := cmp.Diff([]string{"delayed"}, e.where("wi-a")); diff != "" {
					t.Errorf("indexes (-want +got):\n%s", diff)
				}
			})
		}

		t.Run("backoff_promote_claim_again", func(t *testing.T) {
			e := f.newExec()
			e.mustCreate(nil)
			l := e.mustGrantClaim("w-a", "wi-a", 30000)
			r, err := e.fail(l, "boom", `{"max_retries":1,"backoff":{"type":"fixed","delay_ms":60000}}`)
			if err != nil {
				t.Fatal(err)
			}
			// replay of the fail: runnable phase in the details -> SDK treats it as retry scheduled
			_, err = e.fail(l, "boom", "")
			if got := codeDetail(err); got != "execution_not_active none 1 runnable " {
				t.Errorf("replayed fail = %q", got)
			}
			if p, _ := e.promote(r.DelayUntil - 1); p.Result != "not_yet_due" {
				t.Errorf("early promote = %+v", p)
			}
			if p, _ := e.promote(r.DelayUntil); p.Result != "promoted" || e.state() != sWaitingRetry {
				t.Errorf("promote = %+v, state %s", p, e.state())
			}
			if diff := cmp.Diff([]string{"eligible"}, e.where()); diff != "" {
				t.Errorf("indexes (-want +got):\n%s", diff)
			}
			l2 := e.mustGrantClaim("w-b", "wi-b", 30000)
			if l2.attemptType != "retry" || l2.index != 1 || l2.epoch != "2" {
				t.Errorf("second claim %+v", l2)
			}
			a := e.hgetall(e.attempt(1))
			if a["retry_reason"] != "boom" || a["previous_attempt_index"] != "0" {
				t.Errorf("retry attempt %v", a)
			}
			if p, _ := e.promote(f.serverMs()); p.Result != "not_runnable_cleaned" {
				t.Errorf("promote of active = %+v", p)
			}
		})
	})
}

func TestDelayAndResume(t *testing.T) {
	eachTarget(t, func(t *testing.T, f *fx) {
		e := f.newExec()
		e.mustCreate(nil)
		l := e.mustGrantClaim("w-a", "wi-a", 30000)
		until := f.serverMs() + 60000
		r, err := e.delay(l, until)
		if err != nil || r.DelayUntil != until {
			t.Fatalf("delay = %+v %v", r, err)
		}
		if e.state() != sSelfDelayed || e.hget(e.attempt(0), "attempt_state") != "suspended" {
			t.Errorf("state %s attempt %s", e.state(), e.hget(e.attempt(0), "attempt_state"))
		}
		if diff := cmp.Diff([]string{"delayed"}, e.where("wi-a")); diff != "" {
			t.Errorf("indexes (-want +got):\n%s", diff)
		}
		if p, _ := e.promote(until); p.Result != "promoted" || e.state() != sWaitingResum {
			t.Fatalf("promote %+v state %s", p, e.state())
		}
		if _, err := e.grant("w-b", "wi-b", ""); err != nil {
			t.Fatal(err)
		}
		if _, err := e.claim("w-b", "wi-b", 30000); code(err) != "use_claim_resumed_execution" {
			t.Fatalf("claim = %v", err)
		}
		l2, err := e.claimResumed("w-b", "wi-b", 30000)
		if err != nil {
			t.Fatal(err)
		}
		if l2.attemptType != "resumed" || l2.aid != l.aid || l2.index != 0 || l2.epoch != "2" {
			t.Errorf("resumed %+v (first %+v)", l2, l)
		}
		if e.state() != sRunning || e.hget(e.attempt(0), "attempt_state") != "started" {
			t.Errorf("state %s", e.state())
		}
		if _, err := e.complete(l, ""); code(err) != "stale_lease" {
			t.Errorf("old lease complete = %v", err)
		}
		if _, err := e.complete(l2, ""); err != nil {
			t.Errorf("complete resumed: %v", err)
		}
		t.Run("resume_errors", func(t *testing.T) {
			e := f.sub(t).newExec()
			if _, err := e.claimResumed("w", "wi", 1000); code(err) != "execution_not_found" {
				t.Errorf("missing: %v", err)
			}
			e.mustCreate(nil)
			if _, err := e.claimResumed("w", "wi", 1000); code(err) != "not_a_resumed_execution" {
				t.Errorf("fresh: %v", err)
			}
		})
	})
}

func TestBlockUnblock(t *testing.T) {
	eachTarget(t, func(t *testing.T, f *fx) {
		e := f.newExec()
		e.mustCreate(func(_ *ffscripts.CreateExecutionKeys, a *ffscripts.CreateExecutionArgs) {
			a.PolicyJSON = `{"routing_requirements":{"required_capabilities":["gpu"]}}`
		})
		if _, err := e.grant("w-a", "wi-a", "cpu"); codeDetail(err) != "capability_mismatch gpu" {
			t.Fatalf("grant = %v", err)
		}
		now := f.serverMs()
		if _, err := e.block("not_a_reason", now); code(err) != "invalid_blocking_reason" {
			t.Errorf("bad reason = %v", err)
		}
		r, err := e.block("waiting_for_capable_worker", now)
		if err != nil || r.Result != "blocked" || e.state() != sBlockedRoute {
			t.Fatalf("block = %+v %v state %s", r, err, e.state())
		}
		if diff := cmp.Diff([]string{"blocked:route"}, e.where()); diff != "" {
			t.Errorf("indexes (-want +got):\n%s", diff)
		}
		if _, err := e.grant("w-a", "wi-a", "gpu"); code(err) != "execution_not_eligible" {
			t.Errorf("grant while blocked = %v", err)
		}
		if _, err := e.unblock(now, "waiting_for_budget"); code(err) != "execution_not_eligible" {
			t.Errorf("unblock wrong reason = %v", err)
		}
		if r, err := e.unblock(now+1, "waiting_for_capable_worker"); err != nil || r.Result != "unblocked" || e.state() != sWaiting {
			t.Fatalf("unblock = %+v %v state %s", r, err, e.state())
		}
		if diff := cmp.Diff([]string{"eligible"}, e.where()); diff != "" {
			t.Errorf("indexes (-want +got):\n%s", diff)
		}
		if _, err := e.unblock(now, ""); code(err) != "execution_not_eligible" {
			t.Errorf("unblock of eligible = %v", err)
		}
		if _, err := e.grant("w-a", "wi-a", "gpu"); err != nil {
			t.Fatal(err)
		}
		if _, err := e.claim("w-a", "wi-a", 30000); err != nil {
			t.Fatal(err)
		}
		if _, err := e.block("paused_by_operator", now); code(err) != "execution_not_eligible" {
			t.Errorf("block active = %v", err)
		}
		t.Run("terminal_details", func(t *testing.T) {
			e := f.newExec()
			e.mustCreate(nil)
			if _, err := e.cancel("x", "operator_override", "", "", "wi-a"); err != nil {
				t.Fatal(err)
			}
			if _, err := e.block("paused_by_operator", now); codeDetail(err) != "execution_not_active cancelled 0 terminal " {
				t.Errorf("block terminal = %q", codeDetail(err))
			}
		})
	})
}

func TestLeaseExpiryReclaim(t *testing.T) {
	eachTarget(t, func(t *testing.T, f *fx) {
		e := f.newExec()
		e.mustCreate(func(_ *ffscripts.CreateExecutionKeys, a *ffscripts.CreateExecutionArgs) {
			a.PolicyJSON = `{"routing_requirements":{"required_capabilities":["gpu"]}}`
		})
		if _, err := e.grant("w-a", "wi-a", "gpu"); err != nil {
			t.Fatal(err)
		}
		l, err := e.claim("w-a", "wi-a", 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.reclaimGrant("w-b", "wi-b", "gpu"); code(err) != "execution_not_reclaimable" {
			t.Errorf("reclaim grant while leased = %v", err)
		}
		m, err := e.mark()
		if err != nil || m.Status != "OK" || m.Result != "marked_expired" || e.state() != sLeaseExpired {
			t.Fatalf("mark = %+v %v state %s", m, err, e.state())
		}
		if m, _ := e.mark(); m.Status != "ALREADY_SATISFIED" || m.Result != "already_expired" {
			t.Errorf("second mark = %+v", m)
		}
		// mark-expired keeps lease:current and every index
		if diff := cmp.Diff([]string{"active", "lease_expiry", "worker:wi-a"}, e.where("wi-a")); diff != "" {
			t.Errorf("indexes after mark (-want +got):\n%s", diff)
		}
		if _, err := e.complete(l, ""); code(err) != "lease_expired" {
			t.Errorf("old holder complete = %v", err)
		}
		if _, err := e.reclaimGrant("w-b", "wi-b", "cpu"); codeDetail(err) != "capability_mismatch gpu" {
			t.Errorf("reclaim grant mismatch = %v", err)
		}
		g, err := e.reclaimGrant("w-b", "wi-b", "gpu")
		if err != nil || g.ExecutionID != e.id || g.GrantExpiresAt <= 0 {
			t.Fatalf("reclaim grant = %+v %v", g, err)
		}
		if _, err := e.reclaimGrant("w-b", "wi-b", "gpu"); code(err) != "grant_already_exists" {
			t.Errorf("second reclaim grant = %v", err)
		}
		if _, err := e.reclaim("w-c", "wi-c", 30000, nil); code(err) != "invalid_claim_grant" {
			t.Errorf("reclaim by other worker = %v", err)
		}
		l2, err := e.reclaim("w-b", "wi-b", 30000, nil)
		if err != nil {
			t.Fatal(err)
		}
		if l2.attemptType != "reclaim" || l2.index != 1 || l2.epoch != "2" || e.state() != sRunning {
			t.Errorf("reclaim %+v state %s", l2, e.state())
		}
		if diff := cmp.Diff([]string{"active", "lease_expiry", "worker:wi-b"}, e.where("wi-a", "wi-b")); diff != "" {
			t.Errorf("indexes after reclaim (-want +got):\n%s", diff)
		}
		old := e.hgetall(e.attempt(0))
		nw := e.hgetall(e.attempt(1))
		if old["attempt_state"] != "interrupted_reclaimed" || old["failure_reason"] != "lease_lease_expired_reclaimable" ||
			nw["reclaim_reason"] != "lease_lease_expired_reclaimable" || nw["previous_attempt_index"] != "0" {
			t.Errorf("attempts old %v new %v", old, nw)
		}
		if c := e.core(); c["lease_reclaim_count"] != "1" || c["lease_expired_at"] != "" {
			t.Errorf("core %v", c)
		}
		if _, err := e.complete(l, ""); code(err) != "stale_lease" {
			t.Errorf("old holder after reclaim = %v", err)
		}
		if _, err := e.renew(l, 30000); code(err) != "stale_lease" {
			t.Errorf("old holder renew after reclaim = %v", err)
		}
		if _, err := e.complete(l2, "ok"); err != nil {
			t.Errorf("new holder complete: %v", err)
		}
	})
}

func TestReclaimCap(t *testing.T) {
	eachTarget(t, func(t *testing.T, f *fx) {
		tests := []struct {
			name   string
			policy string
			max    *int64
			allow  int // reclaims that succeed before the cap fails the execution
		}{
			{"default_arg", "{}", ptr(int64(1)), 1},
			{"policy_overrides_arg", `{"max_reclaim_count":2}`, ptr(int64(1)), 2},
			{"zero", "{}", ptr(int64(0)), 0},
			{"absent_arg_defaults_to_100_policy_1", `{"max_reclaim_count":1}`, nil, 1},
			// D2: a null cap in the policy is absent: the ARGV default applies.
			{"null_policy_cap", `{"max_reclaim_count":null}`, ptr(int64(1)), 1},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				e := f.newExec()
				e.mustCreate(func(_ *ffscripts.CreateExecutionKeys, a *ffscripts.CreateExecutionArgs) { a.PolicyJSON = tc.policy })
				e.mustGrantClaim("w-a", "wi-a", 0)
				for i := 0; ; i++ {
					if _, err := e.mark(); err != nil {
						t.Fatal(err)
					}
					if i < tc.allow {
						if _, err := e.reclaimGrant("w-b", "wi-b", ""); err != nil {
							t.Fatal(err)
						}
					}
					_, err := e.reclaim("w-b", "wi-b", 0, tc.max)
					if i < tc.allow {
						if err != nil {
							t.Fatalf("reclaim %d: %v", i, err)
						}
						continue
					}
					if got := codeDetail(err); got != "max_retries_exhausted "+strconv.Itoa(tc.allow) {
						t.Fatalf("reclaim at cap = %q", got)
					}
					break
				}
				c := e.core()
				if e.state() != sFailed || c["failure_reason"] != "max_reclaims_exceeded" {
					t.Errorf("state %s reason %s", e.state(), c["failure_reason"])
				}
				if diff := cmp.Diff([]string{"terminal"}, e.where("wi-a", "wi-b")); diff != "" {
					t.Errorf("indexes (-want +got):\n%s", diff)
				}
			})
		}
	})
}

func TestRevokeLease(t *testing.T) {
	eachTarget(t, func(t *testing.T, f *fx) {
		e := f.newExec()
		if _, err := e.revoke("", "r", "wi-a"); code(err) != "execution_not_found" {
			t.Errorf("missing = %v", err)
		}
		e.mustCreate(nil)
		if _, err := e.revoke("", "r", "wi-a"); code(err) != "execution_not_active" {
			t.Errorf("runnable = %v", err)
		}
		l := e.mustGrantClaim("w-a", "wi-a", 30000)
		_, err := e.revoke("nope", "r", "wi-a")
		if got := codeDetail(err); got != "stale_lease expected nope but current is "+l.leaseID {
			t.Errorf("wrong expected id = %q", got)
		}
		r, err := e.revoke(l.leaseID, "ops", "wi-a")
		if err != nil || r.Result != "revoked" || r.LeaseID != l.leaseID || r.LeaseEpoch != "1" {
			t.Fatalf("revoke = %+v %v", r, err)
		}
		if e.state() != sLeaseRevoked || e.core()["blocking_detail"] != "lease revoked: ops" {
			t.Errorf("state %s", e.state())
		}
		if diff := cmp.Diff([]string{"active"}, e.where("wi-a")); diff != "" {
			t.Errorf("indexes (-want +got):\n%s", diff)
		}
		if r, _ := e.revoke("", "r", "wi-a"); r.Status != "ALREADY_SATISFIED" || r.Result != "already_revoked" {
			t.Errorf("second revoke = %+v", r)
		}
		for name, call := range map[string]func() error{
			"complete": func() error { _, err := e.complete(l, ""); return err },
			"fail":     func() error { _, err := e.fail(l, "x", ""); return err },
			"delay":    func() error { _, err := e.delay(l, 1); return err },
			"cancel":   func() error { _, err := e.cancel("x", "worker", l.leaseID, l.epoch, "wi-a"); return err },
		} {
			if err := call(); code(err) != "lease_revoked" {
				t.Errorf("%s after revoke = %v", name, err)
			}
		}
		if _, err := e.reclaimGrant("w-b", "wi-b", ""); err != nil {
			t.Fatal(err)
		}
		l2, err := e.reclaim("w-b", "wi-b", 30000, nil)
		if err != nil || e.state() != sRunning || e.hget(e.attempt(0), "failure_reason") != "lease_lease_revoked" {
			t.Fatalf("reclaim after revoke %+v %v", l2, err)
		}
		if c := e.core(); c["lease_revoked_at"] != "" || c["lease_revoke_reason"] != "" {
			t.Errorf("revoke markers kept %v", c)
		}
		if _, err := e.renew(l2, 30000); err != nil {
			t.Errorf("renew after reclaim: %v", err)
		}
	})
}

func TestCancel(t *testing.T) {
	eachTarget(t, func(t *testing.T, f *fx) {
		t.Run("runnable", func(t *testing.T) {
			e := f.newExec()
			e.mustCreate(nil)
			r, err := e.cancel("user", "", "", "", "wi-a")
			if err != nil || r.Result != "cancelled" || r.PreviousPhase != "runnable" {
				t.Fatalf("cancel = %+v %v", r, err)
			}
			c := e.core()
			if e.state() != sCancelledNew || c["cancelled_by"] != e.id || c["cancellation_reason"] != "user" {
				t.Errorf("state %s core %v", e.state(), c)
			}
			if diff := cmp.Diff([]string{"terminal"}, e.where()); diff != "" {
				t.Errorf("indexes (-want +got):\n%s", diff)
			}
			_, err = e.cancel("again", "", "", "", "wi-a")
			if got := codeDetail(err); got != "execution_not_active cancelled 0 terminal " {
				t.Errorf("second cancel = %q", got)
			}
		})
		t.Run("active_lease_checks", func(t *testing.T) {
			e := f.newExec()
			e.mustCreate(nil)
			l := e.mustGrantClaim("w-a", "wi-a", 30000)
			if _, err := e.cancel("x", "worker", "other", l.epoch, "wi-a"); code(err) != "stale_lease" {
				t.Errorf("wrong lease = %v", err)
			}
			if _, err := e.cancel("x", "worker", l.leaseID, "9", "wi-a"); code(err) != "stale_lease" {
				t.Errorf("wrong epoch = %v", err)
			}
			r, err := e.cancel("x", "worker", l.leaseID, l.epoch, "wi-a")
			if err != nil || r.PreviousPhase != "active" || e.state() != sCancelled {
				t.Fatalf("cancel = %+v %v state %s", r, err, e.state())
			}
			if e.hget(e.attempt(0), "attempt_state") != "ended_cancelled" || e.exists(e.x("lease:current")) {
				t.Error("attempt not ended or lease kept")
			}
			if diff := cmp.Diff([]string{"terminal"}, e.where("wi-a")); diff != "" {
				t.Errorf("indexes (-want +got):\n%s", diff)
			}
		})
		// D8: the holder's worker set is cleaned even when the caller names another one.
		t.Run("foreign_worker_set", func(t *testing.T) {
			e := f.newExec()
			e.mustCreate(nil)
			e.mustGrantClaim("w-a", "wi-a", 30000)
			if _, err := e.cancel("ops", "operator_override", "", "", "wi-ops"); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]string{"terminal"}, e.where("wi-a", "wi-ops")); diff != "" {
				t.Errorf("indexes (-want +got):\n%s", diff)
			}
		})
		t.Run("not_found", func(t *testing.T) {
			if _, err := f.newExec().cancel("x", "", "", "", "wi"); code(err) != "execution_not_found" {
				t.Errorf("cancel = %v", err)
			}
		})
	})
}

func TestExpireExecution(t *testing.T) {
	eachTarget(t, func(t *testing.T, f *fx) {
		tests := []struct {
			name       string
			setup      func(e *exe)
			wantResult string
			wantPrev   string
			wantState  string
			wantWhere  []string
		}{
			{"missing", func(e *exe) {}, "not_found_cleaned", "", "", nil},
			{"runnable", func(e *exe) { e.mustCreate(nil) }, "expired", "runnable",
				"terminal/unowned/not_applicable/none/pending_first_attempt/expired", []string{"terminal"}},
			{"delayed", func(e *exe) {
				e.mustCreate(func(k *ffscripts.CreateExecutionKeys, a *ffscripts.CreateExecutionArgs) {
					k.SchedulingZset = e.laneIdx("delayed")
					a.DelayUntil = ptr(e.f.serverMs() + 60000)
				})
			}, "expired", "runnable", "terminal/unowned/not_applicable/none/pending_first_attempt/expired", []string{"terminal"}},
			{"active", func(e *exe) {
				e.mustCreate(func(_ *ffscripts.CreateExecutionKeys, a *ffscripts.CreateExecutionArgs) {
					a.ExecutionDeadlineAt = ptr(e.f.serverMs() + 60000)
				})
				e.mustGrantClaim("w-a", "wi-a", 30000)
			}, "expired", "active", sExpired, []string{"terminal"}},
			{"terminal", func(e *exe) {
				e.mustCreate(nil)
				e.complete(e.mustGrantClaim("w-a", "wi-a", 30000), "")
			}, "already_terminal", "", sCompleted, []string{"terminal"}},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				e := f.newExec()
				tc.setup(e)
				r, err := e.expire("execution_deadline")
				if err != nil || r.Result != tc.wantResult || r.PreviousPhase != tc.wantPrev {
					t.Fatalf("expire = %+v %v", r, err)
				}
				if tc.wantState != "" && e.state() != tc.wantState {
					t.Errorf("state %s, want %s", e.state(), tc.wantState)
				}
				if diff := cmp.Diff(tc.wantWhere, e.where("wi-a")); diff != "" {
					t.Errorf("indexes (-want +got):\n%s", diff)
				}
				if tc.name == "active" && e.hget(e.attempt(0), "failure_reason") != "execution_deadline" {
					t.Errorf("attempt %v", e.hgetall(e.attempt(0)))
				}
			})
		}
	})
}

func TestSetExecutionTags(t *testing.T) {
	eachTarget(t, func(t *testing.T, f *fx) {
		tag := func(kv ...string) []ffscripts.SetExecutionTagsArgsTag {
			var out []ffscripts.SetExecutionTagsArgsTag
			for i := 0; i+1 < len(kv); i += 2 {
				out = append(out, ffscripts.SetExecutionTagsArgsTag{Key: kv[i], Value: kv[i+1]})
			}
			return out
		}
		tests := []struct {
			name   string
			create bool
			tags   []ffscripts.SetExecutionTagsArgsTag
			want   string
			wantN  int64
		}{
			{"ok", true, tag("app.env", "prod", "app.team", "core"), "", 2},
			{"empty", true, nil, "invalid_input tags must be non-empty even-length key/value pairs", 0},
			{"missing", false, tag("app.env", "prod"), "execution_not_found", 0},
			{"no_namespace", true, tag("env", "prod"), "invalid_tag_key env", 0},
			{"second_bad", true, tag("app.env", "prod", "App.x", "y"), "invalid_tag_key App.x", 0},
			{"double_dot", true, tag("app..x", "y"), "invalid_tag_key app..x", 0},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				e := f.newExec()
				if tc.create {
					e.mustCreate(nil)
				}
				r, err := f.c.SetExecutionTags(f.ctx, ffscripts.SetExecutionTagsKeys{ExecCore: e.x("core"), Tags: e.x("tags")},
					ffscripts.SetExecutionTagsArgs{Tags: tc.tags})
				if got := codeDetail(err); got != tc.want {
					t.Fatalf("tags = %q, want %q", got, tc.want)
				}
				got := e.hgetall(e.x("tags"))
				if err != nil {
					if len(got) != 0 {
						t.Errorf("rejected tags wrote %v", got)
					}
					return
				}
				if r.PairCount != tc.wantN || got["app.env"] != "prod" {
					t.Errorf("reply %+v tags %v", r, got)
				}
			})
		}
	})
}

func TestUpdateProgress(t *testing.T) {
	eachTarget(t, func(t *testing.T, f *fx) {
		e := f.newExec()
		e.mustCreate(nil)
		l := e.mustGrantClaim("w-a", "wi-a", 30000)
		call := func(leaseID, epoch, pct, msg string) error {
			_, err := f.c.UpdateProgress(f.ctx, ffscripts.UpdateProgressKeys{ExecCore: e.x("core")},
				ffscripts.UpdateProgressArgs{ExecutionID: e.id, LeaseID: leaseID, LeaseEpoch: epoch,
					ProgressPct: pct, ProgressMessage: msg})
			return err
		}
		if err := call(l.leaseID, l.epoch, "40", "reading"); err != nil {
			t.Fatal(err)
		}
		if err := call(l.leaseID, l.epoch, "", "writing"); err != nil {
			t.Fatal(err)
		}
		if c := e.core(); c["progress_pct"] != "40" || c["progress_message"] != "writing" || c["progress_updated_at"] == "" {
			t.Errorf("progress %q %q", c["progress_pct"], c["progress_message"])
		}
		for _, tc := range []struct{ name, lid, ep, want string }{
			{"empty_lease", "", "", "stale_lease"},
			{"wrong_epoch", l.leaseID, "2", "stale_lease"},
		} {
			if err := call(tc.lid, tc.ep, "1", ""); code(err) != tc.want {
				t.Errorf("%s: %v", tc.name, err)
			}
		}
	})
}
