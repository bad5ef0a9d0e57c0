package embedded

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/flowfabric/ffgo/internal/valkeyserver"
	"github.com/valkey-io/valkey-go"
)

// engine is one side of a differential check: a valkey-go client (RESP3)
// and a raw RESP2 connection to the same server.
type engine struct {
	name   string
	client valkey.Client
	raw    *rawConn
}

// do runs one command through valkey-go and returns a comparable value: the
// reply's JSON rendering by valkey-go (type and value, errors included).
func (e *engine) do(t *testing.T, args ...string) any {
	t.Helper()
	m, err := e.client.Do(context.Background(), e.client.B().Arbitrary(args...).Build()).ToMessage()
	if _, isReply := valkey.IsValkeyErr(err); err != nil && !isReply && !valkey.IsValkeyNil(err) {
		t.Fatalf("%s: %q: %v", e.name, args, err)
	}
	var v any
	if err := json.Unmarshal([]byte(m.String()), &v); err != nil {
		t.Fatalf("%s: render %q: %v", e.name, args, err)
	}
	return v
}

// rawDo runs one command on the RESP2 connection and returns the reply bytes,
// so differences valkey-go hides (the "ERR " prefix, status vs bulk) show.
func (e *engine) rawDo(t *testing.T, args ...string) string {
	t.Helper()
	out, err := e.raw.do(args...)
	if err != nil {
		t.Fatalf("%s: raw %q: %v", e.name, args, err)
	}
	return out
}

func (e *engine) close() {
	e.client.Close()
	e.raw.c.Close()
}

type rawConn struct {
	c net.Conn
	r *bufio.Reader
}

func newRawConn(c net.Conn) *rawConn { return &rawConn{c: c, r: bufio.NewReader(c)} }

func (rc *rawConn) do(args ...string) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := io.WriteString(rc.c, b.String()); err != nil {
		return "", err
	}
	var out strings.Builder
	err := readRawReply(rc.r, &out)
	return out.String(), err
}

func readRawReply(r *bufio.Reader, out *strings.Builder) error {
	line, err := r.ReadString('\n')
	if err != nil {
		return err
	}
	out.WriteString(line)
	if len(line) < 3 {
		return errors.New("short line")
	}
	switch line[0] {
	case '$':
		n, err := strconv.Atoi(strings.TrimSpace(line[1:]))
		if err != nil || n < 0 {
			return err
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return err
		}
		out.Write(buf)
	case '*':
		n, err := strconv.Atoi(strings.TrimSpace(line[1:]))
		if err != nil {
			return err
		}
		for range n {
			if err := readRawReply(r, out); err != nil {
				return err
			}
		}
	}
	return nil
}

// newEmbeddedEngine starts an embedded server with valkey-go and raw clients.
func newEmbeddedEngine(t testing.TB, opts ...Option) (*Server, *engine) {
	t.Helper()
	s, err := New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	c, err := valkey.NewClient(s.ClientOption())
	if err != nil {
		t.Fatal(err)
	}
	nc, err := s.Dial()
	if err != nil {
		t.Fatal(err)
	}
	e := &engine{name: "embedded", client: c, raw: newRawConn(nc)}
	t.Cleanup(e.close)
	return s, e
}

// newValkeyEngine returns the real-Valkey side, or skips when VALKEY_ADDR is
// unset. Differential cases load odd libraries (one crashed Valkey 8.0.1, see
// KNOWN_DIFFERENCES.md), so when valkey-server is on PATH the run uses a
// private instance on a free port instead of the shared server; set
// FFGO_DIFF_USE_ADDR=1 to run against VALKEY_ADDR itself.
func newValkeyEngine(t testing.TB) *engine {
	t.Helper()
	addr := os.Getenv("VALKEY_ADDR")
	if addr == "" {
		t.Skip("VALKEY_ADDR is not set: skipping the differential run against a real Valkey (e.g. VALKEY_ADDR=127.0.0.1:16379 after scripts/valkey-up.sh)")
	}
	if bin, err := exec.LookPath("valkey-server"); err == nil && os.Getenv("FFGO_DIFF_USE_ADDR") == "" {
		addr = startPrivateValkey(t, bin)
	}
	t.Logf("differential run against Valkey at %s", addr)
	c, err := valkey.NewClient(valkey.ClientOption{InitAddress: []string{addr}, DisableCache: true, ForceSingleClient: true})
	if err != nil {
		t.Fatalf("connect to %s: %v", addr, err)
	}
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		c.Close()
		t.Fatalf("connect to %s: %v", addr, err)
	}
	e := &engine{name: "valkey", client: c, raw: newRawConn(nc)}
	t.Cleanup(e.close)
	return e
}

// startPrivateValkey runs valkey-server without persistence on a free
// loopback port until the test ends.
func startPrivateValkey(t testing.TB, bin string) string {
	t.Helper()
	s, err := valkeyserver.Start(context.Background(), bin)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s.Addr
}
