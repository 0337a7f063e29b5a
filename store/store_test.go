package store

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/store/kv"
	"github.com/google/uuid"
)

const testPassword = "amber-falcon-river-9"

// testFirstPassword is the one-time password alice types when she adds a
// user; addTestUser's first login replaces it with testPassword.
const testFirstPassword = "one-time-birch-comet-31"

// addTestUser adds u as alice does and logs u in once, changing the
// one-time first password to testPassword as its owner must before the
// account signs anything.
func addTestUser(t testing.TB, db *DB, u audit.User) {
	t.Helper()
	if _, err := db.AddUser("alice", u, testFirstPassword, testPassword); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.Login(u.Name, testFirstPassword, func() (string, error) { return testPassword, nil }); err != nil {
		t.Fatal(err)
	}
}

// newTestDB opens a fresh database with an admin (alice), a lab user (liu), a
// donor D-1 and a patient MRN-1, and runs bbolt's consistency check when the
// test ends (not audit verify: some tests tamper on purpose).
func newTestDB(t testing.TB) *DB {
	t.Helper()
	FailedPasswordDelay = 0
	path := testDBPath(t)
	now := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	db, err := Open(path, Options{Create: true, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Init("G1234", audit.User{Name: "alice", FullName: "Alice"}, testPassword); err != nil {
		t.Fatal(err)
	}
	for _, u := range []audit.User{{Name: "liu", FullName: "Liu", Role: audit.Lab}, {Name: "nina", FullName: "Nina", Role: audit.Nurse}} {
		addTestUser(t, db, u)
	}
	s := NewLotService(db)
	if _, err := s.AddDonor("liu", lot.Donor{Code: "D-1", Site: "ward", Delivered: now.AddDate(0, 0, -10), Consented: now.AddDate(0, 0, -20)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddPatient("nina", lot.Patient{MRN: "MRN-1", Name: "Mei", Born: now.AddDate(-40, 0, 0), Sex: "F"}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, err := range db.Check() {
			t.Errorf("bbolt check: %v", err)
		}
		db.Close()
	})
	return db
}

func registerUC(t testing.TB, db *DB, number string) lot.Lot {
	t.Helper()
	now := db.Now()
	l, err := NewLotService(db).RegisterLot("liu", lot.Registration{Number: number, Source: lot.SourceUC, Donor: "D-1",
		Cells: 2_000_000_000, Viability: 950, VolumeML: 1000, Manufactured: now.AddDate(0, 0, -5), Expires: now.AddDate(1, 0, 0)})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// tamperLotStatus sets a lot's stored status with raw bbolt, behind
// celltrack's back, as a tamperer with a hex editor or bbolt tool would.
func tamperLotStatus(t *testing.T, db *DB, l lot.Lot, status string) {
	t.Helper()
	err := db.engine.Update(func(tx kv.Tx) error {
		b := tx.Bucket(recordBuckets[kindLot])
		var r map[string]any
		if err := json.Unmarshal(b.Get(l.ID[:]), &r); err != nil {
			return err
		}
		r["status"] = status
		v, _ := json.Marshal(r)
		return b.Put(l.ID[:], v)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestVerifyCatchesRecordEditedOutsideCelltrack(t *testing.T) {
	db := newTestDB(t)
	l := registerUC(t, db, "LOT-1")
	if v, err := db.Verify(); err != nil || !v.OK() {
		t.Fatalf("fresh database: %v %v", err, v.Problems)
	}
	tamperLotStatus(t, db, l, "released")
	v, err := db.Verify()
	if err != nil {
		t.Fatal(err)
	}
	if v.OK() || !strings.Contains(strings.Join(v.Problems, "\n"), "lot LOT-1 ("+l.ID.String()+") differs from the value its last audit entry") {
		t.Fatalf("tampered lot not named: %q", v.Problems)
	}
}

func TestVerifyCatchesAlteredAndDeletedAuditEntries(t *testing.T) {
	for name, tamper := range map[string]func(tx kv.Tx) error{
		"altered entry": func(tx kv.Tx) error {
			b := tx.Bucket(bAudit)
			v := append([]byte(nil), b.Get(itob(3))...)
			v[len(v)-3] ^= 1
			return b.Put(itob(3), v)
		},
		"deleted entry": func(tx kv.Tx) error { return tx.Bucket(bAudit).Delete(itob(2)) },
		"deleted record": func(tx kv.Tx) error {
			k, _ := tx.Bucket(recordBuckets[kindDonor]).Cursor().First()
			return tx.Bucket(recordBuckets[kindDonor]).Delete(k)
		},
	} {
		t.Run(name, func(t *testing.T) {
			db := newTestDB(t)
			if err := db.engine.Update(tamper); err != nil {
				t.Fatal(err)
			}
			v, err := db.Verify()
			if err != nil {
				t.Fatal(err)
			}
			if v.OK() {
				t.Fatal("verify passed a tampered database")
			}
			t.Log(v.Problems)
		})
	}
}

func TestRefusalWritesNothing(t *testing.T) {
	db := newTestDB(t)
	before, _ := db.AuditCount()
	_, err := NewLotService(db).RegisterLot("nina", lot.Registration{Number: "LOT-N"})
	if lot.ErrorCode(err) != lot.EFORBIDDEN {
		t.Fatalf("nurse registering a lot: got %v", err)
	}
	_, err = NewLotService(db).RegisterLot("liu", lot.Registration{Number: "LOT-2", Source: lot.SourceUC, Donor: "D-404",
		Cells: 1e9, Viability: 900, VolumeML: 10, Manufactured: db.Now().AddDate(0, 0, -1), Expires: db.Now().AddDate(1, 0, 0)})
	if lot.ErrorCode(err) != lot.ENOTFOUND {
		t.Fatalf("unknown donor: got %v", err)
	}
	if after, _ := db.AuditCount(); after != before {
		t.Fatalf("audit grew from %d to %d on refusals", before, after)
	}
}

func TestWrongPasswordIsRecorded(t *testing.T) {
	db := newTestDB(t)
	before, _ := db.AuditCount()
	if _, err := db.Authenticate("nina", "not-her-password", "test"); lot.ErrorCode(err) != lot.EAUTH {
		t.Fatalf("wrong password: got %v", err)
	}
	es, _ := db.AuditLog("nina")
	if after, _ := db.AuditCount(); after != before+1 || es[len(es)-1].Action != "signature.refused" {
		t.Fatalf("wrong password not recorded as one security event")
	}
	if _, err := db.Authenticate("nina", testPassword, "test"); err != nil {
		t.Fatalf("right password refused: %v", err)
	}
}

func TestSplitNeverExceedsLotCells(t *testing.T) {
	db := newTestDB(t)
	registerUC(t, db, "LOT-1") // 2×10^9 cells
	s := NewLotService(db)
	if _, err := s.SplitLot("liu", lot.Split{Lot: "LOT-1", Containers: 15, CellsEach: 100_000_000}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SplitLot("liu", lot.Split{Lot: "LOT-1", Containers: 6, CellsEach: 100_000_000}); lot.ErrorCode(err) != lot.EINVALID {
		t.Fatalf("over-split: got %v", err)
	}
	cs, _ := s.Containers("LOT-1")
	if len(cs) != 15 || cs[14].Code() != "G12342600000115" {
		t.Fatalf("containers: %d, last %s", len(cs), cs[len(cs)-1].Code())
	}
	if c, err := s.Container("G1234 26 000001 " + string(cs[0].DIN.Check()) + " 03"); err != nil || c.Number != 3 {
		t.Fatalf("container by typed code with check character: %v %v", c.Number, err)
	}
}

func TestBusyDatabase(t *testing.T) {
	db := newTestDB(t)
	_, err := Open(db.Path(), Options{Timeout: 50 * time.Millisecond})
	if lot.ErrorCode(err) != lot.EBUSY {
		t.Fatalf("second writer: got %v, want busy", err)
	}
}

// TestMRNDiffersOnlyInCase: mrn-1 while MRN-1 exists is refused, naming
// MRN-1, and nothing is written.
func TestMRNDiffersOnlyInCase(t *testing.T) {
	db := newTestDB(t)
	s := NewLotService(db)
	before, _ := db.AuditCount()
	for _, mrn := range []string{"mrn-1", "Mrn-1", "MRN-1"} {
		_, err := s.AddPatient("nina", lot.Patient{MRN: mrn, Name: "Other", Born: db.Now().AddDate(-30, 0, 0), Sex: "M"})
		if lot.ErrorCode(err) != lot.ECONFLICT || !strings.Contains(lot.ErrorMessage(err), "MRN-1") {
			t.Errorf("%s: %v", mrn, err)
		}
	}
	if after, _ := db.AuditCount(); after != before {
		t.Fatal("a refused registration wrote")
	}
	if _, err := s.AddPatient("nina", lot.Patient{MRN: "MRN-10", Name: "Other", Born: db.Now().AddDate(-30, 0, 0), Sex: "M"}); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkMRNFolded is the cost of the case-folded MRN look-up a
// registration pays, beside 100k other MRNs in idx_patient_mrn_fold: a seek
// and the one patient found (before schema 9, a read of every MRN: ~2 ms).
func BenchmarkMRNFolded(b *testing.B) {
	db := newTestDB(b)
	err := db.engine.Update(func(tx kv.Tx) error {
		for i := 0; i < 100_000; i++ {
			id := db.NewID()
			if err := tx.Bucket([]byte("idx_patient_mrn_fold")).Put(append(mrnFoldKey(fmt.Sprintf("MRN-%07d", i)), id[:]...), nil); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		db.engine.View(func(tx kv.Tx) error {
			if other, ok, err := mrnFolded(tx, "mrn-1", uuid.Nil); !ok || err != nil || other != "MRN-1" {
				b.Fatalf("found %q %v %v", other, ok, err)
			}
			return nil
		})
	}
}

// TestLargeImportAllOrNothing: an import large enough that the engine sends
// its writes in the middle of the transaction (on PostgreSQL the buffer goes
// out every 50,000 writes, by COPY: store/pgkv/copy.go) is still refused
// whole by one bad row at its end, and writes nothing; the same rows
// without it are imported, and the trail verifies.
func TestLargeImportAllOrNothing(t *testing.T) {
	db := newTestDB(t)
	s := NewLotService(db)
	rows := importRows("BIG", 10_000, db.Now())
	bad := rows[len(rows)-1]
	bad.Line++
	bad.Number, bad.Donor = "BIG-LAST", "D-404"
	n, _ := db.AuditCount()
	_, err := s.Import("liu", append(rows, bad))
	if want := fmt.Sprintf("line %d: ", bad.Line); !strings.Contains(lot.ErrorMessage(err), want) || !strings.Contains(lot.ErrorMessage(err), "D-404") {
		t.Fatalf("import with a bad last row: %v, want a refusal naming %q and the donor", err, want)
	}
	if m, _ := db.AuditCount(); m != n {
		t.Errorf("the refused import wrote %d audit entries", m-n)
	}
	if ls, err := s.Lots(lot.LotFilter{}); err != nil || len(ls) != 0 {
		t.Errorf("after the refused import: %d lots (%v), want none", len(ls), err)
	}
	if ls, err := s.Import("liu", rows); err != nil || len(ls) != len(rows) {
		t.Fatalf("import of the good rows: %d lots, %v", len(ls), err)
	}
	if ls, err := s.Lots(lot.LotFilter{}); err != nil || len(ls) != len(rows) {
		t.Errorf("after the import: %d lots (%v), want %d", len(ls), err, len(rows))
	}
	v, err := db.Verify()
	if err != nil || !v.OK() {
		t.Fatalf("verify after the import: %v %v", err, v.Problems)
	}
	if m, _ := db.AuditCount(); v.Entries != m || m <= n {
		t.Errorf("verify read %d entries of %d (%d before the import)", v.Entries, m, n)
	}
}
