package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/store/kv"
	"github.com/google/uuid"
)

// A verification checkpoint is the head of the audit trail as the last
// passing full verification (`celltrack check`) found it. A traceability
// report uses it so that its cost follows the report, not the database: it
// checks the records it shows against their latest audit entries, and the
// chain from the checkpoint to the head, instead of the whole trail. The
// checkpoint is bookkeeping in the meta bucket, not an audited record: it
// proves nothing by itself, and every report that relies on it says so and
// names it; a report re-checks that the checkpoint's entry still carries
// the hash recorded, and falls back to a full verification when it does not.
var metaCheckpoint = []byte("verified")

type checkpointRecord struct {
	V       int       `json:"v"`
	Seq     uint64    `json:"seq"`
	Hash    string    `json:"hash"` // hex SHA-256 of entry Seq
	At      time.Time `json:"at"`
	Entries int       `json:"entries"`
	Records int       `json:"records"`
	// Failed is set by a check that failed after this one passed.
	Failed bool `json:"failed,omitempty"`
}

// Checkpoint is the last passing full verification recorded in a database.
type Checkpoint struct {
	Seq     uint64 // the head entry it verified
	Hash    [32]byte
	At      time.Time
	Entries int
	Records int
}

// RecordCheckpoint stores v, a full verification that passed, as the
// database's checkpoint, after checking that its head entry is still in the
// trail with the hash v verified. A failed v does not remove the checkpoint
// — a checkpoint removed on failure let the next check pass on a trail cut
// back below it — but marks it failed, so that reports go back to full
// verification until the database passes again, while every verification
// still compares the trail with it (verifyAgainstCheckpoint): a checkpoint
// never moves backwards. It writes only the meta bucket and appends no
// audit entry.
func (db *DB) RecordCheckpoint(v Verification) (err error) {
	defer db.recoverDamage(&err)
	return db.engine.Update(func(tx kv.Tx) (err error) {
		defer db.recoverDamage(&err)
		meta := tx.Bucket(bMeta)
		if !v.OK() || v.Entries == 0 {
			r, ok := recordedCheckpoint(tx)
			if !ok || r.Failed {
				return nil
			}
			r.Failed = true
			val, err := json.Marshal(r)
			if err != nil {
				return err
			}
			return meta.Put(metaCheckpoint, val)
		}
		// A passing verification has entries 1..Entries with no gap.
		seq := uint64(v.Entries)
		h, err := audit.StoredHash(tx.Bucket(bAudit).Get(itob(seq)))
		if err != nil || h != v.Head {
			return lot.Errorf(lot.ECONFLICT, "audit entry %d no longer has the hash just verified; run the database check again", seq).Run("check")
		}
		if r, ok := recordedCheckpoint(tx); ok && r.Seq > seq {
			return lot.Errorf(lot.ECONFLICT, "the checkpoint is at entry %d, beyond the %d entries just verified; a checkpoint never moves backwards", r.Seq, seq)
		}
		val, err := json.Marshal(checkpointRecord{V: 1, Seq: seq, Hash: hex.EncodeToString(h[:]), At: db.now(), Entries: v.Entries, Records: v.Records})
		if err != nil {
			return err
		}
		return meta.Put(metaCheckpoint, val)
	})
}

// recordedCheckpoint reads the checkpoint record, failed or not.
func recordedCheckpoint(tx kv.Tx) (checkpointRecord, bool) {
	var r checkpointRecord
	v := tx.Bucket(bMeta).Get(metaCheckpoint)
	if v == nil || unmarshalRecord(v, &r) != nil || r.Seq == 0 {
		return checkpointRecord{}, false
	}
	return r, true
}

// verifyAgainstCheckpoint compares the trail with the recorded checkpoint,
// failed or not: a trail shorter than it, or whose entry at it no longer
// carries the hash check verified, was cut back or rewritten since.
func verifyAgainstCheckpoint(tx kv.Tx, entries int) []string {
	r, ok := recordedCheckpoint(tx)
	if !ok {
		return nil
	}
	if uint64(entries) < r.Seq {
		return []string{fmt.Sprintf("the trail has %d entries, fewer than the %d that the database check verified at %s: entries were removed or an older file was put in its place", entries, r.Seq, lot.FormatTime(r.At))}
	}
	h, err := audit.StoredHash(tx.Bucket(bAudit).Get(itob(r.Seq)))
	if err != nil || hex.EncodeToString(h[:]) != r.Hash {
		return []string{fmt.Sprintf("audit entry %d differs from the one the database check verified at %s: the trail was rewritten up to it", r.Seq, lot.FormatTime(r.At))}
	}
	return nil
}

// checkpointOf reads the checkpoint, if the database has a readable one
// that is not marked failed.
func checkpointOf(tx kv.Tx) (Checkpoint, bool) {
	r, ok := recordedCheckpoint(tx)
	if !ok || r.Failed {
		return Checkpoint{}, false
	}
	h, err := hex.DecodeString(r.Hash)
	if err != nil || len(h) != 32 {
		return Checkpoint{}, false
	}
	return Checkpoint{Seq: r.Seq, Hash: [32]byte(h), At: r.At, Entries: r.Entries, Records: r.Records}, true
}

// Checkpoint returns the database's checkpoint; false when there is none.
func (db *DB) Checkpoint() (Checkpoint, bool, error) {
	var cp Checkpoint
	var ok bool
	err := db.view(func(tx kv.Tx) error { cp, ok = checkpointOf(tx); return nil })
	return cp, ok, err
}

// recordRef is one record a report shows: its kind and id.
type recordRef struct {
	kind string
	id   uuid.UUID
}

// reportVerification is what a report checked of the audit trail when it
// did not run a full verification.
type reportVerification struct {
	Records  int      // records of the report checked against their latest entry
	From     uint64   // the chain was checked from this entry (the checkpoint) …
	Head     [32]byte // … to this head
	HeadSeq  uint64
	Problems []string
}

// verifyReport checks, in tx: (a) that every record in refs is stored with
// exactly the value its latest audit entry set, and that that entry's own
// hash matches its content; (b) the chain from the checkpoint's entry,
// which must still carry the checkpoint's hash, to the head: every entry's
// hash, its link to the one before, and no gap. It does not check the
// indexes the report was built through: an entry removed or added outside
// celltrack since the checkpoint changes which records refs holds, unseen
// here; only the full verify (verifyIndexes) compares indexes and records,
// which is one reason a report verified from a checkpoint never says PASSED. It returns ok false when
// the checkpoint's entry is gone or changed: the caller then verifies in
// full rather than rest on it.
func verifyReport(tx kv.Tx, cp Checkpoint, refs []recordRef) (reportVerification, bool) {
	rv := reportVerification{From: cp.Seq}
	b := tx.Bucket(bAudit)
	c := b.Cursor()
	start, prev := entryWithPrev(c, cp.Seq)
	if start == nil {
		return rv, false
	}
	if h, err := audit.ReadHeader(start, prev); err != nil || h.Hash != cp.Hash || h.Computed != cp.Hash {
		return rv, false
	}
	prev, want := cp.Hash, cp.Seq+1
	rv.Head, rv.HeadSeq = cp.Hash, cp.Seq
	for k, val := c.Next(); k != nil; k, val = c.Next() {
		seq := btoi(k)
		h, err := audit.ReadHeader(val, prev)
		switch {
		case err != nil:
			rv.Problems = append(rv.Problems, fmt.Sprintf("audit entry %d: %v", seq, err))
		case seq != want:
			rv.Problems = append(rv.Problems, fmt.Sprintf("audit entries %d–%d are missing: the trail has a gap", want, seq-1))
		case h.Computed != h.Hash && h.Linked:
			rv.Problems = append(rv.Problems, alteredLinked(seq))
		case h.Computed != h.Hash:
			rv.Problems = append(rv.Problems, fmt.Sprintf("audit entry %d was altered: its content no longer matches its hash", seq))
		case !h.Linked && h.PrevHash != prev:
			rv.Problems = append(rv.Problems, fmt.Sprintf("audit entry %d does not follow entry %d: the chain is broken", seq, seq-1))
		}
		prev, want = h.Hash, seq+1
		rv.Head, rv.HeadSeq = h.Hash, seq
	}
	// One cursor per bucket for the whole report: in a read transaction
	// bbolt allocates a bucket handle per tx.Bucket and a cursor per Get,
	// which were most of this check's allocations.
	vc := &verifyCursors{tx: tx, audit: b.Cursor(), ents: tx.Bucket(bAuditEntity).Cursor(), records: map[string]kv.Cursor{}}
	vc.prefetch(refs)
	seen := map[uuid.UUID]bool{}
	for _, r := range refs {
		if seen[r.id] {
			continue
		}
		seen[r.id] = true
		rv.Records++
		if p := vc.verifyRecord(r); p != "" {
			rv.Problems = append(rv.Problems, p)
		}
	}
	return rv, true
}

type verifyCursors struct {
	tx          kv.Tx
	audit, ents kv.Cursor
	records     map[string]kv.Cursor
	upper       [24]byte
	// keepSums takes each record's SHA-256 through recordSums (checkIntact:
	// the records every bedside check and write rests on, the same few
	// dozen again and again); a report hashes its records itself.
	keepSums bool
}

// recordSums keeps the SHA-256 of records' stored bytes: hashing a record
// again is most of checking it against its audit entry, and the sum kept
// for the same bytes (decodedCache compares them whole) is the sum hashing
// them would give, so a record changed in any way is hashed anew.
var recordSums = &decodedCache[uuid.UUID, [32]byte]{
	decode: func(_ uuid.UUID, v []byte) ([32]byte, error) { return sha256.Sum256(v), nil },
	max:    maxCheckedEntries, m: map[uuid.UUID]decodedValue[[32]byte]{},
}

// sum is the SHA-256 of val, record id's stored bytes.
func (vc *verifyCursors) sum(id uuid.UUID, val []byte) [32]byte {
	if !vc.keepSums {
		return sha256.Sum256(val)
	}
	s, _ := recordSums.get(id, val)
	return s
}

// get1 returns the value stored under key exactly, through cursor c.
func get1(c kv.Cursor, key []byte) []byte {
	k, v := c.Seek(key)
	if !bytes.Equal(k, key) {
		return nil
	}
	return v
}

// entryWithPrev returns entry seq, read through cursor c, and the stored
// hash of entry seq−1, which a linked entry's hash covers: the cursor seeks
// seq−1 and steps to seq, so that on PostgreSQL both come with one page
// (one round trip, as reading entry seq alone). A missing entry seq−1
// gives a zero hash, which no linked entry after the first matches; a
// missing entry seq gives nil. The cursor is left on entry seq.
func entryWithPrev(c kv.Cursor, seq uint64) (val []byte, prev [32]byte) {
	if seq <= 1 {
		return get1(c, itob(seq)), prev
	}
	k, v := c.Seek(itob(seq - 1))
	if k != nil && btoi(k) == seq-1 {
		prev, _ = audit.StoredHash(v)
		k, v = c.Next()
	}
	if k == nil || btoi(k) != seq {
		return nil, prev
	}
	return v, prev
}

// entryKey is an audit entry as checkedEntries keeps it: its number and
// the stored hash of the entry before, which a linked entry's hash covers.
type entryKey struct {
	seq  uint64
	prev [32]byte
}

// checkedEntries keeps the headers verifyRecord reads, their hashes
// recomputed (audit.ReadHeader). Every bedside check reads the latest
// entries of each record it rests on — the facility, the course, the lot,
// its results and releases — and recomputing an entry's hash decompresses
// its body, which was the largest part of the check's own work: a header
// is a function of the entry's bytes and the hash before it alone, so the
// one kept for the same bytes and the same hash before is the one
// recomputing would give, and an entry altered in any way is hashed anew.
var checkedEntries = &decodedCache[entryKey, audit.Header]{
	decode: func(k entryKey, v []byte) (audit.Header, error) { return audit.ReadHeader(v, k.prev) },
	max:    maxCheckedEntries, m: map[entryKey]decodedValue[audit.Header]{},
}

// maxCheckedEntries bounds checkedEntries: the latest entries of the
// records of a few hundred bedside checks, a few hundred bytes each.
const maxCheckedEntries = 4096

// prefetchBelow is how many audit_entity pairs below a record's last one
// prefetch reads: verifyRecord walks back past the entries that set
// nothing (a refused password, a printed label) to the latest that set
// the record's value, mostly the last itself.
const prefetchBelow = 3

// prefetch tells an engine across a network (pgkv) what verifyRecord is
// about to read of refs — the records, the audit_entity pairs at the end of
// each record's, and the audit entries those name with the entries before
// them — so that it reads them in a few round trips for all of refs rather
// than a few for each record. verifyRecord then reads them as before, each
// read answered as it would be without; an engine where a read costs no
// round trip (bbolt) is told nothing.
func (vc *verifyCursors) prefetch(refs []recordRef) {
	ents := vc.tx.Bucket(bAuditEntity)
	if _, ok := ents.(kv.SeekPrefetcher); !ok {
		return
	}
	ids := map[string][][]byte{}
	var uppers [][]byte
	seen := make(map[uuid.UUID]bool, len(refs))
	for _, r := range refs {
		if r.id == uuid.Nil || seen[r.id] {
			continue
		}
		seen[r.id] = true
		ids[r.kind] = append(ids[r.kind], r.id[:])
		uppers = append(uppers, entityUpper(r.id))
	}
	if len(uppers) < 2 {
		return // one record's reads cost as many round trips either way
	}
	for kind, keys := range ids {
		if b := vc.tx.Bucket(recordBuckets[kind]); b != nil {
			kv.Prefetch(b, keys...)
		}
	}
	kv.PrefetchSeeks(ents, prefetchBelow, 1, uppers...)
	// The last entry of each record, found as verifyRecord finds it (now
	// from what was read), and the one before it, whose hash a linked
	// entry's covers (entryWithPrev).
	var seqs [][]byte
	for _, upper := range uppers {
		k, _ := vc.ents.Seek(upper)
		if k == nil {
			k, _ = vc.ents.Last()
		} else if !bytes.Equal(k, upper) {
			k, _ = vc.ents.Prev()
		}
		if k == nil || !bytes.HasPrefix(k, upper[:16]) {
			continue
		}
		seq := btoi(k[16:])
		seqs = append(seqs, itob(max(seq, 2)-1))
	}
	kv.PrefetchSeeks(vc.tx.Bucket(bAudit), 0, 2, seqs...)
}

// entityUpper is the largest audit_entity key of record id: its id and the
// largest entry number.
func entityUpper(id uuid.UUID) []byte {
	upper := make([]byte, 24)
	copy(upper, id[:])
	copy(upper[16:], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	return upper
}

// verifyRecord checks one record against its latest state-setting audit
// entry, found through audit_entity (the entries of one record, in order).
func (vc *verifyCursors) verifyRecord(r recordRef) string {
	rc := vc.records[r.kind]
	if rc == nil {
		rc = vc.tx.Bucket(recordBuckets[r.kind]).Cursor()
		vc.records[r.kind] = rc
	}
	val := get1(rc, r.id[:])
	name := func() string { return r.kind + " " + describe(vc.tx, r.kind, r.id) }
	if val == nil {
		return fmt.Sprintf("%s is shown in this report but not stored", name())
	}
	// Walk this record's entries from the newest back to the latest one that
	// set its value (events such as a refused password set nothing).
	ents := vc.ents
	upper := vc.upper[:]
	copy(upper, r.id[:])
	copy(upper[16:], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	k, _ := ents.Seek(upper)
	if k == nil {
		k, _ = ents.Last()
	} else if !bytes.Equal(k, upper) {
		k, _ = ents.Prev()
	}
	for ; k != nil && bytes.HasPrefix(k, r.id[:]); k, _ = ents.Prev() {
		seq := btoi(k[16:])
		ent, prev := entryWithPrev(vc.audit, seq)
		h, err := checkedEntries.get(entryKey{seq, prev}, ent)
		switch {
		case err != nil:
			return fmt.Sprintf("audit entry %d of %s: %v", seq, name(), err)
		case h.Computed != h.Hash && h.Linked:
			return alteredLinked(seq)
		case h.Computed != h.Hash:
			return fmt.Sprintf("audit entry %d was altered: its content no longer matches its hash", seq)
		case h.ID != r.id:
			return fmt.Sprintf("audit entry %d is indexed under %s but is about %s", seq, name(), h.ID)
		case !h.State:
			continue
		case vc.sum(r.id, val) != h.NewSHA:
			return fmt.Sprintf("%s differs from the value its last audit entry (%d) recorded: it was changed outside celltrack", name(), seq)
		}
		return ""
	}
	return fmt.Sprintf("%s is stored but has no audit entry: it was written outside celltrack", name())
}
