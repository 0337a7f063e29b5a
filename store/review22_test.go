package store

import (
	"fmt"
	"strings"
	"testing"

	"github.com/celltrack/celltrack/internal/pgtest"
	"github.com/celltrack/celltrack/store/pgkv"
)

// TestReview22EngineUpgradeIsRecorded is review 22's finding A. On
// PostgreSQL `celltrack upgrade` first applies the engine's migrations
// that are behind (OpenForUpgrade returns their versions); from an engine
// at schema 1 or 2 those are schemas 3–5, which delete the four lot index
// buckets' rows from kv, drop lots_donor_id_fkey and audit_entries'
// seq index, and GRANT privileges to every role that holds some on lots
// or donors. None of it reaches the audit trail: with the store's schema
// already current, Upgrade writes no database.upgrade entry (and the
// command, which discards the versions, prints only "is at schema version
// N"). A change of the database's definition and of who may do what in
// it, made by an admin's upgrade, must be in the trail like a store
// schema step ("Either way the upgrade appends one audit entry
// database.upgrade by that admin, its reason naming the versions and what
// each step did").
func TestReview22EngineUpgradeIsRecorded(t *testing.T) {
	old, _, now := schema1Copy(t)
	up, _, err := OpenForUpgrade(old, Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	before := len(upgradeEntries(t, up))
	if _, _, err := up.Upgrade("alice"); err != nil {
		t.Fatal(err)
	}
	// fix22a: the engine migrations run in the admin's Upgrade, after her
	// role is checked (TestReview22RefusedUpgradeLeavesTheEngine), no
	// longer in OpenForUpgrade: their versions are read from the database.
	var applied []int
	for v := 2; v <= pgkv.LatestVersion(); v++ {
		applied = append(applied, v)
	}
	if err := pgtest.Exec(old, fmt.Sprintf(`DO $$ BEGIN IF (SELECT max(version) FROM pgkv_migrations) <> %d THEN RAISE EXCEPTION 'engine schema %% after the upgrade', (SELECT max(version) FROM pgkv_migrations); END IF; END $$`, pgkv.LatestVersion())); err != nil {
		t.Fatalf("the admin's upgrade left the engine behind: %v", err)
	}
	after := upgradeEntries(t, up)
	if len(after) == before {
		t.Fatalf("the upgrade applied engine migrations %v (rows of kv deleted, lots_donor_id_fkey dropped, roles granted privileges) and wrote no database.upgrade entry", applied)
	}
	last := after[len(after)-1]
	if last.User != "alice" || !strings.Contains(last.Reason, "engine") {
		t.Errorf("the upgrade's entry does not name the engine migrations %v: by %s, %q", applied, last.User, last.Reason)
	}
	// Each migration is named with what it did, in its SQL file's words.
	for _, want := range []string{"PostgreSQL engine schema 1 → ", "3: the lot index buckets are read from the lots table", "4: a lot's donor is checked once per statement"} {
		if !strings.Contains(last.Reason, want) {
			t.Errorf("the upgrade's entry lacks %q: %q", want, last.Reason)
		}
	}
	if up.EngineUpgrade() == "" || !strings.Contains(last.Reason, up.EngineUpgrade()) {
		t.Errorf("EngineUpgrade %q, the entry's reason %q", up.EngineUpgrade(), last.Reason)
	}
	// A second upgrade applies nothing and records nothing again.
	n := len(after)
	if _, _, err := up.Upgrade("alice"); err != nil {
		t.Fatal(err)
	}
	if again := upgradeEntries(t, up); len(again) != n {
		t.Errorf("a second Upgrade on the same handle wrote %d more database.upgrade entries", len(again)-n)
	}
}

// TestReview22DonorDeleteNamesDonors is review 22's finding B. Schema 4
// replaced lots_donor_id_fkey with triggers whose commit-time check
// raises, for every direction, the text of a lot written with a missing
// donor: a DBA's `DELETE FROM donors` (or UPDATE of a donor's id) that a
// lot still names is refused 'insert or update on table "lots" violates
// foreign key constraint "lots_donor_id_fkey"', Key (donor_id)=(…) "is
// not present in table donors" — naming a statement that was not run, on
// a table that was not touched. The foreign key it replaces (and the
// migration's promise, "refuses the COMMIT with the foreign key's error")
// says 'update or delete on table "donors" … on table "lots"', "is still
// referenced from table lots".
func TestReview22DonorDeleteNamesDonors(t *testing.T) {
	t.Setenv(envEngine, "postgres")
	db, _ := bedside(t, "0.5")
	url := db.Path()
	for _, q := range []string{
		// The donors' screenings go first: their own foreign key would
		// refuse the statement too, with its own (right) words.
		"WITH s AS (DELETE FROM screenings) DELETE FROM donors",
		"WITH s AS (DELETE FROM screenings) UPDATE donors SET id = gen_random_uuid()",
	} {
		err := pgtest.Exec(url, q)
		if err == nil {
			t.Fatalf("%s: not refused while lots name the donors", q)
		}
		if msg := err.Error(); !strings.Contains(msg, "lots_donor_id_fkey") || !strings.Contains(msg, `table "donors"`) || !strings.Contains(msg, "still referenced") && !strings.Contains(msg, "update or delete") {
			t.Errorf("%s is refused with a message about another statement on another table: %v", q, err)
		}
	}
}

// TestReview22RefusedUpgradeLeavesTheEngine is the other half of finding
// A: the engine migrations run before the session is checked (README "Who
// may do what": "they change table definitions only, never a record …"),
// so a nurse's `celltrack upgrade`, refused "may not database.upgrade",
// has already brought the engine from schema 1 to 5 — deleted the lot
// index rows of kv, dropped lots_donor_id_fkey and granted privileges to
// roles — against the rule that a refusal leaves the database untouched,
// and no entry of the admin's later upgrade says so (finding A above).
func TestReview22RefusedUpgradeLeavesTheEngine(t *testing.T) {
	old, _, now := schema1Copy(t)
	up, applied, err := OpenForUpgrade(old, Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	if _, _, err := up.Upgrade("omar"); err == nil {
		t.Fatal("a nurse's upgrade was not refused")
	}
	if err := pgtest.Exec(old, `DO $$ BEGIN IF (SELECT max(version) FROM pgkv_migrations) > 1 THEN
		RAISE EXCEPTION 'engine schema % after the refused upgrade', (SELECT max(version) FROM pgkv_migrations); END IF; END $$`); err != nil {
		t.Errorf("a nurse's refused upgrade applied engine migrations %v: %v", applied, err)
	}
}

// TestReview22VerifyNamesTheColumnNotAView is review 22's finding C. On
// PostgreSQL the lot index buckets are views over lots (schema 3) that
// refuse every write; an edit of lots.number by SQL is reported by `audit
// verify` as five problems, four of them index entries "added outside
// celltrack" and "removed outside celltrack" — edits that cannot have
// been made — beside the one that happened (the column). QA sent looking
// for who wrote idx_lot_number finds nothing to find.
func TestReview22VerifyNamesTheColumnNotAView(t *testing.T) {
	t.Setenv(envEngine, "postgres")
	db, _ := bedside(t, "0.5")
	if err := pgtest.Exec(db.Path(), "UPDATE lots SET number = number || 'Z' WHERE k = (SELECT k FROM lots ORDER BY k LIMIT 1)"); err != nil {
		t.Fatal(err)
	}
	v, err := db.Verify()
	if err != nil {
		t.Fatal(err)
	}
	if v.OK() {
		t.Fatal("an edit of lots.number passed verify")
	}
	for _, p := range v.Problems {
		if strings.Contains(p, "idx_lot_") && strings.Contains(p, "outside celltrack") {
			t.Errorf("verify blames a view that refuses writes: %s", p)
		}
	}
}
