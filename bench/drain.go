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

func (e *env) drainBaseline(ctx context.Context) (sideResult, error) {
	if err := fillRaw(ctx, e.db, e.cfg.n, e.payload); err != nil {
		return sideResult{}, err
	}
	if err := resetStats(ctx, e.db); err != nil {
		return sideResult{}, err
	}
	c0, err := cpuNow(ctx, e.db)
	if err != nil {
		return sideResult{}, err
	}
	e.db.names.take()
	d, err := drainRaw(ctx, e.db, e.cfg.n, e.cfg.workers)
	if err != nil {
		return sideResult{}, err
	}
	trips, sent := e.db.names.take()
	c1, err := cpuNow(ctx, e.db)
	if err != nil {
		return sideResult{}, err
	}
	st, err := readStats(ctx, e.db)
	if err != nil {
		return sideResult{}, err
	}
	res := sideResult{Drain: d}
	res.finish(e.cfg.n, trips, sent, st)
	res.cpu(e.cfg.n, c0, c1)
	return res, nil
}

func (e *env) drainFFGO(ctx context.Context, r int, mode string) (sideResult, error) {
	lane := newLane(fmt.Sprintf("drain-%s-%d", mode, r))
	if err := resetStats(ctx, e.db); err != nil {
		return sideResult{}, err
	}
	e.db.names.take()
	if _, err := lane.createExecutions(ctx, e.db, e.cfg.n, e.payload); err != nil {
		return sideResult{}, err
	}
	ctrips, csent := e.db.names.take()
	cst, err := readStats(ctx, e.db)
	if err != nil {
		return sideResult{}, err
	}
	if err := resetStats(ctx, e.db); err != nil {
		return sideResult{}, err
	}
	c0, err := cpuNow(ctx, e.db)
	if err != nil {
		return sideResult{}, err
	}
	e.db.names.take()
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
	trips, sent := e.db.names.take()
	c1, err := cpuNow(ctx, e.db)
	if err != nil {
		return sideResult{}, err
	}
	st, err := readStats(ctx, e.db)
	if err != nil {
		return sideResult{}, err
	}
	if err := lane.checkDrained(ctx, e.db, e.cfg.n); err != nil {
		return sideResult{}, err
	}
	res := sideResult{Drain: d,
		CreateUsec: topUsec(cst, csent) / float64(e.cfg.n), CreateTrip: float64(ctrips) / float64(e.cfg.n)}
	res.finish(e.cfg.n, trips, sent, st)
	res.cpu(e.cfg.n, c0, c1)
	return res, nil
}

func (e *env) drainAsynq(ctx context.Context) (sideResult, error) {
	if err := resetStats(ctx, e.db); err != nil {
		return sideResult{}, err
	}
	e.hook.names.take()
	if err := enqueueAsynq(ctx, e.rdb, e.cfg.n, e.payload); err != nil {
		return sideResult{}, err
	}
	ctrips, csent := e.hook.names.take()
	cst, err := readStats(ctx, e.db)
	if err != nil {
		return sideResult{}, err
	}
	if err := resetStats(ctx, e.db); err != nil {
		return sideResult{}, err
	}
	c0, err := cpuNow(ctx, e.db)
	if err != nil {
		return sideResult{}, err
	}
	e.hook.names.take()
	var (
		st    commandStats
		trips int64
		sent  map[string]int64
		c1    cpuSample
	)
	d, err := drainAsynq(ctx, e.rdb, e.sig, e.cfg.n, e.cfg.workers, func() error {
		trips, sent = e.hook.names.take()
		var err error
		if c1, err = cpuNow(ctx, e.db); err != nil {
			return err
		}
		st, err = readStats(ctx, e.db)
		return err
	})
	if err != nil {
		return sideResult{}, err
	}
	res := sideResult{Drain: d,
		CreateUsec: topUsec(cst, csent) / float64(e.cfg.n), CreateTrip: float64(ctrips) / float64(e.cfg.n)}
	res.finish(e.cfg.n, trips, sent, st)
	res.cpu(e.cfg.n, c0, c1)
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
