package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

// cutWriter lets the first left bytes of an answer through, sends them,
// and then cuts the connection, as a server stopping or a network failing
// halfway through a long listing does.
type cutWriter struct {
	http.ResponseWriter
	left int
}

func (c *cutWriter) Write(p []byte) (int, error) {
	if len(p) < c.left {
		c.left -= len(p)
		return c.ResponseWriter.Write(p)
	}
	c.ResponseWriter.Write(p[:c.left])
	c.ResponseWriter.(http.Flusher).Flush()
	panic(http.ErrAbortHandler)
}

// TestAuditLogCutShortThroughServer: `audit log` through a server prints
// the entries as the server's streamed answer brings them, in text and in
// JSON; when the answer is cut short — inside an entry, or between two —
// what came is printed without the listing's last line (the count, the
// closing bracket), and the command exits 10 saying the listing is
// incomplete, after how many entries. Nothing is written: the whole
// listing afterwards is the one before.
func TestAuditLogCutShortThroughServer(t *testing.T) {
	dir := t.TempDir()
	db := baseCopy(t, dir, "")
	var requests atomic.Int64
	inner := storyServer(db, &requests)
	var cutAt atomic.Int64 // bytes of the audit answer let through; 0: none cut
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n := cutAt.Load(); n > 0 && strings.HasPrefix(r.URL.Path, "/api/v1/svc/audit") && !strings.HasPrefix(r.URL.Path, "/api/v1/svc/audit-tail") {
			w = &cutWriter{ResponseWriter: w, left: int(n)}
		}
		inner.ServeHTTP(w, r)
	}))
	defer srv.Close()
	cfg := filepath.Join(dir, "home-aud")
	run := func(stdin string, args ...string) invocation { return runThrough(srv.URL, cfg, stdin, args...) }
	if got := run(fixturePassword+"\n", "login", "--password-stdin", "aud"); got.code != 0 {
		t.Fatalf("login: exit %d %s", got.code, got.stderr)
	}
	text := run("", "audit", "log")
	js := run("", "--json", "audit", "log")
	var entries []map[string]any
	if text.code != 0 || js.code != 0 || json.Unmarshal([]byte(js.stdout), &entries) != nil || len(entries) < 10 ||
		!strings.HasSuffix(text.stdout, "\n"+strconv.Itoa(len(entries))+" entries\n") {
		t.Fatalf("whole listings: text exit %d, json exit %d with %d entries\n%s%s", text.code, js.code, len(entries), text.stderr, js.stderr)
	}
	// The server's answer, for places to cut it.
	answer := func() string {
		var out bytes.Buffer
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/api/v1/svc/audit", nil)
		files, _ := filepath.Glob(filepath.Join(cfg, "server-*.json"))
		var s serverSession
		if len(files) != 1 {
			t.Fatalf("session files %v", files)
		}
		b, _ := os.ReadFile(files[0])
		json.Unmarshal(b, &s)
		req.AddCookie(&http.Cookie{Name: s.CookieName, Value: s.Cookie})
		req.Header.Set("Origin", srv.URL)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out.ReadFrom(resp.Body)
		return out.String()
	}()
	between := strings.Index(answer, "\n,") + 1 // after the first entry
	third := strings.Index(answer[between+1:], "\n,") + between + 2
	for _, cut := range []struct {
		name  string
		at    int
		whole int // entries that came whole
	}{
		{"between the first and second entries", between, 1},
		{"inside the third entry", third + 40, 2},
		{"before the closing bracket", strings.LastIndex(answer, "]"), len(entries)},
	} {
		cutAt.Store(int64(cut.at))
		for _, c := range []struct {
			format string
			args   []string
			whole  invocation
		}{{"text", []string{"audit", "log"}, text}, {"json", []string{"--json", "audit", "log"}, js}} {
			got := run("", c.args...)
			msg := "the audit log listing is incomplete: it stopped after " + strconv.Itoa(cut.whole) + " entries"
			if got.code != exitNoDB || !strings.Contains(got.stderr, msg) || !strings.Contains(got.stderr, "what was printed is not the whole log") {
				t.Errorf("%s, cut %s: exit %d, stderr %q; want %d saying %q", c.format, cut.name, got.code, got.stderr, exitNoDB, msg)
			}
			if !strings.HasPrefix(c.whole.stdout, got.stdout) || got.stdout == c.whole.stdout {
				t.Errorf("%s, cut %s: printed %.300q, want a part of the whole listing without its end", c.format, cut.name, got.stdout)
			}
		}
	}
	cutAt.Store(0)
	if again := run("", "audit", "log"); again.code != 0 || again.stdout != text.stdout {
		t.Errorf("the listing after the cut ones: exit %d, same as before %v\n%s", again.code, again.stdout == text.stdout, again.stderr)
	}
}
