package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"slices"
	"sort"
	"strconv"
	"sync"

	"github.com/celltrack/celltrack/store/kv"
	"github.com/google/uuid"
)

// The services read through the indexes: a label scan finds its container
// through idx_container_code, a lot's release evaluation reads its results
// through idx_result_lot, a donor's eligibility its screenings through
// idx_screening_donor, a trace its lots, containers, events and infusions
// through the composite indexes. Records are checked against the audit
// trail, but an index entry deleted, added or repointed with a raw bbolt
// tool would hide a failing result, make a donor eligible or a label find
// another lot, with every record intact. So `audit verify` checks every
// index bucket both ways against recordIndexes (indexdef.go): each record
// has exactly the entries its stored value gives, and each entry is one of
// them.
//
// Cheaply: while verifyTx walks the chain, the worker (verifyworker.go)
// derives each record's entries and adds a keyed hash of each to its
// bucket's sum; the walking goroutine then reads every index bucket and sums
// its entries the same way. Equal counts and sums mean equal sets, but for
// a chance of 2^-64 — the hash key is random per run, so nobody can choose
// a change whose sums agree. Only a bucket whose sums differ is compared
// entry by entry, to name what differs (indexCheck.name).

// indexSum is the number of entries of an index bucket and the sum of
// their hashes.
type indexSum struct {
	n   int
	sum uint64
}

// indexCheck holds, for each of indexBuckets, the sum of the entries the
// records give (want) and of the entries stored (got).
type indexCheck struct {
	seed      maphash.Seed
	buf       []byte     // hash's scratch for walk
	mu        sync.Mutex // guards want and unread while scratches merge
	want, got []indexSum
	unread    []string // records whose entries could not be derived
}

// hash adds the entry key → val of the bucket indexBuckets[pos] to sums.
// The entry is hashed in one call, its key's length first so that no two
// entries give the same bytes; buf is scratch space.
func (ic *indexCheck) hash(sums []indexSum, pos int, key, val []byte, buf *[]byte) {
	b := binary.BigEndian.AppendUint64((*buf)[:0], uint64(len(key)))
	b = append(append(b, key...), val...)
	*buf = b
	s := &sums[pos]
	s.n++
	s.sum += maphash.Bytes(ic.seed, b)
}

// verifyIndexes returns a problem for every index entry a record lacks and
// every entry no record has.
func verifyIndexes(tx kv.Tx) []string {
	ic := newIndexCheck()
	s := ic.scratch()
	r := startChecks(tx, ic.checks(s, ""))
	defer r.stop()
	ic.walk(tx, r.feed)
	r.wait()
	ic.merge(s)
	return ic.finish(tx, nil)
}

// checks returns the value checks that derive every record's index entries
// into s, for startChecks' worker, but those of the kind except, which
// another check derives (deriver); merge s when it is done.
func (ic *indexCheck) checks(s *indexScratch, except string) []valueCheck {
	var checks []valueCheck
	for i := range recordIndexes {
		if ix := &recordIndexes[i]; ix.kind != except {
			derive := ic.deriver(ix.kind, s)
			checks = append(checks, valueCheck{ix.kind, func(id uuid.UUID, val []byte) {
				s.r.parse(val)
				derive(id, &s.r)
			}})
		}
	}
	return checks
}

// deriver returns a function that derives the index entries of a record of
// kind, parsed as r, into s: for a check that parses the record anyway
// (the infusions' signature check), so that it is parsed once.
func (ic *indexCheck) deriver(kind string, s *indexScratch) func(id uuid.UUID, r *jsonFields) {
	ix := indexOf[kind]
	pos := make([]int, len(ix.buckets)) // of each of ix's buckets in indexBuckets
	for j, b := range ix.buckets {
		pos[j] = indexPos[b]
	}
	return func(id uuid.UUID, r *jsonFields) {
		if err := s.e.deriveParsed(ix, r, id); err != nil {
			s.unread = append(s.unread, fmt.Sprintf("%s %s cannot be read, so its index entries cannot be checked: %v", ix.kind, id, err))
			return
		}
		for _, en := range s.e.list {
			ic.hash(s.want, pos[en.nth], en.key, en.val, &s.buf)
		}
	}
}

func newIndexCheck() *indexCheck {
	return &indexCheck{seed: maphash.MakeSeed(), want: make([]indexSum, len(indexBuckets)), got: make([]indexSum, len(indexBuckets))}
}

// indexScratch derives the index entries of records and sums them. It
// decodes JSON, so derive runs beside the walk of the transaction, on
// startChecks' worker, and merge adds its sums to the check afterwards.
type indexScratch struct {
	e      indexEntries
	buf    []byte
	r      jsonFields
	want   []indexSum
	unread []string
}

func (ic *indexCheck) scratch() *indexScratch {
	return &indexScratch{want: make([]indexSum, len(indexBuckets))}
}

// merge adds what s derived to the check and empties s; several goroutines
// may merge at once. The sums are sums, so the order does not matter.
func (ic *indexCheck) merge(s *indexScratch) {
	ic.mu.Lock()
	defer ic.mu.Unlock()
	for i := range s.want {
		ic.want[i].n += s.want[i].n
		ic.want[i].sum += s.want[i].sum
		s.want[i] = indexSum{}
	}
	ic.unread = append(ic.unread, s.unread...)
	s.unread = nil
}

// walk sums the entries stored in every index bucket, calling feed now and
// then so that the worker never waits for values.
func (ic *indexCheck) walk(tx kv.Tx, feed func()) {
	for pos, name := range indexBuckets {
		c := tx.Bucket(name).Cursor()
		n := 0
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if n++; n&1023 == 0 {
				feed()
			}
			ic.hash(ic.got, pos, k, v, &ic.buf)
		}
	}
}

// finish names what differs in each bucket whose sums differ; call it
// after walk and after the worker is done. changed are the records whose
// columns the column check found edited (startColumnCheck): in a bucket the
// engine reads from those columns (kv.DerivedReader: on PostgreSQL the lot
// index views, which refuse every write) an entry of theirs that differs
// is that edit, already reported as the column — not an index entry
// "added" or "removed outside celltrack", which cannot have happened. Every
// other difference is named as on bbolt, so verify fails exactly when it
// did: what is left out is always reported as its column.
func (ic *indexCheck) finish(tx kv.Tx, changed map[uuid.UUID]bool) []string {
	problems := ic.unread
	dr, _ := tx.(kv.DerivedReader)
	for i, name := range indexBuckets {
		if ic.want[i] != ic.got[i] {
			var skip func(ids ...uuid.UUID) bool
			if dr != nil && dr.Derived(string(name)) && len(changed) > 0 {
				skip = func(ids ...uuid.UUID) bool {
					return slices.ContainsFunc(ids, func(id uuid.UUID) bool { return changed[id] })
				}
			}
			problems = append(problems, ic.name(tx, string(name), skip)...)
		}
	}
	return problems
}

// name compares one index bucket with the entries its records give, entry
// by entry, and names each difference: the bucket, the key and the record;
// but not one of a record that skip (when not nil) says is reported
// already (finish).
func (ic *indexCheck) name(tx kv.Tx, bucket string, skip func(ids ...uuid.UUID) bool) []string {
	kind := indexSource[bucket]
	ix := indexOf[kind]
	type wanted struct {
		val []byte
		id  uuid.UUID
	}
	want := map[string]wanted{}     // key → entry
	keyOf := map[uuid.UUID][]byte{} // record → its key
	var e indexEntries
	var r jsonFields
	tx.Bucket(recordBuckets[kind]).ForEach(func(k, v []byte) error {
		id := uuid.UUID(k)
		if e.derive(ix, &r, id, v) != nil {
			return nil // in ic.unread
		}
		for _, en := range e.list {
			if en.bucket == bucket {
				want[string(en.key)] = wanted{bytes.Clone(en.val), id}
				keyOf[id] = bytes.Clone(en.key)
			}
		}
		return nil
	})
	record := func(id uuid.UUID) string { return kind + " " + describe(tx, kind, id) }
	var problems []string
	skipped := 0
	tx.Bucket([]byte(bucket)).ForEach(func(k, v []byte) error {
		w, ok := want[string(k)]
		switch {
		case ok && bytes.Equal(w.val, v):
		case skip != nil && ok && len(v) == 16 && skip(w.id, uuid.UUID(v)):
			skipped++
		case ok && len(v) == 16:
			problems = append(problems, fmt.Sprintf("index %s: key %s points at %s instead of %s, whose key it is: it was changed outside celltrack, so a lookup finds the wrong record", bucket, keyText(k), record(uuid.UUID(v)), record(w.id)))
		case ok:
			problems = append(problems, fmt.Sprintf("index %s: key %s holds %s instead of the id of %s: it was changed outside celltrack", bucket, keyText(k), keyText(v), record(w.id)))
		default:
			// Whose entry it claims to be: a lookup entry holds the record's
			// id, a composite key ends in it.
			var owner uuid.UUID
			switch {
			case len(v) == 16:
				owner = uuid.UUID(v)
			case len(v) == 0 && len(k) > 16:
				owner = uuid.UUID(k[len(k)-16:])
			default:
				problems = append(problems, fmt.Sprintf("index %s: key %s holds %s, which names no %s: it was written outside celltrack", bucket, keyText(k), keyText(v), kind))
				return nil
			}
			if skip != nil && skip(owner) {
				skipped++
				return nil
			}
			if own, has := keyOf[owner]; has {
				problems = append(problems, fmt.Sprintf("index %s: key %s points at %s, whose entry is key %s: it was added outside celltrack, so the index files the record under the wrong key", bucket, keyText(k), record(owner), keyText(own)))
			} else if tx.Bucket(recordBuckets[kind]).Get(owner[:]) != nil {
				problems = append(problems, fmt.Sprintf("index %s: key %s points at %s, which has no entry in %s: it was added outside celltrack", bucket, keyText(k), record(owner), bucket))
			} else {
				problems = append(problems, fmt.Sprintf("index %s: key %s points at %s %s, which is not stored: it was added outside celltrack", bucket, keyText(k), kind, owner))
			}
		}
		delete(want, string(k))
		return nil
	})
	var missing []string
	for k, w := range want {
		if skip != nil && skip(w.id) {
			skipped++
			continue
		}
		missing = append(missing, fmt.Sprintf("%s is missing from index %s (key %s): it was removed outside celltrack, so what reads through the index does not see the record", record(w.id), bucket, keyText([]byte(k))))
	}
	sort.Strings(missing)
	problems = append(problems, missing...)
	if len(problems) == 0 && skipped == 0 { // the sums differ, so something does; never pass it silently
		problems = append(problems, fmt.Sprintf("index %s does not match its %s records", bucket, kind))
	}
	return problems
}

// keyText shows an index key or value: quoted when it is text, otherwise
// in hex (as a raw bbolt tool takes it), a 16-byte id as a UUID.
func keyText(k []byte) string {
	for _, c := range k {
		if c < 0x20 || c > 0x7e {
			if len(k) == 16 {
				return uuid.UUID(k).String()
			}
			return fmt.Sprintf("%x", k)
		}
	}
	return strconv.Quote(string(k))
}
