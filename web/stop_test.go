package web

import (
	"context"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

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
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := s.HTTPServer(ln.Addr().String())
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	status := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, "http://"+ln.Addr().String()+path, nil)
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
	if len(cut) != 1 || !strings.HasPrefix(cut[0], "GET /reports/access from 127.0.0.1:") || !returned {
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
