package web

import (
	"io"
	"log"
	"net"
	"testing"
	"time"
)

// A client that sends half a request header and stops (slowloris) is cut
// off after ReadHeaderTimeout instead of holding a connection for ever.
func TestSlowClientTimesOut(t *testing.T) {
	t.Parallel()
	s := New(Config{Log: log.New(io.Discard, "", 0)})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := s.HTTPServer(ln.Addr().String())
	go srv.Serve(ln)
	defer srv.Close()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	if _, err := conn.Write([]byte("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(ReadHeaderTimeout + 10*time.Second))
	io.Copy(io.Discard, conn) // returns when the server closes the connection
	if took := time.Since(start); took > ReadHeaderTimeout+5*time.Second {
		t.Fatalf("a half-sent header held the connection %s (ReadHeaderTimeout %s)", took, ReadHeaderTimeout)
	} else if took < ReadHeaderTimeout-time.Second {
		t.Fatalf("the connection closed after %s, before ReadHeaderTimeout %s: not the timeout", took, ReadHeaderTimeout)
	}
}
