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
			before := editOutside(t, db, c.sql)
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

// editOutside runs sql on db's PostgreSQL database, as a DBA's edit, and
// returns the database's digest after it.
func editOutside(t *testing.T, db *DB, sql string) string {
	t.Helper()
	if err := pgtest.Exec(db.Path(), sql); err != nil {
		t.Fatal(err)
	}
	d, err := pgtest.Digest(db.Path())
	if err != nil {
		t.Fatal(err)
	}
	return d
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

// TestVerifyWrittenColumnsPGTrailAndUnreadable (PostgreSQL): the trail's
// columns written from the key are checked too (an edit needs the
// append-only trigger off, as the tables' owner may), worded with the
// entry's number; a record edited into one the server cannot compute the
// columns of is said to be so, beside its hash's problem, not an error of
// verify.
func TestVerifyWrittenColumnsPGTrailAndUnreadable(t *testing.T) {
	t.Setenv(envEngine, "postgres")
	db, _ := bedside(t, "0.5")
	id := lotID(t, db, "LOT-1")
	if err := pgtest.Exec(db.Path(),
		"ALTER TABLE audit_entries DISABLE TRIGGER USER",
		"UPDATE audit_entries SET seq = seq + 1000000 WHERE seq = 1",
		"ALTER TABLE audit_entries ENABLE TRIGGER USER",
		`UPDATE lots SET record = jsonb_set(record::jsonb, '{expires}', '"x"')::json WHERE number = 'LOT-1'`); err != nil {
		t.Fatal(err)
	}
	p := problemsOf(t, db)
	for _, want := range []string{
		`audit entry 1: column seq of table audit_entries holds "1000001" where its key gives "1": the column was changed outside celltrack, and SQL readers of audit_entries.seq see "1000001"`,
		`lot LOT-1 (` + id + `): the columns of table lots cannot be computed from its record (invalid input syntax for type timestamp with time zone: "x"): the record was changed outside celltrack`,
		`lot LOT-1 (` + id + `) differs from the value its last audit entry`,
	} {
		if !strings.Contains(p, want) {
			t.Errorf("verify does not say\n%s\nit says\n%s", want, p)
		}
	}
}

// TestVerifyCatchesEditedLotIndexColumnsPG: on PostgreSQL the lot index
// buckets are read from the lots row's columns (pgkv.Derived), so the way to
// repoint a lot's DIN, number or donor there is an UPDATE of lots, outside
// celltrack. verify names the edited column, once — not the index views it
// moves, which refuse every write, as entries "added" or "removed outside
// celltrack" (review 22, finding C) — and changes nothing.
func TestVerifyCatchesEditedLotIndexColumnsPG(t *testing.T) {
	t.Setenv(envEngine, "postgres")
	for _, c := range []struct{ name, sql, column, bucket string }{
		{"DIN", "UPDATE lots SET din = 'G999999999999' WHERE number = 'LOT-1'", "din", "idx_lot_din"},
		{"number", "UPDATE lots SET number = 'LOT-9' WHERE number = 'LOT-1'", "number", "idx_lot_number"},
		{"donor", "UPDATE lots SET donor_id = NULL WHERE number = 'LOT-1'", "donor_id", "idx_lot_donor"},
	} {
		t.Run(c.name, func(t *testing.T) {
			db, _ := bedside(t, "0.5")
			if p := problemsOf(t, db); p != "" {
				t.Fatalf("verify before the edit: %s", p)
			}
			before := editOutside(t, db, c.sql)
			all := problemsOf(t, db)
			if w := "column " + c.column + " of table lots holds "; strings.Count(all, w) != 1 {
				t.Errorf("verify did not say %q once; it said:\n%s", w, all)
			}
			if strings.Contains(all, "idx_lot_") {
				t.Errorf("verify blames the index views, which cannot be written, for the column's edit:\n%s", all)
			}
			if after, err := pgtest.Digest(db.Path()); err != nil || after != before {
				t.Errorf("verify changed the database (%v)", err)
			}
		})
	}
}

// TestVerifyCatchesRedefinedLotIndexViewPG: a lot index view redefined by
// its owner (no lots column edited) makes the index differ from the
// records with no column to blame; verify still names the index entries.
func TestVerifyCatchesRedefinedLotIndexViewPG(t *testing.T) {
	t.Setenv(envEngine, "postgres")
	db, _ := bedside(t, "0.5")
	before := editOutside(t, db, `CREATE OR REPLACE VIEW idx_lot_din AS
		SELECT decode(replace(l.din, '\', '\\'), 'escape') AS k, l.k AS v
		FROM lots AS l WHERE l.din IS NOT NULL AND l.number <> 'LOT-1'`)
	all := problemsOf(t, db)
	if !strings.Contains(all, "missing from index idx_lot_din") || strings.Contains(all, "column ") {
		t.Errorf("verify of a redefined idx_lot_din said:\n%s", all)
	}
	if after, err := pgtest.Digest(db.Path()); err != nil || after != before {
		t.Errorf("verify changed the database (%v)", err)
	}
}
