package worker

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/valkey-io/valkey-go"

	"github.com/flowfabric/ffgo/ffscripts"
	"github.com/flowfabric/ffgo/keyspace"
	"github.com/flowfabric/ffgo/signal"
)

func TestOptionsValidation(t *testing.T) {
	good := Options{WorkerID: "w", InstanceID: "i", Lanes: []string{"a"}}
	tests := []struct {
		name string
		mod  func(*Options)
		want string // substring of the error; "" = valid
	}{
		{"defaults", func(*Options) {}, ""},
		{"no worker id", func(o *Options) { o.WorkerID = "" }, "WorkerID"},
		{"no instance id", func(o *Options) { o.InstanceID = "" }, "InstanceID"},
		{"no lanes", func(o *Options) { o.Lanes = nil }, "at least one lane"},
		{"bad lane", func(o *Options) { o.Lanes = []string{"tab\there"} }, "lane"},
		{"lane twice", func(o *Options) { o.Lanes = []string{"a", "a"} }, "twice"},
		{"empty capability", func(o *Options) { o.Capabilities = []string{""} }, "capability"},
		{"comma capability", func(o *Options) { o.Capabilities = []string{"gpu,cuda"} }, "capability"},
		{"space capability", func(o *Options) { o.Capabilities = []string{"gpu "} }, "capability"},
		{"too many capabilities", func(o *Options) {
			for i := range keyspace.MaxCapabilityTokens + 1 {
				o.Capabilities = append(o.Capabilities, "cap"+strconv.Itoa(i))
			}
		}, "capabilities"},
		{"capability CSV too long", func(o *Options) {
			for i := range 5 {
				o.Capabilities = append(o.Capabilities, strings.Repeat(string(rune('a'+i)), 1000))
			}
		}, "capabilities"},
		{"unicode capability", func(o *Options) { o.Capabilities = []string{"東京-gpu"} }, ""},
		{"short lease", func(o *Options) { o.LeaseTTL = time.Millisecond }, "LeaseTTL"},
		{"renew after expiry", func(o *Options) { o.LeaseTTL = time.Second; o.RenewAfter = time.Second }, "RenewAfter"},
		{"negative concurrency", func(o *Options) { o.MaxConcurrentTasks = -1 }, "MaxConcurrentTasks"},
		{"poll interval order", func(o *Options) { o.PollInterval = time.Second; o.MaxPollInterval = time.Millisecond }, "PollInterval"},
		{"scan limit", func(o *Options) { o.ScanLimit = 5000 }, "ScanLimit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := good
			o.Lanes = append([]string(nil), good.Lanes...)
			tt.mod(&o)
			_, err := o.validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("validate: %v, want nil", err)
			case tt.want != "" && (!errors.Is(err, ErrInvalidOptions) || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("validate: %v, want ErrInvalidOptions naming %q", err, tt.want)
			}
		})
	}
}

func TestOptionsDefaults(t *testing.T) {
	c, err := Options{WorkerID: "w", InstanceID: "i", Lanes: []string{"b", "a"}, Capabilities: []string{"y", "x", "y"}}.validate()
	if err != nil {
		t.Fatal(err)
	}
	got := []any{c.Namespace, c.LeaseTTL, c.RenewAfter, c.MaxConcurrentTasks, c.capsCSV, c.lanesCSV, c.aliveTTL()}
	want := []any{"default", 30 * time.Second, 20 * time.Second, 1, "x,y", "a,b", time.Minute}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("default %d = %v, want %v", i, got[i], want[i])
		}
	}
}

func TestCursorSeed(t *testing.T) {
	if cursorSeed("w1", 256) != cursorSeed("w1", 256) || cursorSeed("w1", 256) == cursorSeed("w2", 256) {
		t.Fatalf("seed not stable or not spread: %d %d", cursorSeed("w1", 256), cursorSeed("w2", 256))
	}
	for i := range 100 {
		if s := cursorSeed(uuid.NewString(), 7); s >= 7 {
			t.Fatalf("seed %d (try %d) not below the partition count", s, i)
		}
	}
}

// fakeFunctions answers the library calls a test scripts; calls it does not
// script hit the nil embedded interface and panic, which fails the test.
type fakeFunctions struct {
	ffscripts.Functions
	deliverSignal func() (ffscripts.DeliverSignalReply, error)
}

func (f *fakeFunctions) DeliverSignal(context.Context, ffscripts.DeliverSignalKeys, ffscripts.DeliverSignalArgs) (ffscripts.DeliverSignalReply, error) {
	return f.deliverSignal()
}

// replyScript returns its arguments as a success tuple {1, "OK", ARGV...}.
const replyScript = "local r = {1, 'OK'} for i = 1, #ARGV do r[#r + 1] = ARGV[i] end return r"

// TestMalformedClaimReplies: a claim reply whose ids cannot be used is an
// error (never replaced by fresh ids) and the permit goes back.
func TestMalformedClaimReplies(t *testing.T) {
	db := connectEmbedded(t)
	f := newFixture(t, db)
	id := f.create(CreateOptions{}) // so the peek finds work
	other := keyspace.NewExecutionID(id.Partition() + 1)
	good := func(leaseID, attemptID string) ffscripts.ClaimNextReply {
		return ffscripts.ClaimNextReply{Status: "OK", ExecutionID: id.String(), LeaseID: leaseID, LeaseEpoch: 1,
			LeaseExpiresAt: time.Now().Add(time.Minute).UnixMilli(), AttemptID: attemptID, AttemptType: "initial",
			ExecutionKind: "k", Payload: []byte{0xff}, Tags: []string{"a", "1"}}
	}
	tests := []struct {
		name   string
		mod    func(*ffscripts.ClaimNextReply)
		err    error  // errors.Is target, or nil
		substr string // in the message
	}{
		{"valid", func(*ffscripts.ClaimNextReply) {}, nil, ""},
		{"bare uuid id", func(r *ffscripts.ClaimNextReply) { r.ExecutionID = uuid.NewString() }, keyspace.ErrInvalidExecutionID, "bad id"},
		{"id of another partition", func(r *ffscripts.ClaimNextReply) { r.ExecutionID = other.String() }, keyspace.ErrInvalidExecutionID, "not in partition"},
		{"foreign lease id", func(r *ffscripts.ClaimNextReply) { r.LeaseID = uuid.NewString() }, nil, "lease id"},
		{"empty lease id", func(r *ffscripts.ClaimNextReply) { r.LeaseID = "" }, nil, "lease id"},
		{"attempt id not a uuid", func(r *ffscripts.ClaimNextReply) { r.AttemptID = "attempt-1" }, nil, "attempt id"},
		{"uppercase attempt id", func(r *ffscripts.ClaimNextReply) { r.AttemptID = strings.ToUpper(uuid.NewString()) }, nil, "attempt id"},
		{"epoch 0", func(r *ffscripts.ClaimNextReply) { r.LeaseEpoch = 0 }, nil, "epoch"},
		{"negative attempt index", func(r *ffscripts.ClaimNextReply) { r.AttemptIndex = -1 }, nil, "attempt index"},
		{"no expiry", func(r *ffscripts.ClaimNextReply) { r.LeaseExpiresAt = 0 }, nil, "expiry"},
		{"odd tags", func(r *ffscripts.ClaimNextReply) { r.Tags = []string{"a"} }, nil, "tags"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The server answers ff_claim_next with the scripted reply.
			fake := &claimNextSwap{Client: db, swap: func(words []string) valkey.Completed {
				r := good(words[claimNextLeaseWord], words[claimNextLeaseWord+1])
				tt.mod(&r)
				fields := []string{r.ExecutionID, r.LeaseID, strconv.FormatInt(r.LeaseEpoch, 10),
					strconv.FormatInt(r.LeaseExpiresAt, 10), r.AttemptID, strconv.FormatInt(r.AttemptIndex, 10),
					r.AttemptType, r.ExecutionKind, r.Namespace, string(r.Payload)}
				return db.B().Eval().Script(replyScript).Numkeys(0).Arg(append(fields, r.Tags...)...).Build()
			}}
			w, err := Connect(context.Background(), fake, f.options(nil))
			must(t, err, "Connect")
			defer w.Close(context.Background())
			task, err := w.ClaimNext(context.Background())
			if tt.substr == "" {
				must(t, err, "ClaimNext")
				if string(task.Payload) != "\xff" || task.Tags["a"] != "1" {
					t.Fatalf("task payload %q tags %v", task.Payload, task.Tags)
				}
				task.end(errCompleted) // nothing was claimed on the server; end locally
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.substr) || (tt.err != nil && !errors.Is(err, tt.err)) {
				t.Fatalf("ClaimNext: %v, want an error naming %q (matching %v)", err, tt.substr, tt.err)
			}
			if w.Running() != 0 {
				t.Fatalf("Running = %d after a refused reply, want 0", w.Running())
			}
		})
	}
}

// TestLibraryErrorsPassThrough: library error tuples reach the caller as
// *ffscripts.Error matching the sentinels; unknown replies are errors.
func TestLibraryErrorsPassThrough(t *testing.T) {
	db := connectEmbedded(t)
	f := newFixture(t, db)
	f.create(CreateOptions{})
	id := f.create(CreateOptions{})
	tests := []struct {
		name    string
		reply   ffscripts.DeliverSignalReply
		err     error
		matches []error
	}{
		{"resumed", ffscripts.DeliverSignalReply{Status: "OK", SignalID: "s", Effect: "resume_condition_satisfied"}, nil, nil},
		{"library refusal", ffscripts.DeliverSignalReply{}, &ffscripts.Error{Function: "ff_deliver_signal", Code: "waitpoint_closed"},
			[]error{ffscripts.ErrWaitpointClosed}},
		{"unknown effect", ffscripts.DeliverSignalReply{Status: "OK", SignalID: "s", Effect: "teleported"}, nil,
			[]error{signal.ErrUnknownOutcome}},
		{"unknown status", ffscripts.DeliverSignalReply{Status: "MAYBE", SignalID: "s"}, nil,
			[]error{signal.ErrUnknownOutcome}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			woken := false
			c := &Client{db: db, ns: f.ns, parts: f.client.parts, onResume: func() { woken = true },
				fns: &fakeFunctions{deliverSignal: func() (ffscripts.DeliverSignalReply, error) { return tt.reply, tt.err }}}
			out, err := c.DeliverSignal(context.Background(), id, uuid.NewString(), Signal{Name: "go", Token: "k:x"})
			for _, target := range tt.matches {
				if !errors.Is(err, target) {
					t.Fatalf("DeliverSignal: %v, want it to match %v", err, target)
				}
			}
			if len(tt.matches) == 0 && (err != nil || !out.Resumed() || !woken) {
				t.Fatalf("DeliverSignal = %+v, %v (woken %t), want resumed and a wake-up", out, err, woken)
			}
		})
	}
}

func TestStateRejectsCorruptFields(t *testing.T) {
	id := keyspace.NewExecutionID(3)
	if _, err := stateFromFields(id, nil); !errors.Is(err, ffscripts.ErrExecutionNotFound) {
		t.Fatalf("no fields: %v, want ErrExecutionNotFound", err)
	}
	_, err := stateFromFields(id, map[string]string{"lifecycle_phase": "active", "total_attempt_count": "two", "created_at": "x"})
	if err == nil || !strings.Contains(err.Error(), "total_attempt_count") || !strings.Contains(err.Error(), "created_at") {
		t.Fatalf("corrupt fields: %v, want both named", err)
	}
}

func TestPermanent(t *testing.T) {
	base := errors.New("boom")
	if Permanent(nil) != nil || !IsPermanent(Permanent(base)) || IsPermanent(base) || !errors.Is(Permanent(base), base) {
		t.Fatalf("Permanent wrapping is wrong")
	}
}
