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
// with the same appendTree the audit writer uses.
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
			for i := start; i < min(start+200_000, n); i++ {
				if err := appendTree(tx, uint64(i+1), sha256.Sum256(fmt.Appendf(nil, "entry %d", i))); err != nil {
					return err
				}
				if i+1 == cp {
					if old, err = tlog.TreeHash(cp, bucketHashes{tx.Bucket(bAuditTree)}); err != nil {
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
			r := bucketHashes{tx.Bucket(bAuditTree)}
			size := treeSize(tx)
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
	if _, err := NewLotService(db).Import("liu", importRows("T", 60, db.Now())); err != nil {
		t.Fatal(err)
	}
	verifyOK(t, db)
	var size int64
	db.view(func(tx kv.Tx) error { size = treeSize(tx); return nil })
	if size < 64 {
		t.Fatalf("a tree of %d entries has no node of level 6", size)
	}
	for n := range size {
		for i := range tlog.StoredHashCount(n+1) - tlog.StoredHashCount(n) {
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
	verifyOK(t, db)
}
