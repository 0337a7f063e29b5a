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

// flight is the requests being served, for Stop to say what became of
// those it cut.
type flight struct {
	mu    sync.Mutex
	reqs  map[*http.Request]*inflight
	ended []string // the outcomes of cut requests that have returned
}

// inflight is one request being served: when it started, its answer, and
// whether the grace ended while it ran (cut: which grace, and how long the
// request had run then).
type inflight struct {
	at      time.Time
	answer  *answer
	cut     bool
	grace   time.Duration
	running time.Duration
}

// answer is a request's ResponseWriter that remembers the status written
// and whether a write of the answer failed (its connection was closed).
type answer struct {
	http.ResponseWriter
	status int
	failed bool
}

func (a *answer) WriteHeader(code int) {
	if a.status == 0 && code >= 200 {
		a.status = code
	}
	a.ResponseWriter.WriteHeader(code)
}

func (a *answer) Write(p []byte) (int, error) {
	if a.status == 0 {
		a.status = http.StatusOK
	}
	n, err := a.ResponseWriter.Write(p)
	if err != nil {
		a.failed = true
	}
	return n, err
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (a *answer) Unwrap() http.ResponseWriter { return a.ResponseWriter }

// serve serves r with h, in flight until h returns. A request cut at a stop
// has its answer flushed here, so that whether it reached the connection
// is known (a small answer otherwise sits in a buffer until after h), and
// what became of it is kept for Stop to log.
func (f *flight) serve(w http.ResponseWriter, r *http.Request, h http.Handler) {
	q := &inflight{at: time.Now(), answer: &answer{ResponseWriter: w}}
	f.mu.Lock()
	if f.reqs == nil {
		f.reqs = map[*http.Request]*inflight{}
	}
	f.reqs[r] = q
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		cut := q.cut
		if !cut {
			delete(f.reqs, r)
		}
		f.mu.Unlock()
		if !cut {
			return
		}
		// Outside the lock: a flush may wait on a slow client (until Stop
		// closes its connection).
		if err := http.NewResponseController(q.answer).Flush(); err != nil {
			q.answer.failed = true
		}
		f.mu.Lock()
		delete(f.reqs, r)
		f.ended = append(f.ended, q.outcome(r, true))
		f.mu.Unlock()
	}()
	h.ServeHTTP(q.answer, r)
}

func (f *flight) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.reqs)
}

// cut marks the requests in flight as cut after grace, at now.
func (f *flight) cut(now time.Time, grace time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, q := range f.reqs {
		q.cut, q.grace, q.running = true, grace, now.Sub(q.at)
	}
}

// outcomes says what became of each request cut: those that returned, as
// they did, then those still running, longest-running first.
func (f *flight) outcomes() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := append([]string(nil), f.ended...)
	var still []*http.Request
	for r, q := range f.reqs {
		if q.cut {
			still = append(still, r)
		}
	}
	sort.Slice(still, func(i, j int) bool { return f.reqs[still[i]].at.Before(f.reqs[still[j]].at) })
	for _, r := range still {
		out = append(out, f.reqs[r].outcome(r, false))
	}
	return out
}

// outcome names the request r, as the log says it — method, path (no
// query: it may hold an MRN), client address, how long it had run when the
// grace ended — and what became of it. A write is committed or not, never
// half (the store does not stop a write at its context), and its answer
// is sent only once it is on disk: a success status is a commit, whether
// or not the answer then reached the client, who otherwise does not know
// (the command line says so, exit 12). A read answered in full was not
// cut after all.
func (q *inflight) outcome(r *http.Request, ended bool) string {
	what := "had not ended"
	if ended { // the answer is read only once its handler has returned
		what = q.answer.outcome(r.Method == http.MethodGet || r.Method == http.MethodHead)
	}
	return fmt.Sprintf("%s %s from %s, running %s when the %s grace ended: %s", r.Method, r.URL.Path, r.RemoteAddr, q.running.Round(time.Second), q.grace, what)
}

// outcome words what became of a cut request that has returned with the
// answer a: a read's, or a write's.
func (a *answer) outcome(read bool) string {
	st := a.status
	ok := st > 0 && st < 400
	switch {
	case read && st != 0 && !a.failed:
		return fmt.Sprintf("answered in full (%d)", st)
	case read:
		return "cut"
	case ok && !a.failed:
		return fmt.Sprintf("committed and answered (%d)", st)
	case ok:
		return fmt.Sprintf("committed, answer not delivered (%d; its connection was closed first)", st)
	case st >= 400 && st < 500:
		return fmt.Sprintf("refused, nothing committed (%d)", st)
	case st != 0:
		return fmt.Sprintf("cut before commit (%d)", st)
	}
	return "cut before commit (no answer)"
}

// Stop stops hs, which HTTPServer made to serve s: no new connections;
// the requests in flight get grace to finish. Those still running then are
// cut: their contexts are cancelled and their connections closed (a
// download blocked on a client that stopped reading returns too), and Stop
// waits up to wait for them to return. It logs what became of each request
// it cut — a read cut, a write committed and answered, committed with its
// answer not delivered, or cut before its commit, or one that had not
// ended — and returns those lines and whether every one returned: only then
// may the database be closed (bbolt's Close waits for the read
// transactions of those that did not).
func (s *Server) Stop(hs *http.Server, grace, wait time.Duration) (cut []string, returned bool) {
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if hs.Shutdown(ctx) == nil {
		return nil, true
	}
	s.flight.cut(time.Now(), grace)
	s.cutRequests()
	hs.Close()
	end := time.Now().Add(wait)
	for s.flight.count() > 0 && time.Now().Before(end) {
		time.Sleep(20 * time.Millisecond)
	}
	cut = s.flight.outcomes()
	for _, c := range cut {
		s.cfg.Log.Printf("stopping: %s", c)
	}
	return cut, s.flight.count() == 0
}

// baseContext is the context of every request of HTTPServer's server:
// Stop cancels it.
func (s *Server) baseContext(net.Listener) context.Context { return s.requests }
