package store

import (
	"strings"
	"testing"
	"time"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/dose"
	"github.com/celltrack/celltrack/store/kv"
)

// storedSchedule reads MRN-1's only schedule record as stored.
func storedSchedule(t *testing.T, db *DB) scheduleRecord {
	t.Helper()
	var r scheduleRecord
	err := db.view(func(tx kv.Tx) error {
		p, err := patientByMRN(tx, "MRN-1")
		if err != nil {
			return err
		}
		ids := childrenOf(tx, "idx_schedule_patient", p.ID, kindSchedule)
		if len(ids) != 1 {
			t.Fatalf("%d schedules", len(ids))
		}
		_, err = get(tx, kindSchedule, ids[0], &r)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestScheduleListsInfusionsGiven: a course stored before schedules listed
// their infusions gets its list at its next infusion; from then on an
// index row deleted behind celltrack's back (or one added) makes the bedside
// check NO-GO, naming the infusion, while the course, `schedule show` and
// the infusion numbers still follow the audited list.
func TestScheduleListsInfusionsGiven(t *testing.T) {
	db, d := bedside(t, "0.5")
	if r := storedSchedule(t, db); r.V != 2 || len(r.Given) != 0 {
		t.Fatalf("a new schedule is stored as v%d with %v, want v2 with an empty list", r.V, r.Given)
	}
	// As a schema 12 database holds it: version 1, no list.
	legacy := storedSchedule(t, db).schedule()
	legacy.GivenListed = false
	asAdmin(t, db, func(w *writer) error {
		return w.put(kindSchedule, legacy.ID, "test.schedule", "as stored before schema 13", toScheduleRecord(legacy))
	})
	if r := storedSchedule(t, db); r.V != 1 {
		t.Fatalf("legacy schedule stored as v%d", r.V)
	}
	nina, omar := mustUser(t, db, "nina"), mustUser(t, db, "omar")
	in, _, err := d.Administer(nina, omar, dose.Administration{MRN: "MRN-1", Containers: []string{bag1}})
	if err != nil {
		t.Fatal(err)
	}
	r := storedSchedule(t, db)
	if r.V != 2 || len(r.Given) != 1 || r.Given[0].Infusion != 1 || r.Given[0].InfusionID != in.ID {
		t.Fatalf("after the infusion the schedule is v%d with %+v, want v2 listing infusion 1 %s", r.V, r.Given, in.ID)
	}
	verifyOK(t, db)

	// The patient's index row of infusion 1 deleted outside celltrack.
	var key []byte
	if err := db.engine.Update(func(tx kv.Tx) error {
		p, _ := patientByMRN(tx, "MRN-1")
		key = append(append([]byte(nil), p.ID[:]...), in.ID[:]...)
		return tx.Bucket([]byte("idx_infusion_patient")).Delete(key)
	}); err != nil {
		t.Fatal(err)
	}
	dispense(t, db, bag2, db.Now().Add(-10*time.Minute), 100_000_000, "MRN-1")
	_, cs, err := d.Courses("MRN-1")
	if err != nil || cs[0].Entries[0].Status != dose.Given || cs[0].Entries[0].Given.InfusionID != in.ID || len(cs[0].IndexLacks) != 1 {
		t.Fatalf("course with the index cut: %v %+v", err, cs)
	}
	ins, _, err := d.Infusions("MRN-1")
	if err != nil || len(ins) != 1 || ins[0].ID != in.ID {
		t.Fatalf("Infusions with the index cut: %v %v", ins, err)
	}
	rep, err := d.Check("MRN-1", []string{bag2}, 0)
	if err != nil || rep.GO || !strings.Contains(strings.Join(failed(rep), "\n"), "infusions on record") ||
		!strings.Contains(rep.Err().Error(), "it lacks infusion 1 ("+in.ID.String()+")") {
		t.Fatalf("check with the index cut: %v GO=%v %v", err, rep.GO, rep.Err())
	}
	if _, _, err := d.Administer(nina, omar, dose.Administration{MRN: "MRN-1", Containers: []string{bag2}}); err == nil || !strings.Contains(err.Error(), "disagrees with the audited schedule") {
		t.Fatalf("administer with the index cut: %v", err)
	}

	// The row put back: GO again as far as the list goes (infusion 2 is not due).
	if err := db.engine.Update(func(tx kv.Tx) error { return tx.Bucket([]byte("idx_infusion_patient")).Put(key, nil) }); err != nil {
		t.Fatal(err)
	}
	if rep, _ := d.Check("MRN-1", []string{bag2}, 0); strings.Contains(strings.Join(failed(rep), "\n"), "infusions on record") {
		t.Fatalf("index restored, still: %v", rep.Err())
	}
	// A list that lacks an infusion the index holds disagrees too.
	sc := storedSchedule(t, db).schedule()
	sc.Given = nil
	asAdmin(t, db, func(w *writer) error {
		return w.put(kindSchedule, sc.ID, "test.schedule", "list emptied", toScheduleRecord(sc))
	})
	if rep, _ := d.Check("MRN-1", []string{bag2}, 0); rep.GO || !strings.Contains(rep.Err().Error(), "which the schedule does not record") {
		t.Fatalf("index lists an infusion the schedule does not: %v", rep.Err())
	}
}

// TestUpgradeFromVersion12: a file of schema 12 with a course and an
// infusion upgrades rewriting no record; its course, stored without
// a list, gets one at its next infusion (TestScheduleListsInfusionsGiven).
func TestUpgradeFromVersion12(t *testing.T) {
	encodeEntry = (*audit.Entry).EncodeSchema13
	db, _ := bedside(t, "0.5")
	encodeEntry = (*audit.Entry).Encode
	defer func() { encodeEntry = (*audit.Entry).Encode }()
	if err := db.engine.Update(func(tx kv.Tx) error { return tx.Bucket(bMeta).Put([]byte("schema"), []byte("12")) }); err != nil {
		t.Fatal(err)
	}
	before := storedSchedule(t, db)
	path, now := db.Path(), db.Now
	db.Close()
	up, _, err := OpenForUpgrade(path, Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	v, note, err := up.Upgrade("alice")
	if err != nil || v != SchemaVersion || !strings.Contains(note, `"from":12`) || !strings.Contains(note, "13: a schedule record (version 2) lists the infusions given on it") ||
		strings.Contains(note, "12: audit entries") {
		t.Fatalf("upgrade: %d %v %s", v, err, note)
	}
	verifyOK(t, up)
	if after := storedSchedule(t, up); after.V != before.V || len(after.Given) != len(before.Given) {
		t.Fatalf("the upgrade rewrote the schedule: %+v → %+v", before, after)
	}
}
