package embedded

import (
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// memConn is one end of an in-memory, buffered, full-duplex connection.
// Unlike net.Pipe, a write never waits for the reader, so a client's writer
// and the server hand over whole batches with fewer goroutine switches.
type memConn struct {
	in, out *memBuf
}

// memBuf is one direction of a memConn.
type memBuf struct {
	mu       sync.Mutex
	cond     sync.Cond
	data     []byte
	closed   bool
	deadline time.Time
	timer    *time.Timer
}

func newMemBuf() *memBuf {
	b := &memBuf{}
	b.cond.L = &b.mu
	return b
}

// memPipe returns the two ends of a new in-memory connection.
func memPipe() (net.Conn, net.Conn) {
	a, b := newMemBuf(), newMemBuf()
	return &memConn{in: a, out: b}, &memConn{in: b, out: a}
}

func (c *memConn) Read(p []byte) (int, error) {
	b := c.in
	b.mu.Lock()
	defer b.mu.Unlock()
	for len(b.data) == 0 {
		if b.closed {
			return 0, io.EOF
		}
		if !b.deadline.IsZero() {
			d := time.Until(b.deadline)
			if d <= 0 {
				return 0, os.ErrDeadlineExceeded
			}
			// One timer per direction, armed only when a read must wait.
			if b.timer == nil {
				b.timer = time.AfterFunc(d, b.wake)
			} else {
				b.timer.Reset(d)
			}
		}
		b.cond.Wait()
	}
	n := copy(p, b.data)
	if n == len(b.data) {
		// Reuse the buffer, unless one burst made it large.
		if cap(b.data) > 64<<10 {
			b.data = nil
		} else {
			b.data = b.data[:0]
		}
	} else {
		b.data = b.data[n:]
	}
	return n, nil
}

func (c *memConn) Write(p []byte) (int, error) {
	b := c.out
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return 0, io.ErrClosedPipe
	}
	b.data = append(b.data, p...)
	b.cond.Signal()
	return len(p), nil
}

func (c *memConn) Close() error {
	for _, b := range []*memBuf{c.in, c.out} {
		b.mu.Lock()
		b.closed = true
		if b.timer != nil {
			b.timer.Stop()
		}
		b.cond.Broadcast()
		b.mu.Unlock()
	}
	return nil
}

// SetReadDeadline wakes a blocked Read at t. Writes never block, so write
// deadlines have nothing to interrupt.
func (c *memConn) SetReadDeadline(t time.Time) error {
	b := c.in
	b.mu.Lock()
	defer b.mu.Unlock()
	b.deadline = t
	b.cond.Broadcast() // a waiting Read re-checks the new deadline
	return nil
}

func (b *memBuf) wake() {
	b.mu.Lock()
	b.cond.Broadcast()
	b.mu.Unlock()
}

func (c *memConn) SetDeadline(t time.Time) error      { return c.SetReadDeadline(t) }
func (c *memConn) SetWriteDeadline(t time.Time) error { return nil }
func (c *memConn) LocalAddr() net.Addr                { return memAddr{} }
func (c *memConn) RemoteAddr() net.Addr               { return memAddr{} }

type memAddr struct{}

func (memAddr) Network() string { return "memory" }
func (memAddr) String() string  { return "embedded" }
