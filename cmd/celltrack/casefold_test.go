package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/celltrack/celltrack/store"
	bolt "go.etcd.io/bbolt"
)

// TestUpgradeWarnsOfCaseVariants: a schema 8 file in which celltrack of
// that time let lot-uc-1 in beside LOT-UC-1 (made here with raw bbolt: the
// folded index emptied before the second registration, then removed with
// the schema set back to 8) is upgraded without losing either lot; upgrade
// and check print the pair as a WARNING for QA, check still passes, both
// lots stay reachable by their exact numbers, and a third variant is
// refused.
func TestUpgradeWarnsOfCaseVariants(t *testing.T) {
	db := labCopy(t, t.TempDir())
	edit := func(fn func(tx *bolt.Tx) error) {
		t.Helper()
		bdb, err := bolt.Open(db, 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer bdb.Close()
		if err := bdb.Update(fn); err != nil {
			t.Fatal(err)
		}
	}
	folds := []string{"idx_donor_code_fold", "idx_lot_number_fold", "idx_site_code_fold"}
	edit(func(tx *bolt.Tx) error {
		if err := tx.DeleteBucket([]byte("idx_lot_number_fold")); err != nil {
			return err
		}
		_, err := tx.CreateBucket([]byte("idx_lot_number_fold"))
		return err
	})
	reg := []string{"--user", "liu", "lot", "register", "--source", "uc", "--donor", "D-0001", "--cells", "1e9", "--viability", "91",
		"--volume-ml", "62", "--manufactured", "2026-11-20", "--expires", "2027-11-20"}
	if r := celltrack(db, "", append(reg, "lot-uc-1")...); r.code != 0 {
		t.Fatalf("lot-uc-1 with the folded index emptied: exit %d: %s%s", r.code, r.stdout, r.stderr)
	}
	edit(func(tx *bolt.Tx) error {
		for _, b := range append(folds, "idx_patient_mrn_fold") { // schema 9's too
			if err := tx.DeleteBucket([]byte(b)); err != nil {
				return err
			}
		}
		return tx.Bucket([]byte("meta")).Put([]byte("schema"), []byte("8"))
	})
	if r := celltrack(db, "", "lot", "show", "LOT-UC-1"); r.code != exitRefused || !strings.Contains(r.stderr, "An admin upgrades it") || !strings.Contains(r.stderr, "(`celltrack login NAME`)") {
		t.Fatalf("a read of the schema 8 file: exit %d: %s", r.code, r.stderr)
	}
	const warning = "WARNING: lot numbers LOT-UC-1 and lot-uc-1 differ only in letter case (registered before schema 10"
	r := celltrack(db, "", "--user", "alice", "upgrade") // an admin's (database.upgrade)
	if r.code != 0 || !strings.Contains(r.stdout, fmt.Sprintf("is at schema version %d", store.SchemaVersion)) || !strings.Contains(r.stdout, warning) || !strings.Contains(r.stdout, `"case_variants":["lot numbers LOT-UC-1 and lot-uc-1`) {
		t.Fatalf("upgrade: exit %d:\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = celltrack(db, "", "check", "--no-checkpoint")
	if r.code != 0 || !strings.Contains(r.stdout, "check: OK") || !strings.Contains(r.stdout, warning) {
		t.Errorf("check: exit %d:\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = celltrack(db, "", "--json", "check", "--no-checkpoint")
	if r.code != 0 || !strings.Contains(strings.Join(strings.Fields(r.stdout), ""), `"case_variants":[{"field":"lotnumber","codes":["LOT-UC-1","lot-uc-1"]}]`) {
		t.Errorf("check --json: exit %d:\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, n := range []string{"LOT-UC-1", "lot-uc-1"} {
		if r := celltrack(db, "", "lot", "show", n); r.code != 0 || !strings.Contains(r.stdout, n) {
			t.Errorf("lot show %s after the upgrade: exit %d: %s%s", n, r.code, r.stdout, r.stderr)
		}
	}
	if r := celltrack(db, "", append(reg, "Lot-Uc-1")...); r.code != exitRefused || !strings.Contains(r.stderr, "lot number Lot-Uc-1 differs from the registered lot number") {
		t.Errorf("a third variant: exit %d: %s", r.code, r.stderr)
	}
}
