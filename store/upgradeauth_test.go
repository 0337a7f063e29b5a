package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/internal/pgtest"
	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/store/kv"
)

// dbSum is every byte of the database at path: the file, or every row of
// every table on PostgreSQL.
func dbSum(t *testing.T, path string) string {
	t.Helper()
	if IsPostgres(path) {
		d, err := pgtest.Digest(path)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// upgradeEntries are the database.upgrade entries of db's trail.
func upgradeEntries(t *testing.T, db *DB) []audit.Entry {
	t.Helper()
	all, err := db.AuditLog("")
	if err != nil {
		t.Fatal(err)
	}
	var up []audit.Entry
	for _, e := range all {
		if e.Action == string(audit.DatabaseUpgrade) {
			up = append(up, e)
		}
	}
	return up
}

// TestOpenUpgradesOnlyForAnAdmin is review 7's finding 9: any writable
// open upgraded an older file — a failed login of a user that does not
// exist did, and `serve` with no session — and no upgrade wrote an audit
// entry. On a schema 10 database, on the file and on PostgreSQL: a
// writable and a read-only Open are refused; so are, at a login, a nurse
// with her right password, an admin with a wrong one and an unknown name,
// all with one answer; each leaves every byte as it was. The admin's login
// with the right password upgrades it, recorded as database.upgrade by her
// with the versions and steps in the reason, before her login entry, and
// `audit verify` passes.
func TestOpenUpgradesOnlyForAnAdmin(t *testing.T) {
	for _, engine := range []string{"file", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			t.Setenv(envEngine, engine)
			db := newTestDB(t)
			path := tamperFile(t, db, func(tx kv.Tx) error {
				return tx.Bucket(bMeta).Put([]byte("schema"), []byte("10"))
			})
			before := dbSum(t, path)
			same := func(what string) {
				t.Helper()
				if dbSum(t, path) != before {
					t.Fatalf("%s changed the older database", what)
				}
			}
			for _, ro := range []bool{false, true} {
				_, err := Open(path, Options{ReadOnly: ro, Timeout: time.Second, Now: db.Now})
				if lot.ErrorCode(err) != lot.ECONFLICT || !strings.Contains(err.Error(), "is at schema version 10; this celltrack needs ") ||
					!strings.Contains(err.Error(), "log in as an admin, which upgrades the file") || lot.ErrorCommand(err) != "login NAME" {
					t.Fatalf("open (read-only %v) of a schema 10 database: %v", ro, err)
				}
				same("a refused open")
			}
			var answers []string
			for _, who := range [][2]string{{"nina", testPassword}, {"liu", testPassword}, {"alice", "not-her-password"}, {"nobody", testPassword}} {
				up, err := OpenForLogin(path, Options{Timeout: time.Second, Now: db.Now})
				if err != nil {
					t.Fatal(err)
				}
				if up.Behind() != 10 {
					t.Errorf("Behind %d, want 10", up.Behind())
				}
				_, _, err = up.Login(who[0], who[1], nil)
				up.Close()
				if lot.ErrorCode(err) != lot.ECONFLICT || !strings.Contains(err.Error(), "is at schema version 10") || !strings.Contains(err.Error(), "the attempt is not recorded") {
					t.Fatalf("login of %s on a schema 10 database: %v", who[0], err)
				}
				answers = append(answers, err.Error())
				same("the refused login of " + who[0])
			}
			for _, a := range answers[1:] {
				if a != answers[0] {
					t.Errorf("refused logins answer differently:\n%s\n%s", a, answers[0])
				}
			}
			up, err := OpenForLogin(path, Options{Timeout: time.Second, Now: db.Now})
			if err != nil {
				t.Fatal(err)
			}
			db.engine = up.engine // newTestDB's cleanup checks and closes it
			if _, _, err := up.Login("alice", testPassword, nil); err != nil {
				t.Fatalf("the admin's login: %v", err)
			}
			if v, note, err := up.Schema(); err != nil || v != SchemaVersion || !strings.Contains(note, `"from":10`) || up.Behind() != 0 {
				t.Fatalf("after the admin's login: schema %d, note %s, %v", v, note, err)
			}
			all, err := up.AuditLog("")
			if err != nil || len(all) < 2 {
				t.Fatal(err)
			}
			e, login := all[len(all)-2], all[len(all)-1]
			if e.Action != "database.upgrade" || e.User != "alice" || !strings.HasPrefix(e.Reason, fmt.Sprintf("schema 10 → %d: 11: the audit tree", SchemaVersion)) || login.Action != "login" {
				t.Fatalf("the last entries: %+v\n%+v", e, login)
			}
			if n := len(upgradeEntries(t, up)); n != 1 {
				t.Errorf("%d database.upgrade entries, want 1", n)
			}
			verifyOK(t, up)
		})
	}
}

// TestUpgradeInterruptedKeepsTheFileOld: the upgrade's steps before its last
// transaction (the tree built, the entries compressed) commit on their own.
// Killed after them, or failing in the last transaction (an index it cannot
// rebuild), the file is still at its old schema with no database.upgrade
// entry, is still refused to everyone else, and `audit verify` run after
// an admin's upgrade passes, with exactly one upgrade entry.
func TestUpgradeInterruptedKeepsTheFileOld(t *testing.T) {
	db := newTestDB(t)
	for _, n := range []string{"LOT-1", "LOT-2", "LOT-3"} {
		registerUC(t, db, n)
	}
	path := tamperFile(t, db, func(tx kv.Tx) error {
		if err := tx.DeleteBucket(bAuditTree); err != nil {
			return err
		}
		if _, err := tx.CreateBucket(bAuditTree); err != nil {
			return err
		}
		return tx.Bucket(bMeta).Put([]byte("schema"), []byte("4"))
	})
	old := func(db *DB, what string) {
		t.Helper()
		if v, _, err := db.Schema(); err != nil || v != 4 {
			t.Fatalf("%s: schema %d, %v; want 4", what, v, err)
		}
		if n := len(upgradeEntries(t, db)); n != 0 {
			t.Fatalf("%s: %d upgrade entries", what, n)
		}
	}
	// Killed after the steps before the last transaction.
	up, _, err := OpenForUpgrade(path, Options{Timeout: time.Second, Now: db.Now})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := up.buildTree(4); err != nil {
		t.Fatal(err)
	}
	if _, err := up.compressEntries(4); err != nil {
		t.Fatal(err)
	}
	old(up, "killed before the last transaction")
	up.Close()
	if _, err := Open(path, Options{Timeout: time.Second}); lot.ErrorCode(err) != lot.ECONFLICT {
		t.Fatalf("writable open after the interrupted upgrade: %v", err)
	}
	// Failing in the last transaction: a lost index with records.
	up, _, err = OpenForUpgrade(path, Options{Timeout: time.Second, Now: db.Now})
	if err != nil {
		t.Fatal(err)
	}
	var saved [][2][]byte
	if err := up.engine.Update(func(tx kv.Tx) error {
		tx.Bucket([]byte("idx_lot_number")).ForEach(func(k, v []byte) error {
			saved = append(saved, [2][]byte{bytes.Clone(k), bytes.Clone(v)})
			return nil
		})
		return tx.DeleteBucket([]byte("idx_lot_number"))
	}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := up.Upgrade("alice"); lot.ErrorCode(err) != lot.ECONFLICT || !strings.Contains(err.Error(), "lacks the bucket idx_lot_number while its records exist") {
		t.Fatalf("upgrade without idx_lot_number: %v", err)
	}
	old(up, "failed in the last transaction")
	// The index put back (from a backup), the upgrade resumes and is
	// recorded once.
	if err := up.engine.Update(func(tx kv.Tx) error {
		b, err := tx.CreateBucket([]byte("idx_lot_number"))
		if err != nil {
			return err
		}
		for _, kv := range saved {
			if err := b.Put(kv[0], kv[1]); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := up.Upgrade("alice"); err != nil {
		t.Fatal(err)
	}
	db.engine = up.engine
	if es := upgradeEntries(t, up); len(es) != 1 || !strings.HasPrefix(es[0].Reason, "schema 4 → ") {
		t.Fatalf("upgrade entries %+v", es)
	}
	verifyOK(t, up)
}

// TestOneTimePasswordUpgradesOnlyAfterTheNewOne: an admin whose password
// another admin reset logs in on an older file with that one-time password:
// without the new password the login is refused and the file is left byte
// for byte; with it, the file is upgraded and the password changed, in
// that one login (review 8, finding 13).
func TestOneTimePasswordUpgradesOnlyAfterTheNewOne(t *testing.T) {
	db := newTestDB(t)
	addTestUser(t, db, audit.User{Name: "bob", FullName: "Bob", Role: audit.Admin})
	const oneTime, chosen = "copper-temp-pass-881", "maple-orbit-lantern-31"
	if _, err := db.ResetPassword("bob", "alice", oneTime, "forgot it", nil); err != nil {
		t.Fatal(err)
	}
	path := tamperFile(t, db, func(tx kv.Tx) error {
		return tx.Bucket(bMeta).Put([]byte("schema"), []byte("12"))
	})
	before := dbSum(t, path)
	up, err := OpenForLogin(path, Options{Timeout: time.Second, Now: db.Now})
	if err != nil {
		t.Fatal(err)
	}
	db.engine = up.engine // newTestDB's cleanup checks and closes it
	noLine := func() (string, error) { return "", lot.Errorf(lot.EUSAGE, "no new password given") }
	if _, _, err := up.Login("alice", oneTime, noLine); lot.ErrorCode(err) != lot.EUSAGE {
		t.Fatalf("login with the one-time password and no new one: %v", err)
	}
	if _, _, err := up.Login("alice", oneTime, nil); lot.ErrorCode(err) != lot.EPASSWORD || !strings.Contains(err.Error(), "nothing was written") {
		t.Fatalf("login with the one-time password, no way to ask: %v", err)
	}
	if dbSum(t, path) != before || up.Behind() == 0 {
		t.Fatal("a login stopped for the new password upgraded the older file")
	}
	if _, _, err := up.Login("alice", oneTime, func() (string, error) { return chosen, nil }); err != nil {
		t.Fatalf("login with the new password: %v", err)
	}
	if up.Behind() != 0 || len(upgradeEntries(t, up)) != 1 {
		t.Fatalf("after the login: behind %d, %d upgrades", up.Behind(), len(upgradeEntries(t, up)))
	}
	if _, _, err := up.Login("alice", chosen, nil); err != nil {
		t.Fatalf("the new password afterwards: %v", err)
	}
}
