package audit

import (
	"strings"
	"testing"

	"github.com/celltrack/celltrack/lot"
)

// TestPasswordPolicy: NIST SP 800-63B without composition rules.
func TestPasswordPolicy(t *testing.T) {
	for _, tc := range []struct{ pw, want string }{
		{"short-one", "use at least 12"},
		{"nina-is-on-the-ward-7", "contains the user name"},
		{"rossi-harbor-lantern", "from the printed name"},
		{"NINA-is-on-the-ward-7", "contains the user name"},
		{"ｎｉｎａ-harbor-lantern-7", "contains the user name"}, // full-width letters
		{"harbor-nіna-lantern-7", "contains the user name"}, // Cyrillic і
		{"harbor-lantern-ROSSİ-7", "from the printed name"},
		{"password1234", "too easy to guess"},
		{"qwertyuiop12", "too easy to guess"},
		{"aaaaaaaaaaaa", "too easy to guess"},
		{"copper-meadow-lynx-42", ""},
	} {
		err := CheckNewPassword(tc.pw, "nina", "Nina Rossi")
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%q: %v; want %q", tc.pw, err, tc.want)
		}
	}
}

// Only an admin starts the server; every other role is refused, naming it.
func TestAuthorizeServe(t *testing.T) {
	for _, r := range []Role{Admin, Lab, QA, Physician, Nurse, Auditor} {
		err := AuthorizeServe(User{Name: "x", Role: r})
		if (err == nil) != (r == Admin) || (err != nil && (lot.ErrorCode(err) != lot.EFORBIDDEN || !strings.Contains(err.Error(), string(r)))) {
			t.Errorf("role %s: %v", r, err)
		}
	}
}
