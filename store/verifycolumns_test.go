package store

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/celltrack/celltrack/internal/pgtest"
	"github.com/celltrack/celltrack/lot"
)

// TestVerifyWrittenColumnsPG (PostgreSQL): a DBA's edit of a column
// celltrack writes beside the record (lots.status of a rejected lot set to
// released) is a problem of audit verify naming the lot, the table, the
// column, what it holds and what the record gives; verify writes nothing.
// So is the same column changed by deleting the row and inserting it again
// with the record untouched, which no UPDATE trigger sees: the reason the
// check is in verify (README "PostgreSQL").
func TestVerifyWrittenColumnsPG(t *testing.T) {
	t.Setenv(envEngine, "postgres")
	for _, c := range []struct{ name, sql string }{
		{"update", "UPDATE lots SET status = 'released' WHERE number = 'LOT-1'"},
		{"delete and insert", `BEGIN;
			CREATE TEMPORARY TABLE was AS SELECT * FROM lots WHERE number = 'LOT-1';
			DELETE FROM lots WHERE number = 'LOT-1';
			UPDATE was SET status = 'released';
			INSERT INTO lots SELECT * FROM was;
			COMMIT`},
	} {
		t.Run(c.name, func(t *testing.T) {
			db, _ := bedside(t, "0.5")
			changeLot(t, db, "LOT-1", func(l *lot.Lot) { l.Status = lot.Rejected })
			if p := problemsOf(t, db); p != "" {
				t.Fatalf("verify before the edit: %s", p)
			}
			if err := pgtest.Exec(db.Path(), c.sql); err != nil {
				t.Fatal(err)
			}
			before, err := pgtest.Digest(db.Path())
			if err != nil {
				t.Fatal(err)
			}
			v, err := db.Verify()
			if err != nil {
				t.Fatal(err)
			}
			id := lotID(t, db, "LOT-1")
			want := []string{fmt.Sprintf(`lot LOT-1 (%s): column status of table lots holds "released" where its record gives "rejected": the column was changed outside celltrack, and SQL readers of lots.status see "released"`, id)}
			if !slices.Equal(v.Problems, want) {
				t.Errorf("verify:\n%s\nwant\n%s", strings.Join(v.Problems, "\n"), want[0])
			}
			if after, err := pgtest.Digest(db.Path()); err != nil || after != before {
				t.Errorf("verify changed the database (%v)", err)
			}
		})
	}
}

// lotID is the id of lot number.
func lotID(t *testing.T, db *DB, number string) string {
	t.Helper()
	l, err := NewLotService(db).Lot(number)
	if err != nil {
		t.Fatal(err)
	}
	return l.ID.String()
}
