// Package lot holds celltrack's core domain: donors, patients, lots of MSC and
// the containers they are split into, the ISBT 128 identifiers they carry, the
// quantities they are measured in and the Error type every package returns.
// It does no I/O; package store persists it.
package lot

import (
	"strings"
	"time"

	"github.com/google/uuid"
)

// Source is where a lot's cells come from.
type Source string

// The two lot kinds (DOMAIN.md, "Two kinds of lot").
const (
	// SourceUC is allogeneic umbilical-cord MSC: one donor lot, many patients.
	SourceUC Source = "uc"
	// SourceRFib is autologous regenerative fibroblasts: the source patient only.
	SourceRFib Source = "rfib"
)

// ParseSource reads "uc" or "rfib".
func ParseSource(s string) (Source, error) {
	switch Source(strings.ToLower(strings.TrimSpace(s))) {
	case SourceUC:
		return SourceUC, nil
	case SourceRFib:
		return SourceRFib, nil
	}
	return "", Errorf(EINVALID, "source %q is not a lot kind; use uc (allogeneic umbilical-cord MSC) or rfib (autologous regenerative fibroblasts)", s)
}

// Product is the product name printed on screens and labels.
func (s Source) Product() string {
	if s == SourceRFib {
		return "autologous rFib"
	}
	return "UC-MSC"
}

// Status is a lot's release status. Every lot starts in quarantine; only a QA
// release makes its containers usable.
type Status string

// Lot statuses.
const (
	Quarantine Status = "quarantine"
	Released   Status = "released"
	Rejected   Status = "rejected"
)

// ParseStatus reads a lot status.
func ParseStatus(s string) (Status, error) {
	switch st := Status(strings.ToLower(strings.TrimSpace(s))); st {
	case Quarantine, Released, Rejected:
		return st, nil
	}
	return "", Errorf(EINVALID, "status %q is not a lot status; use quarantine, released or rejected", s)
}

// Sex is a patient's sex as recorded for dosing and identity checks.
type Sex string

// ParseSex reads F, M or X.
func ParseSex(s string) (Sex, error) {
	switch v := Sex(strings.ToUpper(strings.TrimSpace(s))); v {
	case "F", "M", "X":
		return v, nil
	}
	return "", Errorf(EINVALID, "sex %q is not F, M or X", s)
}

// Donor is an umbilical-cord donor: a mother who consented, after a normal
// delivery, to donate the cord.
type Donor struct {
	ID        uuid.UUID
	Code      string // the lab's donor identifier
	Delivered time.Time
	Site      string
	Consented time.Time
	CreatedAt time.Time
	CreatedBy string
	// Corrections are the corrections of the donor's dates or site, oldest
	// first (CorrectDonor).
	Corrections []Correction
}

// Patient is a person who may receive cells, and for rFib lots the source.
type Patient struct {
	ID        uuid.UUID
	MRN       string // medical record number, as on the wristband
	Name      string
	Born      time.Time
	Sex       Sex
	CreatedAt time.Time
	CreatedBy string
	// FormerMRNs are MRNs the patient had before a correction, oldest
	// first. Each stays reserved to this patient: it may be on a wristband,
	// a label or a paper record, so it is never given to anyone else.
	FormerMRNs []string
	// Corrections are the corrections of the patient's master data, oldest
	// first (CorrectPatient).
	Corrections []Correction
}

// Weight is one body-weight measurement.
type Weight struct {
	ID         uuid.UUID
	PatientID  uuid.UUID
	Grams      Grams
	MeasuredAt time.Time
	RecordedBy string
	// RecordedAt is when the weight was entered; zero in a weight stored
	// before schema 13. A weight dated ahead of it (another device's clock,
	// up to ClockSkew) counts as measured when it was recorded (Counted).
	RecordedAt time.Time
}

// Counted is the time a weight counts as measured for dosing: when it was
// measured, or when it was recorded if it is dated after that (a device's
// clock ahead), so that a correction measured and recorded after it is the
// newer weight, not one dated minutes in the future.
func (w Weight) Counted() time.Time {
	if !w.RecordedAt.IsZero() && w.MeasuredAt.After(w.RecordedAt) {
		return w.RecordedAt
	}
	return w.MeasuredAt
}

// Lot is one manufacturing lot of cells.
type Lot struct {
	ID            uuid.UUID
	Number        string // the lab's own lot number
	DIN           DIN
	Source        Source
	DonorID       uuid.UUID // UC lots
	PatientID     uuid.UUID // rFib lots: the source patient
	Cells         Cells     // total cells at registration
	Viability     Tenths    // % viable at registration, in 0.1 %
	VolumeML      Tenths
	Manufactured  time.Time
	Expires       time.Time
	Passage       int
	Cryopreserved time.Time
	Location      string
	Status        Status
	// Exceptional is set by an exceptional release of a non-conforming lot
	// under medical necessity; the lot may then go only to RestrictedTo.
	Exceptional  bool
	RestrictedTo uuid.UUID
	Containers   int   // how many containers it was split into
	CellsSplit   Cells // cells already allocated to containers
	CreatedAt    time.Time
	CreatedBy    string
	// FacilityZone is the facility's time zone as the transaction that
	// read the lot found it (the store sets it on every lot it returns; it
	// is not part of the lot's record). The lot expires at 00:00 of its
	// expiry date there, or earlier where it is used (ExpiresAt).
	FacilityZone Zone
}

// Expired reports whether the lot is past its expiry at now, at the
// facility or at any place of use in at (ExpiresAt). An expired lot is
// never usable, whatever its status.
func (l Lot) Expired(now time.Time, at ...*time.Location) bool {
	return !l.Expires.IsZero() && !now.Before(l.ExpiresAt(at...))
}

// ExpiresAt is the instant the lot expires. Its expiry is a calendar date,
// and the lot may not be used once that date has begun at the facility
// (FacilityZone) or at the place of use (each zone in at: the site that
// treats the patient, the site a bag is dispensed at), whichever comes
// first: with the facility at UTC and a clinic in Nanjing, 00:00 +08:00,
// 16:00 UTC the day before, not eight hours into its expiry date there.
func (l Lot) ExpiresAt(at ...*time.Location) time.Time {
	t, _ := l.Expiry(at...)
	return t
}

// Expiry is ExpiresAt with the zone whose midnight it is, for printing the
// instant as the local time where it falls ("2027-11-10 00:00 +08:00").
func (l Lot) Expiry(at ...*time.Location) (time.Time, *time.Location) {
	y, m, d := l.Expires.UTC().Date()
	loc := l.FacilityZone.Location()
	first := dayStart(y, m, d, loc)
	for _, z := range at {
		if z == nil {
			continue
		}
		if t := dayStart(y, m, d, z); t.Before(first) {
			first, loc = t, z
		}
	}
	return first, loc
}

// dayStart is the first instant of the calendar date y-m-d in loc: its
// 00:00, or, where a daylight-saving change skips midnight (Santiago, on
// the first Sunday of September), the moment the clocks jump to 01:00 —
// not 23:00 of the day before, which time.Date may give for a time that
// does not exist.
func dayStart(y int, m time.Month, d int, loc *time.Location) time.Time {
	t := time.Date(y, m, d, 0, 0, 0, 0, loc)
	if t.Day() != d {
		if _, end := t.ZoneBounds(); !end.IsZero() {
			t = end
		}
	}
	return t
}

// Usable reports whether the lot's containers may be given at now: released
// and not expired. An exceptional release is usable for its one patient only
// (CheckUsable).
func (l Lot) Usable(now time.Time) bool { return l.Status == Released && !l.Expired(now) }

// StatusText is the lot's status as every screen and document shows it:
// an expired lot leads with EXPIRED whatever its release status, so it is
// never read as usable, and an exceptional release names the one patient
// (restrictedMRN) it is restricted to.
func (l Lot) StatusText(now time.Time, restrictedMRN string) string {
	s := strings.ToUpper(string(l.Status))
	if l.Exceptional {
		s += " — EXCEPTIONAL RELEASE, patient " + restrictedMRN + " only"
	}
	if l.Expired(now) {
		s = "EXPIRED " + FormatDate(l.Expires) + ", do not use (was " + s + ")"
	}
	return s
}

// Registration is what the lab enters to register a lot.
type Registration struct {
	Number        string
	Source        Source
	Donor         string // donor code, for uc
	Patient       string // MRN, for rfib
	Cells         Cells
	Viability     Tenths
	VolumeML      Tenths
	Manufactured  time.Time
	Expires       time.Time
	Passage       int
	Cryopreserved time.Time
	Location      string
}

// MaxText bounds free-text fields (names, locations, reasons).
const MaxText = 200

// ValidateText checks a required or optional free-text field: valid UTF-8,
// no control characters, no invisible characters (zero-width spaces and
// joiners, bidi controls, byte order marks: see checkInvisible), at least one
// visible character when required (text of spaces only, of any width, is
// blank), at most MaxText characters.
func ValidateText(field, s string, required bool) error {
	if strings.TrimSpace(s) == "" {
		if required {
			return Errorf(EINVALID, "%s is required", field)
		}
		return nil
	}
	if !validUTF8NoControl(s) {
		return Errorf(EINVALID, "%s %q contains control characters or is not UTF-8 text", field, s)
	}
	if err := checkInvisible(field, s); err != nil {
		return err
	}
	if required && !hasVisible(s) {
		return Errorf(EINVALID, "%s is required: %q has no visible character, only spaces", field, s)
	}
	if n := len([]rune(s)); n > MaxText {
		return Errorf(EINVALID, "%s is %d characters long; at most %d are allowed", field, n, MaxText)
	}
	return nil
}

// ValidateCode checks an identifier typed by staff (lot number, MRN, donor
// code, site or user name): 1–40 characters of letters, digits and - _ . /,
// not starting with '-', and no part between slashes empty, "." or "..".
func ValidateCode(field, s string) error {
	if s == "" {
		return Errorf(EINVALID, "%s is required", field)
	}
	if len(s) > 40 {
		return Errorf(EINVALID, "%s %q is %d characters long; at most 40 are allowed", field, s, len(s))
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./", r)) {
			return Errorf(EINVALID, "%s %q contains %q; use letters, digits and - _ . / only", field, s, r)
		}
	}
	if strings.HasPrefix(s, "-") {
		return Errorf(EINVALID, "%s %q may not start with '-'", field, s)
	}
	// Through a server an identifier is a segment of a URL's path, which
	// the server's router cleans ("." and ".." taken as directories, "//"
	// as "/") before it reads it: such an identifier would name another
	// record, or none, in every later call.
	for _, seg := range strings.Split(s, "/") {
		switch seg {
		case ".", "..":
			return Errorf(EINVALID, "%s %q is or holds the path segment %q, which a server's addresses cannot carry; choose one with a letter or digit between the dots and slashes", field, s, seg)
		case "":
			return Errorf(EINVALID, "%s %q starts or ends with '/' or holds \"//\", which a server's addresses cannot carry; put a letter or digit on both sides of every '/'", field, s)
		}
	}
	return nil
}

func validUTF8NoControl(s string) bool {
	for _, r := range s {
		if r == '\uFFFD' || r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// Validate checks a registration before anything is written; now is the
// registration time.
func (r Registration) Validate(now time.Time) error {
	if err := ValidateCode("lot number", r.Number); err != nil {
		return err
	}
	// A lot is looked up by lot number first, then DIN, then UUID: a lot
	// number shaped like a DIN or UUID would let one lot's label find another.
	if _, err := ParseDIN(r.Number); err == nil {
		return Errorf(EINVALID, "lot number %q has the form of a DIN; celltrack issues each lot's DIN itself, so give the lab's own lot number (e.g. LOT-UC-1)", r.Number)
	}
	if _, err := uuid.Parse(r.Number); err == nil {
		return Errorf(EINVALID, "lot number %q has the form of a UUID; give the lab's own lot number (e.g. LOT-UC-1)", r.Number)
	}
	switch r.Source {
	case SourceUC:
		if r.Donor == "" {
			return FieldErrorf("donor", EINVALID, "the donor ID is required for a uc lot: name the umbilical-cord donor")
		}
		if r.Patient != "" {
			return FieldErrorf("patient", EINVALID, "a source patient (%q) is for autologous rfib lots; a uc lot comes from a donor", r.Patient)
		}
	case SourceRFib:
		if r.Patient == "" {
			return FieldErrorf("patient", EINVALID, "the source patient's MRN is required for an rfib lot: name the patient the cells came from")
		}
		if r.Donor != "" {
			return FieldErrorf("donor", EINVALID, "a donor (%q) is for uc lots; an rfib lot's source is its patient", r.Donor)
		}
	default:
		return FieldErrorf("source", EINVALID, "the product source is required: uc or rfib")
	}
	if r.Cells <= 0 {
		return FieldErrorf("cells", EINVALID, "the cells are required: the total cells in the lot, e.g. 2.5e9")
	}
	if r.Viability <= 0 {
		return FieldErrorf("viability", EINVALID, "the viability is required: the percentage of viable cells, e.g. 92.5")
	}
	if r.VolumeML <= 0 {
		return FieldErrorf("volume-ml", EINVALID, "the volume %s mL is not a lot volume; give the lot's volume in mL, more than 0, e.g. 100", r.VolumeML)
	}
	if r.Manufactured.IsZero() {
		return FieldErrorf("manufactured", EINVALID, "the manufacture date is required: the date the lot was manufactured")
	}
	if r.Manufactured.After(now) {
		return FieldErrorf("manufactured", EINVALID, "the manufacture date %s is in the future", FormatDate(r.Manufactured))
	}
	if r.Expires.IsZero() {
		return FieldErrorf("expires", EINVALID, "the expiry date is required: the lot's expiry date")
	}
	if r.Manufactured.Before(EarliestManufacture) {
		return FieldErrorf("manufactured", EINVALID, "the manufacture date %s is before %s, before any MSC product was made; check the year", FormatDate(r.Manufactured), FormatDate(EarliestManufacture))
	}
	if !r.Expires.After(r.Manufactured) {
		return FieldErrorf("expires", EINVALID, "the expiry date %s is not after the manufacture date %s", FormatDate(r.Expires), FormatDate(r.Manufactured))
	}
	if limit := r.Manufactured.AddDate(MaxShelfLifeYears, 0, 0); r.Expires.After(limit) {
		return FieldErrorf("expires", EINVALID, "the expiry date %s is more than %d years after the manufacture date %s (at most %s); check the year against the lot's stability data", FormatDate(r.Expires), MaxShelfLifeYears, FormatDate(r.Manufactured), FormatDate(limit))
	}
	if r.Passage < 0 || r.Passage > 50 {
		return FieldErrorf("passage", EINVALID, "the passage %d is outside 0–50", r.Passage)
	}
	if r.Cryopreserved.After(now) {
		return FieldErrorf("cryopreserved", EINVALID, "the cryopreservation date %s is in the future", FormatDate(r.Cryopreserved))
	}
	if !r.Cryopreserved.IsZero() && r.Cryopreserved.Before(r.Manufactured) {
		return FieldErrorf("cryopreserved", EINVALID, "the cryopreservation date %s is before the manufacture date %s", FormatDate(r.Cryopreserved), FormatDate(r.Manufactured))
	}
	return OnField("location", ValidateText("the storage location", r.Location, false))
}

// ImportRow is one registration read from an import file, with the line it
// came from so that every refusal can name it.
type ImportRow struct {
	Line int
	Registration
}

// ImportError lists every bad row of an import; nothing was imported.
func ImportError(problems []string) *Error { return importError(len(problems), problems) }

// importError reports bad rows, of which problems describe the first.
func importError(bad int, problems []string) *Error {
	return Errorf(EINVALID, "import refused, nothing was written; %d bad row(s):\n  %s\nfix these rows and import the whole file again",
		bad, strings.Join(problems, "\n  "))
}
