package conformance

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/flowfabric/ffgo/ffscripts"
)

// A mutant is a deliberately broken library: one text substitution in the generated
// library source. The suite must catch each one, naming the scenario and the difference.
type mutant struct {
	name     string
	old, new string
	all      bool   // replace every copy (default: the text must occur exactly once)
	scenario string // a scenario that must fail
	detail   string // text the failure must contain
}

var mutants = []mutant{
	{name: "claim reply swaps lease_id and attempt_id",
		old:      "return a.lease_id, tostring(epoch), tostring(exp), a.attempt_id, tostring(idx), atype",
		new:      "return a.attempt_id, tostring(epoch), tostring(exp), a.lease_id, tostring(idx), atype",
		scenario: "claim/grant_and_claim", detail: "reply differs"},
	{name: "error code renamed",
		old: "err('grant_already_exists')", new: "err('grant_exists')", all: true,
		scenario: "claim/grant_and_claim", detail: `"grant_exists"`},
	{name: "eligible score uses the wrong priority weight",
		old: "0 - (tonumber(priority) or 0) * 1000000000000", new: "0 - (tonumber(priority) or 0) * 100000000000",
		scenario: "claim/create", detail: "index membership"},
	{name: "renew computes the renewal deadline at half the TTL",
		old: "local deadline = now + math.floor(ttl * 2 / 3)", new: "local deadline = now + math.floor(ttl / 2)",
		scenario: "claim/renew", detail: "lease_renewal_deadline"},
	{name: "signal effect renamed",
		old: "or 'appended_to_waitpoint'", new: "or 'appended'",
		scenario: "signal/conditions", detail: `"appended"`},
	{name: "operator resume always answers waiting",
		old: "return ok(public)", new: "return ok('waiting')",
		scenario: "signal/operator_resume", detail: `"waiting"`},
	{name: "waitpoint token binds other fields",
		old: "return wp_id .. '|' .. wp_key .. '|' .. created_at", new: "return wp_id .. '|' .. created_at",
		scenario: "signal/suspend_and_resume_by_signal", detail: "WaitpointToken"},
	{name: "progress writes an empty pct",
		old: "if (args[4] or '') ~= '' then H.push(f, 'progress_pct', args[4]) end", new: "H.push(f, 'progress_pct', args[4] or '')",
		scenario: "claim/update_progress", detail: "progress_pct"},
	{name: "claim deletes an expired grant",
		old:      "if gexp and gexp < now then return err('claim_grant_expired') end\n  redis.call('DEL', keys[2])",
		new:      "redis.call('DEL', keys[2])\n  if gexp and gexp < now then return err('claim_grant_expired') end",
		scenario: "claim/claim_grant_expired", detail: "grant left in place"},
	{name: "tags are not written",
		old: "redis.call('HSET', keys[2], unpack(args))\n  redis.call('HSET', keys[1], 'last_mutation_at', now_ms())\n  return ok(tostring(n / 2))",
		new: "return ok(tostring(n / 2))", scenario: "claim/set_execution_tags", detail: "tags differs"},
	{name: "expire leaves the holder's worker lease set",
		old: "H.release_lease(eid, keys[4], keys[6], keys[8], keys[7], holder)", new: "H.release_lease(eid, keys[4], keys[6], keys[8])",
		scenario: "claim/expire_active", detail: "worker:wi-a"},
	{name: "append_frame counts bytes twice",
		old: "redis.call('HINCRBY', keys[3], 'total_bytes', #payload)", new: "redis.call('HINCRBY', keys[3], 'total_bytes', 2 * #payload)",
		scenario: "claim/append_frame", detail: "total_bytes"},
}

func mutate(t *testing.T, m mutant) string {
	t.Helper()
	src := ffscripts.Source()
	if n := strings.Count(src, m.old); n == 0 || (n > 1 && !m.all) {
		t.Fatalf("mutant %q: the library has %d copies of %q: update the mutant", m.name, n, m.old)
	}
	return strings.ReplaceAll(src, m.old, m.new)
}

// TestMutantsFailScenarios loads each mutant on an embedded engine and requires the
// scenario suite to fail in the named scenario with a message naming it and the
// difference.
func TestMutantsFailScenarios(t *testing.T) {
	ctx := context.Background()
	for _, m := range mutants {
		t.Run(m.name, func(t *testing.T) {
			tg, err := OpenEmbeddedWith(ctx, mutate(t, m))
			if err != nil {
				t.Fatal(err)
			}
			defer tg.Close()
			var failed []string
			var res Result
			for i, sc := range Scenarios() {
				r := RunScenario(ctx, tg, sc, i)
				if r.Status == "fail" {
					failed = append(failed, sc.Name)
				}
				if sc.Name == m.scenario {
					res = r
				}
			}
			if res.Status != "fail" {
				t.Fatalf("scenario %s did not catch the mutant (status %s); failing scenarios: %v", m.scenario, res.Status, failed)
			}
			if !strings.Contains(res.Detail, "scenario "+m.scenario) || !strings.Contains(res.Detail, m.detail) {
				t.Errorf("failure message should name scenario %s and contain %q:\n%s", m.scenario, m.detail, res.Detail)
			}
			t.Logf("caught by %d scenario(s): %v", len(failed), failed)
		})
	}
}

// TestMutantsFailDifferential runs the differential mode with a mutant on the embedded
// side only: the engines must be found to differ, with a seed and a failing prefix.
func TestMutantsFailDifferential(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	c := privateClient(t)
	for _, m := range mutants[:3] {
		t.Run(m.name, func(t *testing.T) {
			_, err := RunDiff(context.Background(), DiffConfig{Seed: 1, Sequences: 50, Steps: 20, Reference: c,
				EmbSource: mutate(t, m)})
			var df *DiffFailure
			if !errors.As(err, &df) {
				t.Fatalf("the differential mode did not catch the mutant: %v", err)
			}
			msg := df.Error()
			if !strings.Contains(msg, "differs (-valkey +embedded)") || !strings.Contains(msg, "replay:") {
				t.Errorf("failure message lacks the difference or the replay line:\n%s", msg)
			}
			t.Logf("caught at seed %d step %d", df.Seed, df.Step)
		})
	}
}
