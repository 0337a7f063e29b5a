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
// It costs one cursor seek (for an account, lastSeq's walk back over its
// logins and refused passwords); a refusal decodes the entry, to name it.
func checkSeen(tx kv.Tx, seen *uint64, what, todo string, id uuid.UUID) error {
	return checkSeenOf(tx, seen, what, todo, id, false)
}

// accountSeen is checkSeen for a write about the account u: its state is
// its latest entry that changes it (lastSeq).
func accountSeen(tx kv.Tx, seen *uint64, u audit.User) error {
	return checkSeenOf(tx, seen, "the account of "+u.Name, "Look at the account as it is now and decide again", u.ID, true)
}

func checkSeenOf(tx kv.Tx, seen *uint64, what, todo string, id uuid.UUID, account bool) error {
	if seen == nil {
		return nil
	}
	last, _, err := lastSeq(tx, account, id)
	if err != nil {
		return err
	}
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
	last, id, err := lastSeq(tx, false, append([]uuid.UUID{l.ID}, children(tx, "idx_result_lot", l.ID)...)...)
	if err != nil {
		return err
	}
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
// them that counts (lastSeq: for an account, the latest that changes it),
// 0 for none, read as checkSeen, accountSeen and lotSeen read it. An id
// of an account is read as one alone.
func (db *DB) Seen(ids ...uuid.UUID) (uint64, error) {
	var last uint64
	err := db.view(func(tx kv.Tx) error {
		var err error
		if len(ids) == 1 && tx.Bucket(recordBuckets[kindUser]).Get(ids[0][:]) != nil {
			last, _, err = lastSeq(tx, true, ids[0])
		} else {
			last, _, err = lastSeq(tx, false, ids...)
		}
		return err
	})
	return last, err
}

// lastSeq is the state of the records ids as their forms carry it
// (audit.SeenField) and the record it is about: the number of the latest
// audit entry about any of them (0 for none) — for an account, the latest
// that changes it (audit.ChangesAccount), not a login or a refused
// password. It is the one reading of a record's state, for the pages
// (DB.Seen) and the writes (checkSeen, lotSeen) alike: one seek in
// audit_entity per record, whose keys are the record's id and the entry's
// number, so the record's last key is the one before its id followed by
// the highest number; an account's walks back from there over the entries
// that do not count, reading each one's action (accounts: ids are accounts).
func lastSeq(tx kv.Tx, accounts bool, ids ...uuid.UUID) (uint64, uuid.UUID, error) {
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
		for ; len(k) == len(end) && bytes.HasPrefix(k, id[:]); k, _ = c.Prev() {
			n := btoi(k[len(id):])
			if accounts {
				action, state, err := audit.StoredAction(tx.Bucket(bAudit).Get(itob(n)))
				if err != nil {
					return 0, of, fmt.Errorf("audit entry #%d of account %s: %w", n, id, err)
				}
				if !audit.ChangesAccount(action, state) {
					continue
				}
			}
			if n > last {
				last, of = n, id
			}
			break
		}
	}
	return last, of, nil
}
