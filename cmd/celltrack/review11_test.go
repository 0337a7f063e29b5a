package main

import (
	"net/http"
	"testing"
)

// Review 11: the service API's administer (POST /api/v1/svc/infusions, the
// call `dose administer` makes through CELLTRACK_SERVER) checks the nurse's
// password before it looks at the witness. The bedside page, the JSON API
// (/api/v1/dose/administer) and the local command line refuse the wrong
// people first — a witness who is the nurse herself, or no user at all —
// "before any password is checked" (README "Sessions, lockout and
// accounts"; web/bedside.go administer; cmd dose administer). Through the
// service API a nurse who names herself (or a mistyped witness) and
// mistypes her own password gets 401 "wrong password", one audit entry
// and one count towards her lockout, for an infusion that was never going
// to be recorded. A refusal for a rule must write nothing.
func TestReview11SvcAdministerChecksSignersBeforePasswords(t *testing.T) {
	f := newWebFixture(t, false, "lab", "release", "custody", "bedside")
	nina := f.client()
	f.login(nina, "nina")
	for _, tc := range []struct {
		witness string
		want    int
	}{
		{"nina", http.StatusForbidden},  // the nurse herself
		{"nobody", http.StatusNotFound}, // no such user
	} {
		body := map[string]any{
			"Administration":  map[string]any{"MRN": "MRN-1001", "Containers": []string{"G12342600000101"}},
			"NursePassword":   "not-ninas-password-1",
			"Witness":         tc.witness,
			"WitnessPassword": fixturePassword,
		}
		// The same request through the JSON API, for comparison.
		before := f.auditCount()
		st, m := f.postJSON(nina, "/api/v1/dose/administer", map[string]any{
			"mrn": "MRN-1001", "containers": []string{"G12342600000101"},
			"password": "not-ninas-password-1", "witness": tc.witness, "witness_password": fixturePassword,
		})
		t.Logf("/api/v1/dose/administer witness %s, nurse's password wrong: %d, audit +%d, %v", tc.witness, st, f.auditCount()-before, m["error"])

		before = f.auditCount()
		st, m = f.postJSON(nina, "/api/v1/svc/infusions", body)
		after := f.auditCount()
		t.Logf("/api/v1/svc/infusions witness %s, nurse's password wrong: %d, audit +%d, %v", tc.witness, st, after-before, m["error"])
		if st != tc.want {
			t.Errorf("svc/infusions with witness %q: %d, want %d (the witness refused before any password, as /api/v1/dose/administer and the command line do)", tc.witness, st, tc.want)
		}
		if after != before {
			t.Errorf("svc/infusions with witness %q wrote %d audit entries (a wrong password counted against nina for an administration refused by rule)", tc.witness, after-before)
		}
	}
}
