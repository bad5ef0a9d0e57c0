package main

import (
	"cmp"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"time"
)

// report collects every run and prints medians as Markdown.
type report struct {
	cfg       config
	version   string
	loadStart string
	loadEnd   string
	drains    []drainRun
	embedded  []embeddedResult
	resumes   []resumeResult
	costs     [][]fnCost
}

// med returns the median of f over xs.
func med[T any](xs []T, f func(T) float64) float64 {
	v := make([]float64, len(xs))
	for i, x := range xs {
		v[i] = f(x)
	}
	return median(v)
}

// each lists f over xs, for the per-run columns.
func each[T any](xs []T, format string, f func(T) float64) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = fmt.Sprintf(format, f(x))
	}
	return strings.Join(s, " / ")
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "?"
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}

func (r *report) command() string {
	c := r.cfg
	var s []string
	if c.drain && c.resume && c.cost && c.embedded {
		s = append(s, "-all")
	} else {
		for _, f := range []struct {
			on   bool
			name string
		}{{c.drain, "-drain"}, {c.resume, "-resume"}, {c.cost, "-cost"}, {c.embedded, "-embedded"}} {
			if f.on {
				s = append(s, f.name)
			}
		}
	}
	s = append(s, fmt.Sprintf("-runs %d -n %d -embedded-n %d -payload %d -workers %d -rounds %d -signal-after %s -idle-rounds %d -idle-after %s -calls %d -ffgo %s",
		c.runs, c.n, c.embeddedN, c.payload, c.workers, c.rounds, c.after, c.idleRounds, c.idleAfter, c.calls, strings.Join(c.ffgoModes, ",")))
	if c.extra != "" {
		s = append(s, fmt.Sprintf("-valkey-args %q", c.extra))
	}
	return "cd bench && go run . " + strings.Join(s, " ")
}

func (r *report) print(w io.Writer) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	p("## Results %s", time.Now().UTC().Format("2006-01-02 15:04 MST"))
	p("")
	p("- Machine: %d CPUs (%s), %s/%s, %s; load average %s at start, %s at end", runtime.NumCPU(), cpuModel(),
		runtime.GOOS, runtime.GOARCH, runtime.Version(), r.loadStart, r.loadEnd)
	server := "own valkey-server on loopback, no persistence"
	if r.cfg.extra != "" {
		server += ", started with " + r.cfg.extra
	}
	if !r.cfg.ownServer {
		server = "given server " + r.cfg.addr
	}
	p("- Valkey %s (%s)", r.version, server)
	p("- Command: `%s`", r.command())
	tree := r.cfg.tree
	if tree == "" {
		tree = treeState()
	}
	p("- Tree: %s", tree)
	p("- %d runs; figures are medians over runs (the per-run columns list every run). Ratios are taken within each run, then the median.", r.cfg.runs)
	p("")
	if len(r.drains) > 0 {
		r.printDrains(p)
	}
	if len(r.resumes) > 0 {
		r.printResumes(p)
	}
	if len(r.costs) > 0 {
		r.printCosts(p)
	}
	if len(r.embedded) > 0 {
		r.printEmbedded(p)
	}
}

func (r *report) printDrains(p func(string, ...any)) {
	c := r.cfg
	p("### 1. Drain: %d tasks × %d B payload, %d workers", c.n, c.payload, c.workers)
	p("")
	p("ffgo sides: worker = worker.Run with MaxConcurrentTasks %d, the handler calls Task.Complete (latency: handler start → completion acknowledged, the claim is not visible to a handler); claimnext = %d goroutines looping over Worker.ClaimNext + Task.Complete; scripts = %d goroutines looping over ff_claim_next + ff_complete_execution through ffscripts (no worker). Latency elsewhere: claim (or pop) sent → completion acknowledged. asynq: Concurrency %d, timed from Server.Start to the last acknowledgement; its latency is not observable from outside.", c.workers, c.workers, c.workers, c.workers)
	p("")
	p("| side | tasks/s (median) | per run | p50 ms | p99 ms |")
	p("|---|---:|---|---:|---:|")
	sides := c.sides()
	for _, side := range sides {
		get := func(d drainRun) float64 { return d[side].Drain.rate() }
		lat := "–"
		p99 := "–"
		if side != "asynq" {
			lat = msf(med(r.drains, func(d drainRun) float64 { return durMs(d[side].Drain.Lat.P50) }))
			p99 = msf(med(r.drains, func(d drainRun) float64 { return durMs(d[side].Drain.Lat.P99) }))
		}
		p("| %s | %.0f | %s | %s | %s |", side, med(r.drains, get), each(r.drains, "%.0f", get), lat, p99)
	}
	p("")
	p("| ratio | median | per run | target |")
	p("|---|---:|---|---|")
	for _, m := range c.ffgoModes {
		side := "ffgo/" + m
		rb := func(d drainRun) float64 { return d[side].Drain.rate() / d["baseline"].Drain.rate() }
		ra := func(d drainRun) float64 { return d[side].Drain.rate() / d["asynq"].Drain.rate() }
		p("| %s / baseline | %.2f | %s | ≥ 0.5 |", side, med(r.drains, rb), each(r.drains, "%.2f", rb))
		p("| %s / asynq | %.2f | %s | ≥ 1.5 |", side, med(r.drains, ra), each(r.drains, "%.2f", ra))
	}
	p("")
	p("### 3a. Round trips and server cost per executed task (during the drain)")
	p("")
	p("Round trips and commands are counted in the clients (a pipeline is one round trip). Server commands include those run inside scripts. Server µs is INFO commandstats usec of the commands the clients sent (a script's usec includes its nested commands), reset before each side. Server CPU is valkey-server's used_cpu_user+sys over the drain (it includes reading and writing the sockets); client CPU is this process's (all clients, and asynq's server) over the drain. Create: the work's creation beforehand (ffgo ff_create_execution pipelined 200 per round trip; asynq Enqueue).")
	p("")
	p("| side | round trips/task | commands sent/task | server commands/task | server µs/task | server CPU µs/task | client CPU µs/task | create: server µs/task | create: round trips/task |")
	p("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, side := range sides {
		f := func(g func(sideResult) float64) float64 {
			return med(r.drains, func(d drainRun) float64 { return g(d[side]) })
		}
		create, ctrips := "–", "–"
		if side != "baseline" {
			create = fmt.Sprintf("%.1f", f(func(s sideResult) float64 { return s.CreateUsec }))
			ctrips = fmt.Sprintf("%.3f", f(func(s sideResult) float64 { return s.CreateTrip }))
		}
		p("| %s | %.3f | %.3f | %.1f | %.1f | %.1f | %.1f | %s | %s |", side,
			f(func(s sideResult) float64 { return s.Trips }), f(func(s sideResult) float64 { return s.Cmds }),
			f(func(s sideResult) float64 { return s.ServerCmds }), f(func(s sideResult) float64 { return s.ServerUsec }),
			f(func(s sideResult) float64 { return s.ServerCPU }), f(func(s sideResult) float64 { return s.ClientCPU }),
			create, ctrips)
	}
	p("")
	p("Server commands per task of the last run, by command (calls/task, µs/task; nested ones included):")
	p("")
	last := r.drains[len(r.drains)-1]
	for _, side := range sides {
		s := last[side]
		type row struct {
			name        string
			calls, usec float64
		}
		var rows []row
		for name, st := range s.Stats {
			rows = append(rows, row{name, float64(st.Calls) / float64(s.Drain.N), float64(st.Usec) / float64(s.Drain.N)})
		}
		slices.SortFunc(rows, func(a, b row) int { return cmp.Compare(b.usec, a.usec) })
		var parts []string
		for _, x := range rows {
			if x.calls >= 0.005 {
				parts = append(parts, fmt.Sprintf("%s %.2f/%.1f", x.name, x.calls, x.usec))
			}
		}
		p("- %s: %s", side, strings.Join(parts, ", "))
	}
	p("")
}

func (r *report) printResumes(p func(string, ...any)) {
	p("### 2. Suspend → signal → resumed handler")
	p("")
	p("From just before the signal is sent to the resumed handler starting. worker-self: worker.Run (MaxConcurrentTasks 1), signal sent through the same Worker (Worker.DeliverSignal). worker-other: worker.Run, signal sent by another worker.Client on its own connection. In both, the signal is sent %s after the handler suspended, so the Run loop has gone back to waiting (a signal sent at once races with the loop's own next poll); the idle case waits %s, as a signal from a person or a webhook would, with fewer rounds. scripts-feed: no worker; the waiting side blocks in XREAD on the partition's signal-delivery stream (which ff_deliver_signal appends to) and claims with ff_claim_next when an entry arrives. scripts-poll: no worker; ff_claim_next every %s.", r.cfg.after, r.cfg.idleAfter, r.cfg.poll)
	p("")
	p("| case | rounds/run | p50 ms | p99 ms | p50 per run | deliver round trip p50 ms |")
	p("|---|---:|---:|---:|---|---:|")
	for _, rc := range r.cfg.resumeCases() {
		var rs []resumeResult
		for _, x := range r.resumes {
			if x.Label == rc.label {
				rs = append(rs, x)
			}
		}
		if len(rs) == 0 {
			continue
		}
		p50 := func(x resumeResult) float64 { return durMs(x.Resume.P50) }
		p("| %s | %d | %s | %s | %s | %s |", rc.label, rc.rounds, msf(med(rs, p50)),
			msf(med(rs, func(x resumeResult) float64 { return durMs(x.Resume.P99) })), each(rs, "%.3f", p50),
			msf(med(rs, func(x resumeResult) float64 { return durMs(x.Deliver.P50) })))
	}
	p("")
}

func (r *report) printCosts(p func(string, ...any)) {
	p("### 3b. Server cost per library function, %d calls each, in isolation", r.cfg.calls)
	p("")
	p("cmdstat_fcall usec per call, and the data commands the function ran (redis.call, counted by commandstats too). Lua + glue = FCALL µs − nested µs.")
	p("")
	p("| function | FCALL µs/call | nested commands/call | nested µs/call | Lua + glue µs/call |")
	p("|---|---:|---:|---:|---:|")
	for i, fc := range r.costs[0] {
		f := func(g func(fnCost) float64) float64 {
			return med(r.costs, func(cs []fnCost) float64 { return g(cs[i]) })
		}
		us, nc, nu := f(func(c fnCost) float64 { return c.UsecPerCall }), f(func(c fnCost) float64 { return c.NestedCalls }),
			f(func(c fnCost) float64 { return c.NestedUsec })
		p("| %s | %.1f | %.1f | %.1f | %.1f |", fc.Name, us, nc, nu, us-nu)
	}
	p("")
}

func (r *report) printEmbedded(p func(string, ...any)) {
	p("### 4. Drain on the embedded engine (gopher-lua + miniredis, in-memory connections), %d tasks", r.cfg.embeddedN)
	p("")
	p("Driver: scripts (as ffgo/scripts above), %d goroutines.", r.cfg.workers)
	p("")
	p("| engine | tasks/s (median) | per run | p50 ms | p99 ms | create s |")
	p("|---|---:|---|---:|---:|---:|")
	rate := func(x embeddedResult) float64 { return x.Drain.rate() }
	p("| embedded | %.0f | %s | %s | %s | %.2f |", med(r.embedded, rate), each(r.embedded, "%.0f", rate),
		msf(med(r.embedded, func(x embeddedResult) float64 { return durMs(x.Drain.Lat.P50) })),
		msf(med(r.embedded, func(x embeddedResult) float64 { return durMs(x.Drain.Lat.P99) })),
		med(r.embedded, func(x embeddedResult) float64 { return x.Create.Seconds() }))
	if len(r.drains) == len(r.embedded) && slices.Contains(r.cfg.ffgoModes, "scripts") {
		re := func(i int) float64 { return r.embedded[i].Drain.rate() / r.drains[i]["ffgo/scripts"].Drain.rate() }
		idx := make([]int, len(r.embedded))
		for i := range idx {
			idx[i] = i
		}
		p("")
		p("embedded / ffgo/scripts on Valkey (same driver, same run; Valkey drained %d tasks): %.3f (per run %s)",
			r.cfg.n, med(idx, re), each(idx, "%.3f", re))
	}
	p("")
}

// treeState names the commit the benchmark ran against and the library
// packages with uncommitted changes, since others work in the same tree.
func treeState() string {
	head, err := exec.Command("git", "-C", "..", "log", "-1", "--format=%h %cd", "--date=format:%H:%M").Output()
	if err != nil {
		return "unknown (no git)"
	}
	s := "commit " + strings.TrimSpace(string(head))
	dirty, _ := exec.Command("git", "-C", "..", "status", "--porcelain", "--", "lua", "ffscripts", "worker", "keyspace", "embedded").Output()
	var pkgs []string
	for line := range strings.SplitSeq(strings.TrimSpace(string(dirty)), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		pkg, _, _ := strings.Cut(f[len(f)-1], "/")
		if !slices.Contains(pkgs, pkg) {
			pkgs = append(pkgs, pkg)
		}
	}
	if len(pkgs) > 0 {
		s += ", with uncommitted changes in " + strings.Join(pkgs, ", ")
	}
	return s
}
