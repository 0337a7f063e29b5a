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
// the entry that adds them. Since schema 11 only the nodes of level
// treeStoredLevel and above are stored: the ones below are a function of at
// most 2^treeStoredLevel entries' stored hashes, which the trail holds
// already, and are recomputed from them when a proof or a tree head needs
// them (treeHashes). The keys arrive in order, so the bucket is filled like
// the audit bucket. A tree written before schema 11 keeps its lower levels
// where the upgrade could not remove them (PostgreSQL's audit_tree is
// append-only); a stored hash of a lower level is read, and checked by
// verify, like any other.

// treeStoredLevel is the lowest level of the audit tree whose nodes are
// stored: 6, so that one stored node in 2^6 entries replaces ~2 per entry,
// and a node recomputed reads at most 64 entries (a few pages).
const treeStoredLevel = 6

var bAuditTree = []byte("audit_tree")

// treeKey is the key of stored hash index i.
func treeKey(i int64) []byte {
	k := make([]byte, 8)
	binary.BigEndian.PutUint64(k, uint64(i))
	return k
}

// treeSize returns how many entries the stored tree covers, from its last
// stored hash: the node (level L, k) is stored with record (k+1)·2^L − 1,
// the last of that record's hashes. It is -1 when the last record's hashes
// are incomplete. Since schema 11 the tree stores no hash for the records
// after the last multiple of 2^treeStoredLevel, so the trail may hold up to
// 2^treeStoredLevel − 1 entries more (treeInStep).
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

// trailSize is the number of the trail's last entry: the size of the tree
// when the trail has no gap (verify checks that it has none).
func trailSize(tx kv.Tx) int64 {
	k, _ := tx.Bucket(bAudit).Cursor().Last()
	return int64(btoi(k))
}

// treeInStep reports whether a stored tree covering stored entries is the
// tree of a trail of size entries: it covers every whole block of
// 2^treeStoredLevel entries the trail has and nothing beyond.
func treeInStep(stored, size int64) bool {
	return stored >= 0 && stored <= size && size-stored < 1<<treeStoredLevel
}

// treeHashes reads the tree's hashes for tlog: a stored one from audit_tree,
// and one of a level below treeStoredLevel that is not stored recomputed
// from the stored hashes of the entries under it (trail: the audit bucket).
// A missing hash it cannot recompute is an error that names it, not a zero
// hash.
type treeHashes struct{ tree, trail kv.Bucket }

func newTreeHashes(tx kv.Tx) treeHashes {
	return treeHashes{tx.Bucket(bAuditTree), tx.Bucket(bAudit)}
}

func (r treeHashes) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	// tlog asks for all of a tree head's hashes at once (one per peak of
	// the tree, a dozen or so): an engine across a network reads them in
	// one round trip rather than one each.
	keys := make([][]byte, len(indexes))
	for i, x := range indexes {
		keys[i] = treeKey(x)
	}
	kv.PrefetchSeeks(r.tree, 0, 1, keys...)
	c := r.tree.Cursor()
	for i, x := range indexes {
		v := get1(c, keys[i])
		if len(v) == tlog.HashSize {
			out[i] = tlog.Hash(v)
			continue
		}
		if level, n := tlog.SplitStoredHashIndex(x); v == nil && level < treeStoredLevel && r.trail != nil {
			h, err := r.node(level, n)
			if err != nil {
				return nil, err
			}
			out[i] = h
			continue
		}
		return nil, lot.Errorf(lot.ECONFLICT, "the audit tree lacks its stored hash %d: the tree was changed outside celltrack — run the database check", x).Run("check")
	}
	return out, nil
}

// node recomputes the tree's node (level, n) from the stored hashes of
// entries n·2^level + 1 … (n+1)·2^level, as appendTree added them.
func (r treeHashes) node(level int, n int64) (tlog.Hash, error) {
	first := uint64(n)<<level + 1
	var edge [treeStoredLevel]tlog.Hash // edge[l]: the last left node of level l
	c := r.trail.Cursor()
	k, v := c.Seek(itob(first))
	for i := uint64(0); i < 1<<level; i++ {
		if k == nil || btoi(k) != first+i {
			return tlog.Hash{}, lot.Errorf(lot.ECONFLICT, "audit entry %d is missing, so the audit tree's node %d of level %d cannot be recomputed: the trail was changed outside celltrack — run the database check", first+i, n, level).Run("check")
		}
		eh, err := audit.StoredHash(v)
		if err != nil {
			return tlog.Hash{}, fmt.Errorf("audit entry %d: %w", first+i, err)
		}
		h := audit.LeafHash(eh)
		l := 0
		for ; i>>l&1 == 1; l++ {
			h = tlog.NodeHash(edge[l], h)
		}
		if l == level {
			return h, nil
		}
		edge[l] = h
		k, v = c.Next()
	}
	panic("unreachable: the last leaf completes the node")
}

// appendTree adds the entry numbered seq, whose hash is h, to the tree,
// storing the nodes of level treeStoredLevel and above that it completes.
// The stored tree must cover the entries before it (treeInStep): a tree out
// of step with the trail was changed outside celltrack, and a write onto it
// would bury that.
func appendTree(tx kv.Tx, seq uint64, h [32]byte) error {
	b := tx.Bucket(bAuditTree)
	n := int64(seq) - 1
	if size := treeSize(tx); !treeInStep(size, n) {
		return lot.Errorf(lot.ECONFLICT, "refused: the audit tree holds %d entries but the trail's next entry is %d; the database was changed outside celltrack, so nothing was written — run the database check and contact the administrator", size, seq).Run("check")
	}
	if (n+1)%(1<<treeStoredLevel) != 0 {
		return nil // completes no node of a stored level
	}
	hashes, err := tlog.StoredHashesForRecordHash(n, audit.LeafHash(h), treeHashes{b, tx.Bucket(bAudit)})
	if err != nil {
		return err
	}
	b.SetFillPercent(appendFill)
	base := tlog.StoredHashIndex(0, n)
	for i, x := range hashes[treeStoredLevel:] {
		if err := b.Put(treeKey(base+int64(treeStoredLevel+i)), x[:]); err != nil {
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
	size, stored := trailSize(tx), treeSize(tx)
	if stored < 0 {
		return audit.Head{}, lot.Errorf(lot.ECONFLICT, "the audit tree's last stored hashes are incomplete: the tree was changed outside celltrack — run the database check").Run("check")
	}
	if !treeInStep(stored, size) {
		return audit.Head{}, lot.Errorf(lot.ECONFLICT, "the audit tree covers %d entries but the trail has %d: the trail or the tree was changed outside celltrack — run the database check", stored, size).Run("check")
	}
	root, err := tlog.TreeHash(size, newTreeHashes(tx))
	if err != nil {
		return audit.Head{}, err
	}
	return audit.Head{Facility: string(tx.Bucket(bMeta).Get([]byte("facility"))), Size: size, Root: root}, nil
}

// treeCheck recomputes the stored tree from the entries while verifyTx walks
// them in order, comparing each stored hash as it goes. Record n completes
// its leaf and then, for each trailing 1 bit of n, the node one level up
// (tlog.StoredHashesForRecordHash); the left half of each such node is the
// last node completed on that level before it (the right edge of the tree),
// so the check holds 64 hashes, not the tree. Every node of level
// treeStoredLevel and above must be stored; one of a lower level is
// compared when it is stored (a tree written before schema 11) and
// recomputed all the same when it is not. It computes them with
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

// add recomputes the nodes the next entry, whose hash is h, completes, and
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
		case t.k != nil && (len(t.k) != 8 || int64(binary.BigEndian.Uint64(t.k)) < idx):
			t.problem = fmt.Sprintf("the audit tree's stored hashes have a gap or a stray key at entry %d: the tree was changed outside celltrack", seq)
			return
		case t.k != nil && int64(binary.BigEndian.Uint64(t.k)) == idx:
			if len(t.v) != tlog.HashSize || tlog.Hash(t.v) != x {
				t.problem = fmt.Sprintf("the audit tree does not match entry %d: its stored hash %d differs from the one recomputed from the entries — the trail or the tree was changed outside celltrack", seq, idx)
				return
			}
			t.k, t.v = t.c.Next()
		case level >= treeStoredLevel && t.k == nil:
			t.problem = fmt.Sprintf("the audit tree ends before entry %d: its hashes were removed outside celltrack (an older celltrack wrote the file: an admin upgrades it, which builds the tree)", seq)
			return
		case level >= treeStoredLevel:
			t.problem = fmt.Sprintf("the audit tree's stored hashes have a gap or a stray key at entry %d: the tree was changed outside celltrack", seq)
			return
		}
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
// commits the entries and their stored hashes together. Each batch but the
// last ends at a multiple of 2^treeStoredLevel entries, where a stored node
// marks how far the tree goes (treeSize). It returns how many entries it
// added.
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
			end := (start + int64(batch)) >> treeStoredLevel << treeStoredLevel
			if end <= start {
				end += 1 << treeStoredLevel
			}
			c := tx.Bucket(bAudit).Cursor()
			n := start
			for k, v := c.Seek(itob(uint64(start + 1))); k != nil && n < end; k, v = c.Next() {
				if btoi(k) != uint64(n+1) {
					return lot.Errorf(lot.ECONFLICT, "%s: audit entry %d is missing (the next is %d), so the audit tree cannot be built; the trail has a gap — restore the last good backup", db.path, n+1, btoi(k))
				}
				h, err := audit.ParseHeader(v)
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
			done = n < end
			return nil
		})
		if err != nil || done {
			return added, err
		}
	}
}
