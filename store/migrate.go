package store

import (
	"encoding/json"
	"fmt"
	"runtime/debug"
	"strconv"

	"github.com/celltrack/celltrack/lot"
	"github.com/google/uuid"
	bolt "go.etcd.io/bbolt"
)

// Schema versions:
//
//	1  the first release
//	2  idx_event_patient and idx_event_infused (events that name a patient;
//	   infusions by start time); any bucket of the key schema may be missing
//	   from a version 1 file
//	3  reaction records version 2: a number in their infusion, corrections
//	   and voids. Nothing is rewritten (a version 1 reaction reads as one
//	   with no correction), but the bump makes a celltrack that knows only
//	   version 2 refuse the file instead of dropping the fields it does not
//	   know when it reads, and so showing a voided reaction as standing
//	4  sessions (issue 10): the sessions bucket, the settings record bucket
//	   and the database's identity in meta "db_id", made by the upgrade
//
// A writable Open migrates an older file in one transaction (migrate) and
// records it in meta under "migration/" + the new version; a read-only Open
// of an older file is refused with what to run.

// schemaOf reads the schema version in meta; a value that is not a positive
// number was not written by celltrack.
func schemaOf(tx *bolt.Tx, path string) (int, error) {
	raw := tx.Bucket(bMeta).Get([]byte("schema"))
	v, err := strconv.Atoi(string(raw))
	if err != nil || v < 1 {
		return 0, lot.Errorf(lot.EINVALID, "%s has a garbled schema version %q in meta (not written by celltrack); restore the last good backup", path, raw)
	}
	return v, nil
}

// missingBuckets lists the key-schema buckets a file lacks.
func missingBuckets(tx *bolt.Tx) (records []string, indexes []string) {
	for _, b := range recordBuckets {
		if tx.Bucket(b) == nil {
			records = append(records, string(b))
		}
	}
	for _, b := range append([][]byte{bAudit, bAuditEntity, bSessions}, indexBuckets...) {
		if tx.Bucket(b) == nil {
			indexes = append(indexes, string(b))
		}
	}
	return records, indexes
}

// needsMigration reports whether a file of schema v lacks anything.
func needsMigration(tx *bolt.Tx, v int) bool {
	r, i := missingBuckets(tx)
	return v < SchemaVersion || len(r)+len(i) > 0
}

// migrate brings an older file up to SchemaVersion in one transaction:
// missing record buckets are created empty (nothing can have been stored in
// a bucket that did not exist), the event indexes are rebuilt from the
// events, and any other missing index is created empty only when its records
// bucket is empty. It records what it did in meta "migration/<version>".
func (db *DB) migrate() (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer db.recoverDamage(&err)
	// Look first: a write transaction commits a new meta page even when it
	// changes nothing, and a refused command must leave the file's bytes alone.
	var needed bool
	if err := db.bolt.View(func(tx *bolt.Tx) error {
		v, err := schemaOf(tx, db.path)
		needed = err == nil && needsMigration(tx, v)
		return err
	}); err != nil || !needed {
		return err
	}
	return db.bolt.Update(func(tx *bolt.Tx) error {
		from, err := schemaOf(tx, db.path)
		if err != nil || !needsMigration(tx, from) {
			return err
		}
		records, indexes := missingBuckets(tx)
		for _, name := range records {
			if _, err := tx.CreateBucket([]byte(name)); err != nil {
				return fmt.Errorf("create bucket %s: %w", name, err)
			}
		}
		rebuildEvents := false
		// indexSource names the record kind each index is derived from: an
		// index bucket missing from an older file is created empty only when
		// it has nothing to index, or rebuilt when a rebuilder exists (the
		// event indexes).
		for _, name := range indexes {
			kind, ok := indexSource[name]
			switch {
			case name == string(bSessions):
				// bookkeeping, empty until someone logs in
			case ok && kind == kindEvent:
				rebuildEvents = true
			case !ok || tx.Bucket(recordBuckets[kind]).Stats().KeyN > 0:
				return lot.Errorf(lot.ECONFLICT, "%s lacks the bucket %s while its records exist; this celltrack cannot rebuild it — restore the last good backup and report it", db.path, name)
			}
			if _, err := tx.CreateBucket([]byte(name)); err != nil {
				return fmt.Errorf("create bucket %s: %w", name, err)
			}
		}
		events := 0
		if rebuildEvents {
			err := tx.Bucket(recordBuckets[kindEvent]).ForEach(func(k, v []byte) error {
				events++
				return writeIndexes(tx, kindEvent, uuid.UUID(k))
			})
			if err != nil {
				return err
			}
		}
		meta := tx.Bucket(bMeta)
		if from < 4 && meta.Get(metaDBID) == nil {
			// Sessions are bound to the database's identity (issue 10).
			if err := meta.Put(metaDBID, []byte(db.NewID().String())); err != nil {
				return err
			}
		}
		note, _ := json.Marshal(map[string]any{"from": from, "to": SchemaVersion, "at": db.now(),
			"created": append(records, indexes...), "events_reindexed": events})
		if err := meta.Put([]byte("migration/"+strconv.Itoa(SchemaVersion)), note); err != nil {
			return err
		}
		return meta.Put([]byte("schema"), []byte(strconv.Itoa(SchemaVersion)))
	})
}

// Schema returns the file's schema version and the meta note of the
// migration to that version ("" when the file was created at it).
func (db *DB) Schema() (v int, note string, err error) {
	err = db.view(func(tx *bolt.Tx) error {
		v, err = schemaOf(tx, db.path)
		note = string(tx.Bucket(bMeta).Get([]byte("migration/" + strconv.Itoa(v))))
		return err
	})
	return v, note, err
}
