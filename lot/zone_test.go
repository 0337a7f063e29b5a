package lot

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
	_ "time/tzdata"
)

func TestLoadZone(t *testing.T) {
	for _, tc := range []struct {
		in, want string // want: the zone's name, or a part of the refusal
		ok       bool
	}{
		{"Asia/Shanghai", "Asia/Shanghai", true},
		{" America/New_York ", "America/New_York", true},
		{"UTC", "UTC", true},
		{"Etc/GMT-8", "its sign is inverted", false},
		{"Etc/UTC", "fixed offset", false},
		{"EST", "not the IANA name of a place", false},
		{"CST6CDT", "not the IANA name of a place", false},
		{"posix/Asia/Shanghai", "not the IANA name of a place", false},
		{"right/Asia/Shanghai", "not the IANA name of a place", false},
		{"Factory", "not the IANA name of a place", false},
		{"posixrules", "not the IANA name of a place", false},
		{"", "is empty", false},
		{"Local", "the machine's zone", false},
		{"local", "the machine's zone", false},
		{"Asia/Nanjing", "not a time zone in the IANA database", false},
		{"+08:00", "fixed UTC offset", false},
		{"UTC+8", "fixed UTC offset", false},
		{"GMT-05:00", "fixed UTC offset", false},
		{"../../etc/passwd", "contains '.'", false},
		{"Asia/Shang hai", "contains ' '", false},
	} {
		loc, err := LoadZone("--tz", tc.in)
		switch {
		case tc.ok && (err != nil || loc.String() != tc.want):
			t.Errorf("LoadZone(%q) = %v, %v; want %s", tc.in, loc, err, tc.want)
		case !tc.ok && (err == nil || ErrorCode(err) != EINVALID || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "--tz")):
			t.Errorf("LoadZone(%q) = %v, %v; want EINVALID naming %q", tc.in, loc, err, tc.want)
		}
	}
}

func TestFormatTimeIn(t *testing.T) {
	zone := func(n string) *time.Location { l, _ := time.LoadLocation(n); return l }
	for _, tc := range []struct {
		at   string
		loc  *time.Location
		want string
	}{
		{"2026-12-09T23:00:00Z", zone("Asia/Shanghai"), "2026-12-10 07:00 +08:00"},
		{"2026-12-09T23:00:00Z", time.UTC, "2026-12-09 23:00 UTC"},
		{"2026-12-09T23:00:00Z", nil, "2026-12-09 23:00 UTC"},
		{"2026-11-01T05:30:00Z", zone("America/New_York"), "2026-11-01 01:30 -04:00"},
		{"2026-11-01T06:30:00Z", zone("America/New_York"), "2026-11-01 01:30 -05:00"},
		{"2027-03-14T07:30:00Z", zone("America/New_York"), "2027-03-14 03:30 -04:00"},
		{"2027-01-15T12:00:00Z", zone("Europe/London"), "2027-01-15 12:00 UTC"},
	} {
		at, _ := time.Parse(time.RFC3339, tc.at)
		if got := FormatTimeIn(at, tc.loc); got != tc.want {
			t.Errorf("FormatTimeIn(%s, %v) = %q, want %q", tc.at, tc.loc, got, tc.want)
		}
	}
	if got := FormatTimeIn(time.Time{}, time.UTC); got != "-" {
		t.Errorf("zero time: %q", got)
	}
}

// A lot expires when its expiry date begins at the facility: in Nanjing at
// 00:00 +08:00 (16:00 UTC the day before), in New York at 00:00 -05:00.
// The zone is the one the lot was read with (FacilityZone), never the
// process's display zone.
func TestLotExpiresAtTheFacilitysMidnight(t *testing.T) {
	SetDisplayZone(mustZone(t, "Pacific/Kiritimati")) // +14:00: must not matter
	defer SetDisplayZone(nil)
	expires := time.Date(2027, 11, 10, 0, 0, 0, 0, time.UTC) // --expires 2027-11-10
	for _, tc := range []struct {
		zone    string
		at      string
		expired bool
	}{
		{"UTC", "2027-11-09T23:59:59Z", false},
		{"UTC", "2027-11-10T00:00:00Z", true},
		{"Asia/Shanghai", "2027-11-09T15:59:59Z", false},
		{"Asia/Shanghai", "2027-11-09T16:00:00Z", true},
		{"America/New_York", "2027-11-10T04:59:59Z", false},
		{"America/New_York", "2027-11-10T05:00:00Z", true},
	} {
		loc := mustZone(t, tc.zone)
		l := Lot{Status: Released, Expires: expires, FacilityZone: ZoneOf(loc)}
		at, _ := time.Parse(time.RFC3339, tc.at)
		if got := l.Expired(at); got != tc.expired {
			t.Errorf("%s at %s (%s there): expired %v, want %v", tc.zone, tc.at, at.In(loc).Format("2006-01-02 15:04"), got, tc.expired)
		}
		if got := l.Usable(at); got == tc.expired {
			t.Errorf("%s at %s: usable %v", tc.zone, tc.at, got)
		}
	}
}

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := LoadZone("zone", name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// Review 11, finding 3: at a place of use east of the facility the lot
// expires when its expiry date begins there; west of it, at the facility's
// midnight, which comes first. The bedside check's line names the instant
// in the zone whose midnight it is.
func TestLotExpiresAtTheFirstMidnightOfFacilityAndPlaceOfUse(t *testing.T) {
	expires := time.Date(2027, 11, 10, 0, 0, 0, 0, time.UTC)
	p := Patient{MRN: "MRN-1"}
	for _, tc := range []struct {
		facility, site string
		at             string
		expired        bool
		detail         string
	}{
		// Facility at UTC, clinic in Nanjing (east): 16:00 UTC the day before.
		{"UTC", "Asia/Shanghai", "2027-11-09T15:59:59Z", false, "lot LOT-1 expires 2027-11-10 00:00 +08:00, when its expiry date begins where it is used (Asia/Shanghai)"},
		{"UTC", "Asia/Shanghai", "2027-11-09T16:00:00Z", true, "lot LOT-1 expired at 2027-11-10 00:00 +08:00, when its expiry date begins where it is used (Asia/Shanghai)"},
		// Facility in Nanjing, clinic in New York (west): the facility's midnight comes first.
		{"Asia/Shanghai", "America/New_York", "2027-11-09T16:00:00Z", true, "lot LOT-1 expired at 2027-11-10 00:00 +08:00"},
		{"Asia/Shanghai", "America/New_York", "2027-11-09T15:59:59Z", false, "lot LOT-1 expires 2027-11-10 00:00 +08:00"},
		// Facility in New York, clinic at UTC (east of it).
		{"America/New_York", "UTC", "2027-11-10T00:00:00Z", true, "lot LOT-1 expired at 2027-11-10 00:00 UTC, when its expiry date begins where it is used (UTC)"},
		{"America/New_York", "UTC", "2027-11-09T23:59:59Z", false, "lot LOT-1 expires 2027-11-10 00:00 UTC, when its expiry date begins where it is used (UTC)"},
		// The place of use in the facility's zone: the facility's midnight.
		{"Asia/Shanghai", "Asia/Shanghai", "2027-11-09T16:00:00Z", true, "lot LOT-1 expired at 2027-11-10 00:00 +08:00"},
	} {
		l := Lot{Number: "LOT-1", Source: SourceUC, Status: Released, Expires: expires, FacilityZone: ZoneOf(mustZone(t, tc.facility))}
		site := mustZone(t, tc.site)
		at, _ := time.Parse(time.RFC3339, tc.at)
		if got := l.Expired(at, site); got != tc.expired {
			t.Errorf("facility %s, used in %s, at %s: expired %v, want %v", tc.facility, tc.site, tc.at, got, tc.expired)
		}
		use := CheckLotUse(l, p, at, site)
		last := use[len(use)-1]
		if last.Name != "lot not expired" || last.OK == tc.expired || last.Detail != tc.detail {
			t.Errorf("facility %s, used in %s, at %s: %+v, want OK %v and %q", tc.facility, tc.site, tc.at, last, !tc.expired, tc.detail)
		}
		if err := CheckDispense(Container{State: Thawed}, l, p, at, site); (err != nil) != tc.expired {
			t.Errorf("facility %s, used in %s, at %s: dispense %v, want refused %v", tc.facility, tc.site, tc.at, err, tc.expired)
		}
	}
}

// Where a daylight-saving change skips midnight (Santiago moves from
// 00:00 -04:00 to 01:00 -03:00 on 6 September 2026), the expiry date begins
// at the jump, 04:00 UTC — not at 23:00 of the day before, which
// time.Date gives for the 00:00 that does not exist. Where midnight exists
// on a change day (New York, 1 November 2026, falls back at 02:00), 00:00
// keeps the summer offset.
func TestLotExpiresWhenItsDateBeginsAcrossDaylightSaving(t *testing.T) {
	for _, tc := range []struct {
		zone    string
		expires time.Time
		want    string
	}{
		{"America/Santiago", time.Date(2026, 9, 6, 0, 0, 0, 0, time.UTC), "2026-09-06T04:00:00Z"},
		{"America/Havana", time.Date(2026, 3, 8, 0, 0, 0, 0, time.UTC), "2026-03-08T05:00:00Z"},
		{"America/New_York", time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), "2026-11-01T04:00:00Z"},
		{"America/New_York", time.Date(2026, 3, 8, 0, 0, 0, 0, time.UTC), "2026-03-08T05:00:00Z"},
	} {
		loc := mustZone(t, tc.zone)
		l := Lot{Expires: tc.expires, FacilityZone: ZoneOf(loc)}
		got := l.ExpiresAt()
		if got.UTC().Format(time.RFC3339) != tc.want {
			t.Errorf("%s, expires %s: %s (%s there), want %s", tc.zone, FormatDate(tc.expires), got.UTC().Format(time.RFC3339), got.In(loc), tc.want)
		}
		if d := got.In(loc).Format(DateLayout); d != FormatDate(tc.expires) {
			t.Errorf("%s: the expiry instant falls on %s there, not on the expiry date", tc.zone, d)
		}
		if before := got.Add(-time.Second).In(loc).Format(DateLayout); before == FormatDate(tc.expires) {
			t.Errorf("%s: a second before the expiry instant is already the expiry date there", tc.zone)
		}
		// Used at a site in the same zone: the same instant.
		if at := l.ExpiresAt(loc); !at.Equal(got) {
			t.Errorf("%s: at a site in the facility's zone %s, want %s", tc.zone, at, got)
		}
	}
}

// A lot read through a server carries the zone the server's transaction
// read: its FacilityZone travels as the IANA name.
func TestZoneTravelsAsItsName(t *testing.T) {
	l := Lot{Number: "LOT-1", FacilityZone: ZoneOf(mustZone(t, "Asia/Shanghai"))}
	b, err := json.Marshal(l)
	if err != nil || !strings.Contains(string(b), `"FacilityZone":"Asia/Shanghai"`) {
		t.Fatalf("%s %v", b, err)
	}
	var back Lot
	if err := json.Unmarshal(b, &back); err != nil || back != l {
		t.Fatalf("round trip: %+v %v, want %+v", back, err, l)
	}
	var utc Lot
	if err := json.Unmarshal([]byte(`{"FacilityZone":"UTC"}`), &utc); err != nil || utc.FacilityZone != (Zone{}) {
		t.Errorf("UTC: %+v %v", utc.FacilityZone, err)
	}
	if err := json.Unmarshal([]byte(`{"FacilityZone":"Mars/Olympus"}`), &utc); err == nil {
		t.Error("an unknown zone was read")
	}
}
