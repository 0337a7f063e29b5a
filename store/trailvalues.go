package store

import (
	"encoding/json"

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
	for id, j := range pending {
		if b := tx.Bucket(recordBuckets[es[j].Entity]); b != nil {
			if v := b.Get(id[:]); v != nil {
				es[j].New = append(json.RawMessage(nil), v...)
			}
		}
	}
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
