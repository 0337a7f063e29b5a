package store

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/celltrack/celltrack/dose"
	"github.com/celltrack/celltrack/internal/pgtest"
	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/store/kv"
	"github.com/celltrack/celltrack/store/pgkv"
)

// TestPostgresSchema1Upgrades: a database of PostgreSQL schema 1, whose
// tables generated the columns people query from the records, holding a
// site's history (users, donors, lots and bags, QC results, a schedule, a
// dispensed bag, an infusion signed by two nurses), is brought to schema 2
// by upgrade: every row of every table stays as it was — each record byte
// for byte, each column as schema 1 generated it, which is also what schema
// 2 writes for the same history — and `audit verify` passes, before and
// after a write on the upgraded database.
func TestPostgresSchema1Upgrades(t *testing.T) {
	if pgkv.LatestVersion() < 2 {
		t.Fatal("no schema 2")
	}
	old, src, now := schema1Copy(t)
	if _, err := Open(old, Options{Now: now}); err == nil {
		t.Fatal("a schema-1 database opened without upgrade")
	}
	// The engine's migrations alone (an admin's Upgrade applies them, and
	// records them in an audit entry of its own, which src lacks).
	applied, err := pgkv.Migrate(old, pgkv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(applied) != pgkv.LatestVersion()-1 || applied[0] != 2 {
		t.Errorf("applied %v", applied)
	}
	up, _, err := OpenForUpgrade(old, Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	want, err := pgtest.Digests(src)
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgtest.Digests(old)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("tables: %v, want %v", got, want)
	}
	for i := range want {
		if want[i][0] != "pgkv_migrations" && got[i] != want[i] {
			t.Errorf("table %s after the upgrade: %s, written by schema 2: %s", got[i][0], got[i][1], want[i][1])
		}
	}
	if v, err := up.Verify(); err != nil || !v.OK() {
		t.Fatalf("audit verify after the upgrade: %v %v", err, v.Problems)
	}
	if _, err := NewLotService(up).Weigh("nina", "MRN-2", 61_500, now()); err != nil {
		t.Fatal(err)
	}
	if _, err := NewLotService(up).AddPatient("nina", lot.Patient{MRN: "MRN-3", Name: "Ida", Born: now().AddDate(-40, 0, 0), Sex: "F"}); err != nil {
		t.Fatal(err)
	}
	if v, err := up.Verify(); err != nil || !v.OK() {
		t.Fatalf("audit verify after a write on the upgraded database: %v %v", err, v.Problems)
	}
}

// schema1Copy is a database of PostgreSQL schema 1 holding the history of
// src, a bedside database of the current schema with a dispensed bag, and
// src's clock; extra statements run on it last.
func schema1Copy(t *testing.T, extra ...string) (old, src string, now func() time.Time) {
	t.Helper()
	t.Setenv(envEngine, "postgres")
	db, d := bedside(t, "0.5")
	nina, _ := db.User("nina")
	omar, _ := db.User("omar")
	if _, _, err := d.Administer(nina, omar, dose.Administration{MRN: "MRN-1", Containers: []string{bag1}}); err != nil {
		t.Fatal(err)
	}
	// Schema 1 and 2 kept the lot index buckets as rows of kv (schema 3
	// reads them from lots): the old database gets them as the kv seam
	// reads them now.
	idx := derivedRows(t, db)
	src, now = db.Path(), db.Now
	db.Close()

	old = pgtest.URL(t)
	if err := pgtest.Exec(old, pgkv.MigrationSQL(1),
		"CREATE TABLE pgkv_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
		"INSERT INTO pgkv_migrations (version, name) VALUES (1, 'init')",
		"DELETE FROM kv_generation"); err != nil { // CopyRows brings the source's
		t.Fatal(err)
	}
	if err := pgtest.CopyRows(src, old, "pgkv_migrations"); err != nil {
		t.Fatal(err)
	}
	if err := pgtest.Exec(old, append(idx, extra...)...); err != nil {
		t.Fatal(err)
	}
	return old, src, now
}

// TestPostgresUpgradeRefusesAWrongLotIndex: schema 3 reads the lot index
// buckets from lots and drops their kv rows, after comparing the two. A
// database whose idx_lot_din row points LOT-1's DIN at no lot is refused at
// migration 3, naming the bucket and what to run, and its kv rows stay as
// they were (migrations 1 and 2 applied, 3 not).
func TestPostgresUpgradeRefusesAWrongLotIndex(t *testing.T) {
	old, _, now := schema1Copy(t,
		`UPDATE kv SET v = '\x000000000000000000000000000000ff' WHERE bucket = 'idx_lot_din' AND v = (SELECT k FROM lots WHERE number = 'LOT-1')`)
	before, err := pgtest.Digests(old)
	if err != nil {
		t.Fatal(err)
	}
	up, _, err := OpenForUpgrade(old, Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	_, _, err = up.Upgrade("alice")
	if err == nil || !strings.Contains(err.Error(), "bucket idx_lot_din holds 2 pair(s) the lots table does not give, or lacks them; nothing was changed") ||
		!strings.Contains(err.Error(), "apply migration 3") {
		t.Fatalf("upgrade of a database with a repointed DIN: %v", err)
	}
	after, err := pgtest.Digests(old)
	if err != nil {
		t.Fatal(err)
	}
	for i := range before {
		if before[i][0] == "kv" && after[i] != before[i] {
			t.Errorf("kv changed by the refused migration: %s, was %s", after[i][1], before[i][1])
		}
	}
}

// derivedRows are the INSERTs that put the pairs of every bucket of db that
// schema 3 reads from lots (pgkv.Derived) into kv, as schemas 1 and 2 kept
// them.
func derivedRows(t *testing.T, db *DB) []string {
	t.Helper()
	var ins []string
	db.view(func(tx kv.Tx) error {
		for _, name := range indexBuckets {
			if !pgkv.Derived(string(name)) {
				continue
			}
			tx.Bucket(name).ForEach(func(k, v []byte) error {
				ins = append(ins, fmt.Sprintf(`INSERT INTO kv (bucket, k, v) VALUES ('%s', '\x%x', '\x%x')`, name, k, v))
				return nil
			})
		}
		return nil
	})
	if len(ins) == 0 {
		t.Fatal("no lot index pairs to put in kv")
	}
	return ins
}
