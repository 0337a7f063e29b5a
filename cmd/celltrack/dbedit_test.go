package main

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"github.com/celltrack/celltrack/internal/pgtest"
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
// outside the store package. On PostgreSQL it is a DBA's ad-hoc UPDATE of
// the record's table (each record bucket has a table of its name, the
// value in column record), the same edit of the same bytes.
func cmdDBEdit(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 4 {
		ts.Fatalf("usage: dbedit BUCKET WHICH OLD NEW")
	}
	if db := ts.Getenv("CELLTRACK_DB"); strings.HasPrefix(db, "postgres://") {
		ts.Check(pgtest.Exec(db, dbEditSQL(args[0], args[1], args[2], args[3])))
		return
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

// dbEditSQL is dbedit as one SQL statement: the first occurrence of old in
// the one record of table bucket whose text contains which becomes new;
// the statement fails unless exactly one record matches.
func dbEditSQL(bucket, which, old, new string) string {
	lit := func(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
	return fmt.Sprintf(`DO $dbedit$ DECLARE n int; BEGIN
	UPDATE %[1]s SET record = overlay(record::text PLACING %[4]s FROM strpos(record::text, %[3]s) FOR length(%[3]s))::json
		WHERE strpos(record::text, %[2]s) > 0 AND strpos(record::text, %[3]s) > 0;
	GET DIAGNOSTICS n = ROW_COUNT;
	IF n <> 1 THEN RAISE EXCEPTION 'dbedit: %% records of %[1]s contain both texts, want 1', n; END IF;
END $dbedit$`, `"`+bucket+`"`, lit(which), lit(old), lit(new))
}

// cmdDBDelete deletes one key of a bucket behind celltrack's back, as a raw
// bbolt tool would:
//
//	dbdelete meta migrated
//
// On PostgreSQL it is a DBA's DELETE from the kv table, which holds the
// buckets without a table of their own (meta, sessions, the indexes).
func cmdDBDelete(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: dbdelete BUCKET KEY")
	}
	if db := ts.Getenv("CELLTRACK_DB"); strings.HasPrefix(db, "postgres://") {
		lit := func(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
		ts.Check(pgtest.Exec(db, fmt.Sprintf(`DO $dbdelete$ DECLARE n int; BEGIN
	DELETE FROM kv WHERE bucket = %s AND k = convert_to(%s, 'UTF8');
	GET DIAGNOSTICS n = ROW_COUNT;
	IF n <> 1 THEN RAISE EXCEPTION 'dbdelete: %% keys deleted, want 1', n; END IF;
END $dbdelete$`, lit(args[0]), lit(args[1]))))
		return
	}
	db, err := bolt.Open(ts.Getenv("CELLTRACK_DB"), 0o600, nil)
	ts.Check(err)
	defer db.Close()
	ts.Check(db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(args[0]))
		if b == nil {
			return fmt.Errorf("no bucket %s", args[0])
		}
		if b.Get([]byte(args[1])) == nil {
			return fmt.Errorf("bucket %s has no key %s", args[0], args[1])
		}
		return b.Delete([]byte(args[1]))
	}))
}

// cmdDBSchema sets the schema version in the story's database's meta to
// N, as a database an older celltrack wrote carries it: `dbschema 10`.
// A file of this celltrack's layout with an older number is what the store
// tests upgrade too (store's upgradeFrom): the upgrade's steps find nothing
// left to build and record themselves all the same. On PostgreSQL it is
// the one row of the kv table that holds it.
func cmdDBSchema(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: dbschema N")
	}
	if db := ts.Getenv("CELLTRACK_DB"); strings.HasPrefix(db, "postgres://") {
		ts.Check(pgtest.Exec(db, fmt.Sprintf("UPDATE kv SET v = convert_to('%d', 'UTF8') WHERE bucket = 'meta' AND k = convert_to('schema', 'UTF8')", atoi(ts, args[0]))))
		return
	}
	db, err := bolt.Open(ts.Getenv("CELLTRACK_DB"), 0o600, nil)
	ts.Check(err)
	defer db.Close()
	ts.Check(db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("meta")).Put([]byte("schema"), []byte(strconv.Itoa(atoi(ts, args[0]))))
	}))
}

func atoi(ts *testscript.TestScript, s string) int {
	n, err := strconv.Atoi(s)
	ts.Check(err)
	return n
}
