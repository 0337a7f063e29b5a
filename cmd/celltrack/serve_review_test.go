package main

import (
	"net/http"
	"strings"
	"testing"
)

// TestReviewExpiredChangeRefusedWritesNothing (review finding): the login
// with a password change, POST /api/v1/password/expired, for a user whose
// password need not change is refused (409), yet it wrote a `login` and a
// `logout` entry: the trail shows a session that was never given, and the
// user's last login moves. A refusal writes nothing ("Exit codes").
func TestReviewExpiredChangeRefusedWritesNothing(t *testing.T) {
	f := newWebFixture(t, false, "lab")
	n := f.auditCount()
	st, m := f.postJSON(f.client(), "/api/v1/password/expired", map[string]any{"user": "nina", "password": fixturePassword, "new_password": newPassword})
	if e, _ := m["error"].(map[string]any); st != http.StatusConflict || e["code"] != "conflict" {
		t.Fatalf("change at login of a password that need not change: %d %v", st, m)
	}
	if got := f.auditCount(); got != n {
		t.Errorf("the refusal wrote %d audit entries; want none", got-n)
	}
}

// TestReviewNegativeVolumeRefused (review finding): a negative Volume sent
// to the service endpoints of the check and the administration was quietly
// taken as 0, the computed volume. It is refused (400, naming the field)
// before any password is checked, and nothing is written.
func TestReviewNegativeVolumeRefused(t *testing.T) {
	f := newWebFixture(t, false, "lab", "release")
	c := f.client()
	f.login(c, "nina")
	n := f.auditCount()
	for _, tc := range []struct {
		path  string
		body  map[string]any
		field string
	}{
		{"/api/v1/svc/checks", map[string]any{"MRN": "MRN-1001", "Containers": []string{"G12342600000101"}, "Volume": -310}, `Volume is -310 tenths of a mL (-31.0 mL)`},
		{"/api/v1/svc/infusions", map[string]any{"Administration": map[string]any{"MRN": "MRN-1001", "Containers": []string{"G12342600000101"}, "Volume": -5},
			"NursePassword": "wrong-password-1", "Witness": "omar", "WitnessPassword": "wrong-password-2"}, `Volume (in /Administration) is -5 tenths`},
	} {
		st, m := f.postJSON(c, tc.path, tc.body)
		e, _ := m["error"].(map[string]any)
		msg, _ := e["message"].(string)
		if st != http.StatusBadRequest || !strings.Contains(msg, tc.field) {
			t.Errorf("%s with a negative volume: %d %v; want 400 naming %q", tc.path, st, m, tc.field)
		}
	}
	if got := f.auditCount(); got != n {
		t.Errorf("the refusals wrote %d audit entries (a wrong password counted?); want none", got-n)
	}
}

// TestReviewSignedDoseCallsCheckRoleFirst (review finding 7, the server's
// side): a schedule change or a weight confirmation by a role that may not
// make it is refused (403) before its password is checked, so a wrong one
// is not recorded or counted towards a lockout.
func TestReviewSignedDoseCallsCheckRoleFirst(t *testing.T) {
	f := newWebFixture(t, false, "lab")
	c := f.client()
	f.login(c, "quinn")
	n := f.auditCount()
	for _, tc := range []struct {
		path string
		body map[string]any
	}{
		{"/api/v1/svc/patients/MRN-1001/courses/active/infusions/2/date", map[string]any{"Date": "2026-12-03T00:00:00Z", "Reason": "febrile", "Password": "not-quinns-password-1"}},
		{"/api/v1/svc/patients/MRN-1001/weights/latest/confirmation", map[string]any{"Reason": "re-weighed", "Password": "not-quinns-password-1"}},
	} {
		st, m := f.postJSON(c, tc.path, tc.body)
		if st != http.StatusForbidden || exitOf(m) != exitRefused {
			t.Errorf("%s by QA with a wrong password: %d %v; want 403", tc.path, st, m)
		}
	}
	if got := f.auditCount(); got != n {
		t.Errorf("the refusals wrote %d audit entries (a wrong password recorded?); want none", got-n)
	}
}
