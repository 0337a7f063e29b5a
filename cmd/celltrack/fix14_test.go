package main

import (
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/celltrack/celltrack/audit"
)

// fix14 (review14 C and D's page side): a seen that is no number a form
// could carry is told the one rule, on the page as in the JSON API (400),
// and a whole number that names no entry of the record (0) is the store's
// refusal on both (422) — nothing written either way.
func TestFix14SeenOneWordingOneStatus(t *testing.T) {
	f, admin := guard10As(t, "alice")
	form := guard10Form(t, f, admin, "/accounts/nina/disable", url.Values{"reason": {"on leave"}})
	for _, c := range []struct {
		seen string
		st   int
		want string
	}{
		{"0", http.StatusUnprocessableEntity, "as of audit entry #0, but its last entry is"},
		{"-1", http.StatusBadRequest, audit.SeenRule},
		{"abc", http.StatusBadRequest, audit.SeenRule},
		{"1.0", http.StatusBadRequest, audit.SeenRule},
		{"18446744073709551616", http.StatusBadRequest, audit.SeenRule},
	} {
		before := f.auditHead()
		form.Set("seen", c.seen)
		st, body := f.post(admin, "/accounts/nina/disable", form)
		if st != c.st || !strings.Contains(html.UnescapeString(body), c.want) {
			t.Errorf("the page's seen %q: %d %s; want %d saying %q", c.seen, st, review9Refusal(body), c.st, c.want)
		}
		if f.auditHead() != before {
			t.Errorf("the page's seen %q: the refusal wrote to the audit trail", c.seen)
		}
	}
	st, m := f.postJSON(admin, "/api/v1/users/nina/disable", map[string]any{"reason": "on leave", "seen": 0})
	if st != http.StatusUnprocessableEntity {
		t.Errorf("the API's seen 0: %d %v; want 422, as the page's", st, m)
	}
}
