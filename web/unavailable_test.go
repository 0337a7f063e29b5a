package web

import (
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/lot"
)

// downSessions is a session store whose database is out of reach.
type downSessions struct{ fakeSessions }

func (*downSessions) Check(string) (audit.User, string, error) {
	return audit.User{}, "", lot.Errorf(lot.EBUSY, "database is unavailable: postgres://db/celltrack cannot be reached (connection refused); nothing was written — try again in a moment")
}

// TestSessionKeptWhileDatabaseUnavailable: while the database is out of
// reach a request gets 503 with the API's error object (code busy, exit 11)
// and the browser keeps its session cookie for when the database is back;
// a session refused as such (401) has its cookie cleared.
func TestSessionKeptWhileDatabaseUnavailable(t *testing.T) {
	for _, c := range []struct {
		name     string
		sessions Sessions
		status   int
		code     string
		cleared  bool
	}{
		{"database unavailable", &downSessions{}, http.StatusServiceUnavailable, lot.EBUSY, false},
		{"session refused", &fakeSessions{}, http.StatusUnauthorized, lot.ESESSION, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := New(Config{Log: log.New(io.Discard, "", 0), Sessions: c.sessions})
			req := httptest.NewRequest("GET", "/api/v1/lots", nil)
			req.AddCookie(&http.Cookie{Name: s.cookieName(), Value: "a-live-session"})
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, req)
			if rec.Code != c.status || errCode(t, rec) != c.code {
				t.Fatalf("%d %s; want %d %s", rec.Code, rec.Body, c.status, c.code)
			}
			cleared := false
			for _, ck := range rec.Result().Cookies() {
				if ck.Name == s.cookieName() && ck.MaxAge < 0 {
					cleared = true
				}
			}
			if cleared != c.cleared {
				t.Errorf("session cookie cleared: %t, want %t (Set-Cookie %q)", cleared, c.cleared, rec.Header().Values("Set-Cookie"))
			}
		})
	}
}
