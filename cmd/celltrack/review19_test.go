package main

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// Review 19 (findings in /work/s13/review19-findings.md): hostile review of
// session 13's merged changes. Each test fails on main c728723.

// review19 finding D (fix17a, the API): POST …/weights/latest/confirmation
// reads the physician's password before it looks at the weight named. The
// command line was changed (b2265d5) to say "a weight was recorded since"
// before the password, because a mistyped password then counted a failed
// attempt for a confirmation that could never be written; the API was not.
// Steps: nina records 72.0 kg, pat's screen shows it; omar records 27.0 kg;
// pat confirms WeightID=<the 72.0 record> and mistypes the password. The
// answer is 401 "wrong password" — not the 409 naming 27.0 kg — and a
// signature.refused entry is written against pat (five in a row lock the
// account during a dosing decision), for a signature that could never be
// written. With the right password after earlier mistakes, the reset of
// pat's count is written and then the 409 says "nothing was signed".
// Expected: the 409 naming the latest weight, before the password is read,
// nothing written — as the command line does.
func TestReview19APIStaleWeightConfirmationCountsAWrongPassword(t *testing.T) {
	f := newWebFixture(t, false, "lab")
	now := testTime(t)
	nina, omar, pat := f.client(), f.client(), f.client()
	f.login(nina, "nina")
	f.login(omar, "omar")
	f.login(pat, "pat")
	weigh := func(c *http.Client, kg string, at time.Time) string {
		t.Helper()
		st, m := f.postJSON(c, "/api/v1/svc/patients/MRN-1001/weights", map[string]any{"Kg": kg, "At": at})
		id, _ := m["ID"].(string)
		if st != http.StatusOK || id == "" {
			t.Fatalf("weigh %s kg: %d %v", kg, st, m)
		}
		return id
	}
	shown := weigh(nina, "72.0", now.Add(-20*time.Minute))
	weigh(omar, "27.0", now.Add(-time.Minute))
	n := f.auditCount()
	st, m := f.postJSON(pat, "/api/v1/svc/patients/MRN-1001/weights/latest/confirmation",
		map[string]any{"WeightID": shown, "Reason": "re-weighed: fluid overload", "Password": "not-pats-password-1"})
	if _, field, msg := errorOf(m); st != http.StatusConflict || field != "weight" || !strings.Contains(msg, "27.0 kg") {
		t.Errorf("a confirmation of a weight no longer the latest, password mistyped: %d %v; want 409 on weight naming 27.0 kg, before any password is read", st, m)
	}
	if got := f.auditCount(); got != n {
		t.Errorf("the confirmation that could never be written wrote %d audit entries (a wrong password counted against pat)", got-n)
	}
}
