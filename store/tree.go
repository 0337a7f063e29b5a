package store

import (
	"encoding/binary"
	"fmt"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/store/kv"
	"golang.org/x/mod/sumdb/tlog"
)

// The audit trail is also a Merkle tree (audit.LeafHash, golang.org/x/mod/sumdb/tlog).
// Its stored hashes live in the bucket audit_tree under their tlog stored-hash
// index (tlog.StoredHashIndex), 8 bytes big-endian, in the same transaction as
// the entry that adds them: the keys are dense, 0 … StoredHashCount(size)-1,
// and arrive in order, so the bucket is filled like the audit bucket.

var bAuditTree = []byte("audit_tree")

// treeKey is the key of stored hash index i.
func treeKey(i int64) []byte {
	k := make([]byte, 8)
	binary.BigEndian.PutUint64(k, uint64(i))
	return k
}

// treeSize returns how many entries the stored tree holds, from its last
// stored hash: the node (level L, k) is stored with record (k+1)·2^L − 1,
// the last of that record's hashes. It is -1 when the last record's hashes
// are incomplete.
func treeSize(tx kv.Tx) int64 {
	b := tx.Bucket(bAuditTree)
	if b == nil {
		return 0
	}
	k, _ := b.Cursor().Last()
	if len(k) != 8 {
		return 0
	}
	last := int64(binary.BigEndian.Uint64(k))
	level, n := tlog.SplitStoredHashIndex(last)
	size := (n + 1) << level
	if tlog.StoredHashCount(size) != last+1 {
		return -1 // the record's hashes end short: not a tree celltrack wrote
	}
	return size
}

// bucketHashes reads stored hashes from audit_tree; a missing or short one is
// an error that names it, not a zero hash.
type bucketHashes struct{ b kv.Bucket }

func (r bucketHashes) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	c := r.b.Cursor()
	for i, x := range indexes {
		v := get1(c, treeKey(x))
		if len(v) != tlog.HashSize {
			return nil, lot.Errorf(lot.ECONFLICT, "the audit tree lacks its stored hash %d: the tree was changed outside celltrack — run `celltrack check`", x)
		}
		out[i] = tlog.Hash(v)
	}
	return out, nil
}

// appendTree adds the entry numbered seq, whose hash is h, to the tree. The
// tree must hold exactly the seq-1 entries before it: a tree out of step with
// the trail was changed outside celltrack, and a write onto it would bury that.
func appendTree(tx kv.Tx, seq uint64, h [32]byte) error {
	b := tx.Bucket(bAuditTree)
	n := int64(seq) - 1
	if size := treeSize(tx); size != n {
		return lot.Errorf(lot.ECONFLICT, "refused: the audit tree holds %d entries but the trail's next entry is %d; the database was changed outside celltrack, so nothing was written — run `celltrack check` and contact the administrator", size, seq)
	}
	hashes, err := tlog.StoredHashesForRecordHash(n, audit.LeafHash(h), bucketHashes{b})
	if err != nil {
		return err
	}
	b.SetFillPercent(appendFill)
	base := tlog.StoredHashIndex(0, n)
	for i, x := range hashes {
		if err := b.Put(treeKey(base+int64(i)), x[:]); err != nil {
			return fmt.Errorf("append audit tree hash: %w", err)
		}
	}
	return nil
}

// TreeHead returns the head of the audit tree now: its size and root.
func (db *DB) TreeHead() (audit.Head, error) {
	var h audit.Head
	err := db.view(func(tx kv.Tx) (err error) { h, err = treeHead(tx); return err })
	return h, err
}

func treeHead(tx kv.Tx) (audit.Head, error) {
	size := treeSize(tx)
	if size < 0 {
		return audit.Head{}, lot.Errorf(lot.ECONFLICT, "the audit tree's last stored hashes are incomplete: the tree was changed outside celltrack — run `celltrack check`")
	}
	root, err := tlog.TreeHash(size, bucketHashes{tx.Bucket(bAuditTree)})
	if err != nil {
		return audit.Head{}, err
	}
	return audit.Head{Facility: string(tx.Bucket(bMeta).Get([]byte("facility"))), Size: size, Root: root}, nil
}

// treeCheck recomputes the stored tree from the entries while verifyTx walks
// them in order, comparing each stored hash as it goes. Record n stores its
// leaf and then, for each trailing 1 bit of n, the node it completes one
// level up (tlog.StoredHashesForRecordHash); the left half of each such node
// is the last node completed on that level before it (the right edge of the
// tree), so the check holds 64 hashes, not the tree. It computes them with
// tlog.NodeHash directly rather than through tlog, which allocates for each
// record and reads the edge back through a search: a third of the chain
// walk's time, and verify adds millions of records.
type treeCheck struct {
	c        kv.Cursor
	k, v     []byte
	n        int64
	frontier [64]tlog.Hash // frontier[l]: the last left node completed on level l
	problem  string        // the first disagreement; one is enough to condemn the tree
}

func newTreeCheck(tx kv.Tx) *treeCheck {
	t := &treeCheck{c: tx.Bucket(bAuditTree).Cursor()}
	t.k, t.v = t.c.First()
	return t
}

// add recomputes the stored hashes of the next entry, whose hash is h, and
// compares them with the stored ones.
func (t *treeCheck) add(seq uint64, h [32]byte) {
	n := t.n
	t.n++
	if t.problem != "" {
		return
	}
	x := audit.LeafHash(h)
	idx := tlog.StoredHashIndex(0, n)
	for level := 0; ; level++ {
		switch {
		case t.k == nil:
			t.problem = fmt.Sprintf("the audit tree ends before entry %d: its hashes were removed outside celltrack (run `celltrack upgrade` on a file an older celltrack wrote)", seq)
			return
		case len(t.k) != 8 || int64(binary.BigEndian.Uint64(t.k)) != idx:
			t.problem = fmt.Sprintf("the audit tree's stored hashes have a gap or a stray key at entry %d: the tree was changed outside celltrack", seq)
			return
		case len(t.v) != tlog.HashSize || tlog.Hash(t.v) != x:
			t.problem = fmt.Sprintf("the audit tree does not match entry %d: its stored hash %d differs from the one recomputed from the entries — the trail or the tree was changed outside celltrack", seq, idx)
			return
		}
		t.k, t.v = t.c.Next()
		if n>>level&1 == 0 { // a left node: the next one up is completed later
			t.frontier[level] = x
			return
		}
		x = tlog.NodeHash(t.frontier[level], x)
		idx++
	}
}

// finish reports the first disagreement, or stored hashes beyond the last entry.
func (t *treeCheck) finish() []string {
	if t.problem != "" {
		return []string{t.problem}
	}
	if t.k != nil {
		return []string{fmt.Sprintf("the audit tree holds hashes beyond the trail's last entry (%d): entries were removed outside celltrack", t.n)}
	}
	return nil
}

// buildTree adds to the tree the entries it lacks, in transactions of
// batch entries each, so that a file of millions of entries is upgraded in
// bounded memory; it is what the upgrade to schema 5 runs, and running it
// again continues where an interrupted run stopped, because each batch
// commits the entries and their stored hashes together. It returns how many
// entries it added.
func (db *DB) buildTree(batch int) (added int64, err error) {
	for {
		var done bool
		err := db.engine.Update(func(tx kv.Tx) error {
			if _, err := tx.CreateBucketIfNotExists(bAuditTree); err != nil {
				return err
			}
			start := treeSize(tx)
			if start < 0 {
				return lot.Errorf(lot.ECONFLICT, "%s: the audit tree's last stored hashes are incomplete, so it cannot be continued; restore the last good backup", db.path)
			}
			c := tx.Bucket(bAudit).Cursor()
			n := start
			for k, v := c.Seek(itob(uint64(start + 1))); k != nil && n < start+int64(batch); k, v = c.Next() {
				if btoi(k) != uint64(n+1) {
					return lot.Errorf(lot.ECONFLICT, "%s: audit entry %d is missing (the next is %d), so the audit tree cannot be built; the trail has a gap — restore the last good backup", db.path, n+1, btoi(k))
				}
				h, err := audit.ReadHeader(v)
				if err != nil {
					return fmt.Errorf("audit entry %d: %w", n+1, err)
				}
				// The entry's stored hash, as appending uses it: an entry
				// altered before the upgrade stays visible to audit verify,
				// which recomputes every hash.
				if err := appendTree(tx, uint64(n+1), h.Hash); err != nil {
					return err
				}
				n++
			}
			added += n - start
			done = n-start < int64(batch)
			return nil
		})
		if err != nil || done {
			return added, err
		}
	}
}
