package lot

import (
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
func TestLotExpiresAtTheFacilitysMidnight(t *testing.T) {
	defer SetDisplayZone(nil)
	expires := time.Date(2027, 11, 10, 0, 0, 0, 0, time.UTC) // --expires 2027-11-10
	l := Lot{Status: Released, Expires: expires}
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
		loc, err := time.LoadLocation(tc.zone)
		if err != nil {
			t.Fatal(err)
		}
		SetDisplayZone(loc)
		at, _ := time.Parse(time.RFC3339, tc.at)
		if got := l.Expired(at); got != tc.expired {
			t.Errorf("%s at %s (%s there): expired %v, want %v", tc.zone, tc.at, at.In(loc).Format("2006-01-02 15:04"), got, tc.expired)
		}
		if got := l.Usable(at); got == tc.expired {
			t.Errorf("%s at %s: usable %v", tc.zone, tc.at, got)
		}
	}
}
