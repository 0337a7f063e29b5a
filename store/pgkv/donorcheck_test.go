package pgkv_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/celltrack/celltrack/store/kv"
	"github.com/celltrack/celltrack/store/pgkv"
	"github.com/jackc/pgx/v5/pgconn"
)

// TestLotDonorChecked: schema 4 checks a lot's donor per statement
// (triggers) instead of per row at COMMIT (the foreign key), as strictly: a
// lot naming no donor is refused at COMMIT with the foreign key's error and
// nothing is written, whether it went by INSERT or by COPY; a lot written
// before its donor in one transaction, in another send, is taken; a donor a
// lot names cannot be deleted, its id changed, or the table truncated; and
// a good write leaves nothing queued.
func TestLotDonorChecked(t *testing.T) {
	e, _ := create(t)
	n := 0
	lotJSON := func(lot, donor []byte) []byte {
		n++
		return fmt.Appendf(nil, `{"v":1,"id":"%s","number":"L-%d","din":"G1234260%05d","source":"uc","donor_id":"%s"}`,
			uid(lot), n, n, uid(donor))
	}
	donorJSON := func(donor []byte) []byte { return fmt.Appendf(nil, `{"v":1,"code":"D-%x"}`, donor[10:]) }
	if err := e.Update(func(tx kv.Tx) error {
		for _, n := range []string{"donors", "lots"} {
			if _, err := tx.CreateBucket([]byte(n)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	refused := func(what string, err error) {
		t.Helper()
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "23503" || pe.ConstraintName != "lots_donor_id_fkey" {
			t.Errorf("%s: %v, want the violation of lots_donor_id_fkey", what, err)
		}
	}
	count := func(table string) (n int) {
		t.Helper()
		if err := e.Pool().QueryRow(t.Context(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for _, min := range []int{256, 1} { // by INSERT, then by COPY
		restore := pgkv.SetCopyMin(min)
		err := e.Update(func(tx kv.Tx) error {
			lot := id()
			return tx.Bucket([]byte("lots")).Put(lot, lotJSON(lot, id()))
		})
		refused(fmt.Sprintf("copyMin %d: a lot whose donor is missing", min), err)
		restore()
	}
	if n := count("lots"); n != 0 {
		t.Fatalf("%d lots written by refused transactions", n)
	}
	// The lot first, its donor in a later send of the same transaction.
	donor, lot := id(), id()
	restore := pgkv.SetFlushAt(1)
	err := e.Update(func(tx kv.Tx) error {
		if err := tx.Bucket([]byte("lots")).Put(lot, lotJSON(lot, donor)); err != nil {
			return err
		}
		if err := tx.Bucket([]byte("lots")).Put(id(), []byte(`{"v":1,"number":"L-pad","din":"G123426099999","source":"patient"}`)); err != nil {
			return err // a second write: the lot is sent before the donor
		}
		return tx.Bucket([]byte("donors")).Put(donor, donorJSON(donor))
	})
	restore()
	if err != nil {
		t.Fatalf("a lot written before its donor: %v", err)
	}
	if n := count("ct_ref_checks"); n != 0 {
		t.Errorf("%d donor checks left queued", n)
	}
	// Many good lots of many donors: nothing queued.
	if err := e.Update(func(tx kv.Tx) error {
		for range 300 {
			d, l := id(), id()
			if err := tx.Bucket([]byte("donors")).Put(d, donorJSON(d)); err != nil {
				return err
			}
			if err := tx.Bucket([]byte("lots")).Put(l, lotJSON(l, d)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n := count("ct_ref_checks"); n != 0 {
		t.Errorf("%d donor checks left queued", n)
	}
	hex := fmt.Sprintf(`'\x%x'`, donor)
	// Refused in the words the foreign key used for this direction
	// (schema 6): the statement on donors, not an insert on lots.
	for what, q := range map[string]string{
		"DELETE of a donor a lot names": "DELETE FROM donors WHERE k = " + hex,
		"a donor's id changed":          "UPDATE donors SET id = gen_random_uuid() WHERE k = " + hex,
	} {
		err := exec(t, e, q)
		refused(what, err)
		var pe *pgconn.PgError
		if errors.As(err, &pe) && (!strings.HasPrefix(pe.Message, `update or delete on table "donors"`) || !strings.Contains(pe.Detail, "is still referenced from table \"lots\"")) {
			t.Errorf("%s: refused as %q (%s), want the foreign key's words for a donor that a lot still names", what, pe.Message, pe.Detail)
		}
	}
	refused("TRUNCATE donors (and screenings, whose foreign key would refuse it)", exec(t, e, "TRUNCATE donors, screenings"))
	if n := count("donors"); n != 301 {
		t.Errorf("%d donors, want 301", n)
	}
	// A donor deleted and put back in one transaction, as the foreign key
	// (deferred) allowed.
	if err := exec(t, e, "BEGIN; CREATE TEMPORARY TABLE d AS SELECT * FROM donors WHERE k = "+hex+
		"; DELETE FROM donors WHERE k = "+hex+"; INSERT INTO donors SELECT * FROM d; COMMIT"); err != nil {
		t.Errorf("a donor deleted and put back in one transaction: %v", err)
	}
}
