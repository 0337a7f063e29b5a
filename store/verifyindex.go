package store

import (
	"encoding/json"
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
	key          func(val []byte) (string, error)
}{
	{"idx_user_name", kindUser, func(val []byte) (string, error) {
		var r userRecord
		err := json.Unmarshal(val, &r)
		return r.Name, err
	}},
	{"idx_donor_code", kindDonor, func(val []byte) (string, error) {
		var r donorRecord
		err := json.Unmarshal(val, &r)
		return r.Code, err
	}},
	{"idx_patient_mrn", kindPatient, func(val []byte) (string, error) {
		var r patientRecord
		err := json.Unmarshal(val, &r)
		return r.MRN, err
	}},
	{"idx_lot_number", kindLot, func(val []byte) (string, error) {
		var r lotRecord
		err := json.Unmarshal(val, &r)
		return r.Number, err
	}},
	{"idx_lot_din", kindLot, func(val []byte) (string, error) {
		var r lotRecord
		err := json.Unmarshal(val, &r)
		return r.DIN, err
	}},
	{"idx_container_code", kindContainer, func(val []byte) (string, error) {
		var r containerRecord
		err := json.Unmarshal(val, &r)
		return fmt.Sprintf("%s%02d", r.DIN, r.Number), err
	}},
}

// indexedKey is the key a record's value gives in one lookup index, or why
// the value cannot be read.
type indexedKey struct {
	key string
	err error
}

// verifyIndexes returns a problem for every lookup-index entry that does not
// match its record, and every record missing from its lookup index. Each
// record is decoded once per index (not once from each side): the value
// checks find each record's key, then finish matches the index entries
// against the keys found.
func verifyIndexes(tx *bolt.Tx) []string {
	ic, checks := newIndexCheck()
	r := startChecks(tx, checks)
	r.wait()
	return ic.finish(tx)
}

// indexCheck holds, for each of lookupIndexes, the key each record's value
// gives.
type indexCheck struct {
	keys []map[uuid.UUID]indexedKey
}

// newIndexCheck returns the value checks of verifyIndexes; they decode
// records and need no transaction, so they run on startChecks' worker.
func newIndexCheck() (*indexCheck, []valueCheck) {
	ic := &indexCheck{keys: make([]map[uuid.UUID]indexedKey, len(lookupIndexes))}
	checks := make([]valueCheck, len(lookupIndexes))
	for i, ix := range lookupIndexes {
		keys := make(map[uuid.UUID]indexedKey)
		ic.keys[i] = keys
		checks[i] = valueCheck{ix.kind, func(id uuid.UUID, val []byte) {
			key, err := ix.key(val)
			if err != nil {
				err = fmt.Errorf("decode %s %s: %w", ix.kind, id, err)
			}
			keys[id] = indexedKey{key: key, err: err}
		}}
	}
	return ic, checks
}

// finish matches the keys found against the index buckets, in tx.
func (ic *indexCheck) finish(tx *bolt.Tx) []string {
	var problems []string
	for i, ix := range lookupIndexes {
		b := tx.Bucket([]byte(ix.bucket))
		keys := ic.keys[i]
		tx.Bucket(recordBuckets[ix.kind]).ForEach(func(k, _ []byte) error {
			id := uuid.UUID(k)
			r := keys[id]
			if r.err != nil {
				return nil // reported below or by the record check
			}
			if got := b.Get([]byte(r.key)); len(got) != 16 || uuid.UUID(got) != id {
				problems = append(problems, fmt.Sprintf("%s %q (%s) is missing from index %s: it was changed outside celltrack", ix.kind, r.key, id, ix.bucket))
			}
			return nil
		})
		b.ForEach(func(k, v []byte) error {
			if len(v) != 16 {
				problems = append(problems, fmt.Sprintf("index %s: %q holds no record id: it was changed outside celltrack", ix.bucket, k))
				return nil
			}
			id := uuid.UUID(v)
			r, found := keys[id]
			switch {
			case found && r.err != nil:
				problems = append(problems, fmt.Sprintf("index %s: %q points at %s %s, which cannot be read: %v", ix.bucket, k, ix.kind, id, r.err))
			case !found:
				problems = append(problems, fmt.Sprintf("index %s: %q points at %s %s, which is not stored: it was changed outside celltrack", ix.bucket, k, ix.kind, id))
			case r.key != string(k):
				problems = append(problems, fmt.Sprintf("index %s: %q points at %s %s, which is %q: the index was changed outside celltrack, so a lookup would find the wrong record", ix.bucket, k, ix.kind, id, r.key))
			}
			return nil
		})
	}
	return problems
}
