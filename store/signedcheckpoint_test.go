package store

import (
	"bytes"
	"context"
	"crypto/rand"
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
	"github.com/google/uuid"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// keyed returns a database with a registered checkpoint key and its signer.
func keyed(t *testing.T) (*DB, note.Signer, string) {
	t.Helper()
	db := newTestDB(t)
	signer, vkey := newKey(t, "celltrack-G1234")
	if _, err := db.RegisterCheckpointKey("alice", vkey); err != nil {
		t.Fatal(err)
	}
	return db, signer, vkey
}

func newKey(t *testing.T, name string) (note.Signer, string) {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	return signer, vkey
}

func sign(t *testing.T, db *DB, s note.Signer) []byte {
	t.Helper()
	msg, _, err := db.SignCheckpoint(s, true)
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

// verifyKept runs `audit verify --checkpoint` on db with the notes given.
func verifyKept(t *testing.T, db *DB, notes ...[]byte) CheckpointVerification {
	t.Helper()
	var kept []KeptCheckpoint
	for i, n := range notes {
		kept = append(kept, KeptCheckpoint{Name: "cp" + string(rune('1'+i)), Note: n})
	}
	cv, err := db.VerifyCheckpoints(kept)
	if err != nil {
		t.Fatal(err)
	}
	return cv
}

func wantFail(t *testing.T, cv CheckpointVerification, name, want string) {
	t.Helper()
	for _, r := range cv.Checkpoints {
		if r.Name == name {
			if r.Problem == "" || !strings.Contains(r.Problem, want) {
				t.Fatalf("%s: problem %q, want %q", name, r.Problem, want)
			}
			return
		}
	}
	t.Fatalf("no result for %s", name)
}

func wantPass(t *testing.T, cv CheckpointVerification) {
	t.Helper()
	if !cv.OK() {
		t.Fatalf("verify --checkpoint: %v", cv.Problems)
	}
}

// TestCheckpointNoteVerifiesIndependently: the note opens with x/mod's
// note.Open and the registered verifier key alone, and its root is the RFC
// 6962 root of the entries' hashes, rebuilt here with tlog from AuditLog.
func TestCheckpointNoteVerifiesIndependently(t *testing.T) {
	db, signer, vkey := keyed(t)
	msg := sign(t, db, signer)
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		t.Fatalf("note.Open: %v\n%s", err, msg)
	}
	h, err := audit.ParseCheckpoint([]byte(n.Text))
	if err != nil {
		t.Fatal(err)
	}
	es, err := db.AuditLog("")
	if err != nil {
		t.Fatal(err)
	}
	stored := map[int64]tlog.Hash{}
	reader := tlog.HashReaderFunc(func(ix []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(ix))
		for i, x := range ix {
			out[i] = stored[x]
		}
		return out, nil
	})
	for i, e := range es {
		hs, err := tlog.StoredHashes(int64(i), e.Hash[:], reader)
		if err != nil {
			t.Fatal(err)
		}
		for j, x := range hs {
			stored[tlog.StoredHashIndex(0, int64(i))+int64(j)] = x
		}
	}
	root, err := tlog.TreeHash(int64(len(es)), reader)
	if err != nil {
		t.Fatal(err)
	}
	if h.Facility != "G1234" || h.Size != int64(len(es)) || h.Root != root || !h.Time.Equal(db.Now()) {
		t.Fatalf("checkpoint %+v; want G1234, %d entries, root %s", h, len(es), root)
	}
	if !strings.HasPrefix(n.Text, "celltrack audit trail G1234\n") {
		t.Fatalf("text %q", n.Text)
	}
	wantPass(t, verifyKept(t, db, msg))
}

// TestForgedCheckpointRefused: a key the database never registered cannot
// sign, and a checkpoint it signed — or an edited one — fails verification.
func TestForgedCheckpointRefused(t *testing.T) {
	db, signer, _ := keyed(t)
	other, _ := newKey(t, "celltrack-G1234") // same name, another key
	if _, _, err := db.SignCheckpoint(other, true); lot.ErrorCode(err) != lot.ECONFLICT || !strings.Contains(err.Error(), "this database verifies checkpoints with") {
		t.Fatalf("signing with an unregistered key: %v", err)
	}
	head, err := db.TreeHead()
	if err != nil {
		t.Fatal(err)
	}
	head.Time = db.Now()
	forged, err := note.Sign(&note.Note{Text: string(audit.FormatCheckpoint(head))}, other)
	if err != nil {
		t.Fatal(err)
	}
	good := sign(t, db, signer)
	edited := []byte(strings.Replace(string(good), "\n"+itoa(head.Size)+"\n", "\n"+itoa(head.Size-1)+"\n", 1))
	cv := verifyKept(t, db, forged, edited, good)
	wantFail(t, cv, "cp1", "which is not one this database registered: either the checkpoint is forged, or the database's key record was replaced")
	wantFail(t, cv, "cp1", "It states tree size "+itoa(head.Size))
	wantFail(t, cv, "cp2", "signature does not verify")
	if cv.Checkpoints[2].Problem != "" {
		t.Fatalf("the genuine checkpoint: %s", cv.Checkpoints[2].Problem)
	}
	if _, err := db.RegisterCheckpointKey("alice", "not-a-key"); lot.ErrorCode(err) != lot.EINVALID {
		t.Fatalf("a garbled verifier key: %v", err)
	}
	if _, err := db.RegisterCheckpointKey("liu", "x"); err == nil {
		t.Fatal("a lab user registered a key")
	}
	_, vkey2 := newKey(t, "second")
	if _, err := db.RegisterCheckpointKey("alice", vkey2); lot.ErrorCode(err) != lot.ECONFLICT || !strings.Contains(err.Error(), "an admin replaces it instead (a key rotation)") || lot.ErrorCommand(err) != "audit key rotate" {
		t.Fatalf("a second registration: %v", err)
	}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

// TestTruncatedTailCaught: the attack of issue 13 — delete the last entries
// and undo their records with raw bbolt. audit verify alone cannot tell; a
// checkpoint kept from before the cut can.
func TestTruncatedTailCaught(t *testing.T) {
	db, signer, _ := keyed(t)
	registerUC(t, db, "LOT-A")
	keep, _ := db.AuditCount()
	registerUC(t, db, "LOT-B")
	changeLot(t, db, "LOT-A", func(l *lot.Lot) { l.Location = "LN2-B rack 1" })
	total, _ := db.AuditCount()
	cp := sign(t, db, signer)
	cut(t, db, uint64(keep))
	if n, _ := db.AuditCount(); n != keep {
		t.Fatalf("%d entries after the cut, want %d", n, keep)
	}
	if v, _ := db.Verify(); !v.OK() {
		t.Fatalf("the cut is not consistent, so it proves nothing: %v", v.Problems)
	}
	cv := verifyKept(t, db, cp)
	wantFail(t, cv, "cp1", "signed at tree size "+itoa(int64(total))+" but the trail now has "+itoa(int64(keep))+" entries")
	if cv.FirstMismatch != int64(keep)+1 {
		t.Fatalf("first mismatch %d, want %d", cv.FirstMismatch, keep+1)
	}
}

// cut removes the entries after keep as an attacker would: each record an
// entry set goes back to the entry's previous value (or away, with its index
// entries, when the entry created it), and the tree is cut to match.
func cut(t *testing.T, db *DB, keep uint64) {
	t.Helper()
	err := db.engine.Update(func(tx kv.Tx) error {
		b := tx.Bucket(bAudit)
		for seq := btoi(lastKey(b)); seq > keep; seq-- {
			e, err := audit.Decode(b.Get(itob(seq)))
			if err != nil {
				return err
			}
			if e.State {
				kind := e.Entity
				rb := tx.Bucket(recordBuckets[kind])
				var old indexEntries
				var r jsonFields
				if ix := indexOf[kind]; ix != nil {
					if err := old.derive(ix, &r, e.ID, rb.Get(e.ID[:])); err != nil {
						return err
					}
				}
				for _, en := range old.list {
					if err := tx.Bucket([]byte(en.bucket)).Delete(en.key); err != nil {
						return err
					}
				}
				if e.Prev != nil {
					if err := rb.Put(e.ID[:], e.Prev); err != nil {
						return err
					}
					if indexOf[kind] != nil {
						if err := writeIndexes(tx, kind, e.ID); err != nil {
							return err
						}
					}
				} else if err := rb.Delete(e.ID[:]); err != nil {
					return err
				}
			}
			if err := tx.Bucket(bAuditEntity).Delete(append(e.ID[:len(e.ID):len(e.ID)], itob(seq)...)); err != nil {
				return err
			}
			if err := b.Delete(itob(seq)); err != nil {
				return err
			}
		}
		return retree(tx)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func lastKey(b kv.Bucket) []byte { k, _ := b.Cursor().Last(); return k }

// TestRechainedForgeryCaught: a QC result edited, its audit entry rewritten,
// every later entry re-chained and the tree rebuilt. audit verify alone
// passes; the kept checkpoint does not.
func TestRechainedForgeryCaught(t *testing.T) {
	db, signer, _ := keyed(t)
	l := registerUC(t, db, "LOT-A")
	changeLot(t, db, "LOT-A", func(l *lot.Lot) { l.Location = "LN2-B rack 1" })
	cp := sign(t, db, signer)
	forge(t, db, kindLot, l.ID, func(r *map[string]any) { (*r)["viability_tenths_pct"] = 990 })
	if v, _ := db.Verify(); !v.OK() {
		t.Fatalf("the forgery is not consistent: %v", v.Problems)
	}
	cv := verifyKept(t, db, cp)
	wantFail(t, cv, "cp1", "does not extend it")
}

// TestPrintedTreeHead: a tree head typed from a printed report, unsigned,
// is checked for consistency the same way: it passes while the trail
// extends it and fails once the trail before it is rewritten.
func TestPrintedTreeHead(t *testing.T) {
	db := newTestDB(t)
	l := registerUC(t, db, "LOT-A")
	head, err := db.TreeHead()
	if err != nil {
		t.Fatal(err)
	}
	printed, err := audit.ParseHead(head.String())
	if err != nil || printed.Size != head.Size || printed.Root != head.Root {
		t.Fatalf("ParseHead(%q) = %+v, %v", head.String(), printed, err)
	}
	registerUC(t, db, "LOT-B")
	kept := []KeptCheckpoint{{Name: "report", Printed: &printed}}
	if cv, err := db.VerifyCheckpoints(kept); err != nil || !cv.OK() {
		t.Fatalf("a printed head of this trail: %v %v", err, cv.Problems)
	}
	forge(t, db, kindLot, l.ID, func(r *map[string]any) { (*r)["viability_tenths_pct"] = 990 })
	cv, err := db.VerifyCheckpoints(kept)
	if err != nil || cv.OK() || !strings.Contains(cv.Checkpoints[0].Problem, "does not extend it") {
		t.Fatalf("after a re-chained forgery: %v %v", err, cv.Problems)
	}
	for _, bad := range []string{"", "306", "306 entries, root xyz", "0:" + audit.RootString(head.Root), "-1 entries, root " + audit.RootString(head.Root)} {
		if _, err := audit.ParseHead(bad); err == nil {
			t.Errorf("ParseHead(%q) accepted", bad)
		}
	}
}

// TestRollbackToBackupCaught: a backup copied over the live file.
func TestRollbackToBackupCaught(t *testing.T) {
	db, signer, _ := keyed(t)
	registerUC(t, db, "LOT-A")
	backup := filepath.Join(t.TempDir(), "old.db")
	if _, err := db.Backup(backup); err != nil {
		t.Fatal(err)
	}
	old := sign(t, db, signer)
	if _, err := NewLotService(db).AddPatient("nina", lot.Patient{MRN: "MRN-9", Name: "New Patient", Born: db.Now().AddDate(-30, 0, 0), Sex: "M"}); err != nil {
		t.Fatal(err)
	}
	cp := sign(t, db, signer)
	replaceFile(t, db, backup)
	if v, _ := db.Verify(); !v.OK() {
		t.Fatalf("the old backup verifies on its own: %v", v.Problems)
	}
	cv := verifyKept(t, db, old, cp)
	if cv.Checkpoints[0].Problem != "" {
		t.Fatalf("the checkpoint taken with the backup: %s", cv.Checkpoints[0].Problem)
	}
	wantFail(t, cv, "cp2", "rolled back")
	if cv.LastMatch != cv.Checkpoints[0].Head.Size {
		t.Fatalf("last match %d, want %d", cv.LastMatch, cv.Checkpoints[0].Head.Size)
	}
}

// replaceFile copies src over db's file and reopens it.
func replaceFile(t *testing.T, db *DB, src string) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if err := os.WriteFile(db.Path(), data, 0o600); err != nil {
		t.Fatal(err)
	}
	reopened, err := Open(db.Path(), Options{Timeout: time.Second, Now: db.Now})
	if err != nil {
		t.Fatal(err)
	}
	db.engine = reopened.engine
}

// TestForkCaught: two files grown apart from one checkpoint each verify
// against it, and neither against the other's later checkpoint.
func TestForkCaught(t *testing.T) {
	a, signer, _ := keyed(t)
	registerUC(t, a, "LOT-A")
	common := sign(t, a, signer)
	fork := filepath.Join(t.TempDir(), "fork.db")
	if _, err := a.Backup(fork); err != nil {
		t.Fatal(err)
	}
	b, err := Open(fork, Options{Timeout: time.Second, Now: a.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	registerUC(t, a, "LOT-B")
	registerUC(t, b, "LOT-C")
	ca, cb := sign(t, a, signer), sign(t, b, signer)
	wantPass(t, verifyKept(t, a, common, ca))
	wantPass(t, verifyKept(t, b, common, cb))
	wantFail(t, verifyKept(t, b, common, ca), "cp2", "forked")
	wantFail(t, verifyKept(t, a, common, cb), "cp2", "forked")
}

// TestKeyRotation: a rotation needs the admin's password and a reason, keeps
// the old key for old checkpoints, and a checkpoint dated after it with the
// old key fails.
func TestKeyRotation(t *testing.T) {
	db, oldSigner, oldKey := keyed(t)
	before := sign(t, db, oldSigner)
	newSigner, newKey := newKey(t, "celltrack-G1234-2027")
	if _, err := db.RotateCheckpointKey("alice", "wrong", newKey, "annual rotation"); lot.ErrorCode(err) != lot.EAUTH {
		t.Fatalf("rotation with a wrong password: %v", err)
	}
	if _, err := db.RotateCheckpointKey("alice", testPassword, newKey, " "); lot.ErrorCode(err) != lot.EINVALID {
		t.Fatalf("rotation without a reason: %v", err)
	}
	later := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	db.Now = func() time.Time { return later }
	if _, err := db.RotateCheckpointKey("alice", testPassword, newKey, "annual rotation"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.SignCheckpoint(oldSigner, true); lot.ErrorCode(err) != lot.ECONFLICT {
		t.Fatalf("signing with the retired key: %v", err)
	}
	after := sign(t, db, newSigner)
	// A checkpoint made with the retired key after the rotation.
	head, _ := db.TreeHead()
	head.Time = later.Add(time.Hour)
	stale, _ := note.Sign(&note.Note{Text: string(audit.FormatCheckpoint(head))}, oldSigner)
	cv := verifyKept(t, db, before, after, stale)
	if cv.Checkpoints[0].Problem != "" || cv.Checkpoints[1].Problem != "" {
		t.Fatalf("before/after rotation: %v", cv.Problems)
	}
	wantFail(t, cv, "cp3", "retired at")
	keys, _ := db.CheckpointKeys()
	if len(keys) != 2 || keys[0].Verifier != oldKey || keys[0].Retired == nil || keys[0].Reason != "annual rotation" || keys[1].Verifier != newKey || keys[1].Retired != nil {
		t.Fatalf("keys: %+v", keys)
	}
	es, _ := db.AuditLog("")
	actions := ""
	for _, e := range es[len(es)-2:] {
		actions += e.Action + " "
	}
	if actions != "audit.key.retire audit.key.rotate " {
		t.Fatalf("last entries: %s", actions)
	}
	// The rotation's signature is bound: a retired key edited outside
	// celltrack to another reason is named.
	forge(t, db, kindCheckpointKey, keyID(t, db, oldKey), func(r *checkpointKeyRecord) { r.Reason = "compromised" })
	v, _ := db.Verify()
	if v.OK() || !strings.Contains(strings.Join(v.Problems, "\n"), "retired without a signature bound to its rotation") {
		t.Fatalf("verify after the edited rotation: %v", v.Problems)
	}
}

func keyID(t *testing.T, db *DB, vkey string) uuid.UUID {
	var id uuid.UUID
	db.view(func(tx kv.Tx) error {
		keys, _ := checkpointKeys(tx)
		for _, k := range keys {
			if k.Verifier == vkey {
				id = k.ID
			}
		}
		return nil
	})
	return id
}

// TestVerifyCatchesAnAlteredTree: a stored tree hash changed or removed is
// named by audit verify — a node of a stored level, and one of a lower
// level stored as before schema 11 — and a write onto a tree out of step is
// refused.
func TestVerifyCatchesAnAlteredTree(t *testing.T) {
	db := newTestDB(t)
	if _, err := NewLotService(db).Import("liu", importRows("T", 70, db.Now())); err != nil {
		t.Fatal(err)
	}
	verifyOK(t, db)
	for _, idx := range []int64{2, tlog.StoredHashIndex(treeStoredLevel, 0)} {
		var orig []byte
		err := db.engine.Update(func(tx kv.Tx) error {
			orig = bytes.Clone(tx.Bucket(bAuditTree).Get(treeKey(idx)))
			return tx.Bucket(bAuditTree).Put(treeKey(idx), make([]byte, 32))
		})
		if err != nil {
			t.Fatal(err)
		}
		level, n := tlog.SplitStoredHashIndex(idx)
		v, _ := db.Verify()
		if v.OK() || !strings.Contains(strings.Join(v.Problems, "\n"), fmt.Sprintf("the audit tree does not match entry %d: its stored hash %d differs", (n+1)<<level, idx)) {
			t.Fatalf("verify with stored hash %d zeroed: %v", idx, v.Problems)
		}
		err = db.engine.Update(func(tx kv.Tx) error {
			if orig == nil {
				return tx.Bucket(bAuditTree).Delete(treeKey(idx))
			}
			return tx.Bucket(bAuditTree).Put(treeKey(idx), orig)
		})
		if err != nil {
			t.Fatal(err)
		}
		verifyOK(t, db)
	}
	err := db.engine.Update(func(tx kv.Tx) error {
		k, _ := tx.Bucket(bAuditTree).Cursor().Last()
		return tx.Bucket(bAuditTree).Delete(k)
	})
	if err != nil {
		t.Fatal(err)
	}
	n, _ := db.AuditCount()
	_, err = NewLotService(db).AddPatient("nina", lot.Patient{MRN: "MRN-9", Name: "X", Born: db.Now().AddDate(-30, 0, 0), Sex: "M"})
	if lot.ErrorCode(err) != lot.ECONFLICT || !strings.Contains(err.Error(), "audit tree") {
		t.Fatalf("a write onto a cut tree: %v", err)
	}
	if m, _ := db.AuditCount(); m != n {
		t.Fatal("the refused write wrote")
	}
}

// TestCheckNeverMovesBackwards: once check recorded a checkpoint, a trail cut
// below it fails every verify, and a failing check keeps it.
func TestCheckNeverMovesBackwards(t *testing.T) {
	db := newTestDB(t)
	registerUC(t, db, "LOT-A")
	keep, _ := db.AuditCount()
	registerUC(t, db, "LOT-B")
	v, _ := db.Verify()
	if err := db.RecordCheckpoint(v); err != nil {
		t.Fatal(err)
	}
	cut(t, db, uint64(keep))
	v, _ = db.Verify()
	if v.OK() || !strings.Contains(strings.Join(v.Problems, "\n"), "fewer than the") {
		t.Fatalf("verify after the cut: %v", v.Problems)
	}
	if err := db.RecordCheckpoint(v); err != nil {
		t.Fatal(err)
	}
	if v, _ = db.Verify(); v.OK() {
		t.Fatal("the second check after the cut passed: the checkpoint moved backwards")
	}
	// Grown back to the same length with other entries: still caught.
	registerUC(t, db, "LOT-C")
	registerUC(t, db, "LOT-D")
	if v, _ = db.Verify(); v.OK() || !strings.Contains(strings.Join(v.Problems, "\n"), "differs from the one the database check verified") {
		t.Fatalf("verify after regrowth: %v", v.Problems)
	}
}

// TestKeyDateIsNotATreeMismatch: a checkpoint signed with the old key but
// dated after the rotation (the signing machine's clock ahead) is named as a
// key-date problem, with whether the trail extends its tree — never as a
// tree mismatch, and it does not count in FirstMismatch.
func TestKeyDateIsNotATreeMismatch(t *testing.T) {
	db, oldSigner, _ := keyed(t)
	registerUC(t, db, "LOT-A")
	_, newKey := newKey(t, "celltrack-G1234-2027")
	rotated := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	db.Now = func() time.Time { return rotated }
	if _, err := db.RotateCheckpointKey("alice", testPassword, newKey, "annual rotation"); err != nil {
		t.Fatal(err)
	}
	head, _ := db.TreeHead()
	head.Size -= 2 // signed just before the rotation's two entries...
	head.Root, _ = tlogRoot(t, db, head.Size)
	head.Time = rotated.Add(10 * time.Minute) // ...by a machine whose clock was ahead
	skewed, _ := note.Sign(&note.Note{Text: string(audit.FormatCheckpoint(head))}, oldSigner)
	cv := verifyKept(t, db, skewed)
	r := cv.Checkpoints[0]
	if r.Mismatch || cv.FirstMismatch != 0 || !strings.Contains(r.Problem, "signed by a key retired at") ||
		!strings.Contains(r.Problem, "a problem of the key's dates, not of the trail: today's trail extends its tree of "+itoa(head.Size)+" entries") {
		t.Fatalf("skewed checkpoint: mismatch %v, first mismatch %d, %q", r.Mismatch, cv.FirstMismatch, r.Problem)
	}
}

// tlogRoot is the root of the first n entries' tree in db.
func tlogRoot(t *testing.T, db *DB, n int64) (tlog.Hash, error) {
	var root tlog.Hash
	err := db.view(func(tx kv.Tx) (err error) {
		root, err = tlog.TreeHash(n, newTreeHashes(tx))
		return err
	})
	return root, err
}

// TestFirstMismatchIsABound: a trail cut below one checkpoint and rewritten
// below another. A root alone cannot show which entry changed, so the first
// tree size that no longer matches is given as a bound, and the checkpoints
// that still match and no longer match bracket the rewritten entry.
func TestFirstMismatchIsABound(t *testing.T) {
	db, signer, _ := keyed(t)
	registerUC(t, db, "LOT-A")
	cp1 := sign(t, db, signer)
	b := registerUC(t, db, "LOT-B")
	rewritten, _ := db.AuditCount() // LOT-B's registration is the last entry
	registerUC(t, db, "LOT-C")
	cp2 := sign(t, db, signer)
	keep, _ := db.AuditCount()
	registerUC(t, db, "LOT-D")
	cp3 := sign(t, db, signer)
	forge(t, db, kindLot, b.ID, func(r *map[string]any) { (*r)["viability_tenths_pct"] = 990 })
	cut(t, db, uint64(keep))
	cv := verifyKept(t, db, cp1, cp2, cp3)
	wantFail(t, cv, "cp3", "the first tree size that no longer matches is at most "+itoa(int64(keep)+1)+" (a root alone cannot show")
	wantFail(t, cv, "cp2", "does not extend it")
	if !(cv.LastMatch < int64(rewritten) && int64(rewritten) <= cv.FirstMismatch) {
		t.Fatalf("the rewritten entry %d lies outside %d–%d", rewritten, cv.LastMatch+1, cv.FirstMismatch)
	}
	if cv.Checkpoints[0].Problem != "" {
		t.Fatalf("cp1, before the rewritten entry: %s", cv.Checkpoints[0].Problem)
	}
}

// TestSwappedKeyRecordCaughtByAPinnedKey: the attacker replaces the
// registered verifier key with their own (the entry re-chained, the tree
// rebuilt), so plain `audit verify` passes and their checkpoints verify.
// The genuine checkpoints are then named as signed by a key the database
// does not register — forged, or the key record replaced — and a verifier
// key pinned from outside (--verifier-file) settles it: the genuine
// checkpoint's signature verifies against it and its tree is found
// rewritten, the attacker's checkpoint does not verify, and the missing
// registration of the pinned key fails verification.
func TestSwappedKeyRecordCaughtByAPinnedKey(t *testing.T) {
	db, signer, vkey := keyed(t)
	registerUC(t, db, "LOT-A")
	genuine := sign(t, db, signer)
	attacker, akey := newKey(t, "celltrack-G1234")
	forge(t, db, kindCheckpointKey, keyID(t, db, vkey), func(r *checkpointKeyRecord) { r.Verifier = akey })
	if v, _ := db.Verify(); !v.OK() {
		t.Fatalf("the swap is not consistent, so it proves nothing: %v", v.Problems)
	}
	theirs := sign(t, db, attacker)
	cv := verifyKept(t, db, genuine, theirs)
	wantFail(t, cv, "cp1", "either the checkpoint is forged, or the database's key record was replaced")
	if cv.Checkpoints[1].Problem != "" || cv.FirstMismatch != 0 {
		t.Fatalf("without a pinned key the attacker's checkpoint passes (that is the attack): %+v", cv.Checkpoints[1])
	}
	pinned := []PinnedVerifier{{Source: "ck.key.pub", Key: vkey + "\n"}}
	cv, err := db.VerifyCheckpointsPinned(context.Background(), []KeptCheckpoint{{Name: "genuine", Note: genuine}, {Name: "theirs", Note: theirs}}, pinned)
	if err != nil {
		t.Fatal(err)
	}
	// Its signature verifies against the pinned key; what fails is the
	// tree: the key record's entry, before it, was rewritten.
	wantFail(t, cv, "genuine", "today's trail ("+itoa(cv.Tree.Size)+" entries) does not extend it")
	if !cv.Checkpoints[0].Mismatch || cv.Checkpoints[0].Signer == "" {
		t.Fatalf("the genuine checkpoint against the pinned key: %+v", cv.Checkpoints[0])
	}
	wantFail(t, cv, "theirs", "none of the verifier keys given from files")
	if !strings.Contains(strings.Join(cv.Problems, "\n"), "verifier key ck.key.pub (celltrack-G1234+") || !strings.Contains(strings.Join(cv.Problems, "\n"), "is not one this database registered: its key record was replaced") {
		t.Fatalf("the pinned key's missing registration is not named: %v", cv.Problems)
	}
	// Before the swap the same pin passes.
	db2, signer2, vkey2 := keyed(t)
	cv, err = db2.VerifyCheckpointsPinned(context.Background(), []KeptCheckpoint{{Name: "cp", Note: sign(t, db2, signer2)}}, []PinnedVerifier{{Source: "k.pub", Key: vkey2}})
	if err != nil || !cv.OK() {
		t.Fatalf("a pinned registered key: %v %v", err, cv.Problems)
	}
}

// TestRolledBackExcuseCannotBePlanted: a kept checkpoint the trail does not
// extend is excused only by what a restore itself recorded of rolling back
// over it, never by the same words in text an admin chose. A --reason or a
// --from naming the mark is refused before anything is touched; an entry
// that holds the words elsewhere than in the suffix the restore appends (as
// an older celltrack let an admin write) excuses nothing; the restore that
// did roll back over the checkpoint, told of it, still does.
func TestRolledBackExcuseCannotBePlanted(t *testing.T) {
	db, signer, _ := keyed(t)
	registerUC(t, db, "LOT-A")
	backup := filepath.Join(t.TempDir(), "old.db")
	if _, err := db.VerifiedBackup(backup, nil); err != nil {
		t.Fatal(err)
	}
	registerUC(t, db, "LOT-B")
	cp := sign(t, db, signer)
	h, err := db.TreeHead()
	if err != nil {
		t.Fatal(err)
	}
	planted := fmt.Sprintf("%s tree size %d root %s", rolledOverMark, h.Size, audit.RootString(h.Root))
	path := db.Path()
	db.Close()
	reopen := reopenOnce(t, db)

	before := fileSum(t, path)
	opts := restoreOpts(db, backup)
	opts.Reason = "disk failure; " + planted
	_, err = Restore(path, opts)
	if lot.ErrorCode(err) != lot.EINVALID || lot.ErrorField(err) != "reason" || !strings.Contains(err.Error(), rolledOverMark) {
		t.Fatalf("a reason naming the mark: %v, want EINVALID about the reason and naming the words", err)
	}
	noReplacedFile(t, path)
	if fileSum(t, path) != before {
		t.Fatal("a refused restore changed the database")
	}
	opts = restoreOpts(db, filepath.Join(t.TempDir(), "Rolled back over the kept checkpoint of 9.db"))
	if _, err = Restore(path, opts); lot.ErrorCode(err) != lot.EINVALID || lot.ErrorField(err) != "from" {
		t.Fatalf("a backup file name naming the mark: %v, want EINVALID about the backup file", err)
	}
	noReplacedFile(t, path)

	// The rollback done without the kept checkpoint: nothing excuses it.
	opts = restoreOpts(db, backup)
	opts.Reason = "disk failure"
	if _, err := Restore(path, opts); err != nil {
		t.Fatal(err)
	}
	reopen()
	wantFail(t, verifyKept(t, db, cp), "cp1", "does not extend it")

	// The words where an older celltrack recorded an admin's --reason or
	// --from: still not an excuse.
	for _, reason := range []string{
		fmt.Sprintf("restored from old.db (1 entries, root x); the replaced file is kept at ct.db.replaced (9 entries, root y); ROLLBACK allowed: %s — ct.db has 9 entries; the backup has 4: entries 5–9 since would vanish from the database", planted),
		fmt.Sprintf("restored from /b/%s.db (4 entries, root x); the replaced file is kept at ct.db.replaced (4 entries, root x)", planted),
		fmt.Sprintf("restored from old.db; ROLLBACK allowed: disk — ct.db has 9 entries; the backup has 4; %s and more", planted),
	} {
		err := db.update("alice", audit.DatabaseRestore, func(w *writer) error {
			return w.event(kindUser, w.actor.ID, "database.restore", reason)
		})
		if err != nil {
			t.Fatal(err)
		}
		cv := verifyKept(t, db, cp)
		if cv.Checkpoints[0].RolledBack != "" {
			t.Fatalf("the words in free text excused the checkpoint: %s\n(reason %q)", cv.Checkpoints[0].RolledBack, reason)
		}
		wantFail(t, cv, "cp1", "does not extend it")
	}
}

// TestRolledBackExcuseRecordedByRestore: a restore told of the kept
// checkpoint it rolls back over records it, and the checkpoint is then
// reported as rolled back by that entry, with the admin's reason, not
// refused.
func TestRolledBackExcuseRecordedByRestore(t *testing.T) {
	db, cp, reopen := restoredOverCheckpoint(t)
	reopen()
	cv := verifyKept(t, db, cp)
	wantPass(t, cv)
	if got := cv.Checkpoints[0].RolledBack; !strings.Contains(got, "rolled back by the restore, entry") || !strings.HasSuffix(got, "reason: disk failure; LOT-B re-entered from paper") {
		t.Fatalf("rolled back: %q", got)
	}
}

// restoredOverCheckpoint returns a file database (closed) whose kept
// checkpoint cp a restore, with a rollback allowed, rolled back over, and
// the function that reopens the database.
func restoredOverCheckpoint(t *testing.T) (db *DB, cp []byte, reopen func()) {
	t.Helper()
	db, signer, _ := keyed(t)
	registerUC(t, db, "LOT-A")
	backup := filepath.Join(t.TempDir(), "old.db")
	if _, err := db.VerifiedBackup(backup, nil); err != nil {
		t.Fatal(err)
	}
	registerUC(t, db, "LOT-B")
	cp = sign(t, db, signer)
	db.Close()
	reopen = reopenOnce(t, db)
	opts := restoreOpts(db, backup)
	opts.Reason = "disk failure; LOT-B re-entered from paper"
	opts.Kept = []KeptCheckpoint{{Name: "cp1", Note: cp}}
	if _, err := Restore(db.Path(), opts); err != nil {
		t.Fatal(err)
	}
	return db, cp, reopen
}

// reopenOnce returns a function that reopens db's closed file for the rest
// of the test; if the test ends before calling it, it runs at cleanup, for
// newTestDB's check.
func reopenOnce(t *testing.T, db *DB) func() {
	done := false
	t.Cleanup(func() {
		if !done {
			reopenBolt(t, db)
		}
	})
	return func() { reopenBolt(t, db); done = true }
}
