package store

import (
	"slices"
	"strings"
	"testing"

	"github.com/celltrack/celltrack/dose"
	"github.com/celltrack/celltrack/store/kv"
	"github.com/google/uuid"
)

// verifyNames fails unless verify fails naming want.
func verifyNames(t *testing.T, db *DB, want string) {
	t.Helper()
	v, err := db.Verify()
	if err != nil {
		t.Fatal(err)
	}
	if all := strings.Join(v.Problems, "\n"); !strings.Contains(all, want) {
		t.Errorf("verify does not name %q:\n%s", want, all)
	}
}

// rawEntity deletes (del) or puts an audit_entity row outside celltrack.
func rawEntity(t *testing.T, db *DB, key []byte, del bool) {
	t.Helper()
	if err := db.engine.Update(func(tx kv.Tx) error {
		if del {
			return tx.Bucket(bAuditEntity).Delete(key)
		}
		return tx.Bucket(bAuditEntity).Put(key, nil)
	}); err != nil {
		t.Fatal(err)
	}
}

// Review 8 (finding 2a): audit_entity must list every audit entry exactly
// once; a row deleted or added outside celltrack is named.
func TestVerifyAuditEntityListsEveryEntry(t *testing.T) {
	db, d := bedside(t, "0.5")
	in, _, err := d.Administer(mustUser(t, db, "nina"), mustUser(t, db, "omar"), dose.Administration{MRN: "MRN-1", Containers: []string{bag1}})
	if err != nil {
		t.Fatal(err)
	}
	verifyOK(t, db)
	var row []byte
	db.view(func(tx kv.Tx) error {
		k, _ := tx.Bucket(bAuditEntity).Cursor().Seek(in.ID[:])
		row = append([]byte(nil), k...)
		return nil
	})
	seq := btoi(row[16:])
	// PostgreSQL's audit_entity is append-only (a trigger refuses DELETE):
	// there only an added row is tried.
	pg := IsPostgres(db.Path())
	if !pg {
		rawEntity(t, db, row, true)
		verifyNames(t, db, "audit_entity does not list audit entry "+itoa(int64(seq))+" (of "+in.ID.String()+")")
		rawEntity(t, db, row, false)
		verifyOK(t, db)
	}
	extra := append(append([]byte(nil), row[:16]...), itob(seq+1000)...)
	rawEntity(t, db, extra, false)
	verifyNames(t, db, "is no audit entry's")
	if !pg {
		rawEntity(t, db, extra, true)
		verifyOK(t, db)
	}
}

// Review 8 (finding 2b): an infusion its schedule's audited list does not
// name is found, even when every record matches its latest audit entry; so
// are, the other way, a listed infusion whose record has another number
// and a listed infusion no record answers (givenLists, fed by the parse
// the signature check makes).
func TestVerifyInfusionNotOnItsScheduleList(t *testing.T) {
	db, d := bedside(t, "0.5")
	in, _, err := d.Administer(mustUser(t, db, "nina"), mustUser(t, db, "omar"), dose.Administration{MRN: "MRN-1", Containers: []string{bag1}})
	if err != nil {
		t.Fatal(err)
	}
	verifyOK(t, db)
	s := storedSchedule(t, db).schedule()
	listed := slices.Clone(s.Given)
	put := func(reason string) {
		asAdmin(t, db, func(w *writer) error {
			return w.put(kindSchedule, s.ID, "test.schedule", reason, toScheduleRecord(s))
		})
	}
	s.Given = nil // v2, an empty list: as put back to before the infusion
	put("list emptied")
	verifyNames(t, db, "infusion "+in.ID.String()+" (infusion 1) names schedule "+s.ID.String()+", whose audited list of infusions given does not list it")
	s.Given = slices.Clone(listed)
	s.Given[0].Number = 2
	put("renumbered")
	verifyNames(t, db, "schedule "+s.ID.String()+" lists infusion "+in.ID.String()+" as infusion 2, but the infusion record is infusion 1")
	s.Given = append(slices.Clone(listed), dose.GivenInfusion{Number: 2, InfusionID: uuid.New()})
	put("a second infusion listed")
	verifyNames(t, db, "schedule "+s.ID.String()+" lists infusion "+s.Given[1].InfusionID.String()+" as infusion 2, but no stored infusion record of that schedule has that id")
	s.Given = listed
	put("list put back")
	verifyOK(t, db)
}
