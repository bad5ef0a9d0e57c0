package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/flowfabric/ffgo/embedded"
	"github.com/flowfabric/ffgo/ffscripts"
	"github.com/valkey-io/valkey-go"
)

// sideResult is one side of one drain run, with its per-task costs.
type sideResult struct {
	Drain drainResult
	// client side, during the drain only
	Trips float64 // round trips per executed task (a pipeline is one)
	Cmds  float64 // commands sent per executed task
	// server side (INFO commandstats), during the drain only
	ServerCmds float64 // commands executed per task, those run inside scripts included
	ServerUsec float64 // usec per task of the commands clients sent (a script's usec includes its nested commands)
	// creating the work beforehand (ffgo: ff_create_execution, asynq: Enqueue)
	CreateUsec float64 // server usec per created task
	CreateTrip float64 // client round trips per created task
	// CPU during the drain: server (INFO cpu) and this process (clients and
	// asynq's server), µs per task
	ServerCPU, ClientCPU float64
	Stats                commandStats
}

// drainRun is one run of scenario 1: every side drains the same number of
// tasks on the same server, one after the other.
type drainRun map[string]sideResult

// sides lists the sides of a drain run: the baseline, one ffgo side per
// driver ("ffgo/worker", ...), asynq.
func (c config) sides() []string {
	s := []string{"baseline"}
	for _, m := range c.ffgoModes {
		s = append(s, "ffgo/"+m)
	}
	return append(s, "asynq")
}

func (e *env) drainRun(ctx context.Context, r int) (drainRun, error) {
	out := drainRun{}
	order := e.cfg.sides()
	for range r % len(order) { // rotate, so no side always runs first
		order = append(order[1:], order[0])
	}
	for _, side := range order {
		if err := e.flush(ctx); err != nil {
			return nil, err
		}
		logf(" drain/%s: preparing %d tasks of %d bytes", side, e.cfg.n, e.cfg.payload)
		var (
			res sideResult
			err error
		)
		switch side {
		case "baseline":
			res, err = e.drainBaseline(ctx)
		case "asynq":
			res, err = e.drainAsynq(ctx)
		default:
			res, err = e.drainFFGO(ctx, r, strings.TrimPrefix(side, "ffgo/"))
		}
		if err != nil {
			return nil, fmt.Errorf("drain/%s: %w", side, err)
		}
		logf(" drain/%s: %.0f tasks/s, p50 %s ms, p99 %s ms; %.2f round trips, %.1f µs server per task",
			side, res.Drain.rate(), ms(res.Drain.Lat.P50), ms(res.Drain.Lat.P99), res.Trips, res.ServerUsec)
		out[side] = res
	}
	return out, nil
}

// topUsec is the server usec of the commands the clients sent (counted by
// name on the client side). A command name that was also run inside scripts
// is apportioned by the share of calls the clients sent.
func topUsec(st commandStats, sent map[string]int64) float64 {
	var us float64
	for name, n := range sent {
		s, ok := st[name]
		if !ok || s.Calls == 0 {
			continue
		}
		share := min(1, float64(n)/float64(s.Calls))
		us += share * float64(s.Usec)
	}
	return us
}

// finish fills the per-task figures of a side from the client counts and the
// server statistics taken around its drain.
func (res *sideResult) finish(n int, trips int64, sent map[string]int64, st commandStats) {
	var cmds int64
	for _, c := range sent {
		cmds += c
	}
	t := float64(n)
	res.Trips = float64(trips) / t
	res.Cmds = float64(cmds) / t
	res.ServerCmds = float64(st.total().Calls) / t
	res.ServerUsec = topUsec(st, sent) / t
	res.Stats = st
}

// cpu fills the CPU figures from samples taken before and after the drain.
func (res *sideResult) cpu(n int, c0, c1 cpuSample) {
	res.ServerCPU = (c1.server - c0.server) * 1e6 / float64(n)
	res.ClientCPU = (c1.client - c0.client) * 1e6 / float64(n)
}

// phase measures one stretch of a side: the round trips and commands its
// clients sent (names), and the server's command statistics and CPU, from
// start to end. The statistics are reset at the start, so the server must be
// this program's.
type phase struct {
	names *nameCounter
	trips int64
	sent  map[string]int64
	st    commandStats
	c0    cpuSample
	c1    cpuSample
}

func (e *env) startPhase(ctx context.Context, names *nameCounter) (*phase, error) {
	if err := resetStats(ctx, e.db); err != nil {
		return nil, err
	}
	c0, err := cpuNow(ctx, e.db)
	if err != nil {
		return nil, err
	}
	names.take()
	return &phase{names: names, c0: c0}, nil
}

// end reads the counters and the server's statistics.
func (p *phase) end(ctx context.Context, db valkey.Client) error {
	p.trips, p.sent = p.names.take()
	var err error
	if p.c1, err = cpuNow(ctx, db); err != nil {
		return err
	}
	p.st, err = readStats(ctx, db)
	return err
}

// result is the side's figures for drain d of n tasks measured by p.
func (p *phase) result(d drainResult, n int) sideResult {
	res := sideResult{Drain: d}
	res.finish(n, p.trips, p.sent, p.st)
	res.cpu(n, p.c0, p.c1)
	return res
}

// measureCreate runs create (the n tasks' creation) as a phase of its own and
// puts its server µs and round trips per task in res.
func (e *env) measureCreate(ctx context.Context, names *nameCounter, n int, res *sideResult, create func() error) error {
	p, err := e.startPhase(ctx, names)
	if err != nil {
		return err
	}
	if err := create(); err != nil {
		return err
	}
	if err := p.end(ctx, e.db); err != nil {
		return err
	}
	res.CreateUsec = topUsec(p.st, p.sent) / float64(n)
	res.CreateTrip = float64(p.trips) / float64(n)
	return nil
}

func (e *env) drainBaseline(ctx context.Context) (sideResult, error) {
	if err := fillRaw(ctx, e.db, e.cfg.n, e.payload); err != nil {
		return sideResult{}, err
	}
	p, err := e.startPhase(ctx, &e.db.names)
	if err != nil {
		return sideResult{}, err
	}
	d, err := drainRaw(ctx, e.db, e.cfg.n, e.cfg.workers)
	if err != nil {
		return sideResult{}, err
	}
	if err := p.end(ctx, e.db); err != nil {
		return sideResult{}, err
	}
	return p.result(d, e.cfg.n), nil
}

func (e *env) drainFFGO(ctx context.Context, r int, mode string) (sideResult, error) {
	lane := newLane(fmt.Sprintf("drain-%s-%d", mode, r))
	var created sideResult
	if err := e.measureCreate(ctx, &e.db.names, e.cfg.n, &created, func() error {
		_, err := lane.createExecutions(ctx, e.db, e.cfg.n, e.payload)
		return err
	}); err != nil {
		return sideResult{}, err
	}
	p, err := e.startPhase(ctx, &e.db.names)
	if err != nil {
		return sideResult{}, err
	}
	var d drainResult
	switch mode {
	case "worker":
		d, err = drainWorker(ctx, e.db, lane, e.cfg.n, e.cfg.workers)
	case "claimnext":
		d, err = drainWorkerClaim(ctx, e.db, lane, e.cfg.n, e.cfg.workers)
	default:
		d, err = drainScripts(ctx, e.db, lane, e.cfg.n, e.cfg.workers)
	}
	if err != nil {
		return sideResult{}, err
	}
	if err := p.end(ctx, e.db); err != nil {
		return sideResult{}, err
	}
	if err := lane.checkDrained(ctx, e.db, e.cfg.n); err != nil {
		return sideResult{}, err
	}
	res := p.result(d, e.cfg.n)
	res.CreateUsec, res.CreateTrip = created.CreateUsec, created.CreateTrip
	return res, nil
}

func (e *env) drainAsynq(ctx context.Context) (sideResult, error) {
	var created sideResult
	if err := e.measureCreate(ctx, &e.hook.names, e.cfg.n, &created, func() error {
		return enqueueAsynq(ctx, e.rdb, e.cfg.n, e.payload)
	}); err != nil {
		return sideResult{}, err
	}
	p, err := e.startPhase(ctx, &e.hook.names)
	if err != nil {
		return sideResult{}, err
	}
	// The phase ends when the last task is acknowledged, before asynq's
	// server shuts down (its shutdown traffic is not the drain's).
	d, err := drainAsynq(ctx, e.rdb, e.sig, e.cfg.n, e.cfg.workers, func() error { return p.end(ctx, e.db) })
	if err != nil {
		return sideResult{}, err
	}
	res := p.result(d, e.cfg.n)
	res.CreateUsec, res.CreateTrip = created.CreateUsec, created.CreateTrip
	return res, nil
}

// embeddedResult is one drain on the embedded engine.
type embeddedResult struct {
	Create time.Duration
	Drain  drainResult
}

// embeddedRun runs the ffgo drain on a fresh in-process embedded engine,
// reached through in-memory connections.
func (e *env) embeddedRun(ctx context.Context, r int) (embeddedResult, error) {
	srv, err := embedded.New()
	if err != nil {
		return embeddedResult{}, err
	}
	defer srv.Close()
	c, err := valkey.NewClient(srv.ClientOption())
	if err != nil {
		return embeddedResult{}, err
	}
	defer c.Close()
	if err := ffscripts.Load(ctx, c); err != nil {
		return embeddedResult{}, fmt.Errorf("embedded: load library: %w", err)
	}
	lane := newLane(fmt.Sprintf("embedded-%d", r))
	n := e.cfg.embeddedN
	logf(" embedded: creating %d tasks", n)
	t0 := time.Now()
	if _, err := lane.createExecutions(ctx, c, n, e.payload); err != nil {
		return embeddedResult{}, fmt.Errorf("embedded: %w", err)
	}
	created := time.Since(t0)
	d, err := drainScripts(ctx, c, lane, n, e.cfg.workers)
	if err != nil {
		return embeddedResult{}, fmt.Errorf("embedded: %w", err)
	}
	logf(" embedded: created in %s, %.0f tasks/s, p50 %s ms, p99 %s ms",
		created.Round(time.Millisecond), d.rate(), ms(d.Lat.P50), ms(d.Lat.P99))
	return embeddedResult{Create: created, Drain: d}, nil
}
