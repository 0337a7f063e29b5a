package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/dose"
	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/store/boltkv"
	"github.com/celltrack/celltrack/store/kv"
	"golang.org/x/mod/sumdb/tlog"
)

// reopen closes db's file, changes it with fn as an older or foreign program
// would, and returns the path; db.engine is reopened by the caller.
func tamperFile(t *testing.T, db *DB, fn func(tx kv.Tx) error) string {
	t.Helper()
	if err := db.engine.Update(fn); err != nil {
		t.Fatal(err)
	}
	db.Close()
	return db.Path()
}

// openUpgraded opens the older file at path and upgrades it as the admin
// alice, as `celltrack upgrade` does: no other writable open upgrades.
func openUpgraded(path string, opts Options) (*DB, error) {
	db, _, err := OpenForUpgrade(path, opts)
	if err != nil {
		return nil, err
	}
	if _, _, err := db.Upgrade("alice"); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// keptHead checks that the tree of db, just upgraded, is the tree of the
// trail before the upgrade (want) followed by the upgrade's one audit
// entry: every hash and the root of the first want.Size entries unchanged.
func keptHead(t *testing.T, db *DB, want audit.Head) {
	t.Helper()
	got, err := db.TreeHead()
	if err != nil || got.Size != want.Size+1 {
		t.Fatalf("head after the upgrade %+v %v, want %d entries", got, err, want.Size+1)
	}
	db.view(func(tx kv.Tx) error {
		if root, err := tlog.TreeHash(want.Size, newTreeHashes(tx)); err != nil || root != want.Root {
			t.Errorf("root of the first %d entries after the upgrade %v %v, want %v", want.Size, root, err, want.Root)
		}
		return nil
	})
}

// TestOpenMigratesAnOlderFile: a version 1 file lacks idx_event_patient and
// idx_event_infused, and panicked celltrack. A read is refused with what to
// run; a writable open creates the buckets, rebuilds them from the events,
// bumps the schema and records the migration in meta.
func TestOpenMigratesAnOlderFile(t *testing.T) {
	db, d := bedside(t, "0.5")
	if _, _, err := d.Administer(mustUser(t, db, "nina"), mustUser(t, db, "omar"), dose.Administration{MRN: "MRN-1", Containers: []string{bag1}}); err != nil {
		t.Fatal(err)
	}
	count := func(tx kv.Tx, name string) int { return tx.Bucket([]byte(name)).KeyN() }
	var patients, infused int
	path := tamperFile(t, db, func(tx kv.Tx) error {
		patients, infused = count(tx, "idx_event_patient"), count(tx, "idx_event_infused")
		for _, b := range []string{"idx_event_patient", "idx_event_infused", "audit_tree", "checkpoint_keys"} {
			if err := tx.DeleteBucket([]byte(b)); err != nil {
				return err
			}
		}
		return tx.Bucket(bMeta).Put([]byte("schema"), []byte("1"))
	})
	if patients != 2 || infused != 1 { // dispensed and infused name the patient; one infusion
		t.Fatalf("before: %d patient events, %d infused", patients, infused)
	}
	_, err := Open(path, Options{ReadOnly: true, Timeout: time.Second})
	if lot.ErrorCode(err) != lot.ECONFLICT || !strings.Contains(err.Error(), fmt.Sprintf("schema version 1; this celltrack needs %d", SchemaVersion)) || !strings.Contains(err.Error(), "An admin upgrades it") || lot.ErrorCommand(err) != "login NAME" {
		t.Fatalf("read-only open of a version 1 file: %v", err)
	}
	up, err := openUpgraded(path, Options{Timeout: time.Second, Now: db.Now})
	if err != nil {
		t.Fatalf("writable open of a version 1 file: %v", err)
	}
	db.engine = up.engine // newTestDB's cleanup checks and closes it
	v, note, err := up.Schema()
	if err != nil || v != SchemaVersion || !strings.Contains(note, `"from":1`) || !strings.Contains(note, `"events_reindexed":`) || !strings.Contains(note, `"tree_entries":`) {
		t.Fatalf("schema %d, note %q, %v", v, note, err)
	}
	up.view(func(tx kv.Tx) error {
		if p, i := count(tx, "idx_event_patient"), count(tx, "idx_event_infused"); p != patients || i != infused {
			t.Errorf("rebuilt: %d patient events, %d infused; want %d, %d", p, i, patients, infused)
		}
		return nil
	})
	if v, _ := up.Verify(); !v.OK() {
		t.Errorf("audit verify after the upgrade: %v", v.Problems)
	}
}

// TestOpenRefusesAGarbledSchemaAndAnUnrebuildableIndex: a schema value that
// is not a number is refused, not read as 0; a missing index whose records
// exist is refused rather than created empty (lookups would find nothing).
func TestOpenRefusesAGarbledSchemaAndAnUnrebuildableIndex(t *testing.T) {
	for name, fn := range map[string]func(tx kv.Tx) error{
		"garbled": func(tx kv.Tx) error { return tx.Bucket(bMeta).Put([]byte("schema"), []byte("two")) },
		"index":   func(tx kv.Tx) error { return tx.DeleteBucket([]byte("idx_donor_code")) },
	} {
		db := newTestDB(t)
		path := tamperFile(t, db, fn)
		_, err := Open(path, Options{Timeout: time.Second})
		want, code := `garbled schema version "two"`, lot.EINVALID
		if name == "index" {
			// Refused at Open, and by an admin's upgrade, which
			// cannot rebuild it.
			want, code = "lacks idx_donor_code of its key schema; nothing was done or written", lot.ECONFLICT
			if _, uerr := openUpgraded(path, Options{Timeout: time.Second}); lot.ErrorCode(uerr) != lot.ECONFLICT || !strings.Contains(uerr.Error(), "lacks the bucket idx_donor_code while its records exist") {
				t.Errorf("upgrade: %v", uerr)
			}
		}
		if lot.ErrorCode(err) != code || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v; want %s %q", name, err, code, want)
		}
		if db.engine, err = boltkv.Open(path, nil); err != nil {
			t.Fatal(err)
		}
	}
}

// TestEveryIndexHasASource: the migration knows what each index is built from.
func TestEveryIndexHasASource(t *testing.T) {
	for _, b := range indexBuckets {
		if _, ok := indexSource[string(b)]; !ok {
			t.Errorf("index %s has no entry in indexSource (store/migrate.go)", b)
		}
	}
}

// TestOpenMigratesAVersion2File: a version 2 file (before sessions) has no
// sessions bucket, no settings bucket and no database identity; the upgrade
// to 4 makes all three, and a session can then be opened on it.
func TestOpenMigratesAVersion2File(t *testing.T) {
	db := newTestDB(t)
	path := tamperFile(t, db, func(tx kv.Tx) error {
		for _, b := range []string{"sessions", "settings"} {
			if err := tx.DeleteBucket([]byte(b)); err != nil {
				return err
			}
		}
		if err := tx.Bucket(bMeta).Delete(metaDBID); err != nil {
			return err
		}
		return tx.Bucket(bMeta).Put([]byte("schema"), []byte("2"))
	})
	up, err := openUpgraded(path, Options{Timeout: time.Second, Now: db.Now})
	if err != nil {
		t.Fatalf("writable open of a version 2 file: %v", err)
	}
	db.engine = up.engine
	v, note, err := up.Schema()
	if err != nil || v != SchemaVersion || !strings.Contains(note, `"from":2`) || !strings.Contains(note, "sessions") {
		t.Fatalf("schema %d, note %q, %v", v, note, err)
	}
	id, err := up.DatabaseID()
	if err != nil || len(id) != 36 {
		t.Fatalf("database id %q after the upgrade: %v", id, err)
	}
	creds, _, err := up.Login("alice", testPassword, nil)
	if err != nil {
		t.Fatalf("login after the upgrade: %v", err)
	}
	if _, _, err := up.Session(creds); err != nil {
		t.Fatalf("session after the upgrade: %v", err)
	}
	if v, _ := up.Verify(); !v.OK() {
		t.Errorf("audit verify after the upgrade: %v", v.Problems)
	}
}

// TestUpgradeFromVersion2KeepsReactions: a version 2 file whose reactions
// were corrected and voided (records of version 1 that already carried the
// new fields) is refused for reading until upgraded; the upgrade rewrites no
// record, so the reactions read the same and the trail still verifies.
func TestUpgradeFromVersion2KeepsReactions(t *testing.T) {
	db, d, inf := infusedWithReactions(t, 3, 2)
	if _, err := d.CorrectReaction("pat", inf, 1, 1, "mild rash", "grade misread"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.VoidReaction("nina", inf, 2, "wrong patient"); err != nil {
		t.Fatal(err)
	}
	_, before, err := d.Infusions("MRN-1")
	if err != nil {
		t.Fatal(err)
	}
	path := tamperFile(t, db, func(tx kv.Tx) error { return tx.Bucket(bMeta).Put([]byte("schema"), []byte("2")) })
	if _, err := Open(path, Options{ReadOnly: true, Timeout: time.Second}); lot.ErrorCode(err) != lot.ECONFLICT || !strings.Contains(err.Error(), "An admin upgrades it") || lot.ErrorCommand(err) != "login NAME" {
		t.Fatalf("read-only open of a version 2 file: %v", err)
	}
	up, err := openUpgraded(path, Options{Timeout: time.Second, Now: db.Now})
	if err != nil {
		t.Fatal(err)
	}
	db.engine = up.engine
	if v, note, err := up.Schema(); err != nil || v != SchemaVersion || !strings.Contains(note, `"from":2`) {
		t.Fatalf("schema %d, note %q, %v", v, note, err)
	}
	_, after, err := (&DoseService{db: up}).Infusions("MRN-1")
	if err != nil || fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("reactions after the upgrade:\n%v\nbefore:\n%v (%v)", after, before, err)
	}
	if v, _ := up.Verify(); !v.OK() {
		t.Errorf("audit verify after the upgrade: %v", v.Problems)
	}
}

// TestUpgradeBuildsTheTree: a version 2 file has no audit tree. The upgrade
// builds it from the entries in batches, resuming a tree an interrupted
// upgrade left part-built, and the root is the one celltrack would have
// written entry by entry.
func TestUpgradeBuildsTheTree(t *testing.T) {
	db := newTestDB(t)
	for _, n := range []string{"LOT-1", "LOT-2", "LOT-3"} {
		registerUC(t, db, n)
	}
	want, err := db.TreeHead()
	if err != nil {
		t.Fatal(err)
	}
	path := tamperFile(t, db, func(tx kv.Tx) error {
		if err := tx.DeleteBucket(bAuditTree); err != nil {
			return err
		}
		if err := tx.DeleteBucket([]byte("checkpoint_keys")); err != nil {
			return err
		}
		// An interrupted upgrade built the first 5 entries' tree: no
		// node of a stored level yet, so the upgrade starts again at 1.
		if _, err := tx.CreateBucket(bAuditTree); err != nil {
			return err
		}
		for seq := uint64(1); seq <= 5; seq++ {
			h, _ := audit.StoredHash(tx.Bucket(bAudit).Get(itob(seq)))
			if err := appendTree(tx, seq, h); err != nil {
				return err
			}
		}
		return tx.Bucket(bMeta).Put([]byte("schema"), []byte("2"))
	})
	defer func(b int) { treeBatch = b }(treeBatch)
	treeBatch = 4
	up, err := openUpgraded(path, Options{Timeout: time.Second, Now: db.Now})
	if err != nil {
		t.Fatal(err)
	}
	db.engine = up.engine
	keptHead(t, up, want)
	v, note, _ := up.Schema()
	if v != SchemaVersion || !strings.Contains(note, `"from":2`) || !strings.Contains(note, fmt.Sprintf(`"tree_entries":%d`, want.Size)) {
		t.Fatalf("schema %d, note %s", v, note)
	}
	if vr, _ := up.Verify(); !vr.OK() {
		t.Fatalf("verify after the upgrade: %v", vr.Problems)
	}
}

// encodeV7 is how celltrack before schema 8 stored an entry: the header
// (state 1: the body holds the value set), then the JSON body, hashed as
// stored.
func encodeV7(t *testing.T, e *audit.Entry) []byte {
	t.Helper()
	body, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 113+len(body))
	copy(buf[32:], e.PrevHash[:])
	copy(buf[64:], e.ID[:])
	if e.State {
		sha := sha256.Sum256(e.New)
		copy(buf[80:], sha[:])
		buf[112] = 1
	}
	copy(buf[113:], body)
	e.Hash = sha256.Sum256(buf[32:])
	copy(buf, e.Hash[:])
	return buf
}

// TestUpgradeFromVersion7LeavesEveryHash: a version 7 file stores each audit
// entry whole: its JSON body uncompressed, with the value it set. The
// upgrade to 8 compresses every body (continuing an interrupted run) and
// keeps every header and hash, so the chain, the tree and a checkpoint
// signed before the upgrade verify after it, and the trail reads the same,
// previous and new values included; an entry altered before the upgrade is
// still caught. Entries written after it are lean and read alike.
func TestUpgradeFromVersion7LeavesEveryHash(t *testing.T) {
	for _, alter := range []bool{false, true} {
		t.Run(fmt.Sprintf("altered=%v", alter), func(t *testing.T) {
			db, signer, _ := keyed(t)
			for _, n := range []string{"LOT-1", "LOT-2", "LOT-3"} {
				registerUC(t, db, n)
			}
			before, err := db.AuditLog("")
			if err != nil {
				t.Fatal(err)
			}
			// Rewrite the trail as version 7 wrote it, re-chained, with its tree.
			err = db.engine.Update(func(tx kv.Tx) error {
				b := tx.Bucket(bAudit)
				var prev [32]byte
				for i := range before {
					e := before[i]
					e.PrevHash = prev
					v := encodeV7(t, &e)
					before[i].Hash, before[i].PrevHash, before[i].Lean = e.Hash, e.PrevHash, false
					prev = e.Hash
					if alter && e.Seq == 5 {
						v = bytes.Replace(v, []byte(`"time":"2`), []byte(`"time":"3`), 1)
					}
					if e.Seq <= 3 {
						// An interrupted upgrade compressed these already.
						if v, err = audit.Compress(v); err != nil {
							return err
						}
					}
					if err := b.Put(itob(e.Seq), v); err != nil {
						return err
					}
				}
				if err := tx.DeleteBucket(bAuditTree); err != nil {
					return err
				}
				if _, err := tx.CreateBucket(bAuditTree); err != nil {
					return err
				}
				for _, e := range before {
					if err := appendTree(tx, e.Seq, e.Hash); err != nil {
						return err
					}
				}
				return tx.Bucket(bMeta).Put([]byte("schema"), []byte("7"))
			})
			if err != nil {
				t.Fatal(err)
			}
			cp, _, err := db.SignCheckpoint(signer, false)
			if err != nil {
				t.Fatal(err)
			}
			head, err := db.TreeHead()
			if err != nil {
				t.Fatal(err)
			}
			db.Close()
			defer func(b int) { treeBatch = b }(treeBatch)
			treeBatch = 4
			up, err := openUpgraded(db.Path(), Options{Timeout: time.Second, Now: db.Now})
			if err != nil {
				t.Fatal(err)
			}
			db.engine = up.engine
			v, note, _ := up.Schema()
			if v != SchemaVersion || !strings.Contains(note, `"from":7`) || !strings.Contains(note, fmt.Sprintf(`"entries_compressed":%d`, len(before)-3)) {
				t.Fatalf("schema %d, note %s", v, note)
			}
			err = up.engine.View(func(tx kv.Tx) error {
				return tx.Bucket(bAudit).ForEach(func(k, v []byte) error {
					if int(btoi(k)) > len(before) {
						return nil // the upgrade's own entry, written lean
					}
					e := before[btoi(k)-1]
					if !bytes.HasPrefix(v[113:], []byte{0x28, 0xb5, 0x2f, 0xfd}) || [32]byte(v) != e.Hash {
						t.Errorf("entry %d after the upgrade: compressed %v, hash kept %v", btoi(k), bytes.HasPrefix(v[113:], []byte{0x28, 0xb5, 0x2f, 0xfd}), [32]byte(v) == e.Hash)
					}
					return nil
				})
			})
			if err != nil {
				t.Fatal(err)
			}
			keptHead(t, up, head)
			after, err := up.AuditLog("")
			if err != nil || len(after) != len(before)+1 || after[len(before)].Action != "database.upgrade" {
				t.Fatalf("trail after the upgrade: %d entries, %v", len(after), err)
			}
			for i := range before {
				a, b := after[i], before[i]
				if alter && a.Seq == 5 {
					continue
				}
				if a.Hash != b.Hash || string(a.Prev) != string(b.Prev) || string(a.New) != string(b.New) || a.Action != b.Action || !a.Time.Equal(b.Time) || a.Lean {
					t.Fatalf("entry %d reads differently after the upgrade:\n%+v\n%+v", b.Seq, a, b)
				}
			}
			cv := verifyKept(t, up, cp)
			if alter {
				if cv.OK() || !strings.Contains(strings.Join(cv.Problems, "\n"), "audit entry 5 was altered") {
					t.Fatalf("entry altered before the upgrade not caught: %v", cv.Problems)
				}
				return
			}
			if !cv.OK() || len(cv.Checkpoints) != 1 || cv.Checkpoints[0].Problem != "" {
				t.Fatalf("verify after the upgrade: %v %+v", cv.Problems, cv.Checkpoints)
			}
			// The trail goes on, lean: a correction of an old record shows
			// the value the old entry set as its previous value.
			registerUC(t, up, "LOT-4")
			if vr, _ := up.Verify(); !vr.OK() {
				t.Fatalf("verify after a write: %v", vr.Problems)
			}
			if cv := verifyKept(t, up, cp); !cv.OK() {
				t.Fatalf("checkpoint after a write: %v", cv.Problems)
			}
		})
	}
}

// TestUpgradeIsAdminOnly is the review's finding that anyone logged in could
// upgrade (an auditor upgraded 7→8): on a version 7 database, on the file
// and on PostgreSQL, Upgrade by a non-admin is EFORBIDDEN and leaves the
// schema as it was, and an admin's upgrade then brings it up.
func TestUpgradeIsAdminOnly(t *testing.T) {
	for _, engine := range []string{"file", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			t.Setenv(envEngine, engine)
			db := newTestDB(t)
			path := tamperFile(t, db, func(tx kv.Tx) error {
				return tx.Bucket(bMeta).Put([]byte("schema"), []byte("7"))
			})
			up, _, err := OpenForUpgrade(path, Options{Timeout: time.Second, Now: db.Now})
			if err != nil {
				t.Fatal(err)
			}
			db.engine = up.engine // newTestDB's cleanup checks and closes it
			before, _, err := up.Schema()
			if err != nil || before != 7 {
				t.Fatalf("before: schema %d, %v", before, err)
			}
			for _, who := range []string{"nina", "liu"} {
				_, _, err := up.Upgrade(who)
				if lot.ErrorCode(err) != lot.EFORBIDDEN || !strings.Contains(err.Error(), "which may not database.upgrade; this needs role admin") {
					t.Errorf("%s upgrades: %v; want refused", who, err)
				}
				if v, _, err := up.Schema(); err != nil || v != 7 {
					t.Errorf("after %s's refused upgrade: schema %d, %v; want 7, untouched", who, v, err)
				}
			}
			v, note, err := up.Upgrade("alice")
			if err != nil || v != SchemaVersion || !strings.Contains(note, `"from":7`) {
				t.Fatalf("alice upgrades: schema %d, note %q, %v", v, note, err)
			}
		})
	}
}

// TestUpgradeFromVersion8FoldsEveryMRN: a version 8 file has no
// idx_patient_mrn_fold. The upgrade builds it from the patient records —
// current and former MRNs, one entry per patient and folded form — after
// which `audit verify`'s index check passes and a registration is still
// refused, with the same message, for a letter-case variant of an MRN
// registered before the upgrade, current or former.
func TestUpgradeFromVersion8FoldsEveryMRN(t *testing.T) {
	db := newTestDB(t)
	s := NewLotService(db)
	born := db.Now().AddDate(-30, 0, 0)
	for _, mrn := range []string{"MRN-2", "abc-7"} {
		if _, err := s.AddPatient("nina", lot.Patient{MRN: mrn, Name: "Other", Born: born, Sex: "M"}); err != nil {
			t.Fatal(err)
		}
	}
	// MRN-2 becomes MRN-20 (MRN-2 stays reserved); abc-7 becomes ABC-7,
	// which folds as abc-7 did: one entry for the two.
	for _, fix := range [][2]string{{"MRN-2", "MRN-20"}, {"abc-7", "ABC-7"}} {
		if _, _, err := s.CorrectPatient("nina", fix[0], lot.PatientFix{MRN: fix[1]}, "typo at registration"); err != nil {
			t.Fatal(err)
		}
	}
	var want [][]byte
	path := tamperFile(t, db, func(tx kv.Tx) error {
		tx.Bucket([]byte("idx_patient_mrn_fold")).ForEach(func(k, _ []byte) error {
			want = append(want, bytes.Clone(k))
			return nil
		})
		if err := tx.DeleteBucket([]byte("idx_patient_mrn_fold")); err != nil {
			return err
		}
		return tx.Bucket(bMeta).Put([]byte("schema"), []byte("8"))
	})
	if len(want) != 4 { // MRN-1; MRN-20 and MRN-2; ABC-7
		t.Fatalf("before: %d folded entries", len(want))
	}
	up, err := openUpgraded(path, Options{Timeout: time.Second, Now: db.Now})
	if err != nil {
		t.Fatalf("writable open of a version 8 file: %v", err)
	}
	db.engine = up.engine // newTestDB's cleanup checks and closes it
	v, note, err := up.Schema()
	if err != nil || v != SchemaVersion || !strings.Contains(note, `"from":8`) || !strings.Contains(note, `"mrns_folded":4`) {
		t.Fatalf("schema %d, note %s, %v", v, note, err)
	}
	var got [][]byte
	up.view(func(tx kv.Tx) error {
		return tx.Bucket([]byte("idx_patient_mrn_fold")).ForEach(func(k, _ []byte) error {
			got = append(got, bytes.Clone(k))
			return nil
		})
	})
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("rebuilt index:\n%q\nwant\n%q", got, want)
	}
	if vr, _ := up.Verify(); !vr.OK() {
		t.Fatalf("audit verify after the upgrade: %v", vr.Problems)
	}
	us := NewLotService(up)
	before, _ := up.AuditCount()
	for mrn, other := range map[string]string{"mrn-1": "MRN-1", "mrn-2": "MRN-2", "Mrn-20": "MRN-20", "aBc-7": "ABC-7"} {
		_, err := us.AddPatient("nina", lot.Patient{MRN: mrn, Name: "New", Born: born, Sex: "F"})
		wantMsg := fmt.Sprintf("MRN %s differs from the registered MRN %s only in letter case; a wristband read in another case must never reach another person: if this is that patient use %s, otherwise ask the registry for a distinct MRN", mrn, other, other)
		if lot.ErrorCode(err) != lot.ECONFLICT || lot.ErrorMessage(err) != wantMsg {
			t.Errorf("register %s after the upgrade: %v", mrn, err)
		}
	}
	if after, _ := up.AuditCount(); after != before {
		t.Fatal("a refused registration wrote")
	}
	if _, err := us.AddPatient("nina", lot.Patient{MRN: "MRN-200", Name: "New", Born: born, Sex: "F"}); err != nil {
		t.Fatal(err)
	}
	if vr, _ := up.Verify(); !vr.OK() {
		t.Fatalf("audit verify after a registration: %v", vr.Problems)
	}
}
