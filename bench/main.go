// Command bench measures ffgo against a raw Valkey baseline and asynq on the
// same Valkey server, in the same run (issue #8).
//
// Scenarios:
//
//	-drain     1. drain throughput and claim-to-complete latency: ffgo, the raw
//	              RPUSH/BLMPOP/INCR baseline and asynq; and 3a. round trips,
//	              commands, server µs and CPU per executed task
//	-resume    2. suspend → signal → resumed handler latency
//	-cost      3. server cost per library function, each run in isolation
//	-embedded  4. the ffgo drain on the embedded (gopher-lua) engine
//	-all       all of them
//
// By default it starts its own valkey-server on a free loopback port (so
// INFO commandstats and CONFIG RESETSTAT see its commands only) and stops it
// at the end. Every scenario runs -runs times; the report gives medians.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/flowfabric/ffgo/ffscripts"
	"github.com/flowfabric/ffgo/internal/valkeyserver"
	"github.com/redis/go-redis/v9"
	"github.com/valkey-io/valkey-go"
)

type config struct {
	addr       string
	server     string
	extra      string
	tree       string
	n          int
	embeddedN  int
	payload    int
	workers    int
	runs       int
	rounds     int
	calls      int
	poll       time.Duration
	after      time.Duration
	idleRounds int
	idleAfter  time.Duration
	drain      bool
	resume     bool
	cost       bool
	embedded   bool
	ffgoModes  []string
	ownServer  bool
}

var start = time.Now()

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[%6.1fs] %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
}

func main() {
	var cfg config
	var all bool
	flag.StringVar(&cfg.addr, "addr", "", "address of a PRIVATE Valkey server to use (its data is flushed and its statistics reset); empty starts one")
	flag.StringVar(&cfg.server, "valkey-server", "valkey-server", "valkey-server binary to start when -addr is empty")
	flag.StringVar(&cfg.extra, "valkey-args", "", "extra arguments for the started valkey-server, e.g. \"--hash-max-listpack-entries 16\"")
	flag.StringVar(&cfg.tree, "tree", "", "how the report names the source tree measured (default: the git commit of ..)")
	flag.IntVar(&cfg.n, "n", 10000, "executions per drain")
	flag.IntVar(&cfg.embeddedN, "embedded-n", 10000, "executions per drain on the embedded engine")
	flag.IntVar(&cfg.payload, "payload", 4096, "payload bytes per execution")
	flag.IntVar(&cfg.workers, "workers", 16, "concurrent workers (ffgo goroutines, baseline goroutines, asynq Concurrency)")
	flag.IntVar(&cfg.runs, "runs", 3, "repetitions of every scenario; medians are reported")
	flag.IntVar(&cfg.rounds, "rounds", 1000, "suspend → signal → resume rounds per run")
	flag.IntVar(&cfg.calls, "calls", 2000, "calls per function in the per-function cost scenario")
	flag.IntVar(&cfg.idleRounds, "idle-rounds", 20, "rounds of the worker-other case whose signal comes -idle-after the suspension")
	flag.DurationVar(&cfg.idleAfter, "idle-after", 250*time.Millisecond, "wait between suspension and signal in the idle worker-other case")
	flag.DurationVar(&cfg.after, "signal-after", 5*time.Millisecond, "wait between suspension and signal in the worker.Run resume cases")
	flag.DurationVar(&cfg.poll, "poll", time.Millisecond, "claim poll interval of the polling resume mode")
	flag.BoolVar(&cfg.drain, "drain", false, "scenario 1 (+3 per task): drain throughput, ffgo vs baseline vs asynq")
	flag.BoolVar(&cfg.resume, "resume", false, "scenario 2: suspend → signal → resume latency")
	flag.BoolVar(&cfg.cost, "cost", false, "scenario 3: server cost per library function")
	flag.BoolVar(&cfg.embedded, "embedded", false, "scenario 4: ffgo drain on the embedded engine")
	modes := flag.String("ffgo", "worker,claimnext,scripts", "ffgo drain drivers, comma-separated: worker (worker.Run), claimnext (Worker.ClaimNext + Task.Complete), scripts (ff_claim_next + ff_complete_execution through ffscripts)")
	flag.BoolVar(&all, "all", false, "run every scenario")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of this program (clients, and the embedded engine) to the file")
	flag.Parse()
	if all {
		cfg.drain, cfg.resume, cfg.cost, cfg.embedded = true, true, true, true
	}
	if !cfg.drain && !cfg.resume && !cfg.cost && !cfg.embedded {
		fmt.Fprintln(os.Stderr, "bench: choose a scenario: -all, -drain, -resume, -cost or -embedded")
		flag.Usage()
		os.Exit(2)
	}
	for m := range strings.SplitSeq(*modes, ",") {
		if m != "worker" && m != "claimnext" && m != "scripts" {
			log.Fatalf("bench: -ffgo takes worker, claimnext and scripts, not %q", m)
		}
		cfg.ffgoModes = append(cfg.ffgoModes, m)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}
	if err := run(ctx, cfg, os.Stdout); err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// run runs the chosen scenarios and writes the report to out.
func run(ctx context.Context, cfg config, out io.Writer) error {
	rep := &report{cfg: cfg}
	if cfg.addr == "" {
		srv, err := valkeyserver.Start(ctx, cfg.server, strings.Fields(cfg.extra)...)
		if err != nil {
			return err
		}
		defer srv.Close()
		cfg.addr, cfg.ownServer = srv.Addr, true
		rep.cfg = cfg
		logf("started valkey-server on %s", srv.Addr)
	}
	raw, err := newClient(cfg.addr)
	if err != nil {
		return err
	}
	defer raw.Close()
	db := &countingClient{Client: raw}
	sigRaw, err := newClient(cfg.addr)
	if err != nil {
		return err
	}
	defer sigRaw.Close()
	hook := &countHook{}
	rdb := redis.NewClient(&redis.Options{Addr: cfg.addr})
	rdb.AddHook(hook)
	defer rdb.Close()

	rep.version, err = serverVersion(ctx, raw)
	if err != nil {
		return err
	}
	rep.loadStart = loadAvg()
	logf("Valkey %s at %s; %d CPUs; load %s", rep.version, cfg.addr, runtime.NumCPU(), rep.loadStart)
	if err := ffscripts.Load(ctx, raw); err != nil {
		return fmt.Errorf("load library: %w", err)
	}
	if cfg.cost {
		if err := loadCalibration(ctx, raw); err != nil {
			return err
		}
	}
	payload := make([]byte, cfg.payload)
	for i := range payload {
		payload[i] = byte('a' + i%26)
	}
	env := &env{cfg: cfg, db: db, sig: sigRaw, rdb: rdb, hook: hook, payload: payload}

	for r := range cfg.runs {
		logf("run %d/%d", r+1, cfg.runs)
		if cfg.drain {
			res, err := env.drainRun(ctx, r)
			if err != nil {
				return err
			}
			rep.drains = append(rep.drains, res)
		}
		if cfg.embedded {
			res, err := env.embeddedRun(ctx, r)
			if err != nil {
				return err
			}
			rep.embedded = append(rep.embedded, res)
		}
		if cfg.resume {
			for _, rc := range cfg.resumeCases() {
				if err := env.flush(ctx); err != nil {
					return err
				}
				logf(" resume/%s: %d rounds", rc.label, rc.rounds)
				lane := newLane(fmt.Sprintf("resume-%s-%d", rc.mode, r))
				var res resumeResult
				var err error
				switch rc.mode {
				case resumeFeed, resumePoll:
					res, err = runResume(ctx, db, sigRaw, lane, rc.rounds, rc.mode, cfg.poll)
				default:
					res, err = runResumeWorker(ctx, db, sigRaw, lane, rc.rounds, rc.mode, rc.after)
				}
				if err != nil {
					return fmt.Errorf("resume/%s: %w", rc.label, err)
				}
				res.Label = rc.label
				logf(" resume/%s: p50 %s ms, p99 %s ms", rc.label, ms(res.Resume.P50), ms(res.Resume.P99))
				rep.resumes = append(rep.resumes, res)
			}
		}
		if cfg.cost {
			if err := env.flush(ctx); err != nil {
				return err
			}
			logf(" per-function cost: %d calls each", cfg.calls)
			cal, err := calibrate(ctx, db, cfg.calls, cfg.workers)
			if err != nil {
				return err
			}
			res, err := functionCosts(ctx, db, newLane(fmt.Sprintf("cost-%d", r)), cfg.calls, cfg.workers, payload)
			if err != nil {
				return err
			}
			rep.costs = append(rep.costs, append(cal, res...))
		}
	}
	rep.loadEnd = loadAvg()
	rep.print(out)
	return nil
}

// env is what the scenarios share.
type env struct {
	cfg     config
	db      *countingClient
	sig     valkey.Client
	rdb     *redis.Client
	hook    *countHook
	payload []byte
}

// flush empties the server between sides (the function library survives
// FLUSHALL). It does nothing on a server this program did not start.
func (e *env) flush(ctx context.Context) error {
	if !e.cfg.ownServer {
		return nil
	}
	return e.db.Do(ctx, e.db.B().Flushall().Sync().Build()).Error()
}

func serverVersion(ctx context.Context, c valkey.Client) (string, error) {
	s, err := c.Do(ctx, c.B().Info().Section("server").Build()).ToString()
	if err != nil {
		return "", err
	}
	for line := range strings.SplitSeq(s, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "valkey_version:"); ok {
			return v, nil
		}
	}
	return "unknown", nil
}

// loadAvg returns the 1, 5 and 15 minute load averages.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// resumeCase is one way of running scenario 2.
type resumeCase struct {
	label  string
	mode   resumeMode
	rounds int
	after  time.Duration
}

func (c config) resumeCases() []resumeCase {
	return []resumeCase{
		{"worker-self", resumeWorkerSelf, c.rounds, c.after},
		{"worker-other", resumeWorkerOther, c.rounds, c.after},
		{fmt.Sprintf("worker-other, idle %s", c.idleAfter), resumeWorkerOther, c.idleRounds, c.idleAfter},
		{"scripts-feed", resumeFeed, c.rounds, 0},
		{fmt.Sprintf("scripts-poll-%s", c.poll), resumePoll, c.rounds, 0},
	}
}
