package main

import (
	"context"
	"crypto/sha256"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/celltrack/celltrack/internal/pgtest"
)

// A request whose client went away (context canceled) was logged by
// `celltrack serve` as an internal error, a 500, though the server did
// nothing wrong. On the store of either engine, each long read withdrawn
// by its client — the reports' and audit verify's walks of the whole
// trail, a full-verify trace, the audit log's download — is answered and
// logged as the client's close (499), not as an internal error, and the
// database is untouched. A write whose client went away before its commit
// is not cut by that (the store does not watch a write's context): it is
// committed whole and answered, and nothing logs it as the client's close.
func TestServeClientClosedRequestIs499(t *testing.T) {
	t.Run("bbolt", func(t *testing.T) { clientClosed(t, "") })
	t.Run("postgres", func(t *testing.T) { clientClosed(t, pgtest.URL(t)) })
}

func clientClosed(t *testing.T, pg string) {
	var f *webFixture
	if pg == "" {
		f = newWebFixture(t, false, "lab", "release")
	} else {
		f = newWebFixtureOn(t, pg, false, "lab", "release")
	}
	c := f.client()
	f.login(c, "aud")
	digest := func() string {
		if pg != "" {
			d, err := pgtest.Digest(pg)
			if err != nil {
				t.Fatal(err)
			}
			return d
		}
		b, err := os.ReadFile(f.db.Path())
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		return string(sum[:])
	}
	before, entries := digest(), f.auditCount()
	base, _ := url.Parse(f.srv.URL)
	withdrawn := func(method, path, body string) *httptest.ResponseRecorder {
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // the client has gone by the time the store is asked
		r := httptest.NewRequestWithContext(ctx, method, f.srv.URL+path, strings.NewReader(body))
		for _, ck := range c.Jar.Cookies(base) {
			r.AddCookie(ck)
		}
		r.Header.Set("Origin", f.srv.URL)
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		f.srv.Config.Handler.ServeHTTP(w, r)
		return w
	}
	for _, path := range []string{
		"/reports/access",
		"/reports/handling/download?format=csv",
		"/reports/audit-verify?run=true",
		"/reports/audit-log/download?format=json",
		"/api/v1/trace/lot/LOT-UC-1?full_verify=true",
	} {
		f.log.Reset()
		w := withdrawn(http.MethodGet, path, "")
		p, _, _ := strings.Cut(path, "?")
		if w.Code != 499 {
			t.Errorf("GET %s withdrawn by its client: answered %d, want 499\n%s", path, w.Code, w.Body)
		}
		log := f.log.String()
		if !regexp.MustCompile(`(?m)^GET `+regexp.QuoteMeta(p)+` from [0-9.:]+: 499 the client closed the request before its answer; nothing was written \(.*context canceled\)$`).MatchString(log) ||
			strings.Contains(log, "internal error") {
			t.Errorf("GET %s withdrawn by its client: the log does not say so, or says internal error:\n%s", path, log)
		}
	}
	if d, n := digest(), f.auditCount(); d != before || n != entries {
		t.Errorf("the withdrawn reads changed the database (audit entries %d → %d)", entries, n)
	}

	// The nurse's registration whose client went away before its commit.
	f.log.Reset()
	c = f.client()
	f.login(c, "nina")
	entries = f.auditCount()
	w := withdrawn(http.MethodPost, "/api/v1/patients", `{"mrn":"MRN-CANCEL-1","name":"Ada Cancel","born":"1970-01-01","sex":"F"}`)
	if w.Code != http.StatusCreated {
		t.Fatalf("a write whose client went away: %d, want it committed (201)\n%s", w.Code, w.Body)
	}
	if n := f.auditCount(); n != entries+1 {
		t.Errorf("audit entries %d → %d; want the registration's one", entries, n)
	}
	if log := f.log.String(); strings.Contains(log, "499") || strings.Contains(log, "internal error") {
		t.Errorf("a committed write was logged as cancelled or failed:\n%s", log)
	}
}
