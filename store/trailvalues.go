package store

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/store/kv"
	"github.com/google/uuid"
)

// fillValues gives each lean entry of es (audit.Entry.Lean: every state
// entry since schema 8) the value it set, which is stored once: as the Prev
// of the record's next state entry, or as the record's stored value when the
// entry is the record's last. es is in trail order and holds, for each record
// it has entries of, all of them from some entry on (a whole trail, a
// record's history, every entry of one kind); entries that hold their value
// (before schema 8) are left as they are. It reads no entry: the values come
// from es and the record buckets of tx. A value filled is the one `audit
// verify` checks against the entry's NewSHA: the next entry's Prev is in
// that entry's hash, the stored record is compared with its last entry.
func fillValues(tx kv.Tx, es []audit.Entry) {
	for id, j := range fillFromNext(es) {
		if v := recordValue(tx, es[j].Entity, id); v != nil {
			es[j].New = v
		}
	}
}

// fillFromNext gives each lean entry of es the Prev of its record's next
// state entry in es, and returns those left, the last of their record in
// es: the index of each by its record's id.
func fillFromNext(es []audit.Entry) map[uuid.UUID]int {
	pending := map[uuid.UUID]int{}
	for i := range es {
		e := &es[i]
		if !e.State {
			continue
		}
		if j, ok := pending[e.ID]; ok {
			es[j].New = e.Prev
			delete(pending, e.ID)
		}
		if e.Lean {
			pending[e.ID] = i
		}
	}
	return pending
}

// recordValue is a copy of the stored value of record id of kind; nil when
// there is none.
func recordValue(tx kv.Tx, kind string, id uuid.UUID) json.RawMessage {
	if b := tx.Bucket(recordBuckets[kind]); b != nil {
		if v := b.Get(id[:]); v != nil {
			return append(json.RawMessage(nil), v...)
		}
	}
	return nil
}

// fillBatchValues is fillValues for a batch of the trail (EachAuditEntry),
// which may end before a record's last entry: a lean entry whose record
// has a state entry after the batch gets that entry's Prev, found through
// audit_entity, as fillValues gives it from a whole trail; only a record's
// last one gets the stored record.
func fillBatchValues(tx kv.Tx, es []audit.Entry) error {
	for id, j := range fillFromNext(es) {
		v, err := nextPrev(tx, id, es[j].Seq)
		if err != nil {
			return err
		}
		if v == nil {
			v = recordValue(tx, es[j].Entity, id)
		}
		if v != nil {
			es[j].New = v
		}
	}
	return nil
}

// nextPrev is the Prev of the first state entry of record id after entry
// seq (nil when there is none): the value entry seq set.
func nextPrev(tx kv.Tx, id uuid.UUID, seq uint64) (json.RawMessage, error) {
	b := tx.Bucket(bAudit)
	c := tx.Bucket(bAuditEntity).Cursor()
	for k, _ := c.Seek(append(id[:len(id):len(id)], itob(seq+1)...)); k != nil && bytes.HasPrefix(k, id[:]); k, _ = c.Next() {
		v := b.Get(k[16:])
		h, err := audit.ParseHeader(v)
		if err != nil {
			return nil, fmt.Errorf("read audit entry %d: %w", btoi(k[16:]), err)
		}
		if !h.State {
			continue
		}
		e, err := audit.Decode(v)
		if err != nil {
			return nil, err
		}
		return e.Prev, nil
	}
	return nil, nil
}

// RecordBytes returns the bytes of the stored records' values — their JSON,
// keys and index entries aside — summed over the record buckets: the figure
// the file's size is compared with (BENCHMARKS.md, "the leaner trail").
func (db *DB) RecordBytes() (int64, error) {
	var n int64
	err := db.view(func(tx kv.Tx) error {
		for _, name := range recordBuckets {
			err := tx.Bucket(name).ForEach(func(k, v []byte) error {
				n += int64(len(v))
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	return n, err
}

// RecordBucketNames returns the names of the record buckets, whose values
// RecordBytes sums, for a tool that reads a file of an older schema
// (the benchmark harness's -stats).
func RecordBucketNames() []string {
	var names []string
	for _, b := range recordBuckets {
		names = append(names, string(b))
	}
	return names
}
