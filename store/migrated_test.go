package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/store/kv"
)

// markMigrated puts the mark MigrateTo leaves on a source, as if db had
// been migrated to to: the refusals below need no second engine.
func markMigrated(t *testing.T, db *DB, to string) {
	t.Helper()
	err := db.update("alice", audit.DatabaseMigrate, func(w *writer) error {
		h, err := treeHead(w.tx)
		if err != nil {
			return err
		}
		m := MigratedMark{V: 1, To: to, Engine: "PostgreSQL", At: w.now, By: "alice", Size: h.Size, Root: audit.RootString(h.Root), Entry: uint64(h.Size) + 1}
		if err := w.event(kindUser, w.actor.ID, actionMigrate, fmt.Sprintf("migrated to %s (%s) with %d entries, root %s; this database takes no more writes", to, m.Engine, m.Size, m.Root)); err != nil {
			return err
		}
		raw, _ := json.Marshal(m)
		return w.tx.Bucket(bMeta).Put(metaMigrated, raw)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestMigratedMarkLostIsCaught: the mark lives outside the hash chain, so
// `audit verify` holds it against the trail: removed behind celltrack's
// back while the last migration entry says the database was migrated away
// (it would take writes again, silently), or put there without such an
// entry, verify fails naming the entry; reopening records that the mark
// was gone, and verify passes again.
func TestMigratedMarkLostIsCaught(t *testing.T) {
	db := newTestDB(t)
	markMigrated(t, db, "/srv/site.db")
	v, err := db.Verify()
	if err != nil || !v.OK() {
		t.Fatalf("verify of a marked database: %v %v", err, v.Problems)
	}
	entry := v.Entries
	raw := func(fn func(b kv.Bucket) error) {
		if err := db.engine.Update(func(tx kv.Tx) error { return fn(tx.Bucket(bMeta)) }); err != nil {
			t.Fatal(err)
		}
	}
	var kept []byte
	raw(func(b kv.Bucket) error { kept = append(kept, b.Get(metaMigrated)...); return b.Delete(metaMigrated) })
	v, err = db.Verify()
	want := fmt.Sprintf("audit entry %d (database.migrate by alice, ", entry)
	if err != nil || v.OK() || !strings.Contains(v.Problems[0], want) || !strings.Contains(v.Problems[0], "migrated to /srv/site.db") || !strings.Contains(v.Problems[0], "mark (meta \"migrated\") is missing") {
		t.Fatalf("verify with the mark removed: %v %q, want a problem starting %q", err, v.Problems, want)
	}
	// A mark naming another entry.
	raw(func(b kv.Bucket) error {
		return b.Put(metaMigrated, bytes.Replace(kept, []byte(fmt.Sprintf(`"entry":%d`, entry)), []byte(`"entry":3`), 1))
	})
	if v, _ := db.Verify(); v.OK() || !strings.Contains(v.Problems[0], "names audit entry 3") {
		t.Fatalf("verify with the mark's entry changed: %q", v.Problems)
	}
	raw(func(b kv.Bucket) error { return b.Delete(metaMigrated) })

	m, err := db.ReopenMigrated("alice", "target lost")
	if err != nil || m.To != "/srv/site.db" || m.Engine != "PostgreSQL" || m.Entry != uint64(entry) {
		t.Fatalf("reopen without the mark: %+v %v", m, err)
	}
	log, _ := db.AuditLog("")
	if last := log[len(log)-1]; last.Action != actionReopen || !strings.Contains(last.Reason, "had been removed outside celltrack") {
		t.Fatalf("the reopening: %s %q", last.Action, last.Reason)
	}
	if v, err := db.Verify(); err != nil || !v.OK() {
		t.Fatalf("verify after the reopening: %v %v", err, v.Problems)
	}
	if _, err := db.ReopenMigrated("alice", "again"); lot.ErrorCode(err) != lot.ECONFLICT {
		t.Fatalf("a second reopening: %v", err)
	}

	// A mark put there with no migration since the reopening.
	raw(func(b kv.Bucket) error { return b.Put(metaMigrated, kept) })
	if v, _ := db.Verify(); v.OK() || !strings.Contains(v.Problems[0], "is not this database's migration away: the mark was written outside celltrack") {
		t.Fatalf("verify with a mark after the reopening: %q", v.Problems)
	}
	raw(func(b kv.Bucket) error { return b.Delete(metaMigrated) })
	fresh := newTestDB(t)
	if err := fresh.engine.Update(func(tx kv.Tx) error { return tx.Bucket(bMeta).Put(metaMigrated, kept) }); err != nil {
		t.Fatal(err)
	}
	if v, _ := fresh.Verify(); v.OK() || !strings.Contains(v.Problems[0], "the trail has no database.migrate entry") {
		t.Fatalf("verify with a mark and no migration: %q", v.Problems)
	}
	fresh.engine.Update(func(tx kv.Tx) error { return tx.Bucket(bMeta).Delete(metaMigrated) })
}

func entryCount(t *testing.T, db *DB) int {
	t.Helper()
	v, err := db.Verify()
	if err != nil || !v.OK() {
		t.Fatalf("verify: %v %v", err, v.Problems)
	}
	return v.Entries
}

// TestMigratedDatabaseRefusesEveryWrite: on a marked database each kind of
// write — records, accounts, settings, one's own password, a lot of the
// lab's — is refused with the mark's words and nothing is written, while a
// login and a wrong password are still recorded.
func TestMigratedDatabaseRefusesEveryWrite(t *testing.T) {
	db := newTestDB(t)
	const to = "postgres://celltrack@db.example.org/celltrack"
	markMigrated(t, db, to)
	now := db.Now()
	writes := []struct {
		name string
		fn   func() error
	}{
		{"lot register", func() error {
			_, err := NewLotService(db).RegisterLot("liu", lot.Registration{Number: "LOT-M-1", Source: lot.SourceUC, Donor: "D-1",
				Cells: 2_000_000_000, Viability: 950, VolumeML: 1000, Manufactured: now.AddDate(0, 0, -5), Expires: now.AddDate(1, 0, 0)})
			return err
		}},
		{"patient add", func() error {
			_, err := NewLotService(db).AddPatient("nina", lot.Patient{MRN: "MRN-2", Name: "Hana", Born: now.AddDate(-50, 0, 0), Sex: "F"})
			return err
		}},
		{"user add", func() error {
			_, err := db.AddUser("alice", audit.User{Name: "omar", FullName: "Omar", Role: audit.Nurse}, testPassword, testPassword)
			return err
		}},
		{"settings set", func() error {
			s, _ := db.Settings()
			s.IdleExpiry = 20 * time.Minute
			return db.SetSettings("alice", s, "longer shifts")
		}},
		{"own password", func() error {
			_, err := db.ChangePassword("nina", testPassword, "cobalt-heron-lake-42", nil)
			return err
		}},
	}
	for _, w := range writes {
		t.Run(w.name, func(t *testing.T) {
			before := entryCount(t, db)
			err := w.fn()
			if lot.ErrorCode(err) != lot.ECONFLICT || !strings.Contains(lot.ErrorMessage(err), "this database was migrated to "+to) || !strings.Contains(lot.ErrorMessage(err), "nothing was written") {
				t.Fatalf("got %v, want the migration's refusal", err)
			}
			if after := entryCount(t, db); after != before {
				t.Errorf("the refusal wrote %d entries", after-before)
			}
		})
	}
	before := entryCount(t, db)
	laterLogin(db)
	if _, _, err := db.Login("nina", testPassword, nil); err != nil {
		t.Fatalf("login on a migrated database: %v", err)
	}
	if _, _, err := db.Login("nina", "wrong-password-1", nil); lot.ErrorCode(err) != lot.EAUTH {
		t.Fatalf("wrong password: %v", err)
	}
	if after := entryCount(t, db); after != before+2 {
		t.Errorf("a login and a wrong password made %d entries, want 2", after-before)
	}
	m, err := db.Migrated()
	if err != nil || m == nil || m.To != to || !strings.Contains(m.Note(), to) {
		t.Fatalf("Migrated: %+v %v", m, err)
	}
}

// TestReopenMigrated: only an admin, only with a reason, only a marked
// database; the reopening is an entry and writes work after it.
func TestReopenMigrated(t *testing.T) {
	db := newTestDB(t)
	if _, err := db.ReopenMigrated("alice", "target lost"); lot.ErrorCode(err) != lot.ECONFLICT {
		t.Fatalf("reopen of a database never migrated: %v", err)
	}
	markMigrated(t, db, "/srv/site.db")
	before := entryCount(t, db)
	if _, err := db.ReopenMigrated("alice", "  "); lot.ErrorCode(err) != lot.EUSAGE {
		t.Fatalf("reopen without a reason: %v", err)
	}
	if _, err := db.ReopenMigrated("nina", "target lost"); lot.ErrorCode(err) != lot.EFORBIDDEN {
		t.Fatalf("reopen by a nurse: %v", err)
	}
	if after := entryCount(t, db); after != before {
		t.Fatalf("refused reopens wrote %d entries", after-before)
	}
	if m, err := db.ReopenMigrated("alice", "target lost"); err != nil || m.To != "/srv/site.db" {
		t.Fatalf("reopen: %+v %v", m, err)
	}
	log, err := db.AuditLog("")
	if err != nil {
		t.Fatal(err)
	}
	last := log[len(log)-1]
	if last.Action != actionReopen || !strings.Contains(last.Reason, "/srv/site.db") || !strings.Contains(last.Reason, "target lost") {
		t.Errorf("last entry %s %q", last.Action, last.Reason)
	}
	if m, _ := db.Migrated(); m != nil {
		t.Errorf("still marked: %+v", m)
	}
	registerUC(t, db, "LOT-R-1")
}

// TestRemoveStaleWrites: a copy nobody holds that has not changed for a
// minute is removed; a fresh one, or one a live bbolt holds, is kept and
// named; another target's copy is not touched.
func TestRemoveStaleWrites(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "out.db")
	old := time.Now().Add(-time.Hour)
	mk := func(name string, age time.Time) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("copy"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, age, age); err != nil {
			t.Fatal(err)
		}
		return p
	}
	dead := mk(".out.db.writing-111", old)
	fresh := mk(".out.db.writing-222", time.Now())
	other := mk(".other.db.writing-333", old)
	// A copy being written: a bbolt file its writer holds.
	live := filepath.Join(dir, ".out.db.writing-444")
	ldb, err := Open(live, Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ldb.Close()
	if err := os.Chtimes(live, old, old); err != nil {
		t.Fatal(err)
	}
	got := map[string]StaleWrite{}
	for _, s := range removeStaleWrites(target) {
		got[s.Path] = s
	}
	if len(got) != 3 {
		t.Errorf("found %v, want 3", got)
	}
	if !got[dead].Removed {
		t.Errorf("the abandoned copy was kept: %+v", got[dead])
	}
	if _, err := os.Stat(dead); err == nil {
		t.Errorf("%s still exists", dead)
	}
	for _, p := range []string{fresh, live} {
		if got[p].Removed || got[p].Kept == "" {
			t.Errorf("%s: %+v, want kept with a reason", p, got[p])
		}
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s was removed", p)
		}
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("another target's copy was removed")
	}
}

// TestMarkRemovedAfterLoginsStillRefuses: the old copy still records
// logins and wrong passwords, entries that set the user's record; with the
// mark then removed outside celltrack, the trail read back over them still
// reaches the migration, and a record write is refused, nothing written
// (review 8, finding 14).
func TestMarkRemovedAfterLoginsStillRefuses(t *testing.T) {
	db := newTestDB(t)
	markMigrated(t, db, "/srv/site.db")
	laterLogin(db)
	if _, _, err := db.Login("nina", testPassword, nil); err != nil {
		t.Fatalf("login on a migrated database: %v", err)
	}
	if _, _, err := db.Login("liu", "wrong-password-1", nil); lot.ErrorCode(err) != lot.EAUTH {
		t.Fatalf("wrong password: %v", err)
	}
	log, _ := db.AuditLog("")
	if n := len(log); log[n-1].Action != "login.refused" || log[n-2].Action != "login" {
		t.Fatalf("the trail's end: %s, %s; want a login and a refused one", log[n-2].Action, log[n-1].Action)
	}
	if err := db.engine.Update(func(tx kv.Tx) error { return tx.Bucket(bMeta).Delete(metaMigrated) }); err != nil {
		t.Fatal(err)
	}
	before := len(log)
	_, err := NewLotService(db).AddPatient("nina", lot.Patient{MRN: "MRN-2", Name: "Hana", Born: db.Now().AddDate(-50, 0, 0), Sex: "F"})
	if lot.ErrorCode(err) != lot.ECONFLICT || !strings.Contains(lot.ErrorMessage(err), "was removed outside celltrack") {
		t.Fatalf("a write after the mark was removed: %v, want the migration's refusal", err)
	}
	if log, _ := db.AuditLog(""); len(log) != before {
		t.Errorf("the refusal wrote %d entries", len(log)-before)
	}
}

// TestMarkRedirectedIsCaught: the mark's fields are unaudited meta; one
// rewritten outside celltrack (the target, here) is not what readers and
// refused writers are sent to — they get the database.migrate entry's —
// and verify fails naming the field and both values (review 8, finding 17).
func TestMarkRedirectedIsCaught(t *testing.T) {
	db := newTestDB(t)
	const to, evil = "postgres://celltrack@db.example.org/celltrack", "postgres://celltrack@evil.example.org/celltrack"
	markMigrated(t, db, to)
	if err := db.engine.Update(func(tx kv.Tx) error {
		b := tx.Bucket(bMeta)
		return b.Put(metaMigrated, bytes.Replace(b.Get(metaMigrated), []byte(to), []byte(evil), 1))
	}); err != nil {
		t.Fatal(err)
	}
	m, err := db.Migrated()
	if err != nil || m == nil || m.To != to || !strings.Contains(m.Note(), "work on "+to+" — its mark") || !strings.Contains(m.Note(), "to is "+evil) {
		t.Fatalf("Migrated of a redirected mark: %+v %v", m, err)
	}
	_, err = NewLotService(db).AddPatient("nina", lot.Patient{MRN: "MRN-2", Name: "Hana", Born: db.Now().AddDate(-50, 0, 0), Sex: "F"})
	if msg := lot.ErrorMessage(err); lot.ErrorCode(err) != lot.ECONFLICT || !strings.Contains(msg, "use that database, "+to) || !strings.Contains(msg, "changed outside celltrack") {
		t.Fatalf("a write on a redirected mark: %v", err)
	}
	v, err := db.Verify()
	if err != nil || v.OK() || !strings.Contains(v.Problems[0], "disagrees with the database.migrate entry") || !strings.Contains(v.Problems[0], "to is "+evil+", audit entry") {
		t.Fatalf("verify of a redirected mark: %v %q", err, v.Problems)
	}
}

// laterLogin moves db's clock a minute on, past addTestUser's first login:
// a login at the very instant of the last one would leave the user's record
// as it was, and an unchanged record is not written again.
func laterLogin(db *DB) {
	later := db.Now().Add(time.Minute)
	db.Now = func() time.Time { return later }
}

// TestSetsUserAgreesWithTheUsersBucket: migratedByTrail tells a user's
// state entry from another record's by the entry's own kind where a Get is
// a round trip (PostgreSQL) and by the users bucket where it is not
// (bbolt); for every state entry of a trail with accounts added, logins,
// a wrong password, a donor, a patient and a lot, the two say the same.
func TestSetsUserAgreesWithTheUsersBucket(t *testing.T) {
	db := newTestDB(t)
	registerUC(t, db, "LOT-1")
	laterLogin(db)
	if _, _, err := db.Login("nina", testPassword, nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.Login("liu", "wrong-password-1", nil); lot.ErrorCode(err) != lot.EAUTH {
		t.Fatalf("wrong password: %v", err)
	}
	seen := map[bool]int{}
	if err := db.view(func(tx kv.Tx) error {
		users := tx.Bucket(recordBuckets[kindUser])
		c := tx.Bucket(bAudit).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			h, err := audit.ParseHeader(v)
			if err != nil {
				return err
			}
			if !h.State {
				continue
			}
			kind, err := audit.StoredEntity(v)
			if err != nil {
				return err
			}
			byKind, byBucket := kind == kindUser, users.Get(h.ID[:]) != nil
			if byKind != byBucket || setsUser(tx, users, v, h) != byBucket {
				t.Errorf("entry %d (%s %s): its kind says a user's %v, the users bucket %v, setsUser %v", btoi(k), kind, h.ID, byKind, byBucket, setsUser(tx, users, v, h))
			}
			seen[byBucket]++
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if seen[true] == 0 || seen[false] == 0 {
		t.Fatalf("state entries of users %d, of other records %d: the trail must hold both", seen[true], seen[false])
	}
}
