package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/celltrack/celltrack/audit"
)

// stateFields are the names of an account's state in the service API's
// JSON of a user (audit.User): what only the admin and the auditor may see
// of another's account (audit.SeesAccountState).
var stateFields = []string{`"Disabled"`, `"Failures"`, `"LockedUntil"`, `"LastLogin"`, `"PasswordChanged"`, `"MustChange"`, `"CreatedAt"`, `"CreatedBy"`, `"RoleGrant"`, `"Hash"`}

// Through the server, as on the command line: the service API's user list
// and user lookup give another's account to a nurse, the lab, QA and a
// physician as its directory entry (name, printed name, role) and no field
// of its state; the admin and the auditor get the state; one's own account
// is whole to its owner (the command line checks its own user through it).
// A list writes nothing.
func TestUsers12ServiceAPIListsStateOnlyToAdminAndAuditor(t *testing.T) {
	f := newWebFixture(t, false, "lab")
	admin := f.client()
	f.login(admin, "alice")
	if st, m := f.postJSON(admin, "/api/v1/users/lars/disable", map[string]any{"reason": "left the unit"}); st != http.StatusOK || m["status"] != "disabled" {
		t.Fatalf("disable lars: %d %v", st, m)
	}
	for range audit.MaxFailures {
		f.post(f.client(), "/login", url.Values{"user": {"omar"}, "password": {"not-omars-password-1"}})
	}
	for _, tc := range []struct {
		user      string
		seesState bool
	}{
		{"alice", true}, {"aud", true}, {"nina", false}, {"liu", false}, {"quinn", false}, {"pat", false},
	} {
		t.Run(tc.user, func(t *testing.T) {
			c := f.client()
			f.login(c, tc.user)
			before := f.auditCount()
			st, list := f.get(c, "/api/v1/svc/users")
			if st != http.StatusOK || !strings.Contains(list, `"Name":"omar","FullName":"Omar Haddad","Role":"nurse"`) {
				t.Fatalf("GET /api/v1/svc/users as %s: %d %s", tc.user, st, list)
			}
			st, lars := f.get(c, "/api/v1/svc/users/lars")
			if st != http.StatusOK || !strings.Contains(lars, `"Name":"lars","FullName":"Lars Lab","Role":"lab"`) {
				t.Fatalf("GET /api/v1/svc/users/lars as %s: %d %s", tc.user, st, lars)
			}
			for _, field := range stateFields {
				for what, body := range map[string]string{"the list": list, "lars": lars} {
					if field == `"Hash"` || !tc.seesState {
						if strings.Contains(body, field) {
							t.Errorf("%s's %s has %s: %s", tc.user, what, field, body)
						}
					}
				}
			}
			if tc.seesState {
				mustContain(t, tc.user+"'s list", list, `"Disabled":true`, `"LockedUntil":"`, `"Failures":5`, `"LastLogin":"`)
				mustContain(t, tc.user+"'s lars", lars, `"Disabled":true`, `"LastLogin":"`)
			}
			// One's own account is whole.
			if st, own := f.get(c, "/api/v1/svc/users/"+tc.user); st != http.StatusOK || !strings.Contains(own, `"LastLogin":"`) || strings.Contains(own, `"Hash"`) {
				t.Errorf("GET /api/v1/svc/users/%s as %s: %d %s", tc.user, tc.user, st, own)
			}
			if n := f.auditCount() - before; n != 0 {
				t.Errorf("the lists wrote %d audit entries", n)
			}
		})
	}
	// The JSON API's account listing stays the admin's.
	nurse := f.client()
	f.login(nurse, "nina")
	if st, body := f.get(nurse, "/api/v1/users"); st != http.StatusForbidden {
		t.Errorf("GET /api/v1/users as nina: %d %s; want 403", st, body)
	}
	if st, body := f.get(admin, "/api/v1/users"); st != http.StatusOK || !strings.Contains(body, `"status":"disabled"`) || !strings.Contains(body, `"status":"locked until`) {
		t.Errorf("GET /api/v1/users as alice: %d %s", st, body)
	}
}
