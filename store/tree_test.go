package store

import (
	"github.com/celltrack/celltrack/audit"
	bolt "go.etcd.io/bbolt"
)

// retree rebuilds the audit tree from the entries as they are stored, as an
// attacker who rewrote entries and knows the tree layout would.
func retree(tx *bolt.Tx) error {
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
