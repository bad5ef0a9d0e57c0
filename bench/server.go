package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/valkey-io/valkey-go"
)

// valkeyServer is a private valkey-server started for the benchmark, so that
// INFO commandstats and CONFIG RESETSTAT see this program's commands only.
type valkeyServer struct {
	Addr string
	cmd  *exec.Cmd
}

// startValkey starts bin on a free loopback port without persistence and
// waits until it answers PING.
func startValkey(ctx context.Context, bin string, extra []string) (*valkeyServer, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	args := append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning"}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Stdout = os.Stderr
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	s := &valkeyServer{Addr: fmt.Sprintf("127.0.0.1:%d", port), cmd: cmd}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", s.Addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return s, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			s.Stop()
			return nil, fmt.Errorf("valkey-server on %s did not come up: %w", s.Addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop ends the server process this program started.
func (s *valkeyServer) Stop() {
	if s == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// newClient connects a valkey-go client with the options the library's tests
// use (no client-side caching).
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
