package web

import (
	"context"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/report"
)

// slowReports is a report that runs until its request's context is done,
// as the whole verification of a report at 100k outlasts a stop's grace;
// or, with quick, answers after that long.
type slowReports struct {
	Reports
	quick   time.Duration
	started chan struct{}
	ended   chan error
}

func (r slowReports) Access(ctx context.Context, user string) (report.Report, error) {
	close(r.started)
	if r.quick > 0 {
		time.Sleep(r.quick)
		return report.Report{Title: "User access review"}, nil
	}
	<-ctx.Done()
	r.ended <- ctx.Err()
	return report.Report{}, ctx.Err()
}

// serveForStop serves s on a loopback port through HTTPServer, as
// `celltrack serve` does, and GETs path with the auditor's session in
// the background: the status, or 0 when the answer was cut.
func serveForStop(t *testing.T, s *Server, path string) (*http.Server, <-chan int) {
	t.Helper()
	hs, addr := listenForStop(t, s)
	status := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+path, nil)
		req.AddCookie(&http.Cookie{Name: "celltrack_session", Value: "t"})
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			status <- 0
			return
		}
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			status <- 0
			return
		}
		status <- resp.StatusCode
	}()
	return hs, status
}

// listenForStop serves s on a loopback port through HTTPServer, as
// `celltrack serve` does: the server and its address.
func listenForStop(t *testing.T, s *Server) (*http.Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := s.HTTPServer(ln.Addr().String())
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	return hs, ln.Addr().String()
}

// TestStopCutsWhatOutlastsTheGrace is issue 11's stop: a request still
// running when the grace ends has its context cancelled (the report's walk
// ends), is named as cut, and returns, so that the database can be closed;
// its client gets no report.
func TestStopCutsWhatOutlastsTheGrace(t *testing.T) {
	rep := slowReports{started: make(chan struct{}), ended: make(chan error, 1)}
	s := New(Config{Log: log.New(io.Discard, "", 0), Sessions: oneSession{}, Reports: rep})
	hs, status := serveForStop(t, s, "/reports/access")
	<-rep.started
	cut, returned := s.Stop(hs, 100*time.Millisecond, 10*time.Second)
	if len(cut) != 1 || !strings.HasPrefix(cut[0], "GET /reports/access from 127.0.0.1:") || !strings.HasSuffix(cut[0], "grace ended: cut") || !returned {
		t.Errorf("Stop: cut %q, returned %v; want the access report cut and returned", cut, returned)
	}
	if err := <-rep.ended; err != context.Canceled {
		t.Errorf("the report's context ended with %v, want context.Canceled", err)
	}
	if st := <-status; st == http.StatusOK {
		t.Errorf("the cut report was answered 200")
	}
}

// TestStopLetsTheQuickFinish: a request in flight at the stop that ends
// within the grace is answered in full, and nothing is cut.
func TestStopLetsTheQuickFinish(t *testing.T) {
	rep := slowReports{quick: 300 * time.Millisecond, started: make(chan struct{})}
	s := New(Config{Log: log.New(io.Discard, "", 0), Sessions: oneSession{}, Reports: rep})
	hs, status := serveForStop(t, s, "/reports/access")
	<-rep.started
	if cut, returned := s.Stop(hs, time.Minute, 10*time.Second); len(cut) != 0 || !returned {
		t.Errorf("Stop with a request that ends in the grace: cut %q, returned %v", cut, returned)
	}
	if st := <-status; st != http.StatusOK {
		t.Errorf("the request in flight at the stop got %d, want its answer (200)", st)
	}
}

// blocking is a long read that runs until its request's context is done,
// as a full-verify trace, a tree head's verify, the handling report's walk
// or the whole trail's listing does at 100k; it says when it started and
// with which error its context ended.
type blocking struct {
	started chan struct{}
	ended   chan error
}

func newBlocking() blocking { return blocking{make(chan struct{}), make(chan error, 1)} }

func (b blocking) run(ctx context.Context) error {
	close(b.started)
	<-ctx.Done()
	b.ended <- ctx.Err()
	return ctx.Err()
}

type blockingTraces struct {
	Traces
	blocking
}

func (b blockingTraces) Lot(ctx context.Context, user, ref string) (report.Report, error) {
	return report.Report{}, b.run(ctx)
}

type blockingReports struct {
	Reports
	blocking
}

func (b blockingReports) Handling(ctx context.Context, user, protocol string, from, to time.Time) (report.Report, error) {
	return report.Report{}, b.run(ctx)
}

// blockingLog answers one entry, then blocks: the server has begun its
// answer when it is cut.
type blockingLog struct {
	audit.Log
	blocking
}

func (b blockingLog) EachAuditEntry(ctx context.Context, _, entity string, fn func(audit.Entry) error) error {
	if err := fn(audit.Entry{Seq: 1, User: "alice", Action: "init"}); err != nil {
		return err
	}
	return b.run(ctx)
}

// TestStopCutsEachLongRead: every long read a stopping server must not
// wait for gets its request's context — a full-verify trace (API and
// download), audit verify with a tree head, the handling report, the
// trail's listing of the command line's server mode — so Stop cuts it
// after the grace and it returns; its client gets no whole answer.
func TestStopCutsEachLongRead(t *testing.T) {
	head := "306 entries, root XoyPDkC6siVEyYP0rlSKdiJ6OtcTV1vwCwKjCjdS7AY="
	for _, c := range []struct {
		path string
		wire func(*Config, blocking)
	}{
		{"/api/v1/trace/lot/LOT-1?full_verify=true", func(c *Config, b blocking) { c.FullTraces = blockingTraces{blocking: b} }},
		{"/trace/download?kind=lot&ref=LOT-1&format=text&full_verify=true", func(c *Config, b blocking) { c.FullTraces = blockingTraces{blocking: b} }},
		{"/reports/audit-verify?run=true&tree_head=" + url.QueryEscape(head), func(c *Config, b blocking) {
			c.VerifyTreeHead = func(ctx context.Context, h audit.Head) (report.CheckpointVerification, error) {
				return report.CheckpointVerification{}, b.run(ctx)
			}
		}},
		{"/reports/handling/download?format=csv", func(c *Config, b blocking) { c.Reports = blockingReports{blocking: b} }},
		{"/api/v1/svc/audit", func(c *Config, b blocking) { c.AuditLog = blockingLog{blocking: b} }},
	} {
		t.Run(c.path, func(t *testing.T) {
			b := newBlocking()
			cfg := Config{Log: log.New(io.Discard, "", 0), Sessions: oneSession{}}
			c.wire(&cfg, b)
			s := New(cfg)
			hs, status := serveForStop(t, s, c.path)
			select {
			case <-b.started:
			case st := <-status:
				t.Fatalf("answered %d before the read started", st)
			}
			cut, returned := s.Stop(hs, 100*time.Millisecond, 10*time.Second)
			path, _, _ := strings.Cut(c.path, "?")
			if len(cut) != 1 || !strings.HasPrefix(cut[0], "GET "+path+" from 127.0.0.1:") || !strings.HasSuffix(cut[0], "grace ended: cut") || !returned {
				t.Errorf("Stop: cut %q, returned %v; want the request cut and returned", cut, returned)
			}
			select {
			case err := <-b.ended:
				if err != context.Canceled {
					t.Errorf("the read's context ended with %v, want context.Canceled", err)
				}
			default:
				t.Errorf("the read's context was not cancelled")
			}
			if st := <-status; st == http.StatusOK {
				t.Errorf("the cut read was answered 200 in full")
			}
		})
	}
}

// nurseSession is a session of nina, a nurse, who may register patients.
type nurseSession struct{ Sessions }

func (nurseSession) Check(token string) (audit.User, string, error) {
	if token != "t" {
		return audit.User{}, "", lot.Errorf(lot.ESESSION, "not logged in")
	}
	return audit.User{Name: "nina", Role: audit.Nurse}, "", nil
}

// lateLots commits a patient's registration only once the stop's grace has
// ended (after release is closed), as a write blocked behind a long commit
// would: the store does not stop a write at its context.
type lateLots struct {
	lot.Service
	started, release chan struct{}
	fail             error
}

func (l lateLots) AddPatient(actor string, p lot.Patient) (lot.Patient, error) {
	close(l.started)
	<-l.release
	return p, l.fail
}

// review 12 F: the stop's log said "cut" of every request still running
// when the grace ended, a write that then committed included — an
// operator reading it would have the nurse register the patient again.
// The log now says what became of each: a write that commits after the
// grace, its connection closed first, is "committed, answer not
// delivered"; one refused after it "refused, nothing committed".
func TestStopLogsAWriteCommittedAfterTheGraceAsCommitted(t *testing.T) {
	for _, tc := range []struct {
		name string
		fail error
		want string
	}{
		{"committed", nil, "committed, answer not delivered (201; its connection was closed first)"},
		{"refused", lot.Errorf(lot.ECONFLICT, "patient MRN-9 exists"), "refused, nothing committed (409)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lots := lateLots{started: make(chan struct{}), release: make(chan struct{}), fail: tc.fail}
			var logged strings.Builder
			var mu sync.Mutex
			s := New(Config{Log: log.New(lockedWriter{&mu, &logged}, "", 0), Sessions: nurseSession{}, Lots: lots})
			hs, addr := listenForStop(t, s)
			go func() {
				body := strings.NewReader(`{"mrn":"MRN-9","name":"Ann Lee","born":"1970-01-02","sex":"F"}`)
				req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/api/v1/patients", body)
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Origin", "http://"+addr)
				req.AddCookie(&http.Cookie{Name: "celltrack_session", Value: "t"})
				if resp, err := http.DefaultClient.Do(req); err == nil {
					resp.Body.Close()
				}
			}()
			<-lots.started
			// The write commits once the grace has ended and the server
			// has closed its connection.
			go func() {
				for s.flight.count() > 0 {
					s.flight.mu.Lock()
					cut := false
					for _, q := range s.flight.reqs {
						cut = cut || q.cut
					}
					s.flight.mu.Unlock()
					if cut {
						time.Sleep(100 * time.Millisecond)
						close(lots.release)
						return
					}
					time.Sleep(5 * time.Millisecond)
				}
			}()
			cut, returned := s.Stop(hs, 100*time.Millisecond, 10*time.Second)
			if len(cut) != 1 || !returned || !strings.HasPrefix(cut[0], "POST /api/v1/patients from 127.0.0.1:") || !strings.HasSuffix(cut[0], "when the 100ms grace ended: "+tc.want) {
				t.Errorf("Stop: %q, returned %v; want the registration said %q", cut, returned, tc.want)
			}
			mu.Lock()
			defer mu.Unlock()
			if !strings.Contains(logged.String(), "stopping: POST /api/v1/patients") || strings.Contains(logged.String(), ": cut") {
				t.Errorf("the log:\n%s", logged.String())
			}
		})
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
