package main

import (
	"bytes"
	"fmt"

	"github.com/rogpeppe/go-internal/testscript"
	bolt "go.etcd.io/bbolt"
)

// cmdDBEdit edits one stored record behind celltrack's back, as a raw bbolt
// tool or a hex editor would, leaving the audit trail alone:
//
//	dbedit lots '"number":"LOT-UC-1"' '"status":"quarantine"' '"status":"released"'
//
// changes, in the one record of bucket lots whose JSON contains the first
// text, the second text to the third. Only tests open the file with bbolt
// outside the store package.
func cmdDBEdit(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 4 {
		ts.Fatalf("usage: dbedit BUCKET WHICH OLD NEW")
	}
	bucket, which, old, new := []byte(args[0]), []byte(args[1]), []byte(args[2]), []byte(args[3])
	db, err := bolt.Open(ts.Getenv("CELLTRACK_DB"), 0o600, nil)
	ts.Check(err)
	defer db.Close()
	ts.Check(db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucket)
		if b == nil {
			return fmt.Errorf("no bucket %s", bucket)
		}
		var key, val []byte
		err := b.ForEach(func(k, v []byte) error {
			if bytes.Contains(v, which) {
				if key != nil {
					return fmt.Errorf("more than one record of %s contains %s", bucket, which)
				}
				key, val = append([]byte(nil), k...), append([]byte(nil), v...)
			}
			return nil
		})
		if err != nil {
			return err
		}
		if key == nil || !bytes.Contains(val, old) {
			return fmt.Errorf("no record of %s contains both %s and %s", bucket, which, old)
		}
		return b.Put(key, bytes.Replace(val, old, new, 1))
	}))
}
