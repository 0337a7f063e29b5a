package store

import (
	"bytes"
	"fmt"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/store/kv"
	"github.com/google/uuid"
)

// checkSeen refuses a write about the record id (a container, an account)
// whose form saw it as of audit entry *seen, when an entry about it has
// been written since (audit.CheckSeen, field "seen"). Run in the writing
// transaction, where one writer at a time holds the database on either
// engine, it makes the check and the write one step for every server on
// the database. A nil seen asks for no check (the command line, a script).
// It costs one cursor seek; only a refusal decodes an entry, to name it.
func checkSeen(tx kv.Tx, seen *uint64, what, todo string, id uuid.UUID) error {
	if seen == nil {
		return nil
	}
	last, _ := lastSeq(tx, id)
	return seenRefusal(tx, *seen, last, what, "", todo)
}

// lotSeen is checkSeen for a write about lot l: its own entries (its
// status) and its QC results', each a record of its own (recorded, voided
// or corrected), as the lot page shows them. A refusal names the result
// the last change was about.
func lotSeen(tx kv.Tx, seen *uint64, l lot.Lot, todo string) error {
	if seen == nil {
		return nil
	}
	last, id := lastSeq(tx, append([]uuid.UUID{l.ID}, children(tx, "idx_result_lot", l.ID)...)...)
	part := ""
	if last != *seen && id != l.ID {
		var r resultRecord
		if ok, err := get(tx, kindResult, id, &r); err != nil {
			return err
		} else if ok {
			res := r.result()
			part = fmt.Sprintf("result #%d (%s)", res.Seq, res.Assay)
		}
	}
	return seenRefusal(tx, *seen, last, "lot "+l.Number, part, todo)
}

// seenRefusal is audit.CheckSeen with the entry numbered last read.
func seenRefusal(tx kv.Tx, seen, last uint64, what, part, todo string) error {
	if seen == last {
		return nil
	}
	var e audit.Entry
	if last > 0 {
		es, err := decodeEntries(tx, [][]byte{itob(last)})
		if err != nil {
			return err
		}
		e = es[0]
	}
	return audit.CheckSeen(seen, what, e, part, todo)
}

// Seen is the state of the records ids as a form carries it
// (audit.SeenField): the number of the latest audit entry about any of
// them, 0 for none, read as checkSeen and lotSeen read it.
func (db *DB) Seen(ids ...uuid.UUID) (uint64, error) {
	var last uint64
	err := db.view(func(tx kv.Tx) error {
		last, _ = lastSeq(tx, ids...)
		return nil
	})
	return last, err
}

// lastSeq is the number of the latest audit entry about any of the records
// ids (0 for none) and the record it is about: one seek in audit_entity per
// record, whose keys are the record's id and the entry's number, so the
// record's last key is the one before its id followed by the highest
// number.
func lastSeq(tx kv.Tx, ids ...uuid.UUID) (uint64, uuid.UUID) {
	c := tx.Bucket(bAuditEntity).Cursor()
	var last uint64
	var of uuid.UUID
	for _, id := range ids {
		end := append(id[:len(id):len(id)], 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
		k, _ := c.Seek(end)
		if k == nil {
			k, _ = c.Last()
		} else {
			k, _ = c.Prev()
		}
		if len(k) == len(end) && bytes.HasPrefix(k, id[:]) {
			if n := btoi(k[len(id):]); n > last {
				last, of = n, id
			}
		}
	}
	return last, of
}
