package main

import (
	"net/http"
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
