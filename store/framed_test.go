package store

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/store/kv"
	"github.com/klauspost/compress/zstd"
)

// Since schema 14 an entry's hash is over its frame as stored (audit.Encode,
// the framed layout), so `audit verify` checks a state entry without
// decompressing it. These tests upgrade a trail of schema 13 and check that
// its entries keep their bytes and hashes, that a frame changed in any way
// is named, and that a trail whose older entries could read as framed is
// refused.

// setSchema writes schema version v into db's meta, as a file an older
// celltrack left.
func setSchema(t *testing.T, db *DB, v int) {
	t.Helper()
	if err := db.engine.Update(func(tx kv.Tx) error { return tx.Bucket(bMeta).Put([]byte("schema"), []byte(fmt.Sprint(v))) }); err != nil {
		t.Fatal(err)
	}
}

// reopenForUpgrade closes db and opens it again for Upgrade.
func reopenForUpgrade(t *testing.T, db *DB) *DB {
	t.Helper()
	path, now := db.Path(), db.Now
	db.Close()
	up, _, err := OpenForUpgrade(path, Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { up.Close() })
	return up
}

// TestUpgradeFromVersion13KeepsEveryEntry: a version 13 trail (entries in
// the linked layout) is upgraded to 14 without a byte of it changing and
// verifies after; entries written afterwards are framed and verify too; a
// framed entry whose frame is replaced by another frame of the same JSON,
// or has one byte flipped, is named, and so is an entry of the linked layout put after framed ones.
// Runs on both engines.
func TestUpgradeFromVersion13KeepsEveryEntry(t *testing.T) {
	encodeEntry = (*audit.Entry).EncodeSchema13
	db := newTestDB(t)
	lotEntries(t, db, "A", 10)
	encodeEntry = (*audit.Entry).Encode
	defer func() { encodeEntry = (*audit.Entry).Encode }()
	verifyOK(t, db)
	before := auditEntries(t, db)
	for i, b := range before {
		if !audit.IsLinked(b) || audit.IsFramed(b) {
			t.Fatalf("version 13 entry %d is not in the linked layout", i+1)
		}
	}
	head, err := db.TreeHead()
	if err != nil {
		t.Fatal(err)
	}
	setSchema(t, db, 13)
	up := reopenForUpgrade(t, db)
	v, note, err := up.Upgrade("alice")
	if err != nil || v != 14 || !strings.Contains(note, fmt.Sprintf("14: audit entries written from now on are hashed over their compressed body as stored, which audit verify checks without decompressing it; the %d existing entries are kept as they are", len(before))) ||
		strings.Contains(note, "12: audit entries") {
		t.Fatalf("upgrade: %d %v %s", v, err, note)
	}
	verifyOK(t, up)
	keptHead(t, up, head)
	n := uint64(len(before))
	for i, b := range before {
		if !bytes.Equal(entryBytes(t, up, uint64(i+1)), b) {
			t.Fatalf("entry %d changed by the upgrade", i+1)
		}
	}
	lotEntries(t, up, "B", 10)
	verifyOK(t, up)
	after := auditEntries(t, up)
	for i, b := range after[n:] {
		if !audit.IsFramed(b) {
			t.Fatalf("entry %d, written after the upgrade, is not framed", int(n)+i+1)
		}
	}
	// A framed entry's frame replaced by a frame of the same JSON at the
	// best level: its content, as JSON, is the same, and still the entry
	// is named, and the next one is not.
	s := n + 5
	old := entryBytes(t, up, s)
	json, err := audit.Body(old)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedBestCompression))
	if err != nil {
		t.Fatal(err)
	}
	const headerLen = 32 + 16 + 32 + 1 // the framed layout's
	re := append(bytes.Clone(old[:headerLen]), enc.EncodeAll(json, nil)...)
	if back, err := audit.Body(re); err != nil || !bytes.Equal(back, json) || bytes.Equal(re, old) {
		t.Fatalf("the other frame: %v", err)
	}
	rawSetEntry(t, up, s, re)
	got := problemsOf(t, up)
	if !strings.Contains(got, alteredLinked(s)) || strings.Contains(got, fmt.Sprintf("audit entry %d was", s+1)) || strings.Contains(got, fmt.Sprintf("audit entry %d was", s-1)) {
		t.Errorf("a frame re-encoded: verify says\n%s", got)
	}
	// One byte of the stored frame flipped.
	flipped := bytes.Clone(old)
	flipped[headerLen+(len(old)-headerLen)/2] ^= 0x01
	rawSetEntry(t, up, s, flipped)
	if got := problemsOf(t, up); !strings.Contains(got, alteredLinked(s)) || strings.Contains(got, fmt.Sprintf("audit entry %d was", s+1)) {
		t.Errorf("a byte of a frame flipped: verify says\n%s", got)
	}
	rawSetEntry(t, up, s, old)
	verifyOK(t, up)
	// An entry of the linked layout after framed ones, its hash and link
	// right: not written by celltrack.
	last := uint64(len(after))
	rawSetEntry(t, up, last, reencodeAs(t, up, last, (*audit.Entry).EncodeSchema13))
	if got := problemsOf(t, up); !strings.Contains(got, fmt.Sprintf("audit entry %d is stored in the layout of schema 12, after entry %d in that of schema 14: celltrack did not write it", last, n+1)) ||
		strings.Contains(got, "was altered") {
		t.Errorf("a linked entry after framed ones:\n%s", got)
	}
}

// reencodeAs is entry seq encoded again by enc, with its own hash.
func reencodeAs(t *testing.T, db *DB, seq uint64, enc func(*audit.Entry) ([]byte, error)) []byte {
	t.Helper()
	var e audit.Entry
	if err := db.view(func(tx kv.Tx) (err error) { e, err = recordEntriesFrom(tx, seq); return err }); err != nil {
		t.Fatal(err)
	}
	b, err := enc(&e)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// framedLookalike is b, an entry of the first layout, with the first bytes
// of its newSHA changed to a framed lean state and the zstd magic, and its
// hash recomputed over its canonical form: an entry of schema 11 whose
// value's SHA-256 happened to begin so (a chance of 2^-40).
func framedLookalike(t *testing.T, b []byte) []byte {
	t.Helper()
	const headerLen = 32 + 32 + 16 + 32 + 1 // the first layout's
	json, err := audit.Body(b)
	if err != nil || audit.IsLinked(b) {
		t.Fatalf("not an entry of the first layout: %v", err)
	}
	b = bytes.Clone(b)
	copy(b[80:], []byte{6, 0x28, 0xb5, 0x2f, 0xfd})
	h := sha256.Sum256(append(bytes.Clone(b[32:headerLen]), json...))
	copy(b, h[:])
	if !audit.IsFramed(b) || !audit.Ambiguous(b) {
		t.Fatal("the lookalike does not read as framed")
	}
	return b
}

// TestUpgradeRefusesAnEntryThatWouldReadAsFramed: a trail of schema 11, or
// one of schema 13 whose older entries are of the first layout, holding an
// entry of the first layout that reads as framed is refused by the upgrade
// with ECONFLICT, naming the entry, and nothing is written. Runs on both
// engines.
func TestUpgradeRefusesAnEntryThatWouldReadAsFramed(t *testing.T) {
	defer func() { encodeEntry = (*audit.Entry).Encode }()
	for _, from := range []int{11, 13} {
		t.Run(fmt.Sprint(from), func(t *testing.T) {
			encodeEntry = (*audit.Entry).EncodeSchema11
			db := newTestDB(t)
			lotEntries(t, db, "A", 5)
			count, err := db.AuditCount()
			if err != nil {
				t.Fatal(err)
			}
			seq := uint64(count)
			// The last entry, so that the entries after it chain to the
			// lookalike's hash.
			rawSetEntry(t, db, seq, framedLookalike(t, entryBytes(t, db, seq)))
			if from == 13 {
				encodeEntry = (*audit.Entry).EncodeSchema13
				lotEntries(t, db, "B", 3)
			}
			encodeEntry = (*audit.Entry).Encode
			setSchema(t, db, from)
			want := auditEntries(t, db)
			var file []byte
			if !IsPostgres(db.Path()) {
				file, _ = os.ReadFile(db.Path())
			}
			up := reopenForUpgrade(t, db)
			_, _, err = up.Upgrade("alice")
			if lot.ErrorCode(err) != lot.ECONFLICT || !strings.Contains(fmt.Sprint(err), fmt.Sprintf("audit entry %d would read as an entry of schema 14", seq)) || !strings.Contains(fmt.Sprint(err), "keep the file at its version and report it") {
				t.Fatalf("upgrade: %v", err)
			}
			if v, _, err := up.Schema(); err != nil || v != from {
				t.Fatalf("schema after the refusal: %d %v", v, err)
			}
			got := auditEntries(t, up)
			if len(got) != len(want) {
				t.Fatalf("%d entries after the refusal, %d before", len(got), len(want))
			}
			for i := range want {
				if !bytes.Equal(got[i], want[i]) {
					t.Fatalf("entry %d changed by the refusal", i+1)
				}
			}
			if file != nil {
				path := up.Path()
				up.Close()
				if now, _ := os.ReadFile(path); !bytes.Equal(now, file) {
					t.Fatal("the refused upgrade wrote to the file")
				}
			}
		})
	}
}
