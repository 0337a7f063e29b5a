package main

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestCheckFindsADeletedResultIndexEntry is the reviewer's finding at the
// command line: a failing sterility result is recorded, then its entry in
// idx_result_lot is deleted with raw bbolt (standing in for any bbolt tool;
// no product code outside store/boltkv imports bbolt). The result is still stored
// and the chain head is unchanged, but the release evaluation, which reads
// a lot's results through that index, no longer sees it. check must exit 3
// and name the index and the result; before, it passed.
func TestCheckFindsADeletedResultIndexEntry(t *testing.T) {
	dir := t.TempDir()
	db := labCopy(t, dir)
	if r := celltrack(db, "", "--user", "liu", "release", "result", "--assay", "sterility", "--value", "growth", "LOT-UC-1"); r.code != 0 {
		t.Fatalf("release result: exit %d: %s%s", r.code, r.stdout, r.stderr)
	}
	if got := sterility(t, db); !strings.Contains(got, "FAIL") {
		t.Fatalf("evaluation before the tamper: %s; want the growth result failing", got)
	}
	if r := celltrack(db, "", "check", "--no-checkpoint"); r.code != 0 {
		t.Fatalf("sound database: exit %d: %s%s", r.code, r.stdout, r.stderr)
	}
	// The newest key of idx_result_lot is the sterility result just
	// recorded (UUIDv7 ids sort by time; its lot's prefix is the same).
	var deleted []byte
	bdb, err := bolt.Open(db, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = bdb.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("idx_result_lot"))
		var newest []byte
		b.ForEach(func(k, _ []byte) error {
			if newest == nil || bytes.Compare(k[16:], newest[16:]) > 0 {
				newest = bytes.Clone(k)
			}
			return nil
		})
		deleted = newest
		return b.Delete(newest)
	})
	bdb.Close()
	if err != nil {
		t.Fatal(err)
	}
	if got := sterility(t, db); !strings.Contains(got, "no result") {
		t.Fatalf("the tamper did not hide the result from the evaluation: %s", got)
	}
	r := celltrack(db, "", "check")
	if r.code != exitRefused {
		t.Errorf("check after the tamper: exit %d, want %d:\n%s%s", r.code, exitRefused, r.stdout, r.stderr)
	}
	for _, want := range []string{"PROBLEM: result ", "is missing from index idx_result_lot (key ", hex.EncodeToString(deleted), "check: FAILED"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("check output does not say %q:\n%s", want, r.stdout)
		}
	}
}

// sterility is the sterility row of LOT-UC-1's release evaluation.
func sterility(t *testing.T, db string) string {
	t.Helper()
	r := celltrack(db, "", "--user", "aud", "release", "evaluate", "LOT-UC-1")
	for _, line := range strings.Split(r.stdout, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "sterility") {
			return line
		}
	}
	t.Fatalf("no sterility row in the evaluation:\n%s%s", r.stdout, r.stderr)
	return ""
}
