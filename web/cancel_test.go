package web

import (
	"bytes"
	"context"
	"log"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a log that a test reads while the server writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// A request whose client went away while its report was being built (a
// browser's tab closed, a script's timeout) was logged as an internal
// error with a request id — a 500 to whoever counts the server's faults.
// It is logged as what it is: the client closed the request (499), and
// nothing was written; no internal error.
func TestClientClosedRequestIsLoggedAs499(t *testing.T) {
	rep := slowReports{started: make(chan struct{}), ended: make(chan error, 1)}
	var logged syncBuffer
	s := New(Config{Log: log.New(&logged, "", 0), Sessions: oneSession{}, Reports: rep})
	_, addr := listenForStop(t, s)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/reports/access", nil)
	req.AddCookie(&http.Cookie{Name: "celltrack_session", Value: "t"})
	done := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	<-rep.started
	cancel() // the client goes away mid-flight
	if err := <-done; err == nil {
		t.Fatal("the cancelled request was answered")
	}
	if err := <-rep.ended; err != context.Canceled {
		t.Fatalf("the report's context ended with %v, want context.Canceled", err)
	}
	// The handler returns after its report does: wait for it (not a
	// timing assertion; the bound is for a hang).
	for end := time.Now().Add(30 * time.Second); s.flight.count() > 0 && time.Now().Before(end); {
		time.Sleep(10 * time.Millisecond)
	}
	got := logged.String()
	if !regexp.MustCompile(`(?m)^GET /reports/access from 127\.0\.0\.1:\d+: 499 the client closed the request before its answer; nothing was written \(context canceled\)$`).MatchString(got) {
		t.Errorf("the log does not say the client closed the request (499):\n%s", got)
	}
	if strings.Contains(got, "internal error") || strings.Contains(got, ": 500 ") {
		t.Errorf("the client's cancel was logged as a server fault:\n%s", got)
	}
}

// Each long read whose request is withdrawn by its client is answered
// 499, never 500 — the pages, the downloads and the API alike — and the
// log names the request, not an internal error.
func TestClientClosedLongReadsAnswer499(t *testing.T) {
	for _, c := range []struct {
		path string
		wire func(*Config, blocking)
	}{
		{"/api/v1/trace/lot/LOT-1?full_verify=true", func(c *Config, b blocking) { c.FullTraces = blockingTraces{blocking: b} }},
		{"/trace/download?kind=lot&ref=LOT-1&format=text&full_verify=true", func(c *Config, b blocking) { c.FullTraces = blockingTraces{blocking: b} }},
		{"/reports/access", func(c *Config, b blocking) {
			c.Reports = slowReports{started: make(chan struct{}), ended: make(chan error, 1)}
		}},
		{"/reports/handling/download?format=csv", func(c *Config, b blocking) { c.Reports = blockingReports{blocking: b} }},
		{"/api/v1/svc/reports/handling?format=text", func(c *Config, b blocking) { c.Reports = blockingReports{blocking: b} }},
	} {
		t.Run(c.path, func(t *testing.T) {
			b := newBlocking()
			var logged bytes.Buffer
			cfg := Config{Log: log.New(&logged, "", 0), Sessions: oneSession{}}
			c.wire(&cfg, b)
			s := New(cfg)
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			r := httptest.NewRequestWithContext(ctx, http.MethodGet, c.path, nil)
			r.AddCookie(&http.Cookie{Name: "celltrack_session", Value: "t"})
			w := httptest.NewRecorder()
			s.ServeHTTP(w, r)
			if w.Code != StatusClientClosedRequest {
				t.Errorf("answered %d, want %d (client closed request)", w.Code, StatusClientClosedRequest)
			}
			path, _, _ := strings.Cut(c.path, "?")
			if got := logged.String(); !strings.Contains(got, "GET "+path+" from ") || !strings.Contains(got, ": 499 the client closed the request") || strings.Contains(got, "internal error") {
				t.Errorf("log:\n%s", got)
			}
		})
	}
}

// A read the server's stop cut is no internal error either: Stop logs
// what became of it, and its answer, should it reach anyone, is 503.
func TestStopCutReadIsNoInternalError(t *testing.T) {
	rep := slowReports{started: make(chan struct{}), ended: make(chan error, 1)}
	var logged syncBuffer
	s := New(Config{Log: log.New(&logged, "", 0), Sessions: oneSession{}, Reports: rep})
	hs, status := serveForStop(t, s, "/reports/access")
	<-rep.started
	if cut, returned := s.Stop(hs, 100*time.Millisecond, 10*time.Second); len(cut) != 1 || !returned {
		t.Fatalf("Stop: cut %q, returned %v", cut, returned)
	}
	<-status
	if got := logged.String(); strings.Contains(got, "internal error") || strings.Contains(got, " 499 ") || !strings.Contains(got, "grace ended: cut") {
		t.Errorf("the stop's cut was logged as an internal error or a client's close, or not as cut:\n%s", got)
	}
}
