package lot

import (
	"strings"
	"time"
)

// FieldChange is one field of a correction of master data: its old and its
// new value, as people read them (dates as YYYY-MM-DD).
type FieldChange struct {
	Field string
	Old   string
	New   string
}

// Correction is one correction of a patient's or donor's master data (a
// mistyped name, date of birth, sex, MRN or donor date): who made it, when,
// why, and every field it changed with the old and the new value. A record
// keeps all its corrections, oldest first, so that screens and traces show
// what the record said before; the audit trail keeps the whole record before
// and after as well.
type Correction struct {
	At      time.Time
	By      string
	Reason  string
	Changes []FieldChange
}

// Summary is the correction's changes in one line: `name "Mei Chen" → "Mei
// Chan"; born 1984-03-09 → 1984-03-19`.
func (c Correction) Summary() string {
	parts := make([]string, 0, len(c.Changes))
	for _, ch := range c.Changes {
		parts = append(parts, ch.Field+" "+ch.Old+" → "+ch.New)
	}
	return strings.Join(parts, "; ")
}

// PatientFix is what a correction of a patient asks to change. A zero field
// is left as it is.
type PatientFix struct {
	MRN  string
	Name string
	Born time.Time
	Sex  Sex
}

// DonorFix is what a correction of a donor asks to change. A zero field is
// left as it is. The donor id is not corrected: it is the lab's key, written
// on lot records and screening reports outside celltrack.
type DonorFix struct {
	Delivered time.Time
	Consented time.Time
	Site      string
}

// CheckBorn refuses a date of birth in the future, more than 130 years
// before now, or before EarliestBirth: the rule for registering a patient
// and for correcting one.
func CheckBorn(field string, born, now time.Time) error {
	if born.After(now) {
		return Errorf(EINVALID, "%s %s is in the future", field, FormatDate(born))
	}
	if now.Sub(born) > 130*365*24*time.Hour {
		return Errorf(EINVALID, "%s %s is more than 130 years ago", field, FormatDate(born))
	}
	if born.Before(EarliestBirth) {
		return Errorf(EINVALID, "%s %s is before %s; nobody alive was born then: check the year (a typo such as 1899 for 1989?)", field, FormatDate(born), FormatDate(EarliestBirth))
	}
	return nil
}

// Plausibility bounds of typed dates (review finding 13): a date outside
// them is a typo, not a record. No living person was born before 1900 (the
// oldest verified age is 122 years). No MSC product was made before 1990:
// the first clinical infusions of culture-expanded MSC were in 1995
// (Lazarus et al., Bone Marrow Transplant 1995;16:557). A lot's shelf life
// is set by its own stability study, and is far shorter for the products of
// the seeds (about a year); an expiry more than MaxShelfLifeYears after
// manufacture is taken for a mistyped year (2200 for 2027) and refused.
var (
	EarliestBirth       = time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)
	EarliestManufacture = time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC)
)

// MaxShelfLifeYears is the longest a lot may keep from manufacture to
// expiry, in years.
const MaxShelfLifeYears = 10

// checkReason refuses a correction without a reason: a regulated record says
// why it changed.
func checkReason(reason string) error {
	if strings.TrimSpace(reason) == "" {
		return FieldErrorf("reason", EINVALID, "the reason is required: say why the record is corrected (e.g. 'name mistyped at registration; wristband reads Mei Chan')")
	}
	return OnField("reason", ValidateText("the reason", reason, true))
}

// unchanged refuses the input field whose new value is the one on record.
func unchanged(field, value, what string) error {
	return FieldErrorf(field, ECONFLICT, "%s is already the %s; nothing to correct — give only the fields that are wrong", value, what)
}

// CorrectPatient applies fix to p as a correction by `by` at now for reason,
// and returns the corrected patient with the correction appended to its
// Corrections (and a changed MRN to its FormerMRNs). It refuses (EINVALID) a
// blank reason, a fix that names no field, or an invalid value, and
// (ECONFLICT) a field whose new value is the one on record. Whether a new MRN
// is free is the store's to check.
func CorrectPatient(p Patient, fix PatientFix, by, reason string, now time.Time) (Patient, Correction, error) {
	c := Correction{At: now, By: by, Reason: reason}
	if fix == (PatientFix{}) {
		return p, c, Errorf(EINVALID, "nothing to correct: give at least one of the MRN, the name, the date of birth or the sex with the right value")
	}
	if err := checkReason(reason); err != nil {
		return p, c, err
	}
	if fix.MRN != "" {
		if err := ValidateCode("the MRN", fix.MRN); err != nil {
			return p, c, OnField("mrn", err)
		}
		if fix.MRN == p.MRN {
			return p, c, unchanged("mrn", fix.MRN, "patient's MRN")
		}
		c.Changes = append(c.Changes, FieldChange{"MRN", p.MRN, fix.MRN})
	}
	if fix.Name != "" {
		if err := ValidateText("the name", fix.Name, true); err != nil {
			return p, c, OnField("name", err)
		}
		if fix.Name == p.Name {
			return p, c, unchanged("name", `"`+fix.Name+`"`, "patient's name")
		}
		c.Changes = append(c.Changes, FieldChange{"name", `"` + p.Name + `"`, `"` + fix.Name + `"`})
	}
	if !fix.Born.IsZero() {
		if err := CheckBorn("the date of birth", fix.Born, now); err != nil {
			return p, c, OnField("born", err)
		}
		if fix.Born.Equal(p.Born) {
			return p, c, unchanged("born", FormatDate(fix.Born), "patient's date of birth")
		}
		c.Changes = append(c.Changes, FieldChange{"born", FormatDate(p.Born), FormatDate(fix.Born)})
	}
	if fix.Sex != "" {
		if _, err := ParseSex(string(fix.Sex)); err != nil {
			return p, c, err
		}
		if fix.Sex == p.Sex {
			return p, c, unchanged("sex", string(fix.Sex), "patient's sex")
		}
		c.Changes = append(c.Changes, FieldChange{"sex", string(p.Sex), string(fix.Sex)})
	}
	q := p
	if fix.MRN != "" {
		// Going back to a former MRN makes it current again, not former.
		q.FormerMRNs = nil
		for _, f := range append(append([]string(nil), p.FormerMRNs...), p.MRN) {
			if f != fix.MRN {
				q.FormerMRNs = append(q.FormerMRNs, f)
			}
		}
		q.MRN = fix.MRN
	}
	if fix.Name != "" {
		q.Name = fix.Name
	}
	if !fix.Born.IsZero() {
		q.Born = fix.Born
	}
	if fix.Sex != "" {
		q.Sex = fix.Sex
	}
	q.Corrections = append(append([]Correction(nil), p.Corrections...), c)
	return q, c, nil
}

// CorrectDonor applies fix to d as CorrectPatient does to a patient: a
// blank reason, an empty fix or an invalid value is EINVALID (a date in the
// future, a blank or invisible site), a value already on record ECONFLICT.
func CorrectDonor(d Donor, fix DonorFix, by, reason string, now time.Time) (Donor, Correction, error) {
	c := Correction{At: now, By: by, Reason: reason}
	if fix == (DonorFix{}) {
		return d, c, Errorf(EINVALID, "nothing to correct: give at least one of the delivery date, the consent date or the collection site with the right value")
	}
	if err := checkReason(reason); err != nil {
		return d, c, err
	}
	dates := []struct {
		field, words, what string
		old                *time.Time
		new                time.Time
	}{
		{"delivered", "the delivery date", "donor's delivery date", &d.Delivered, fix.Delivered},
		{"consented", "the consent date", "donor's consent date", &d.Consented, fix.Consented},
	}
	q := d
	for _, x := range dates {
		if x.new.IsZero() {
			continue
		}
		if x.new.After(now) {
			return d, c, FieldErrorf(x.field, EINVALID, "%s %s is in the future", x.words, FormatDate(x.new))
		}
		if x.new.Equal(*x.old) {
			return d, c, unchanged(x.field, FormatDate(x.new), x.what)
		}
		c.Changes = append(c.Changes, FieldChange{x.field, FormatDate(*x.old), FormatDate(x.new)})
	}
	if fix.Site != "" {
		if err := ValidateText("the collection site", fix.Site, true); err != nil {
			return d, c, OnField("site", err)
		}
		if fix.Site == d.Site {
			return d, c, unchanged("site", `"`+fix.Site+`"`, "donor's collection site")
		}
		c.Changes = append(c.Changes, FieldChange{"site", `"` + d.Site + `"`, `"` + fix.Site + `"`})
	}
	if !fix.Delivered.IsZero() {
		q.Delivered = fix.Delivered
	}
	if !fix.Consented.IsZero() {
		q.Consented = fix.Consented
	}
	if fix.Site != "" {
		q.Site = fix.Site
	}
	q.Corrections = append(append([]Correction(nil), d.Corrections...), c)
	return q, c, nil
}
