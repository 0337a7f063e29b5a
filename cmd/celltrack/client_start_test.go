package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// TestClientAsksStartOnce: a command through a server asks whose session
// it holds and the facility in one request (GET /api/v1/svc/start), then
// sends its own: a trace is two requests, where it was three (/session,
// /facility, the trace). --user naming someone else is refused after that
// one request, with nothing else sent, as before.
func TestClientAsksStartOnce(t *testing.T) {
	dir := t.TempDir()
	db := baseCopy(t, dir, "")
	var requests atomic.Int64
	var mu sync.Mutex
	var paths []string
	story := storyServer(db, &requests)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.Method+" "+r.URL.Path)
		mu.Unlock()
		story.ServeHTTP(w, r)
	}))
	defer srv.Close()
	cfg := filepath.Join(dir, "home-aud")
	run := func(stdin string, args ...string) invocation {
		mu.Lock()
		paths = nil
		mu.Unlock()
		var out, errb bytes.Buffer
		code := runEnv(append([]string{"celltrack", "--server", srv.URL}, args...), strings.NewReader(stdin), &out, &errb, fixedClock(), func(k string) string {
			if k == "CELLTRACK_CONFIG_DIR" {
				return cfg
			}
			return os.Getenv(k)
		})
		return invocation{code, out.String(), errb.String()}
	}
	sent := func() string {
		mu.Lock()
		defer mu.Unlock()
		return strings.Join(paths, ", ")
	}
	if got := run(fixturePassword+"\n", "login", "--password-stdin", "aud"); got.code != 0 {
		t.Fatalf("login: exit %d\n%s", got.code, got.stderr)
	}
	got := run("", "--user", "aud", "trace", "donor", "D-0001")
	if got.code != 0 || !strings.Contains(got.stdout, "Look-back trace of donor D-0001") {
		t.Fatalf("trace: exit %d\nstdout %s\nstderr %s", got.code, got.stdout, got.stderr)
	}
	if want := "GET /api/v1/svc/start, GET /api/v1/trace/donor/D-0001"; sent() != want {
		t.Errorf("a trace through the server sent %s; want %s", sent(), want)
	}
	got = run("", "--user", "nina", "trace", "donor", "D-0001")
	if got.code != 2 || !strings.Contains(got.stderr, "--user (or CELLTRACK_USER) nina names someone other than the session's user aud") {
		t.Fatalf("--user of another: exit %d\nstderr %s", got.code, got.stderr)
	}
	if want := "GET /api/v1/svc/start"; sent() != want {
		t.Errorf("--user of another sent %s; want %s", sent(), want)
	}
}
