package store

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/store/boltkv"
	"github.com/celltrack/celltrack/store/kv"
	"golang.org/x/mod/sumdb/tlog"
)

// retree rebuilds the audit tree from the entries as they are stored, as an
// attacker who rewrote entries and knows the tree layout would.
func retree(tx kv.Tx) error {
	if err := tx.DeleteBucket(bAuditTree); err != nil {
		return err
	}
	if _, err := tx.CreateBucket(bAuditTree); err != nil {
		return err
	}
	return tx.Bucket(bAudit).ForEach(func(k, v []byte) error {
		h, err := audit.StoredHash(v)
		if err != nil {
			return err
		}
		return appendTree(tx, btoi(k), h)
	})
}

// BenchmarkConsistencyProof is `audit verify --checkpoint`'s proof for one
// kept checkpoint: the tree head now, tlog.ProveTree from the stored hashes
// and tlog.CheckTree, over a tree of the 100k-lot harness database's size
// (2,830,537 entries; CELLTRACK_BENCH_TREE to change), checkpoint at about
// two thirds of it. The tree is built once into a temporary bbolt file
// with the same appendTree the audit writer uses, beside a trail of
// entries that hold only their hash (the lower levels are recomputed from
// it).
func BenchmarkConsistencyProof(b *testing.B) {
	n := int64(2_830_537)
	if s := os.Getenv("CELLTRACK_BENCH_TREE"); s != "" {
		if _, err := fmt.Sscan(s, &n); err != nil {
			b.Fatal(err)
		}
	}
	bdb, err := boltkv.Open(filepath.Join(b.TempDir(), "tree.db"), nil)
	if err == nil {
		bdb.SetNoSync(true)
	}
	if err != nil {
		b.Fatal(err)
	}
	defer bdb.Close()
	var old tlog.Hash
	cp := n*2/3 + 7
	for start := int64(0); start < n; start += 200_000 {
		err := bdb.Update(func(tx kv.Tx) error {
			if _, err := tx.CreateBucketIfNotExists(bAuditTree); err != nil {
				return err
			}
			trail, err := tx.CreateBucketIfNotExists(bAudit)
			if err != nil {
				return err
			}
			trail.SetFillPercent(appendFill)
			for i := start; i < min(start+200_000, n); i++ {
				h := sha256.Sum256(fmt.Appendf(nil, "entry %d", i))
				entry := make([]byte, 113) // a header: the hash, then zeros
				copy(entry, h[:])
				if err := trail.Put(itob(uint64(i+1)), entry); err != nil {
					return err
				}
				if err := appendTree(tx, uint64(i+1), h); err != nil {
					return err
				}
				if i+1 == cp {
					if old, err = tlog.TreeHash(cp, newTreeHashes(tx)); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for b.Loop() {
		err := bdb.View(func(tx kv.Tx) error {
			r := newTreeHashes(tx)
			size := trailSize(tx)
			root, err := tlog.TreeHash(size, r)
			if err != nil {
				return err
			}
			p, err := tlog.ProveTree(size, cp, r)
			if err != nil {
				return err
			}
			return tlog.CheckTree(p, size, root, cp, old)
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// TestVerifyCatchesEveryStoredTreeHash: verify recomputes the tree from
// the entries (treeCheck) and must notice any one stored hash changed — a
// leaf or a node of any level, at any position — and name the entry that
// stored it.
func TestVerifyCatchesEveryStoredTreeHash(t *testing.T) {
	db := newTestDB(t)
	if _, err := NewLotService(db).Import("liu", importRows("T", 130, db.Now())); err != nil {
		t.Fatal(err)
	}
	verifyOK(t, db)
	var size int64
	db.view(func(tx kv.Tx) error { size = trailSize(tx); return nil })
	if size < 128 {
		t.Fatalf("a tree of %d entries has no node of level 7", size)
	}
	stored := 0
	for n := range size {
		for i := range tlog.StoredHashCount(n+1) - tlog.StoredHashCount(n) {
			if i < treeStoredLevel {
				continue // not stored: recomputed from the entries (TestTreeStoresOnlyTheUpperLevels)
			}
			stored++
			idx := tlog.StoredHashIndex(0, n) + i
			var orig []byte
			flip := func(tx kv.Tx) error {
				b := tx.Bucket(bAuditTree)
				v := bytes.Clone(b.Get(treeKey(idx)))
				if orig == nil {
					orig = bytes.Clone(v)
					v[31] ^= 1
				} else {
					v = orig
				}
				return b.Put(treeKey(idx), v)
			}
			if err := db.engine.Update(flip); err != nil {
				t.Fatal(err)
			}
			v, err := db.Verify()
			want := fmt.Sprintf("the audit tree does not match entry %d: its stored hash %d differs", n+1, idx)
			if err != nil || v.OK() || !strings.Contains(strings.Join(v.Problems, "\n"), want) {
				t.Fatalf("stored hash %d (entry %d, level %d) changed: verify says %v %q, want %q", idx, n+1, i, err, v.Problems, want)
			}
			if err := db.engine.Update(flip); err != nil {
				t.Fatal(err)
			}
		}
	}
	if stored < 3 {
		t.Fatalf("only %d stored hashes flipped", stored)
	}
	verifyOK(t, db)
}

// fullTree is the tree of the trail's stored entry hashes with every
// level stored, as celltrack wrote it before schema 11, held in memory: an
// independent computation of what treeHashes must read.
func fullTree(t *testing.T, tx kv.Tx) (hashes []tlog.Hash, size int64) {
	t.Helper()
	r := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			out[i] = hashes[x]
		}
		return out, nil
	})
	err := tx.Bucket(bAudit).ForEach(func(k, v []byte) error {
		h, err := audit.StoredHash(v)
		if err != nil {
			return err
		}
		hs, err := tlog.StoredHashesForRecordHash(size, audit.LeafHash(h), r)
		hashes = append(hashes, hs...)
		size++
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return hashes, size
}

// TestTreeStoresOnlyTheUpperLevels (schema 11): audit_tree holds exactly
// the nodes of level treeStoredLevel and above, each the hash a full tree
// has there; the root, and every hash a proof reads, lower ones recomputed
// from the entries, are those of the full tree; and proofs between any two
// sizes check against it.
func TestTreeStoresOnlyTheUpperLevels(t *testing.T) {
	db := newTestDB(t)
	if _, err := NewLotService(db).Import("liu", importRows("T", 200, db.Now())); err != nil {
		t.Fatal(err)
	}
	registerUC(t, db, "LOT-LAST") // a trail that does not end on a block
	err := db.view(func(tx kv.Tx) error {
		full, size := fullTree(t, tx)
		if size < 3<<treeStoredLevel || size%(1<<treeStoredLevel) == 0 {
			t.Fatalf("a trail of %d entries", size)
		}
		var want []int64
		for x := range int64(len(full)) {
			if level, _ := tlog.SplitStoredHashIndex(x); level >= treeStoredLevel {
				want = append(want, x)
			}
		}
		var got []int64
		err := tx.Bucket(bAuditTree).ForEach(func(k, v []byte) error {
			x := int64(btoi(k))
			got = append(got, x)
			if tlog.Hash(v) != full[x] {
				t.Errorf("stored hash %d differs from the full tree's", x)
			}
			return nil
		})
		if err != nil {
			return err
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("audit_tree holds %v, want %v", got, want)
		}
		r := newTreeHashes(tx)
		all := make([]int64, len(full))
		for i := range all {
			all[i] = int64(i)
		}
		read, err := r.ReadHashes(all)
		if err != nil {
			return err
		}
		for i := range full {
			if read[i] != full[i] {
				t.Fatalf("hash %d read as %x, the full tree has %x", i, read[i], full[i])
			}
		}
		fr := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
			out := make([]tlog.Hash, len(idx))
			for i, x := range idx {
				out[i] = full[x]
			}
			return out, nil
		})
		head, err := treeHead(tx)
		if err != nil {
			return err
		}
		wantRoot, _ := tlog.TreeHash(size, fr)
		if head.Size != size || head.Root != wantRoot {
			t.Fatalf("head %d %x, want %d %x", head.Size, head.Root, size, wantRoot)
		}
		for _, old := range []int64{1, 2, 63, 64, 65, 100, 128, size - 1} {
			oldRoot, _ := tlog.TreeHash(old, fr)
			p, err := tlog.ProveTree(size, old, r)
			if err != nil {
				return err
			}
			if err := tlog.CheckTree(p, size, head.Root, old, oldRoot); err != nil {
				t.Errorf("proof %d → %d: %v", old, size, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	verifyOK(t, db)
}

// TestLeanTreeFromVersion10: a version 10 database stores every level of
// the tree. The upgrade to 11 removes the lower levels of a file's tree
// (on PostgreSQL, whose audit_tree is append-only, it keeps them); either
// way the tree head is the same, verify passes and still compares a kept
// lower hash, and the entries written after it store only the upper levels.
// It runs on both engines.
func TestLeanTreeFromVersion10(t *testing.T) {
	db := newTestDB(t)
	if _, err := NewLotService(db).Import("liu", importRows("T", 100, db.Now())); err != nil {
		t.Fatal(err)
	}
	want, err := db.TreeHead()
	if err != nil {
		t.Fatal(err)
	}
	// The tree as schema 10 stored it: every level (inserted, which
	// PostgreSQL's append-only table allows), and the schema 10.
	var lower int
	err = db.engine.Update(func(tx kv.Tx) error {
		full, _ := fullTree(t, tx)
		b := tx.Bucket(bAuditTree)
		for x, h := range full {
			if level, _ := tlog.SplitStoredHashIndex(int64(x)); level < treeStoredLevel {
				lower++
				if err := b.Put(treeKey(int64(x)), h[:]); err != nil {
					return err
				}
			}
		}
		return tx.Bucket(bMeta).Put([]byte("schema"), []byte("10"))
	})
	if err != nil {
		t.Fatal(err)
	}
	path, now := db.Path(), db.Now
	db.Close()
	up, opened, err := OpenForUpgrade(path, Options{Now: now})
	if err != nil {
		t.Fatal(err, opened)
	}
	defer up.Close()
	v, note, err := up.Upgrade("alice")
	if err != nil || v != SchemaVersion {
		t.Fatalf("upgrade: %d %v", v, err)
	}
	var kept int
	up.view(func(tx kv.Tx) error {
		return tx.Bucket(bAuditTree).ForEach(func(k, _ []byte) error {
			if level, _ := tlog.SplitStoredHashIndex(int64(btoi(k))); level < treeStoredLevel {
				kept++
			}
			return nil
		})
	})
	if IsPostgres(path) {
		if kept != lower || !strings.Contains(note, "stay in the append-only audit_tree table") {
			t.Fatalf("on PostgreSQL: %d of %d lower hashes kept; note %s", kept, lower, note)
		}
	} else if kept != 0 || !strings.Contains(note, fmt.Sprintf(`"tree_hashes_pruned":%d`, lower)) {
		t.Fatalf("%d of %d lower hashes kept; note %s", kept, lower, note)
	}
	keptHead(t, up, want)
	verifyOK(t, up)
	// Written after the upgrade: only the upper levels, and the head of
	// the longer trail is the full tree's.
	if _, err := NewLotService(up).Import("liu", importRows("U", 80, up.Now())); err != nil {
		t.Fatal(err)
	}
	verifyOK(t, up)
	up.view(func(tx kv.Tx) error {
		full, size := fullTree(t, tx)
		fr := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
			out := make([]tlog.Hash, len(idx))
			for i, x := range idx {
				out[i] = full[x]
			}
			return out, nil
		})
		root, _ := tlog.TreeHash(size, fr)
		if h, err := treeHead(tx); err != nil || h.Size != size || h.Root != root {
			t.Fatalf("head after more entries %+v %v, want %d %x", h, err, size, root)
		}
		tx.Bucket(bAuditTree).ForEach(func(k, _ []byte) error {
			if level, rec := tlog.SplitStoredHashIndex(int64(btoi(k))); level < treeStoredLevel && (rec+1)<<level > want.Size {
				t.Errorf("stored hash %d of level %d for an entry written after the upgrade", btoi(k), level)
			}
			return nil
		})
		return nil
	})
}
