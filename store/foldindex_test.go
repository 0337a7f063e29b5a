package store

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/store/kv"
)

// foldKey folds exactly as strings.EqualFold compares (the MRN's rule), and
// no code's key is a prefix of another's.
func TestFoldKeyIsEqualFold(t *testing.T) {
	codes := []string{"LOT-UC-1", "lot-uc-1", "Lot-Uc-1", "LOT-UC-10", "LOT-UC-1x", "LOT_UC_1", "D-0001", "d-0001",
		"KIT", "\u212aIT", "kit", "SITE", "\u017fITE", "ΣΑ", "σα", "ςα", "Straße", "STRASSE", "", "A", "a", "0", "/"}
	for _, a := range codes {
		for _, b := range codes {
			same := bytes.Equal(foldKey(a), foldKey(b))
			if same != strings.EqualFold(a, b) {
				t.Errorf("foldKey(%q) == foldKey(%q) is %v; strings.EqualFold says %v", a, b, same, !same)
			}
			if a != b && !same && bytes.HasPrefix(foldKey(a), foldKey(b)) {
				t.Errorf("foldKey(%q) begins with foldKey(%q)", a, b)
			}
		}
	}
}

// A donor id, lot number or site id that differs from a registered one only
// in letter case is refused (ECONFLICT), naming the field, the value typed
// and the registered one; nothing is written; codes that only share a
// prefix, or differ otherwise, are still distinct records.
func TestCaseVariantOfACodeRefused(t *testing.T) {
	db := newTestDB(t)
	s, cs := NewLotService(db), NewCustodyService(db)
	now := db.Now()
	donor := func(code string) error {
		_, err := s.AddDonor("liu", lot.Donor{Code: code, Site: "ward", Delivered: now.AddDate(0, 0, -10), Consented: now.AddDate(0, 0, -20)})
		return err
	}
	lotNo := func(number string) error {
		_, err := s.RegisterLot("liu", lot.Registration{Number: number, Source: lot.SourceUC, Donor: "D-1",
			Cells: 2_000_000_000, Viability: 950, VolumeML: 1000, Manufactured: now.AddDate(0, 0, -5), Expires: now.AddDate(1, 0, 0)})
		return err
	}
	site := func(code string) error {
		_, err := cs.AddSite("liu", lot.Site{Code: code, Name: "Site " + code})
		return err
	}
	for _, c := range []struct {
		name, field    string
		add            func(string) error
		first, variant string
		alsoDistinct   []string
		show           string
	}{
		{"donor", "donor id", donor, "D-0001", "d-0001", []string{"D-00010", "D-0002"}, "donor show D-0001"},
		{"lot", "lot number", lotNo, "LOT-UC-1", "Lot-Uc-1", []string{"LOT-UC-10", "LOT_UC_1"}, "lot show LOT-UC-1"},
		{"site", "site id", site, "CLINIC-A", "clinic-a", []string{"CLINIC-AB", "CLINIC-B"}, "site list"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := c.add(c.first); err != nil {
				t.Fatal(err)
			}
			n, _ := db.AuditCount()
			err := c.add(c.variant)
			want := c.field + " " + c.variant + " differs from the registered " + c.field + " " + c.first + " only in letter case"
			if lot.ErrorCode(err) != lot.ECONFLICT || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "use "+c.first+", ") || lot.ErrorCommand(err) != c.show ||
				!strings.Contains(err.Error(), "otherwise choose a distinct "+c.field) {
				t.Fatalf("%s beside %s: %v; want ECONFLICT with %q", c.variant, c.first, err, want)
			}
			if m, _ := db.AuditCount(); m != n {
				t.Errorf("the refusal wrote %d audit entries", m-n)
			}
			for _, d := range c.alsoDistinct {
				if err := c.add(d); err != nil {
					t.Errorf("%s beside %s: %v; it differs in more than letter case", d, c.first, err)
				}
			}
		})
	}
	if v, err := db.Verify(); err != nil || !v.OK() {
		t.Fatalf("verify: %v %v", err, v.Problems)
	}
	if _, err := s.Lot("Lot-Uc-1"); lot.ErrorCode(err) != lot.ENOTFOUND {
		t.Errorf("a look-up stays exact: lot Lot-Uc-1: %v", err)
	}
	if vs, err := db.CaseVariants(); err != nil || len(vs) != 0 {
		t.Errorf("case variants of a database created at schema %d: %v %v", SchemaVersion, vs, err)
	}
}

// An import refuses two rows whose lot numbers differ only in letter case,
// and a row that is a variant of a registered lot, listing every one;
// nothing is written.
func TestImportRefusesCaseVariants(t *testing.T) {
	db := newTestDB(t)
	registerUC(t, db, "LOT-1")
	now := db.Now()
	row := func(line int, number string) lot.ImportRow {
		return lot.ImportRow{Line: line, Registration: lot.Registration{Number: number, Source: lot.SourceUC, Donor: "D-1",
			Cells: 2_000_000_000, Viability: 950, VolumeML: 1000, Manufactured: now.AddDate(0, 0, -5), Expires: now.AddDate(1, 0, 0)}}
	}
	n, _ := db.AuditCount()
	_, err := NewLotService(db).Import("liu", []lot.ImportRow{row(2, "LOT-W2"), row(3, "lot-1"), row(4, "lot-w2"), row(5, "LOT-W3"), row(6, "LOT-W2")})
	msg := lot.ErrorMessage(err)
	for _, want := range []string{"3 bad row(s)",
		"line 3: lot number lot-1 differs from the registered lot number LOT-1 only in letter case",
		`line 4: lot_number "lot-w2" differs from "LOT-W2" on line 2 only in letter case`,
		`line 6: lot_number "LOT-W2" repeats line 2`} {
		if !strings.Contains(msg, want) {
			t.Errorf("import: %v\nwant %q", err, want)
		}
	}
	if strings.Contains(msg, "line 2:") || strings.Contains(msg, "line 5:") {
		t.Errorf("a good row is named: %s", msg)
	}
	if m, _ := db.AuditCount(); m != n {
		t.Errorf("the refused import wrote %d entries", m-n)
	}
}

// downgradeTo8 makes db's file what celltrack of schema 8 left: no folded
// indexes. variants registers codes first as a schema-8 celltrack did,
// beside a code differing only in letter case: the folded entries are
// removed before it, and by each call of clear, so that the check lets the
// next one through.
func downgradeTo8(t *testing.T, db *DB, variants func(clear func())) string {
	t.Helper()
	clear := func() {
		err := db.engine.Update(func(tx kv.Tx) error {
			for _, ix := range foldIndexes {
				var keys [][]byte
				tx.Bucket([]byte(ix.bucket)).ForEach(func(k, _ []byte) error { keys = append(keys, append([]byte(nil), k...)); return nil })
				for _, k := range keys {
					if err := tx.Bucket([]byte(ix.bucket)).Delete(k); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if variants != nil {
		clear()
		variants(clear)
	}
	return tamperFile(t, db, func(tx kv.Tx) error {
		for _, ix := range foldIndexes {
			if err := tx.DeleteBucket([]byte(ix.bucket)); err != nil {
				return err
			}
		}
		if err := tx.DeleteBucket([]byte("idx_patient_mrn_fold")); err != nil { // schema 9's
			return err
		}
		return tx.Bucket(bMeta).Put([]byte("schema"), []byte("8"))
	})
}

// The upgrade from schema 8 builds the folded indexes from the records;
// afterwards a case variant is refused and audit verify passes.
func TestUpgradeFrom8BuildsFoldedIndexes(t *testing.T) {
	db := newTestDB(t)
	registerUC(t, db, "LOT-1")
	registerUC(t, db, "LOT-2")
	if _, err := NewCustodyService(db).AddSite("liu", lot.Site{Code: "LAB", Name: "Cell lab"}); err != nil {
		t.Fatal(err)
	}
	path := downgradeTo8(t, db, nil)
	if _, err := Open(path, Options{ReadOnly: true, Timeout: time.Second}); lot.ErrorCode(err) != lot.ECONFLICT || !strings.Contains(err.Error(), "An admin upgrades it") || lot.ErrorCommand(err) != "login NAME" {
		t.Fatalf("a read of a schema 8 file: %v", err)
	}
	up, err := openUpgraded(path, Options{Timeout: time.Second, Now: db.Now})
	if err != nil {
		t.Fatal(err)
	}
	db.engine = up.engine
	v, note, err := up.Schema()
	if err != nil || v != SchemaVersion || !strings.Contains(note, `"from":8`) || !strings.Contains(note, `"codes_folded":4`) || !strings.Contains(note, "9: idx_patient_mrn_fold built") ||
		!strings.Contains(note, "10: idx_donor_code_fold, idx_lot_number_fold and idx_site_code_fold built from the records; 0 group(s)") || strings.Contains(note, `"case_variants":`) {
		t.Fatalf("schema %d, note %s, %v", v, note, err)
	}
	if vr, err := up.Verify(); err != nil || !vr.OK() {
		t.Fatalf("verify after the upgrade: %v %v", err, vr.Problems)
	}
	if _, err := NewLotService(up).RegisterLot("liu", lot.Registration{Number: "lot-2", Source: lot.SourceUC, Donor: "D-1",
		Cells: 2_000_000_000, Viability: 950, VolumeML: 1000, Manufactured: up.Now().AddDate(0, 0, -5), Expires: up.Now().AddDate(1, 0, 0)}); lot.ErrorCode(err) != lot.ECONFLICT {
		t.Errorf("lot-2 beside LOT-2 after the upgrade: %v", err)
	}
	if _, err := NewCustodyService(up).AddSite("liu", lot.Site{Code: "lab", Name: "Lab"}); lot.ErrorCode(err) != lot.ECONFLICT {
		t.Errorf("site lab beside LAB after the upgrade: %v", err)
	}
}

// A schema 8 file that already holds case variants is upgraded without
// losing either record: each has its folded entry (audit verify passes),
// the note and CaseVariants name every group for QA, both stay reachable by
// their exact code, and a third variant is refused.
func TestUpgradeFrom8KeepsExistingCaseVariants(t *testing.T) {
	db := newTestDB(t)
	s := NewLotService(db)
	registerUC(t, db, "LOT-W2")
	path := downgradeTo8(t, db, func(clear func()) {
		registerUC(t, db, "lot-w2")
		clear()
		registerUC(t, db, "Lot-W2")
		now := db.Now()
		if _, err := s.AddDonor("liu", lot.Donor{Code: "d-1", Site: "ward", Delivered: now.AddDate(0, 0, -10), Consented: now.AddDate(0, 0, -20)}); err != nil {
			t.Fatal(err)
		}
	})
	up, err := openUpgraded(path, Options{Timeout: time.Second, Now: db.Now})
	if err != nil {
		t.Fatalf("the upgrade of a file with case variants: %v", err)
	}
	db.engine = up.engine
	_, note, _ := up.Schema()
	for _, want := range []string{`"codes_folded":5`, "2 group(s) of codes differing only in letter case kept", "donor ids D-1 and d-1 differ only in letter case",
		"lot numbers LOT-W2, lot-w2 and Lot-W2 differ only in letter case"} {
		if !strings.Contains(note, want) {
			t.Errorf("note %s\nwant %q", note, want)
		}
	}
	vs, err := up.CaseVariants()
	if err != nil || len(vs) != 2 || vs[0].Field != "donor id" || strings.Join(vs[1].Codes, " ") != "LOT-W2 lot-w2 Lot-W2" {
		t.Errorf("case variants %+v, %v", vs, err)
	}
	if vr, err := up.Verify(); err != nil || !vr.OK() {
		t.Fatalf("verify after the upgrade: %v %v", err, vr.Problems)
	}
	us := NewLotService(up)
	for _, n := range []string{"LOT-W2", "lot-w2", "Lot-W2"} {
		if l, err := us.Lot(n); err != nil || l.Number != n {
			t.Errorf("lot %s after the upgrade: %+v %v", n, l.Number, err)
		}
	}
	_, err = us.RegisterLot("liu", lot.Registration{Number: "LOT-w2", Source: lot.SourceUC, Donor: "D-1",
		Cells: 2_000_000_000, Viability: 950, VolumeML: 1000, Manufactured: up.Now().AddDate(0, 0, -5), Expires: up.Now().AddDate(1, 0, 0)})
	if lot.ErrorCode(err) != lot.ECONFLICT || !strings.Contains(err.Error(), "differs from the registered lot number LOT-W2 only in letter case") {
		t.Errorf("a third variant: %v", err)
	}
}
