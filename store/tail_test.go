package store

import (
	"context"
	"fmt"
	"reflect"
	"testing"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/lot"
	"github.com/google/uuid"
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
			es, total, err := db.AuditTail("alice", entity, n)
			if err != nil {
				t.Fatalf("AuditTail(%q, %d): %v", entity, n, err)
			}
			want := all[max(0, len(all)-n):]
			if total != len(all) || !reflect.DeepEqual(es, want) {
				t.Errorf("AuditTail(%q, %d): %d entries of %d, want the last %d of %d\n got %+v\nwant %+v", entity, n, len(es), total, len(want), len(all), es, want)
			}
		}
	}
	if _, _, err := db.AuditTail("alice", "LOT-NONE", 5); lot.ErrorCode(err) != lot.ENOTFOUND {
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

// TestAuditLogShownToTheReader: the audit log is the one its reader may
// read (audit.Shown). The admin and the auditor read every entry; a nurse
// reads every record's history and her own account's, but no entry of
// another person's account (its logins, wrong passwords, lock) nor of a
// name no account has — in the whole trail, whose tail and count leave
// them out too, and by name, refused. Users12 kept the same state out of
// the nurse's `user list`.
func TestAuditLogShownToTheReader(t *testing.T) {
	db := newTestDB(t)
	addTestUser(t, db, audit.User{Name: "aud", FullName: "Ada", Role: audit.Auditor})
	registerUC(t, db, "LOT-S1")
	for _, name := range []string{"liu", "liu", "liu", "liu", "liu", "nina", "nobody"} {
		if _, _, err := db.Login(name, "not-the-password", nil); lot.ErrorCode(err) != lot.EAUTH {
			t.Fatalf("wrong password for %s: %v", name, err)
		}
	}
	all, err := db.AuditLog("")
	if err != nil {
		t.Fatal(err)
	}
	nina, err := db.User("nina")
	if err != nil {
		t.Fatal(err)
	}
	read := func(reader, entity string) ([]audit.Entry, error) {
		var es []audit.Entry
		err := db.EachAuditEntry(context.Background(), reader, entity, func(e audit.Entry) error {
			es = append(es, e)
			return nil
		})
		return es, err
	}
	for _, reader := range []string{"alice", "aud"} {
		if es, err := read(reader, ""); err != nil || len(es) != len(all) {
			t.Errorf("%s reads %d entries of %d (%v)", reader, len(es), len(all), err)
		}
		if es, err := read(reader, "liu"); err != nil || len(es) < 7 {
			t.Errorf("%s reads %d entries of liu's account (%v)", reader, len(es), err)
		}
	}
	shown, err := read("nina", "")
	if err != nil {
		t.Fatal(err)
	}
	var hidden, own, records int
	for _, e := range all {
		switch {
		case audit.AboutAccount(e) && e.ID != nina.ID:
			hidden++
		case audit.AboutAccount(e):
			own++
		default:
			records++
		}
	}
	if hidden < 7 || own < 3 || len(shown) != own+records {
		t.Errorf("nina reads %d entries, want her own account's %d and the records' %d (the trail's %d, of which %d about other accounts)", len(shown), own, records, len(all), hidden)
	}
	for _, e := range shown {
		if audit.AboutAccount(e) && e.ID != nina.ID {
			t.Errorf("nina reads #%d %s of another account", e.Seq, e.Action)
		}
	}
	for _, n := range []int{1, 2, len(shown), len(shown) + 5} {
		es, total, err := db.AuditTail("nina", "", n)
		want := shown[max(0, len(shown)-n):]
		if err != nil || total != len(shown) || !reflect.DeepEqual(es, want) {
			t.Errorf("AuditTail(nina, \"\", %d): %d entries of %d (%v), want the last %d of %d", n, len(es), total, err, len(want), len(shown))
		}
	}
	if es, err := read("nina", "nina"); err != nil || len(es) != own {
		t.Errorf("nina reads %d entries of her own account, want %d (%v)", len(es), own, err)
	}
	for _, entity := range []string{"liu", "alice", uuid.Nil.String()} {
		if _, err := read("nina", entity); lot.ErrorCode(err) != lot.EFORBIDDEN || lot.ErrorField(err) != "entity" {
			t.Errorf("nina's audit log of %s: %v, want EFORBIDDEN on entity", entity, err)
		}
		if _, _, err := db.AuditTail("nina", entity, 5); lot.ErrorCode(err) != lot.EFORBIDDEN {
			t.Errorf("nina's audit tail of %s: %v, want EFORBIDDEN", entity, err)
		}
	}
	if _, err := read("nobody", ""); lot.ErrorCode(err) != lot.EFORBIDDEN {
		t.Errorf("the audit log of an unknown reader: %v, want EFORBIDDEN", err)
	}
}
