package pgtest

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

// Turns counts the round trips of the connections made through a proxy:
// a client's send after the server finished answering (its ReadyForQuery)
// starts one — a send while answers still come (a pipeline written in two
// parts) does not, nor a connection's Terminate. A connection's start-up (the start-up message,
// authentication, up to the first ReadyForQuery) is not counted: what is
// counted does not depend on how the server authenticates.
type Turns struct {
	mu    sync.Mutex
	turns int
	conns int
}

// N is the round trips counted so far.
func (c *Turns) N() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.turns
}

// Conns is the connections made through the proxy so far.
func (c *Turns) Conns() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.conns
}

// CountTurns starts a proxy in front of the server of the database at
// dbURL, on a Unix socket of its own, stopped when t ends, and returns the
// URL of the same database through it, with its counter.
func CountTurns(t testing.TB, dbURL string) (string, *Turns) {
	t.Helper()
	cfg, err := pgconn.ParseConfig(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	network, addr := "tcp", net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port)))
	if strings.HasPrefix(cfg.Host, "/") {
		network, addr = "unix", filepath.Join(cfg.Host, fmt.Sprintf(".s.PGSQL.%d", cfg.Port))
	}
	dir, err := os.MkdirTemp("", "pgturns") // short: a socket's path is at most ~100 bytes
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("unix", filepath.Join(dir, fmt.Sprintf(".s.PGSQL.%d", cfg.Port)))
	if err != nil {
		t.Fatal(err)
	}
	c := &Turns{}
	var wg sync.WaitGroup
	var open sync.Map
	t.Cleanup(func() {
		l.Close()
		open.Range(func(k, _ any) bool { k.(net.Conn).Close(); return true })
		wg.Wait()
		os.RemoveAll(dir)
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			client, err := l.Accept()
			if err != nil {
				return
			}
			server, err := net.Dial(network, addr)
			if err != nil {
				client.Close()
				continue
			}
			open.Store(client, true)
			open.Store(server, true)
			c.mu.Lock()
			c.conns++
			c.mu.Unlock()
			wg.Add(2)
			p := &turnConn{c: c}
			go func() { defer wg.Done(); p.pipe(server, client, p.sent); server.Close() }()
			go func() { defer wg.Done(); p.pipe(client, server, p.answered); client.Close() }()
		}
	}()
	u, err := url.Parse(dbURL)
	if err != nil || u.Scheme == "" {
		t.Fatalf("CountTurns needs a URL, not %q", dbURL)
	}
	q := u.Query()
	q.Set("host", dir)
	q.Set("port", strconv.Itoa(int(cfg.Port)))
	q.Del("sslmode")
	u.Host, u.RawQuery = "", q.Encode()
	if u.User == nil && cfg.User != "" {
		u.User = url.User(cfg.User) // from the environment (PGUSER), as the server's URL had it
	}
	return u.String(), c
}

// turnConn is one proxied connection: ready says the server has sent its
// first ReadyForQuery (start-up is over); idle, that its last message was
// a ReadyForQuery and the client has sent nothing since.
type turnConn struct {
	c     *Turns
	ready bool
	idle  bool
	buf   []byte // the server's bytes not yet split into messages
}

// sent notes the client's bytes b: a round trip when the server was idle,
// unless b is a Terminate alone, which no answer follows (a connection
// closed, maybe after the counter was read).
func (p *turnConn) sent(b []byte) {
	p.c.mu.Lock()
	defer p.c.mu.Unlock()
	if p.ready && p.idle && !(len(b) == 5 && b[0] == 'X') {
		p.c.turns++
	}
	p.idle = false
}

// answered notes the server's bytes b, split into messages (a type byte
// and a length that counts itself).
func (p *turnConn) answered(b []byte) {
	p.c.mu.Lock()
	defer p.c.mu.Unlock()
	p.buf = append(p.buf, b...)
	for len(p.buf) >= 5 {
		n := int(binary.BigEndian.Uint32(p.buf[1:5]))
		if len(p.buf) < 1+n {
			break
		}
		z := p.buf[0] == 'Z'
		if z {
			p.ready = true
		}
		p.idle = z
		p.buf = p.buf[1+n:]
	}
	p.buf = append([]byte(nil), p.buf...) // not the reader's buffer
}

// pipe copies from to to, telling note of each chunk before it goes on.
func (p *turnConn) pipe(to io.Writer, from io.Reader, note func([]byte)) {
	b := make([]byte, 64<<10)
	for {
		n, err := from.Read(b)
		if n > 0 {
			note(b[:n])
			if _, werr := to.Write(b[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
