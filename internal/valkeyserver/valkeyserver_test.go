package valkeyserver

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
)

func TestStartAndClose(t *testing.T) {
	if _, err := exec.LookPath("valkey-server"); err != nil {
		t.Skip("valkey-server is not on PATH")
	}
	s, err := Start(context.Background(), "", "--maxmemory", "64mb")
	if err != nil {
		t.Fatal(err)
	}
	if err := ping(s.Addr); err != nil {
		t.Fatalf("PING %s: %v", s.Addr, err)
	}
	s.Close()
	if err := ping(s.Addr); err == nil {
		t.Fatalf("%s still answers after Close", s.Addr)
	}
}

func TestStartMissingBinary(t *testing.T) {
	_, err := Start(context.Background(), "/nonexistent/valkey-server")
	if err == nil {
		t.Fatal("Start of a missing binary succeeded")
	}
	if errors.Is(err, ErrNotFound) {
		t.Fatal("an explicit path should report the exec error, not ErrNotFound")
	}
}

func TestStartBadArgumentQuotesTheLog(t *testing.T) {
	if _, err := exec.LookPath("valkey-server"); err != nil {
		t.Skip("valkey-server is not on PATH")
	}
	_, err := Start(context.Background(), "", "--no-such-option", "1")
	if err == nil || !strings.Contains(err.Error(), "no-such-option") {
		t.Fatalf("Start with a bad option = %v; want the server's complaint quoted", err)
	}
}
