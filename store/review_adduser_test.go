package store

import (
	"testing"
	"time"

	"github.com/celltrack/celltrack/audit"
)

// TestReviewAddUserIgnoresStateFields (review finding): AddUser takes a whole
// audit.User, and through the server's POST /api/v1/svc/users that value is
// whatever the client sent. The store reset ID, hash, creation and grant,
// but kept LastLogin, Failures, LockedUntil and Disabled from the request, so
// an admin's script could create an account whose access review
// (`report access`, `user list`) shows a last login before it existed, wrong
// passwords it never had, or a lock. A new account starts with none of them.
func TestReviewAddUserIgnoresStateFields(t *testing.T) {
	db := newTestDB(t)
	forged := time.Date(2020, 2, 2, 0, 0, 0, 0, time.UTC)
	u, err := db.AddUser("alice", audit.User{Name: "zed", FullName: "Zed Zebra", Role: audit.Nurse,
		LastLogin: forged, Failures: 4, LockedUntil: forged.AddDate(10, 0, 0)}, "copper-meadow-lynx-42", "")
	if err != nil {
		t.Fatal(err)
	}
	got, err := db.User("zed")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []audit.User{u, got} {
		if !v.LastLogin.IsZero() || v.Failures != 0 || !v.LockedUntil.IsZero() {
			t.Errorf("new account kept the request's state: last login %v, failures %d, locked until %v", v.LastLogin, v.Failures, v.LockedUntil)
		}
	}
}
