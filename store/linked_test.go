package store

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/internal/pgtest"
	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/store/kv"
	"github.com/google/uuid"
)

// Since schema 12 an entry stores no previous hash: its own hash covers the
// previous entry's stored hash (audit.Encode, the linked layout). These
// tests change, remove and move linked entries as a raw-database tool
// would, and check that verify, a report's check and a write's check name
// the entry as precisely as the stored link did.

// rawSetEntry stores val as audit entry seq (nil: removes it) outside
// celltrack: through the engine on a file, as the database's owner with
// the append-only trigger disabled on PostgreSQL (celltrack itself may not
// rewrite an entry there).
func rawSetEntry(t *testing.T, db *DB, seq uint64, val []byte) {
	t.Helper()
	if !IsPostgres(db.Path()) {
		if err := db.engine.Update(func(tx kv.Tx) error {
			if val == nil {
				return tx.Bucket(bAudit).Delete(itob(seq))
			}
			return tx.Bucket(bAudit).Put(itob(seq), val)
		}); err != nil {
			t.Fatal(err)
		}
		return
	}
	k := hex.EncodeToString(itob(seq))
	stmt := fmt.Sprintf("DELETE FROM audit_entries WHERE k = decode('%s', 'hex')", k)
	if val != nil {
		stmt = fmt.Sprintf("UPDATE audit_entries SET entry = decode('%s', 'hex') WHERE k = decode('%s', 'hex')", hex.EncodeToString(val), k)
	}
	if err := pgtest.Exec(db.Path(), "ALTER TABLE audit_entries DISABLE TRIGGER audit_entries_append_only", stmt,
		"ALTER TABLE audit_entries ENABLE TRIGGER audit_entries_append_only"); err != nil {
		t.Fatal(err)
	}
}

// entryBytes is audit entry seq as stored (a copy).
func entryBytes(t *testing.T, db *DB, seq uint64) []byte {
	t.Helper()
	var v []byte
	if err := db.view(func(tx kv.Tx) error {
		v = bytes.Clone(tx.Bucket(bAudit).Get(itob(seq)))
		return nil
	}); err != nil || v == nil {
		t.Fatalf("entry %d: %v", seq, err)
	}
	return v
}

// reencode returns entry seq, changed by change and encoded again in its
// layout, keeping its stored hash (rehash false: an edit) or with the hash
// of its new content (rehash true: a forger who recomputes the entry's own
// hash, but not the ones after it).
func reencode(t *testing.T, db *DB, seq uint64, rehash bool, change func(*audit.Entry)) []byte {
	t.Helper()
	old := entryBytes(t, db, seq)
	var e audit.Entry
	if err := db.view(func(tx kv.Tx) error {
		es, err := recordEntriesFrom(tx, seq)
		e = es
		return err
	}); err != nil {
		t.Fatal(err)
	}
	change(&e)
	enc := e.Encode
	switch {
	case !audit.IsLinked(old):
		enc = e.EncodeSchema11
	case !audit.IsFramed(old):
		enc = e.EncodeSchema13
	}
	b, err := enc()
	if err != nil {
		t.Fatal(err)
	}
	if !rehash {
		copy(b, old[:32])
	}
	return b
}

// recordEntriesFrom decodes entry seq with its value and its previous hash
// filled, as `audit log` shows it.
func recordEntriesFrom(tx kv.Tx, seq uint64) (audit.Entry, error) {
	b := tx.Bucket(bAudit)
	e, err := audit.Decode(b.Get(itob(seq)))
	if err != nil {
		return e, err
	}
	es := []audit.Entry{e}
	fillValues(tx, es)
	fillPrevHashes(b, es)
	return es[0], nil
}

// problemsOf runs verify and returns its problems, one a line.
func problemsOf(t *testing.T, db *DB) string {
	t.Helper()
	v, err := db.Verify()
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(v.Problems, "\n")
}

// lotEntries imports n lots and returns the last lot's id and the number
// of its (only) audit entry.
func lotEntries(t *testing.T, db *DB, prefix string, n int) (uuid.UUID, uint64) {
	t.Helper()
	if _, err := NewLotService(db).Import("liu", importRows(prefix, n, db.Now())); err != nil {
		t.Fatal(err)
	}
	var id uuid.UUID
	var seq uint64
	err := db.view(func(tx kv.Tx) error {
		l, err := lotByRef(tx, fmt.Sprintf("%s-%d", prefix, n-1))
		if err != nil {
			return err
		}
		id = l.ID
		c := tx.Bucket(bAuditEntity).Cursor()
		for k, _ := c.Seek(id[:]); k != nil && bytes.HasPrefix(k, id[:]); k, _ = c.Next() {
			seq = btoi(k[16:])
		}
		return nil
	})
	if err != nil || seq == 0 {
		t.Fatalf("lot %s-%d: entry %d, %v", prefix, n-1, seq, err)
	}
	return id, seq
}

// TestLinkedEntriesTamperedAreNamed: a linked entry altered (its hash kept),
// forged with its own hash recomputed, removed, or swapped with the next is
// named by verify, and a write or report resting on the record it is about
// refuses or fails; the entry after a forged one is named, since its hash
// covers the forger's. Runs on both engines.
func TestLinkedEntriesTamperedAreNamed(t *testing.T) {
	for _, tc := range []struct {
		name   string
		tamper func(t *testing.T, db *DB, s uint64)
		want   func(s uint64) []string
		// what a check resting on the record of entry s (its lot) says;
		// "" when it passes
		refused string
	}{
		{"altered", func(t *testing.T, db *DB, s uint64) {
			rawSetEntry(t, db, s, reencode(t, db, s, false, func(e *audit.Entry) { e.User = "mallory" }))
		}, func(s uint64) []string { return []string{alteredLinked(s)} }, "audit entry %d was altered, or does not follow"},
		{"forged, its hash recomputed", func(t *testing.T, db *DB, s uint64) {
			rawSetEntry(t, db, s, reencode(t, db, s, true, func(e *audit.Entry) { e.Reason = "backdated" }))
		}, func(s uint64) []string { return []string{alteredLinked(s + 1)} }, ""},
		{"removed", func(t *testing.T, db *DB, s uint64) { rawSetEntry(t, db, s, nil) },
			func(s uint64) []string {
				return []string{fmt.Sprintf("audit entries %d–%d are missing: the trail has a gap", s, s), alteredLinked(s + 1)}
			}, "audit entry %d of lot B-2"},
		{"swapped with the next", func(t *testing.T, db *DB, s uint64) {
			a, b := entryBytes(t, db, s), entryBytes(t, db, s+1)
			rawSetEntry(t, db, s, b)
			rawSetEntry(t, db, s+1, a)
			// The entry after them no longer follows the one before it
			// either, as when each stored its link.
		}, func(s uint64) []string { return []string{alteredLinked(s), alteredLinked(s + 1), alteredLinked(s + 2)} }, "audit entry %d was altered, or does not follow"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := newTestDB(t)
			lotEntries(t, db, "A", 5)
			id, s := lotEntries(t, db, "B", 3)
			lotEntries(t, db, "C", 3) // entries after s
			if !audit.IsLinked(entryBytes(t, db, s)) {
				t.Fatal("a new database's entry is not linked")
			}
			verifyOK(t, db)
			tc.tamper(t, db, s)
			got := problemsOf(t, db)
			for _, w := range tc.want(s) {
				if !strings.Contains(got, w) {
					t.Errorf("verify does not say %q; it says:\n%s", w, got)
				}
			}
			// The entries around the tampered ones are not named.
			for _, other := range []uint64{s - 1, s + 3} {
				if strings.Contains(got, fmt.Sprintf("audit entry %d was", other)) {
					t.Errorf("verify names entry %d, which is intact:\n%s", other, got)
				}
			}
			// A write resting on the lot checks its last entry, with the
			// hash of the one before it.
			err := db.view(func(tx kv.Tx) error { return checkIntact(tx, recordRef{kindLot, id}) })
			if tc.refused == "" && err != nil {
				t.Fatalf("the lot's check: %v, want it to pass", err)
			}
			if tc.refused != "" && (lot.ErrorCode(err) != lot.ECONFLICT || !strings.Contains(err.Error(), fmt.Sprintf(tc.refused, s))) {
				t.Fatalf("the lot's check: %v, want %q", err, fmt.Sprintf(tc.refused, s))
			}
		})
	}
}

// TestLinkedReportFromCheckpoint: a report verified from a checkpoint walks
// the chain from the checkpoint's entry, whose hash it recomputes with the
// hash of the entry before, and names a linked entry after it that was
// changed.
func TestLinkedReportFromCheckpoint(t *testing.T) {
	db := newTestDB(t)
	lotEntries(t, db, "A", 4)
	v, err := db.Verify()
	if err != nil || !v.OK() {
		t.Fatal(err, v.Problems)
	}
	if err := db.RecordCheckpoint(v); err != nil {
		t.Fatal(err)
	}
	cp, _, _ := db.Checkpoint()
	_, s := lotEntries(t, db, "B", 3)
	report := func() (reportVerification, bool) {
		var rv reportVerification
		var ok bool
		db.view(func(tx kv.Tx) error { rv, ok = verifyReport(tx, cp, nil); return nil })
		return rv, ok
	}
	if rv, ok := report(); !ok || len(rv.Problems) != 0 || rv.HeadSeq != s {
		t.Fatalf("report before: %v %+v", ok, rv)
	}
	rawSetEntry(t, db, s-1, reencode(t, db, s-1, true, func(e *audit.Entry) { e.User = "mallory" }))
	if rv, ok := report(); !ok || strings.Join(rv.Problems, "\n") != alteredLinked(s) {
		t.Fatalf("report after the forgery: %v %q", ok, rv.Problems)
	}
	// The checkpoint's own entry, recomputed with its predecessor's hash.
	rawSetEntry(t, db, cp.Seq-1, reencode(t, db, cp.Seq-1, true, func(e *audit.Entry) { e.User = "mallory" }))
	if _, ok := report(); ok {
		t.Fatal("a report rests on a checkpoint whose entry no longer follows the one before")
	}
}

// TestAuditLogShowsComputedPrevHash: `audit log` (whole and per record)
// shows each linked entry's previous hash, read from the entry before.
func TestAuditLogShowsComputedPrevHash(t *testing.T) {
	db := newTestDB(t)
	id, s := lotEntries(t, db, "A", 3)
	all, err := db.AuditLog("")
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range all {
		var want [32]byte
		if i > 0 {
			want = all[i-1].Hash
		}
		if e.PrevHash != want || e.Seq != uint64(i+1) || e.ID == uuid.Nil {
			t.Fatalf("entry %d: prev %x, want %x; id %s", e.Seq, e.PrevHash, want, e.ID)
		}
	}
	one, err := db.AuditLog(id.String())
	if err != nil || len(one) != 1 || one[0].Seq != s || one[0].PrevHash != all[s-2].Hash || one[0].ID != id || string(one[0].New) == "" {
		t.Fatalf("the lot's log: %+v %v", one, err)
	}
}

// TestUpgradeFromVersion11KeepsEveryEntry: a version 11 trail (entries in
// the first layout) is upgraded to 12 without a byte of it changing;
// verify passes before and after, entries written afterwards are linked
// and verify too, and a tamper is named on each side of the boundary, at
// it, and an entry of the first layout put after linked ones is named.
// Runs on both engines.
func TestUpgradeFromVersion11KeepsEveryEntry(t *testing.T) {
	encodeEntry = (*audit.Entry).EncodeSchema11
	db := newTestDB(t)
	lotEntries(t, db, "A", 20)
	encodeEntry = (*audit.Entry).Encode
	defer func() { encodeEntry = (*audit.Entry).Encode }()
	verifyOK(t, db)
	var before [][]byte
	db.view(func(tx kv.Tx) error {
		return tx.Bucket(bAudit).ForEach(func(_, v []byte) error {
			if audit.IsLinked(v) {
				t.Fatal("a version 11 entry reads as linked")
			}
			before = append(before, bytes.Clone(v))
			return nil
		})
	})
	head, err := db.TreeHead()
	if err != nil {
		t.Fatal(err)
	}
	if err := db.engine.Update(func(tx kv.Tx) error { return tx.Bucket(bMeta).Put([]byte("schema"), []byte("11")) }); err != nil {
		t.Fatal(err)
	}
	path, now := db.Path(), db.Now
	db.Close()
	up, _, err := OpenForUpgrade(path, Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	v, note, err := up.Upgrade("alice")
	if err != nil || v != SchemaVersion || !strings.Contains(note, fmt.Sprintf("12: audit entries written from now on store no previous hash and no id in their body; the %d existing entries are kept as they are", len(before))) {
		t.Fatalf("upgrade: %d %v %s", v, err, note)
	}
	verifyOK(t, up)
	keptHead(t, up, head) // the trail before the upgrade, then the upgrade's entry
	n := uint64(len(before))
	for i, b := range before {
		if got := entryBytes(t, up, uint64(i+1)); !bytes.Equal(got, b) {
			t.Fatalf("entry %d changed by the upgrade", i+1)
		}
	}
	// The upgrade's own entry, if it writes one, and the entries after it
	// are linked.
	lotEntries(t, up, "B", 20)
	verifyOK(t, up)
	var first uint64
	up.view(func(tx kv.Tx) error {
		return tx.Bucket(bAudit).ForEach(func(k, v []byte) error {
			if seq := btoi(k); seq > n && !audit.IsLinked(v) {
				t.Fatalf("entry %d written after the upgrade is not linked", seq)
			} else if seq > n && first == 0 {
				first = seq
			}
			return nil
		})
	})
	if first != n+1 {
		t.Fatalf("first linked entry %d, want %d", first, n+1)
	}
	all, err := up.AuditLog("")
	if err != nil || all[first-1].PrevHash != all[first-2].Hash {
		t.Fatalf("the first linked entry's previous hash in the log: %v", err)
	}
	// One tamper on each side of the boundary, and one at it (the last
	// entry of the first layout forged: the first linked one names it).
	old, newer := n-3, first+5
	rawSetEntry(t, up, old, reencode(t, up, old, false, func(e *audit.Entry) { e.User = "mallory" }))
	rawSetEntry(t, up, newer, reencode(t, up, newer, false, func(e *audit.Entry) { e.User = "mallory" }))
	rawSetEntry(t, up, n, reencode(t, up, n, true, func(e *audit.Entry) { e.Reason = "forged" }))
	got := problemsOf(t, up)
	for _, w := range []string{
		fmt.Sprintf("audit entry %d was altered: its content no longer matches its hash", old),
		alteredLinked(newer),
		alteredLinked(first),
	} {
		if !strings.Contains(got, w) {
			t.Errorf("verify does not say %q; it says:\n%s", w, got)
		}
	}
	for _, intact := range []uint64{old - 1, old + 1, n - 1, newer - 1, newer + 1} {
		if strings.Contains(got, fmt.Sprintf("audit entry %d was", intact)) {
			t.Errorf("verify names entry %d, which is intact:\n%s", intact, got)
		}
	}
	// An entry of the first layout after linked ones: not written by
	// celltrack, even with its own hash and link right.
	last := uint64(len(all))
	e, err := func() (audit.Entry, error) {
		var e audit.Entry
		return e, up.view(func(tx kv.Tx) (err error) { e, err = recordEntriesFrom(tx, last); return err })
	}()
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.EncodeSchema11()
	if err != nil {
		t.Fatal(err)
	}
	rawSetEntry(t, up, last, b)
	if got := problemsOf(t, up); !strings.Contains(got, fmt.Sprintf("audit entry %d is stored in the layout of schema 11, after entry %d in that of schema 14: celltrack did not write it", last, first)) {
		t.Errorf("an old-layout entry after linked ones:\n%s", got)
	}
}

// auditEntries is every audit entry of db as stored, in order.
func auditEntries(t *testing.T, db *DB) [][]byte {
	t.Helper()
	var out [][]byte
	if err := db.view(func(tx kv.Tx) error {
		return tx.Bucket(bAudit).ForEach(func(_, v []byte) error { out = append(out, bytes.Clone(v)); return nil })
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestCopiesKeepEveryEntryByteForByte: a backup and a migration to the
// other engine copy a trail of the three layouts (entries of schema 11,
// linked ones of schema 13, then framed ones, whose hash is over their
// frame) byte for byte, and the copy verifies. Runs on both engines, so
// the migration is tested both ways; it needs PostgreSQL either way.
func TestCopiesKeepEveryEntryByteForByte(t *testing.T) {
	encodeEntry = (*audit.Entry).EncodeSchema11
	db := newTestDB(t)
	lotEntries(t, db, "A", 10)
	encodeEntry = (*audit.Entry).EncodeSchema13
	lotEntries(t, db, "M", 10)
	encodeEntry = (*audit.Entry).Encode
	defer func() { encodeEntry = (*audit.Entry).Encode }()
	if err := db.engine.Update(func(tx kv.Tx) error { return tx.Bucket(bMeta).Put([]byte("schema"), []byte("13")) }); err != nil {
		t.Fatal(err)
	}
	path, now := db.Path(), db.Now
	db.Close()
	up, _, err := OpenForUpgrade(path, Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := up.Upgrade("alice"); err != nil {
		t.Fatal(err)
	}
	lotEntries(t, up, "B", 10)
	want := auditEntries(t, up)
	layouts := map[string]bool{}
	for _, b := range want {
		layouts[fmt.Sprint(audit.IsLinked(b), audit.IsFramed(b))] = true
	}
	if audit.IsLinked(want[0]) || !audit.IsFramed(want[len(want)-1]) || len(layouts) != 3 {
		t.Fatal("the trail does not hold the three layouts")
	}
	same := func(t *testing.T, copy *DB) {
		t.Helper()
		got := auditEntries(t, copy)
		if len(got) < len(want) {
			t.Fatalf("%d entries copied of %d", len(got), len(want))
		}
		for i := range want {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("entry %d differs in the copy", i+1)
			}
		}
		verifyOK(t, copy)
	}
	backup := t.TempDir() + "/backup.db"
	if _, err := up.Backup(backup); err != nil {
		t.Fatal(err)
	}
	b, err := Open(backup, Options{ReadOnly: true, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	same(t, b)
	b.Close()
	up.Close()
	t.Run("migrate", func(t *testing.T) {
		to := t.TempDir() + "/migrated.db"
		if !IsPostgres(path) {
			to = pgtest.URL(t)
		}
		src, err := OpenForMigrate(path, Options{Now: now})
		if err != nil {
			t.Fatal(err)
		}
		defer src.Close()
		if _, err := src.MigrateTo(to, "alice", 0); err != nil {
			t.Fatal(err)
		}
		dst, err := Open(to, Options{ReadOnly: true, Now: now})
		if err != nil {
			t.Fatal(err)
		}
		defer dst.Close()
		same(t, dst)
	})
}
