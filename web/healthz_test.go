package web

import (
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/celltrack/celltrack/lot"
)

// /healthz names why a server refuses to go on (a trail rolled back under
// it, review13 B) and keeps an unreadable database's cause for the log.
func TestHealthzNamesARollback(t *testing.T) {
	for _, c := range []struct {
		name   string
		health error
		body   string
	}{
		{"healthy", nil, "ok\n"},
		{"rolled back", lot.Errorf(lot.ECONFLICT, "refused: this server found the audit trail rolled back under it (entries 17–18 vanished)"), "refused: this server found the audit trail rolled back under it (entries 17–18 vanished)\n"},
		{"unreadable", errors.New("read kv: connection reset"), "database unavailable\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := New(Config{Log: log.New(io.Discard, "", 0), Health: func() error { return c.health }})
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
			want := http.StatusOK
			if c.health != nil {
				want = http.StatusServiceUnavailable
			}
			if rec.Code != want || rec.Body.String() != c.body {
				t.Errorf("%d %q, want %d %q", rec.Code, rec.Body.String(), want, c.body)
			}
		})
	}
}
