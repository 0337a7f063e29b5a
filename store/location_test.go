package store

import (
	"strings"
	"testing"

	"github.com/celltrack/celltrack/lot"
)

// TestDisplayNameNeverShowsAURLPassword: a database is named without the
// password of any URL, whatever its scheme or the scheme's case, and a
// URL that is not a PostgreSQL one is refused as --db (exit 2) before it
// could be taken for a file path (review 20, D and H).
func TestDisplayNameNeverShowsAURLPassword(t *testing.T) {
	for _, c := range []struct {
		path, shown string
		refused     bool
	}{
		{"postgres://nurse:Hunter-22x@h:5432/ct", "postgres://nurse@h:5432/ct", false},
		{"Postgres://nurse:Hunter-22x@h/ct", "postgres://nurse@h/ct", false},
		{"POSTGRESQL://nurse@h/ct?password=Hunter-22x&sslmode=require", "postgresql://nurse@h/ct?sslmode=require", false},
		{"postgress://nurse:Hunter-22x@h/ct", "postgress://nurse@h/ct", true},
		{"mysql://nurse:Hunter-22x@h/ct", "mysql://nurse@h/ct", true},
		{"lab.db", "lab.db", false},
		{"./odd://name:Hunter-22x@x", "./odd://name:Hunter-22x@x", false}, // a file path, as typed
		{"/srv/ct/lab.db", "/srv/ct/lab.db", false},
	} {
		if got := DisplayName(c.path); got != c.shown {
			t.Errorf("DisplayName(%q) = %q, want %q", c.path, got, c.shown)
		}
		err := CheckLocation("db", c.path)
		if (err != nil) != c.refused {
			t.Errorf("CheckLocation(%q): %v, refused want %v", c.path, err, c.refused)
		}
		if err != nil {
			if lot.ErrorCode(err) != lot.EUSAGE || strings.Contains(err.Error(), "Hunter-22x") || !strings.Contains(err.Error(), "--db "+c.shown) {
				t.Errorf("CheckLocation(%q): %v (%s)", c.path, err, lot.ErrorCode(err))
			}
		}
	}
}
