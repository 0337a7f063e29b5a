package store

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/dose"
	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/store/kv"
)

// zoneDB is newTestDB with a physician (pat), the home site LAB (no zone of
// its own) and CLINIC-CN in Asia/Shanghai, at 17:00 UTC on 25 November —
// 01:00 on 26 November in Nanjing.
func zoneDB(t *testing.T) (*DB, *DoseService) {
	t.Helper()
	db := newTestDB(t)
	addTestUser(t, db, audit.User{Name: "pat", FullName: "Dr Pat", Role: audit.Physician})
	cs := NewCustodyService(db)
	for _, s := range []lot.Site{{Code: "LAB", Name: "Lab"}, {Code: "CLINIC-CN", Name: "Nanjing", TZ: "Asia/Shanghai"}} {
		if _, err := cs.AddSite("liu", s); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Date(2026, 11, 25, 17, 0, 0, 0, time.UTC)
	db.Now = func() time.Time { return now }
	return db, NewDoseService(db)
}

func TestScheduleCountsDaysInTheTreatingSitesZone(t *testing.T) {
	db, d := zoneDB(t)
	start := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	before, _ := db.AuditCount()
	// In Nanjing it is already the 26th: the 25th is in the past there.
	_, err := d.CreateSchedule("pat", "MRN-1", "sle-uc-d0d7", start, "CLINIC-CN")
	if lot.ErrorCode(err) != lot.EINVALID || !strings.Contains(err.Error(), "today (2026-11-26 in Asia/Shanghai)") {
		t.Fatalf("start on the 25th at CLINIC-CN: %v", err)
	}
	if _, err := d.CreateSchedule("pat", "MRN-1", "sle-uc-d0d7", start, "NOWHERE"); lot.ErrorCode(err) != lot.ENOTFOUND {
		t.Fatalf("unknown site: %v", err)
	}
	if after, _ := db.AuditCount(); after != before {
		t.Fatalf("refusals wrote %d audit entries", after-before)
	}
	// At the lab, which uses the facility's zone (UTC), it is still the 25th.
	c, err := d.CreateSchedule("pat", "MRN-1", "sle-uc-d0d7", start, "LAB")
	if err != nil {
		t.Fatal(err)
	}
	if c.ZoneFrom != "facility" || lot.ZoneName(c.Zone) != "UTC" || c.Entries[0].Status != dose.Due {
		t.Fatalf("course at LAB: zone %s from %q, entry 1 %s", c.Zone, c.ZoneFrom, c.Entries[0].Status)
	}
}

func TestZoneChangesAreAuditedAndMoveTheDays(t *testing.T) {
	db, d := zoneDB(t)
	cs := NewCustodyService(db)
	// Planned on the 27th, ±1 day: due on the 26th, today in Nanjing.
	if c, err := d.CreateSchedule("pat", "MRN-1", "sle-uc-single", time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC), "CLINIC-CN"); err != nil || c.Entries[0].Status != dose.Due {
		t.Fatalf("course at CLINIC-CN: %+v, %v", c, err)
	}
	refusals := []struct {
		name         string
		actor, site  string
		zone, reason string
		code         string
		want         string
	}{
		{"a lab user may not", "liu", "CLINIC-CN", "UTC", "wrong zone", lot.EFORBIDDEN, "zone.set"},
		{"an unknown zone", "alice", "CLINIC-CN", "Asia/Nanjing", "wrong zone", lot.EINVALID, `the time zone "Asia/Nanjing" is not a time zone`},
		{"a bare offset", "alice", "CLINIC-CN", "+08:00", "wrong zone", lot.EINVALID, `the time zone "+08:00"`},
		{"the machine's zone", "alice", "CLINIC-CN", "Local", "wrong zone", lot.EINVALID, "machine's zone"},
		{"no reason", "alice", "CLINIC-CN", "UTC", " ", lot.EINVALID, "the reason"},
		{"the same zone", "alice", "CLINIC-CN", "Asia/Shanghai", "again", lot.EINVALID, "already"},
		{"an unknown site", "alice", "CLINIC-X", "UTC", "wrong zone", lot.ENOTFOUND, "CLINIC-X"},
	}
	before, _ := db.AuditCount()
	for _, r := range refusals {
		t.Run(r.name, func(t *testing.T) {
			_, err := cs.SetSiteZone(r.actor, r.site, r.zone, r.reason)
			if lot.ErrorCode(err) != r.code || !strings.Contains(err.Error(), r.want) {
				t.Fatalf("got %v, want %s naming %q", err, r.code, r.want)
			}
		})
	}
	if _, err := cs.SetFacilityZone("alice", "UTC", "again"); lot.ErrorCode(err) != lot.EINVALID {
		t.Fatalf("facility already UTC: %v", err)
	}
	if after, _ := db.AuditCount(); after != before {
		t.Fatalf("refusals wrote %d audit entries", after-before)
	}
	ch, err := cs.SetSiteZone("alice", "CLINIC-CN", "America/New_York", "clinic is in Charleston, entered wrongly")
	if err != nil {
		t.Fatal(err)
	}
	if ch.Old != "Asia/Shanghai" || ch.New != "America/New_York" || ch.ActiveCourses != 1 {
		t.Fatalf("change: %+v", ch)
	}
	es, _ := db.AuditLog("")
	last := es[len(es)-1]
	if last.Action != string(audit.ZoneSet) || last.User != "alice" ||
		last.Reason != "site CLINIC-CN time zone Asia/Shanghai → America/New_York: clinic is in Charleston, entered wrongly" {
		t.Fatalf("audit entry: %+v", last)
	}
	// 12:00 on the 25th in Charleston: the infusion of the 27th is planned
	// there, no longer due.
	_, courses, err := d.Courses("MRN-1")
	if err != nil || courses[0].Entries[0].Status != dose.Planned || courses[0].ZoneFrom != "site CLINIC-CN" {
		t.Fatalf("after the change: %+v, %v", courses, err)
	}
	// The facility's zone: LAB has none of its own, so it follows.
	fc, err := cs.SetFacilityZone("alice", "Asia/Shanghai", "facility is in Nanjing")
	if err != nil || fc.Old != "UTC" || fc.New != "Asia/Shanghai" || fc.ActiveCourses != 0 {
		t.Fatalf("facility change: %+v, %v", fc, err)
	}
	if loc, err := db.FacilityZone(); err != nil || loc.String() != "Asia/Shanghai" {
		t.Fatalf("facility zone %v, %v", loc, err)
	}
	if v, _ := db.Verify(); !v.OK() {
		t.Fatalf("audit verify: %v", v.Problems)
	}
}

// TestOpenMigratesAFileWithoutZones: a file of schema version 2 to 5 has no
// facility bucket, no site zones and no schedule sites. A read is refused
// with what to run; a writable open creates the bucket and notes that days
// stay counted in UTC, as they were; the course goes on as before and the
// admin can then set the facility's zone.
func TestOpenMigratesAFileWithoutZones(t *testing.T) {
	for from := 2; from < 6; from++ {
		t.Run(fmt.Sprintf("from version %d", from), func(t *testing.T) { migrateWithoutZones(t, from) })
	}
}

func migrateWithoutZones(t *testing.T, from int) {
	FailedPasswordDelay = 0
	path := filepath.Join(t.TempDir(), "v2.db")
	now := time.Date(2026, 11, 25, 20, 0, 0, 0, time.UTC) // 04:00 on the 26th in Nanjing
	db, err := Open(path, Options{Create: true, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	hash, err := prepareInit("G1234", audit.User{Name: "alice", FullName: "Alice"}, testPassword)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.initHashed("G1234", audit.User{Name: "alice", FullName: "Alice"}, hash, ""); err != nil {
		t.Fatal(err)
	}
	for _, u := range []audit.User{{Name: "nina", FullName: "Nina", Role: audit.Nurse}, {Name: "pat", FullName: "Pat", Role: audit.Physician}} {
		addTestUser(t, db, u)
	}
	if _, err := NewLotService(db).AddPatient("nina", lot.Patient{MRN: "MRN-1", Name: "Mei", Born: now.AddDate(-40, 0, 0), Sex: "F"}); err != nil {
		t.Fatal(err)
	}
	if _, err := NewDoseService(db).CreateSchedule("pat", "MRN-1", "sle-uc-single", time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC), ""); err != nil {
		t.Fatal(err)
	}
	err = db.engine.Update(func(tx kv.Tx) error {
		if err := tx.DeleteBucket([]byte("facility")); err != nil {
			return err
		}
		return tx.Bucket(bMeta).Put([]byte("schema"), []byte(fmt.Sprint(from)))
	})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	_, err = Open(path, Options{ReadOnly: true, Timeout: time.Second})
	if lot.ErrorCode(err) != lot.ECONFLICT || !strings.Contains(err.Error(), fmt.Sprintf("schema version %d; this celltrack needs %d", from, SchemaVersion)) {
		t.Fatalf("read-only open of a version %d file: %v", from, err)
	}
	up, err := openUpgraded(path, Options{Timeout: time.Second, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatalf("writable open of a version %d file: %v", from, err)
	}
	defer up.Close()
	v, note, err := up.Schema()
	if err != nil || v != SchemaVersion || !strings.Contains(note, fmt.Sprintf(`"from":%d`, from)) || !strings.Contains(note, `"facility_time_zone":"UTC`) ||
		!strings.Contains(note, `"facility"`) {
		t.Fatalf("schema %d, note %q, %v", v, note, err)
	}
	if loc, err := up.FacilityZone(); err != nil || loc != time.UTC {
		t.Fatalf("facility zone after the upgrade: %v, %v", loc, err)
	}
	d := NewDoseService(up)
	_, cs, err := d.Courses("MRN-1")
	if err != nil || cs[0].Entries[0].Status != dose.Due || cs[0].ZoneFrom != "facility" {
		t.Fatalf("the course after the upgrade, counted in UTC: %+v, %v", cs, err)
	}
	if ch, err := NewCustodyService(up).SetFacilityZone("alice", "Asia/Shanghai", "the facility is in Nanjing"); err != nil || ch.Old != "UTC" || ch.ActiveCourses != 1 {
		t.Fatalf("set the facility's zone: %+v, %v", ch, err)
	}
	// In Nanjing it is the 26th: the single infusion of the 25th (±1 day)
	// is still due, and the course now says where its days are counted.
	if _, cs, err = d.Courses("MRN-1"); err != nil || cs[0].Entries[0].Status != dose.Due || lot.ZoneName(cs[0].Zone) != "Asia/Shanghai" {
		t.Fatalf("after setting the zone: %+v, %v", cs, err)
	}
	if v, _ := up.Verify(); !v.OK() {
		t.Errorf("audit verify after the upgrade: %v", v.Problems)
	}
	for _, err := range up.Check() {
		t.Errorf("bbolt check: %v", err)
	}
}

// Review 11, findings 1 and 3: a lot's expiry instant is counted in the
// facility's zone that the transaction reading the lot finds, never in a
// zone a process read when it started. setter is the handle that sets the
// zone (a server's), checker the one that reads the lot and dispenses
// (the same handle, or another process on the same PostgreSQL database).
func checkExpiryFollowsTheZoneRead(t *testing.T, setter, checker *DB) {
	t.Helper()
	if _, err := NewCustodyService(setter).AddSite("liu", lot.Site{Code: "LAB", Name: "Lab"}); err != nil {
		t.Fatal(err)
	}
	l, err := NewLotService(checker).Lot("LOT-1")
	if err != nil {
		t.Fatal(err)
	}
	// 20:00 UTC on the eve of the expiry date: 04:00 on it in Nanjing.
	y, m, d := l.Expires.UTC().Date()
	now := time.Date(y, m, d-1, 20, 0, 0, 0, time.UTC)
	setter.Now = func() time.Time { return now }
	checker.Now = setter.Now
	dispense(t, setter, "G12342600000102", now.Add(-30*time.Minute), 100_000_000, "")
	if l, err = NewLotService(checker).Lot("LOT-1"); err != nil || l.Expired(now) || lot.ZoneName(l.FacilityZone.Location()) != "UTC" {
		t.Fatalf("before the change: %v, zone %s, expired %v", err, lot.ZoneName(l.FacilityZone.Location()), l.Expired(now))
	}
	if _, err := NewCustodyService(setter).SetFacilityZone("alice", "Asia/Shanghai", "the facility is in Nanjing"); err != nil {
		t.Fatal(err)
	}
	if l, err = NewLotService(checker).Lot("LOT-1"); err != nil || !l.Expired(now) || lot.ZoneName(l.FacilityZone.Location()) != "Asia/Shanghai" {
		t.Fatalf("after the change: %v, zone %s, expired %v", err, lot.ZoneName(l.FacilityZone.Location()), l.Expired(now))
	}
	ls, err := NewLotService(checker).Lots(lot.LotFilter{})
	if err != nil || len(ls) == 0 || lot.ZoneName(ls[0].FacilityZone.Location()) != "Asia/Shanghai" {
		t.Fatalf("lot list: %v %v", ls, err)
	}
	before, _ := checker.AuditCount()
	_, err = NewCustodyService(checker).Dispense("liu", "G12342600000102", "MRN-1")
	want := fmt.Sprintf("lot LOT-1 expired at %04d-%02d-%02d 00:00 +08:00; do not use it", y, m, d)
	if lot.ErrorCode(err) != lot.ECONFLICT || !strings.Contains(lot.ErrorMessage(err), want) {
		t.Fatalf("dispense on the expiry date in Nanjing: %v, want ECONFLICT %q", err, want)
	}
	if after, _ := checker.AuditCount(); after != before {
		t.Errorf("the refused dispense wrote %d audit entries", after-before)
	}
	c, _, err := NewCustodyService(checker).History("G12342600000102")
	if err != nil || c.State != lot.Thawed || c.PatientID != (lot.Patient{}).ID {
		t.Errorf("after the refused dispense: %s for %s, %v", c.State, c.PatientID, err)
	}
}

func TestLotExpiryFollowsTheFacilityZoneItsTransactionReads(t *testing.T) {
	db, _ := bedside(t, "0.5")
	checkExpiryFollowsTheZoneRead(t, db, db)
}

// Two servers on one PostgreSQL database: the zone one sets is the zone
// the other's next transaction counts a lot's expiry in.
func TestTwoHandlesOnPostgresAgreeOnALotsExpiry(t *testing.T) {
	t.Setenv(envEngine, "postgres")
	siteA, _ := bedside(t, "0.5")
	siteB, err := Open(siteA.Path(), Options{Now: siteA.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer siteB.Close()
	checkExpiryFollowsTheZoneRead(t, siteA, siteB)
}
