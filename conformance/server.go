package conformance

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"time"

	"github.com/valkey-io/valkey-go"
)

// ValkeyServer is a private valkey-server process on a free loopback port, memory only.
// The differential mode and the mutant tests use one: they flush it between sequences
// and load deliberately broken libraries, which the shared servers must never see.
type ValkeyServer struct {
	Addr string
	cmd  *exec.Cmd
	done chan error
}

// ErrNoValkeyServer is returned when no valkey-server binary is on PATH.
var ErrNoValkeyServer = errors.New("valkey-server is not on PATH (install valkey-server, e.g. `make valkey-up`)")

// StartValkeyServer starts valkey-server on a free port and waits until it answers.
// Close stops it.
func StartValkeyServer(ctx context.Context) (*ValkeyServer, error) {
	bin, err := exec.LookPath("valkey-server")
	if err != nil {
		return nil, ErrNoValkeyServer
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "",
		"--appendonly", "no", "--protected-mode", "no", "--loglevel", "warning")
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting valkey-server: %w", err)
	}
	s := &ValkeyServer{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), cmd: cmd, done: make(chan error, 1)}
	go func() { s.done <- cmd.Wait() }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err := s.ping(ctx); err == nil {
			return s, nil
		}
		select {
		case err := <-s.done:
			return nil, fmt.Errorf("valkey-server on port %d exited: %v", port, err)
		default:
		}
		if time.Now().After(deadline) {
			s.Close()
			return nil, fmt.Errorf("valkey-server on port %d did not answer within 10s", port)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *ValkeyServer) ping(ctx context.Context) error {
	c, err := net.DialTimeout("tcp", s.Addr, time.Second)
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
	return ctx.Err()
}

// Client returns a single-connection valkey-go client of the server.
func (s *ValkeyServer) Client() (valkey.Client, error) {
	return valkey.NewClient(valkey.ClientOption{InitAddress: []string{s.Addr}, DisableCache: true, ForceSingleClient: true})
}

// Close kills the server process and waits for it.
func (s *ValkeyServer) Close() {
	if s.cmd.Process != nil {
		s.cmd.Process.Kill()
		<-s.done
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
