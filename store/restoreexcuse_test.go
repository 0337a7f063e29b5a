package store

import (
	"strings"
	"testing"

	"github.com/celltrack/celltrack/internal/pgtest"
)

// TestRolledBackExcuseKeepsItsEngineAcrossMigration: a restore on the file
// engine that rolled back over a kept checkpoint still excuses it once the
// database is migrated to PostgreSQL — its entry was written before the
// migration's, on the file engine, where restore exists. Only restore
// entries written on PostgreSQL excuse nothing
// (TestReview13ForgedRestoreEntryExcusesRollbackOnPostgres).
func TestRolledBackExcuseKeepsItsEngineAcrossMigration(t *testing.T) {
	to := pgtest.URL(t)
	db, cp, _ := restoredOverCheckpoint(t) // reopened at cleanup, for newTestDB's check
	src, err := OpenForMigrate(db.Path(), Options{Now: db.Now})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.MigrateTo(to, "alice", 0); err != nil {
		src.Close()
		t.Fatal(err)
	}
	src.Close()
	pg, err := Open(to, Options{Now: db.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	cv := verifyKept(t, pg, cp)
	if got := cv.Checkpoints[0]; got.Problem != "" || !strings.Contains(got.RolledBack, "rolled back by the restore, entry") {
		t.Fatalf("on PostgreSQL after the migration, the file engine's restore no longer excuses the checkpoint it rolled back over: problem %q, rolled back %q", got.Problem, got.RolledBack)
	}
}
