package main

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/celltrack/celltrack/audit"
)

// Every route for every role, from the permission table: each role reads
// (bedside check, traces), only the roles that may dose.administer get past
// the permission check to the witness (here unknown: 404), every other role
// is refused with 403 before any password is looked at, and no refusal
// writes anything.
func TestServeEveryRouteEveryRole(t *testing.T) {
	f := newWebFixture(t, false, "lab", "release", "custody", "bedside")
	users := map[audit.Role]string{audit.Admin: "alice", audit.Lab: "liu", audit.QA: "quinn", audit.Physician: "pat", audit.Nurse: "nina", audit.Auditor: "aud"}
	for _, role := range audit.Roles {
		t.Run(string(role), func(t *testing.T) {
			c := f.client()
			f.login(c, users[role])
			n := f.auditCount()
			administer := http.StatusForbidden
			if audit.Allowed(role, audit.DoseAdminister) {
				// Past the role check, to the request's own fields: it does
				// not say which dose it was shown (400). The witness is told
				// apart only after the bedside check and the nurse's password
				// (witness12), so "nobody" is never reached here.
				administer = http.StatusBadRequest
			}
			reset := http.StatusForbidden
			if audit.Allowed(role, audit.UserReset) {
				reset = http.StatusNotFound // past the role check, to the unknown user
			}
			sign := url.Values{"signer": {users[role]}, "mrn": {"MRN-1001"}, "bag": {"G12342600000101"}, "password": {fixturePassword}, "witness": {"nobody"}, "witness_password": {fixturePassword}}
			for _, tc := range []struct {
				name string
				got  func() int
				want int
			}{
				{"GET /bedside", func() int { st, _ := f.get(c, "/bedside"); return st }, http.StatusOK},
				{"POST /bedside/check", func() int {
					st, _ := f.post(c, "/bedside/check", url.Values{"mrn": {"MRN-1001"}, "scan": {"G12342600000101"}})
					return st
				}, http.StatusOK},
				{"POST /bedside/administer", func() int { st, _ := f.post(c, "/bedside/administer", sign); return st }, administer},
				{"GET /trace", func() int { st, _ := f.get(c, "/trace?kind=lot&ref=LOT-UC-1"); return st }, http.StatusOK},
				{"GET /trace/download", func() int { st, _ := f.get(c, "/trace/download?kind=donor&ref=D-0001&format=csv"); return st }, http.StatusOK},
				{"POST /api/v1/dose/check", func() int {
					st, _ := f.postJSON(c, "/api/v1/dose/check", map[string]any{"mrn": "MRN-1001", "containers": []string{"G12342600000101"}})
					return st
				}, http.StatusOK},
				{"POST /api/v1/dose/administer", func() int {
					st, _ := f.postJSON(c, "/api/v1/dose/administer", map[string]any{"mrn": "MRN-1001", "containers": []string{"G12342600000101"},
						"password": fixturePassword, "witness": "nobody", "witness_password": fixturePassword})
					return st
				}, administer},
				{"GET /api/v1/trace", func() int { st, _ := f.get(c, "/api/v1/trace/patient/MRN-1001"); return st }, http.StatusOK},
				{"GET /password", func() int { st, _ := f.get(c, "/password"); return st }, http.StatusOK},
				{"POST /accounts/{name}/reset", func() int {
					st, _ := f.postPage(c, "/accounts/nobody/reset", url.Values{"signer": {users[role]}, "password": {"tulip-orbit-canyon-31"}, "repeat": {"tulip-orbit-canyon-31"}, "reason": {"x"}})
					return st
				}, reset},
				{"POST /api/v1/users/{name}/reset", func() int {
					st, _ := f.postJSON(c, "/api/v1/users/nobody/reset", map[string]any{"one_time_password": "tulip-orbit-canyon-31", "reason": "x"})
					return st
				}, reset},
			} {
				if got := tc.got(); got != tc.want {
					t.Errorf("%s as %s: %d, want %d", tc.name, role, got, tc.want)
				}
			}
			if f.auditCount() != n {
				t.Errorf("%s's requests wrote %d audit entries", role, f.auditCount()-n)
			}
		})
	}
}
