// Package valkeyserver starts private valkey-server processes on free loopback ports,
// memory only. The differential suites, the conformance mutants and the benchmarks use
// one: they flush it, reset its statistics or load deliberately odd libraries, which the
// shared servers must never see.
package valkeyserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"
)

// ErrNotFound is returned when no valkey-server binary can be found.
var ErrNotFound = errors.New("valkey-server is not on PATH (install it with `make valkey-up`)")

// Server is one private valkey-server process.
type Server struct {
	Addr string // 127.0.0.1:<port>
	PID  int
	cmd  *exec.Cmd
	dir  string
	done chan error
}

// Start runs bin (valkey-server from PATH when empty) on a free loopback port without
// persistence, with extra arguments appended, and waits until it answers PING.
func Start(ctx context.Context, bin string, extra ...string) (*Server, error) {
	if bin == "" {
		var err error
		if bin, err = exec.LookPath("valkey-server"); err != nil {
			return nil, ErrNotFound
		}
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "ffgo-valkey-")
	if err != nil {
		return nil, err
	}
	args := append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "",
		"--appendonly", "no", "--daemonize", "no", "--protected-mode", "no", "--loglevel", "warning",
		"--dir", dir}, extra...)
	cmd := exec.Command(bin, args...)
	// The server's own output goes to a file in its folder, quoted when it fails to start.
	logFile, err := os.Create(filepath.Join(dir, "valkey.log"))
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	defer logFile.Close()
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	s := &Server{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), PID: cmd.Process.Pid, cmd: cmd, dir: dir, done: make(chan error, 1)}
	go func() { s.done <- cmd.Wait() }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err := ping(s.Addr); err == nil {
			return s, nil
		}
		select {
		case err := <-s.done:
			out, _ := os.ReadFile(filepath.Join(dir, "valkey.log"))
			s.done <- err
			s.Close()
			return nil, fmt.Errorf("valkey-server on port %d exited: %v\n%s", port, err, out)
		default:
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			s.Close()
			return nil, fmt.Errorf("valkey-server on port %d did not answer PING within 10s", port)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Close stops the server (SIGINT, then SIGKILL after 5 s) and removes its folder.
func (s *Server) Close() {
	if s == nil {
		return
	}
	_ = s.cmd.Process.Signal(os.Interrupt)
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	os.RemoveAll(s.dir)
}

func ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	buf := make([]byte, 7)
	n, err := c.Read(buf)
	if err != nil {
		return err
	}
	if string(buf[:n]) != "+PONG\r\n" {
		return fmt.Errorf("PING answered %q", buf[:n])
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
