package store

import (
	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/store/kv"
)

// AuditLog returns the audit entries, oldest first; with a non-empty entity
// reference (a UUID, lot, container, MRN, donor or user name) only that
// record's entries. It reads them all in one transaction, values filled
// from the whole trail (fillValues): the plain reading the tests hold
// EachAuditEntry's batches and AuditTail's end to, and their handy whole
// log. No front end uses it — the command line and the server stream the
// trail (EachAuditEntry) — so it lives with the tests.
func (db *DB) AuditLog(entity string) ([]audit.Entry, error) {
	var es []audit.Entry
	err := db.view(func(tx kv.Tx) error {
		b := tx.Bucket(bAudit)
		if entity == "" {
			err := b.ForEach(func(k, v []byte) error {
				e, err := audit.Decode(v)
				es = append(es, e)
				return err
			})
			fillValues(tx, es)
			fillPrevHashes(b, es)
			return err
		}
		id, err := resolveEntity(tx, entity)
		if err != nil {
			return err
		}
		es, err = recordEntries(tx, id)
		return err
	})
	return es, err
}
