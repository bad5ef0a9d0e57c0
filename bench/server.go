package main

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/valkey-io/valkey-go"
)

func newClient(addr string) (valkey.Client, error) {
	return valkey.NewClient(valkey.ClientOption{InitAddress: []string{addr}, DisableCache: true})
}

// cmdStat is one line of INFO commandstats.
type cmdStat struct {
	Calls int64
	Usec  int64
}

// commandStats is INFO commandstats by command name ("fcall", "hset", ...).
type commandStats map[string]cmdStat

// resetStats runs CONFIG RESETSTAT.
func resetStats(ctx context.Context, c valkey.Client) error {
	return c.Do(ctx, c.B().ConfigResetstat().Build()).Error()
}

// readStats reads INFO commandstats, leaving out the commands this program
// uses to read and reset the statistics.
func readStats(ctx context.Context, c valkey.Client) (commandStats, error) {
	s, err := c.Do(ctx, c.B().Info().Section("commandstats").Build()).ToString()
	if err != nil {
		return nil, err
	}
	out := commandStats{}
	for line := range strings.SplitSeq(s, "\n") {
		line = strings.TrimSpace(line)
		name, rest, ok := strings.Cut(line, ":")
		if !ok || !strings.HasPrefix(name, "cmdstat_") {
			continue
		}
		name = strings.TrimPrefix(name, "cmdstat_")
		if name == "info" || name == "config|resetstat" {
			continue
		}
		var st cmdStat
		for kv := range strings.SplitSeq(rest, ",") {
			k, v, _ := strings.Cut(kv, "=")
			switch k {
			case "calls":
				st.Calls, _ = strconv.ParseInt(v, 10, 64)
			case "usec":
				st.Usec, _ = strconv.ParseInt(v, 10, 64)
			}
		}
		out[name] = st
	}
	return out, nil
}

// total sums calls and usec over the given commands (all when names is nil).
func (s commandStats) total(names ...string) cmdStat {
	var t cmdStat
	for n, st := range s {
		if names != nil && !slices.Contains(names, n) {
			continue
		}
		t.Calls += st.Calls
		t.Usec += st.Usec
	}
	return t
}

// cpuSample is the CPU time used so far by the server (INFO cpu) and by this
// process (getrusage), in seconds.
type cpuSample struct {
	server, client float64
}

func cpuNow(ctx context.Context, c valkey.Client) (cpuSample, error) {
	s, err := c.Do(ctx, c.B().Info().Section("cpu").Build()).ToString()
	if err != nil {
		return cpuSample{}, err
	}
	var out cpuSample
	for line := range strings.SplitSeq(s, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if ok && (k == "used_cpu_sys" || k == "used_cpu_user") {
			f, _ := strconv.ParseFloat(v, 64)
			out.server += f
		}
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return cpuSample{}, err
	}
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	out.client = tv(ru.Utime) + tv(ru.Stime)
	return out, nil
}
