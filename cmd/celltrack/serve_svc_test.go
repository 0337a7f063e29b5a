package main

import (
	"net/http"
	"strings"
	"testing"
)

// The service endpoints act as the session's user, never as a name in the
// body; they refuse what the command line refuses, writing nothing; and no
// password hash leaves the server.
func TestServiceEndpointsActAsSessionUser(t *testing.T) {
	f := newWebFixture(t, false, "lab", "release")
	c := f.client()
	f.login(c, "liu")

	// A donor registered with someone else's name in the body is liu's.
	before := f.auditCount()
	st, m := f.postJSON(c, "/api/v1/svc/donors", map[string]any{"Code": "D-0777", "Site": "Ward 5 maternity",
		"Delivered": "2026-10-30T00:00:00Z", "Consented": "2026-10-12T00:00:00Z", "CreatedBy": "quinn"})
	if st != http.StatusOK || m["CreatedBy"] != "liu" || m["Code"] != "D-0777" {
		t.Fatalf("add donor: %d %v", st, m)
	}
	if f.auditCount() != before+1 {
		t.Errorf("add donor wrote %d audit entries, want 1", f.auditCount()-before)
	}

	// QA named in the body does not make the lab user QA: refused, nothing written.
	before = f.auditCount()
	st, m = f.postJSON(c, "/api/v1/svc/lots/LOT-UC-1/approval", map[string]any{"QA": "quinn", "Password": fixturePassword})
	if st != http.StatusForbidden || exitOf(m) != exitRefused {
		t.Errorf("approval by a lab user naming quinn: %d %v, want 403 exit 3", st, m)
	}
	// An unknown field is refused before anything is done.
	st, m = f.postJSON(c, "/api/v1/svc/donors", map[string]any{"Code": "D-0778", "Actor": "quinn"})
	if st != http.StatusBadRequest || exitOf(m) != exitUsage {
		t.Errorf("unknown field: %d %v, want 400 exit 2", st, m)
	}
	// A wrong signature is refused as the command refuses it.
	st, m = f.postJSON(c, "/api/v1/svc/signatures", map[string]any{"User": "quinn", "Password": "not-the-password-1", "Meaning": "approved for release"})
	if st != http.StatusUnauthorized || exitOf(m) != exitRefused {
		t.Errorf("wrong signature: %d %v, want 401 exit 3", st, m)
	}
	if n := f.auditCount(); n != before+1 { // the wrong password is recorded, nothing else
		t.Errorf("refusals wrote %d audit entries, want 1 (the wrong password)", n-before)
	}

	// No password hash leaves the server: not in users, not in the trail.
	for _, path := range []string{"/api/v1/svc/users", "/api/v1/svc/users/liu", "/api/v1/svc/audit", "/api/v1/svc/audit/liu"} {
		st, body := f.get(c, path)
		if st != http.StatusOK || strings.Contains(body, "$argon2") {
			t.Errorf("GET %s: %d, password hash shown: %v", path, st, strings.Contains(body, "$argon2"))
		}
	}

	// Without a session nothing is answered.
	if st, _ := f.get(f.client(), "/api/v1/svc/donors"); st != http.StatusUnauthorized {
		t.Errorf("GET without a session: %d, want 401", st)
	}
}

func exitOf(m map[string]any) int {
	e, _ := m["error"].(map[string]any)
	n, _ := e["exit"].(float64)
	return int(n)
}
