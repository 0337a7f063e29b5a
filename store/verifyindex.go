package store

import (
	"fmt"

	"github.com/google/uuid"
	bolt "go.etcd.io/bbolt"
)

// lookupIndexes are the indexes that find a record from what a person types
// or scans: a user name, donor id, MRN, lot number, DIN or container code.
// Records are checked against the audit trail, but a lookup goes through the
// index first: an index entry repointed with a raw bbolt tool would make one
// lot's label find another lot. `audit verify` therefore checks each entry
// points at a record whose own value gives that key, and each record is
// indexed under its key.
var lookupIndexes = []struct {
	bucket, kind string
	key          func(tx *bolt.Tx, id uuid.UUID) (string, bool, error)
}{
	{"idx_user_name", kindUser, func(tx *bolt.Tx, id uuid.UUID) (string, bool, error) {
		var r userRecord
		found, err := get(tx, kindUser, id, &r)
		return r.Name, found, err
	}},
	{"idx_donor_code", kindDonor, func(tx *bolt.Tx, id uuid.UUID) (string, bool, error) {
		var r donorRecord
		found, err := get(tx, kindDonor, id, &r)
		return r.Code, found, err
	}},
	{"idx_patient_mrn", kindPatient, func(tx *bolt.Tx, id uuid.UUID) (string, bool, error) {
		var r patientRecord
		found, err := get(tx, kindPatient, id, &r)
		return r.MRN, found, err
	}},
	{"idx_lot_number", kindLot, func(tx *bolt.Tx, id uuid.UUID) (string, bool, error) {
		var r lotRecord
		found, err := get(tx, kindLot, id, &r)
		return r.Number, found, err
	}},
	{"idx_lot_din", kindLot, func(tx *bolt.Tx, id uuid.UUID) (string, bool, error) {
		var r lotRecord
		found, err := get(tx, kindLot, id, &r)
		return r.DIN, found, err
	}},
	{"idx_container_code", kindContainer, func(tx *bolt.Tx, id uuid.UUID) (string, bool, error) {
		var r containerRecord
		found, err := get(tx, kindContainer, id, &r)
		return fmt.Sprintf("%s%02d", r.DIN, r.Number), found, err
	}},
}

// verifyIndexes returns a problem for every lookup-index entry that does not
// match its record, and every record missing from its lookup index.
func verifyIndexes(tx *bolt.Tx) []string {
	var problems []string
	for _, ix := range lookupIndexes {
		b := tx.Bucket([]byte(ix.bucket))
		b.ForEach(func(k, v []byte) error {
			if len(v) != 16 {
				problems = append(problems, fmt.Sprintf("index %s: %q holds no record id: it was changed outside celltrack", ix.bucket, k))
				return nil
			}
			id := uuid.UUID(v)
			key, found, err := ix.key(tx, id)
			switch {
			case err != nil:
				problems = append(problems, fmt.Sprintf("index %s: %q points at %s %s, which cannot be read: %v", ix.bucket, k, ix.kind, id, err))
			case !found:
				problems = append(problems, fmt.Sprintf("index %s: %q points at %s %s, which is not stored: it was changed outside celltrack", ix.bucket, k, ix.kind, id))
			case key != string(k):
				problems = append(problems, fmt.Sprintf("index %s: %q points at %s %s, which is %q: the index was changed outside celltrack, so a lookup would find the wrong record", ix.bucket, k, ix.kind, id, key))
			}
			return nil
		})
		tx.Bucket(recordBuckets[ix.kind]).ForEach(func(k, _ []byte) error {
			id := uuid.UUID(k)
			key, _, err := ix.key(tx, id)
			if err != nil {
				return nil // reported above or by the record check
			}
			if got := b.Get([]byte(key)); len(got) != 16 || uuid.UUID(got) != id {
				problems = append(problems, fmt.Sprintf("%s %q (%s) is missing from index %s: it was changed outside celltrack", ix.kind, key, id, ix.bucket))
			}
			return nil
		})
	}
	return problems
}
