package store

import (
	"strings"
	"testing"

	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/store/kv"
)

// meta "facility" changed outside celltrack is held against the FIN init's
// entry recorded: verify names both, and no DIN is issued with it, nothing
// written (review13 D).
func TestFacilityFINHeldAgainstInitsEntry(t *testing.T) {
	db := newTestDB(t)
	registerUC(t, db, "LOT-1") // a DIN of the facility's own
	if v, err := db.Verify(); err != nil || !v.OK() {
		t.Fatalf("setup: %v %v", err, v.Problems)
	}
	if err := db.engine.Update(func(tx kv.Tx) error { return tx.Bucket(bMeta).Put([]byte("facility"), []byte("G9999")) }); err != nil {
		t.Fatal(err)
	}
	v, err := db.Verify()
	if err != nil || v.OK() || !strings.Contains(strings.Join(v.Problems, "\n"), `is "G9999", but the audit trail recorded "G1234"`) {
		t.Errorf("verify after meta facility set to G9999: %v %q", err, v.Problems)
	}
	before, _ := db.TreeHead()
	now := db.Now()
	_, err = NewLotService(db).RegisterLot("liu", lot.Registration{Number: "LOT-2", Source: lot.SourceUC, Donor: "D-1",
		Cells: 2_000_000_000, Viability: 950, VolumeML: 1000, Manufactured: now.AddDate(0, 0, -5), Expires: now.AddDate(1, 0, 0)})
	if lot.ErrorCode(err) != lot.ECONFLICT || !strings.Contains(lot.ErrorMessage(err), "G9999") {
		t.Errorf("lot register with meta facility G9999: %v, want ECONFLICT naming it", err)
	}
	if after, _ := db.TreeHead(); after != before {
		t.Errorf("the refused register wrote: %d → %d entries", before.Size, after.Size)
	}
}

// An import issues its DINs after one check of the facility's FIN
// (writer.fin): with meta "facility" changed outside celltrack the first
// row is refused, naming the FIN, and nothing of the import is written.
func TestImportRefusedWhenFacilityChanged(t *testing.T) {
	db := newTestDB(t)
	if err := db.engine.Update(func(tx kv.Tx) error { return tx.Bucket(bMeta).Put([]byte("facility"), []byte("G9999")) }); err != nil {
		t.Fatal(err)
	}
	before, _ := db.TreeHead()
	_, err := NewLotService(db).Import("liu", importRows("F", 3, db.Now()))
	if lot.ErrorCode(err) != lot.EINVALID || !strings.Contains(lot.ErrorMessage(err), "line 2:") || !strings.Contains(lot.ErrorMessage(err), "G9999") {
		t.Errorf("import with meta facility G9999: %v, want the rows refused naming it", err)
	}
	if after, _ := db.TreeHead(); after != before {
		t.Errorf("the refused import wrote: %d → %d entries", before.Size, after.Size)
	}
	if ls, err := NewLotService(db).Lots(lot.LotFilter{}); err != nil || len(ls) != 0 {
		t.Errorf("lots after the refused import: %d, %v", len(ls), err)
	}
}
