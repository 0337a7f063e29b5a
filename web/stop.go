package web

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sort"
	"sync"
	"time"
)

// What a server told to stop does (issue 11): it stops accepting and lets
// the requests in flight finish for a grace period; after it, it cancels
// the contexts of those still running — a long read (the audit log's
// download, a report's or `audit verify`'s walk of the whole trail) ends at
// its next batch, and its client gets a cut answer, never one that looks
// whole — and waits for them to return, so that the database can then be
// closed. A write is not cut by its context: the store commits it or not,
// and its answer is sent, or its connection closed before it was (the
// client then does not know, exit 12, and checks).

// flight is the requests being served, for Stop to say which it cut.
type flight struct {
	mu   sync.Mutex
	reqs map[*http.Request]time.Time // when each started
}

func (f *flight) add(r *http.Request, at time.Time) {
	f.mu.Lock()
	if f.reqs == nil {
		f.reqs = map[*http.Request]time.Time{}
	}
	f.reqs[r] = at
	f.mu.Unlock()
}

func (f *flight) done(r *http.Request) {
	f.mu.Lock()
	delete(f.reqs, r)
	f.mu.Unlock()
}

func (f *flight) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.reqs)
}

// describe names the requests in flight, longest-running first, as the log
// says them: method, path (no query: it may hold an MRN), client address
// and how long it has run.
func (f *flight) describe(now time.Time) []string {
	f.mu.Lock()
	type req struct {
		r  *http.Request
		at time.Time
	}
	rs := make([]req, 0, len(f.reqs))
	for r, at := range f.reqs {
		rs = append(rs, req{r, at})
	}
	f.mu.Unlock()
	sort.Slice(rs, func(i, j int) bool { return rs[i].at.Before(rs[j].at) })
	out := make([]string, len(rs))
	for i, q := range rs {
		out[i] = fmt.Sprintf("%s %s from %s, running %s", q.r.Method, q.r.URL.Path, q.r.RemoteAddr, now.Sub(q.at).Round(time.Second))
	}
	return out
}

// Stop stops hs, which HTTPServer made to serve s: no new connections;
// the requests in flight get grace to finish. Those still running then are
// cut: their contexts are cancelled and their connections closed (a
// download blocked on a client that stopped reading returns too), and Stop
// waits up to wait for them to return. It logs each request it cuts before
// cutting it, and returns them (as flight.describe names them) and whether
// every one returned: only then may the database be closed (bbolt's Close
// waits for the read transactions of those that did not).
func (s *Server) Stop(hs *http.Server, grace, wait time.Duration) (cut []string, returned bool) {
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if hs.Shutdown(ctx) == nil {
		return nil, true
	}
	cut = s.flight.describe(time.Now())
	for _, r := range cut {
		s.cfg.Log.Printf("stopping: cut after %s: %s", grace, r)
	}
	s.cutRequests()
	hs.Close()
	end := time.Now().Add(wait)
	for s.flight.count() > 0 && time.Now().Before(end) {
		time.Sleep(20 * time.Millisecond)
	}
	return cut, s.flight.count() == 0
}

// baseContext is the context of every request of HTTPServer's server:
// Stop cancels it.
func (s *Server) baseContext(net.Listener) context.Context { return s.requests }
