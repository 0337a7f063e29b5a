package store

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/celltrack/celltrack/lot"
)

// TestAuditTailIsTheEndOfAuditLog: AuditTail(entity, n) is the last n
// entries AuditLog(entity) returns, with their values and previous hashes
// filled as AuditLog fills them, and its count — for the whole trail and
// for one record, n below, at and above the count. Review 9: the audit log
// page read the whole trail of the 100k database to list its last 1,000.
func TestAuditTailIsTheEndOfAuditLog(t *testing.T) {
	db := newTestDB(t)
	for i := range 3 {
		registerUC(t, db, fmt.Sprintf("LOT-T%d", i))
	}
	for _, entity := range []string{"", "LOT-T1", "MRN-1", "liu"} {
		all, err := db.AuditLog(entity)
		if err != nil || len(all) == 0 {
			t.Fatalf("AuditLog(%q): %d entries, %v", entity, len(all), err)
		}
		for _, n := range []int{0, 1, 2, len(all), len(all) + 5} {
			es, total, err := db.AuditTail(entity, n)
			if err != nil {
				t.Fatalf("AuditTail(%q, %d): %v", entity, n, err)
			}
			want := all[max(0, len(all)-n):]
			if total != len(all) || !reflect.DeepEqual(es, want) {
				t.Errorf("AuditTail(%q, %d): %d entries of %d, want the last %d of %d\n got %+v\nwant %+v", entity, n, len(es), total, len(want), len(all), es, want)
			}
		}
	}
	if _, _, err := db.AuditTail("LOT-NONE", 5); lot.ErrorCode(err) != lot.ENOTFOUND {
		t.Errorf("AuditTail of no such record: %v, want ENOTFOUND", err)
	}
}

// TestLotsLastAreTheNewest: a filter's Last keeps the newest matching lots
// in registration order, as the end of the whole list; 0 keeps every one.
func TestLotsLastAreTheNewest(t *testing.T) {
	db := newTestDB(t)
	s := NewLotService(db)
	for i := range 5 {
		registerUC(t, db, fmt.Sprintf("LOT-L%d", i))
	}
	all, err := s.Lots(lot.LotFilter{})
	if err != nil || len(all) != 5 {
		t.Fatalf("Lots: %d, %v", len(all), err)
	}
	for _, n := range []int{1, 3, 5, 9} {
		ls, err := s.Lots(lot.LotFilter{Last: n})
		if want := all[max(0, 5-n):]; err != nil || !reflect.DeepEqual(ls, want) {
			t.Errorf("Lots(Last %d): %v %v, want %v", n, numbers(ls), err, numbers(want))
		}
	}
	if ls, err := s.Lots(lot.LotFilter{Status: lot.Released, Last: 2}); err != nil || len(ls) != 0 {
		t.Errorf("Lots(released, Last 2) with none released: %v %v", numbers(ls), err)
	}
}

func numbers(ls []lot.Lot) []string {
	var out []string
	for _, l := range ls {
		out = append(out, l.Number)
	}
	return out
}
