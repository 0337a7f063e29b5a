package lot

import (
	"encoding/json"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Days at the site (issue 12): a site keeps local time. "Day 7", "one
// infusion a day" and "today" are calendar days where the patient is
// treated, and every screen shows local time with its offset; records and
// JSON keep UTC.

// LoadZone reads an IANA time zone name (Asia/Shanghai, America/New_York,
// UTC) for the flag field. It refuses an empty name, "Local" (the machine's
// zone is not a place and differs between the ward PC and the server) and
// any name the time zone database does not hold, naming the value and what
// to write instead. The binary embeds the database (time/tzdata), so a
// machine without zoneinfo reads the same zones.
func LoadZone(field, name string) (*time.Location, error) {
	in := strings.TrimSpace(name)
	if in == "" {
		return nil, Errorf(EINVALID, "%s is empty; give an IANA time zone name such as Asia/Shanghai, America/New_York or UTC", field)
	}
	if strings.EqualFold(in, "local") {
		return nil, Errorf(EINVALID, "%s %q is the machine's zone, not a place; give the site's IANA time zone name, such as Asia/Shanghai", field, name)
	}
	if looksLikeOffset(in) {
		return nil, Errorf(EINVALID, "%s %q is a fixed UTC offset, not a time zone: it knows no daylight saving; give the IANA name of the place, such as Asia/Shanghai or America/New_York", field, name)
	}
	for _, r := range in {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_+/", r)) {
			return nil, Errorf(EINVALID, "%s %q is not an IANA time zone name (it contains %q); write it as Area/City, e.g. Asia/Shanghai", field, name, r)
		}
	}
	if err := placeZone(field, name, in); err != nil {
		return nil, err
	}
	if loc, ok := loaded.Load(in); ok {
		return loc.(*time.Location), nil
	}
	loc, err := time.LoadLocation(in)
	if err != nil {
		return nil, Errorf(EINVALID, "%s %q is not a time zone in the IANA database; write it as Area/City, e.g. Asia/Shanghai or America/New_York (a fixed offset such as +08:00 is not a zone: it knows no daylight saving)", field, name)
	}
	kept, _ := loaded.LoadOrStore(in, loc)
	return kept.(*time.Location), nil
}

// loaded holds the zones LoadZone has read, by name: the zone data is
// compiled in and never changes, and a transaction that reads a lot reads
// the facility's zone with it, so reading the zone file each time would
// cost a bedside check tens of microseconds a bag.
var loaded sync.Map // string → *time.Location

// Zone is a time zone that a value read from the database carries, such
// as the facility's zone on a Lot. It travels in JSON as its IANA name, so
// a client of a server reads the same zone the server's transaction read.
// The zero Zone is UTC.
type Zone struct{ loc *time.Location }

// ZoneOf is the Zone of loc (nil: UTC). UTC is always the zero Zone, so
// a lot read locally and one read through a server compare equal.
func ZoneOf(loc *time.Location) Zone {
	if loc == nil || loc.String() == "UTC" {
		return Zone{}
	}
	return Zone{loc}
}

// Location is z's *time.Location, time.UTC for the zero Zone.
func (z Zone) Location() *time.Location {
	if z.loc == nil {
		return time.UTC
	}
	return z.loc
}

// MarshalJSON writes z as its IANA name.
func (z Zone) MarshalJSON() ([]byte, error) { return json.Marshal(ZoneName(z.loc)) }

// UnmarshalJSON reads an IANA name; "" is UTC, and a name LoadZone refuses
// is an error, never read as UTC.
func (z *Zone) UnmarshalJSON(b []byte) error {
	var name string
	if err := json.Unmarshal(b, &name); err != nil {
		return err
	}
	if name == "" {
		*z = Zone{}
		return nil
	}
	loc, err := LoadZone("the time zone", name)
	*z = ZoneOf(loc)
	return err
}

// zoneAreas are the areas of the IANA names of places. The time zone
// database also holds fixed offsets (Etc/GMT-8, whose sign is inverted:
// it is UTC+8), legacy rule names (EST, CST6CDT), and, on some machines,
// copies under posix/ and right/ that the zone data compiled into
// celltrack lacks; a zone that loads on the server but not on a ward PC
// would count days differently there. Only Area/City names and UTC pass.
var zoneAreas = []string{"Africa/", "America/", "Antarctica/", "Arctic/", "Asia/", "Atlantic/", "Australia/", "Europe/", "Indian/", "Pacific/"}

func placeZone(field, name, in string) error {
	if in == "UTC" {
		return nil
	}
	for _, a := range zoneAreas {
		if strings.HasPrefix(in, a) {
			return nil
		}
	}
	if strings.HasPrefix(in, "Etc/") {
		return Errorf(EINVALID, "%s %q is a fixed offset, not a place: it knows no daylight saving, and its sign is inverted (Etc/GMT+8 is UTC−8); give the IANA name of the place, such as Asia/Shanghai, or UTC", field, name)
	}
	return Errorf(EINVALID, "%s %q is not the IANA name of a place; write it as Area/City (Africa, America, Antarctica, Arctic, Asia, Atlantic, Australia, Europe, Indian or Pacific), e.g. Asia/Shanghai, or UTC", field, name)
}

// looksLikeOffset reports whether s is written as a UTC offset: +08:00,
// -5, UTC+8, GMT-05:00.
func looksLikeOffset(s string) bool {
	u := strings.ToUpper(s)
	u = strings.TrimPrefix(strings.TrimPrefix(u, "UTC"), "GMT")
	return len(u) > 1 && (u[0] == '+' || u[0] == '-') && u[1] >= '0' && u[1] <= '9'
}

// displayZone is the zone FormatTime shows times in: the facility's, set
// once by the front end after it opened the database (UTC until then).
var displayZone atomic.Pointer[time.Location]

// SetDisplayZone sets the zone FormatTime shows instants in. The front end
// calls it with the facility's zone once it has opened the database; a nil
// loc means UTC. Screens about one patient's treatment use FormatTimeIn with
// the zone of the site that treats the patient instead.
func SetDisplayZone(loc *time.Location) {
	displayZone.Store(loc)
}

// DisplayZone returns the zone FormatTime shows instants in.
func DisplayZone() *time.Location {
	if loc := displayZone.Load(); loc != nil {
		return loc
	}
	return time.UTC
}

// FormatTime prints a stored instant in the display zone (the facility's)
// with its offset: "2026-12-10 07:00 +08:00", or "2026-12-09 23:00 UTC" at
// offset zero.
func FormatTime(t time.Time) string {
	return FormatTimeIn(t, DisplayZone())
}

// FormatTimeIn prints an instant as the local time in loc with its UTC
// offset, so that it is unambiguous wherever it is read: "2026-12-10 07:00
// +08:00", "2026-11-01 01:30 -04:00" (before New York falls back),
// "2026-11-01 01:30 -05:00" (after). A zone abbreviation is not enough: CST
// is China's and the American Midwest's. At offset zero it prints "UTC".
func FormatTimeIn(t time.Time, loc *time.Location) string {
	if t.IsZero() {
		return "-"
	}
	if loc == nil {
		loc = time.UTC
	}
	t = t.In(loc)
	if _, off := t.Zone(); off == 0 {
		return t.Format("2006-01-02 15:04") + " UTC"
	}
	return t.Format("2006-01-02 15:04 -07:00")
}

// FormatDateIn prints the calendar date an instant falls on in loc. A
// calendar date (birth, expiry, a planned infusion date) is printed with
// FormatDate, never shifted into a zone.
func FormatDateIn(t time.Time, loc *time.Location) string {
	if t.IsZero() {
		return "-"
	}
	if loc == nil {
		loc = time.UTC
	}
	return t.In(loc).Format(DateLayout)
}

// ZoneName is the IANA name of loc for screens and records ("UTC" for nil).
func ZoneName(loc *time.Location) string {
	if loc == nil {
		return "UTC"
	}
	return loc.String()
}
