package store

import (
	"strings"
	"testing"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/lot"
)

// TestAddUserRefusesLookAlikePrintedName: a full name that reads like an
// existing user's ("Liu" in newTestDB) but is typed differently is refused,
// writing nothing; the same name typed exactly (the person's second login)
// and a different name are accepted.
func TestAddUserRefusesLookAlikePrintedName(t *testing.T) {
	db := newTestDB(t)
	for _, name := range []string{"liu", "LIU", " Liu", "Liu ", "Ｌｉｕ", "Liu\u00a0"} {
		before, _ := db.AuditCount()
		_, err := db.AddUser("alice", audit.User{Name: "qa3", FullName: name, Role: audit.QA}, testPassword, testPassword)
		if lot.ErrorCode(err) != lot.ECONFLICT || !strings.Contains(err.Error(), `printed name of user liu`) {
			t.Errorf("full name %q: %v; want ECONFLICT naming user liu", name, err)
		}
		if after, _ := db.AuditCount(); after != before {
			t.Errorf("full name %q: the refusal wrote %d audit entries", name, after-before)
		}
	}
	for i, name := range []string{"Liu", "Liu Wen"} {
		if _, err := db.AddUser("alice", audit.User{Name: []string{"liuqa", "wen"}[i], FullName: name, Role: audit.QA}, testPassword, testPassword); err != nil {
			t.Errorf("full name %q: %v", name, err)
		}
	}
}
