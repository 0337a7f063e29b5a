package lot

import (
	"strings"
	"testing"
	"time"
)

func TestRegistrationValidate(t *testing.T) {
	now := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	good := Registration{Number: "LOT-UC-1", Source: SourceUC, Donor: "D-0001", Cells: 2_500_000_000, Viability: 945, VolumeML: 2500,
		Manufactured: time.Date(2026, 11, 10, 0, 0, 0, 0, time.UTC), Expires: time.Date(2027, 11, 10, 0, 0, 0, 0, time.UTC), Passage: 4}
	if err := good.Validate(now); err != nil {
		t.Fatalf("a good registration: %v", err)
	}
	edge := good
	edge.Expires = good.Manufactured.AddDate(MaxShelfLifeYears, 0, 0)
	if err := edge.Validate(now); err != nil {
		t.Errorf("an expiry exactly %d years after manufacture: %v", MaxShelfLifeYears, err)
	}
	for _, tc := range []struct {
		name   string
		change func(r *Registration)
		msg    string
	}{
		{"lot number shaped like another lot's DIN", func(r *Registration) { r.Number = "G123426000002" }, "has the form of a DIN"},
		{"lot number shaped like a DIN with dashes", func(r *Registration) { r.Number = "G1234-26-000002-2" }, "has the form of a DIN"},
		{"lot number shaped like a UUID", func(r *Registration) { r.Number = "01a212be-caab-7665-85ab-86ec8ab3e2e0" }, "has the form of a UUID"},
		{"lot number with a space", func(r *Registration) { r.Number = "LOT UC 1" }, "use letters, digits"},
		{"uc lot without donor", func(r *Registration) { r.Donor = "" }, "the donor ID is required for a uc lot"},
		{"uc lot naming a patient", func(r *Registration) { r.Patient = "MRN-1001" }, "is for autologous rfib lots"},
		{"rfib lot without patient", func(r *Registration) { r.Source, r.Donor = SourceRFib, "" }, "the source patient's MRN is required for an rfib lot"},
		{"manufactured tomorrow", func(r *Registration) { r.Manufactured = now.AddDate(0, 0, 1) }, "is in the future"},
		{"expires before made", func(r *Registration) { r.Expires = r.Manufactured }, "is not after the manufacture date"},
		{"lot number ..", func(r *Registration) { r.Number = ".." }, `path segment ".."`},
		{"lot number holding ./", func(r *Registration) { r.Number = "LOT/./1" }, `path segment "."`},
		{"lot number ending in /", func(r *Registration) { r.Number = "LOT/" }, "starts or ends with '/'"},
		{"manufactured 1900 (review finding 13)", func(r *Registration) {
			r.Manufactured, r.Expires = time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(1900, 6, 1, 0, 0, 0, 0, time.UTC)
		}, "the manufacture date 1900-01-01 is before 1990-01-01"},
		{"manufactured the day before 1990", func(r *Registration) { r.Manufactured = time.Date(1989, 12, 31, 0, 0, 0, 0, time.UTC) }, "is before 1990-01-01"},
		{"expires 2200", func(r *Registration) { r.Expires = time.Date(2200, 11, 10, 0, 0, 0, 0, time.UTC) }, "the expiry date 2200-11-10 is more than 10 years after the manufacture date 2026-11-10 (at most 2036-11-10)"},
		{"expires a day past 10 years", func(r *Registration) { r.Expires = time.Date(2036, 11, 11, 0, 0, 0, 0, time.UTC) }, "more than 10 years"},
		{"passage 51", func(r *Registration) { r.Passage = 51 }, "outside 0–50"},
		{"cryopreserved tomorrow", func(r *Registration) { r.Cryopreserved = now.AddDate(0, 0, 1) }, "the cryopreservation date 2026-11-26 is in the future"},
		{"cryopreserved before made", func(r *Registration) { r.Cryopreserved = r.Manufactured.AddDate(0, 0, -1) }, "is before the manufacture date"},
	} {
		r := good
		tc.change(&r)
		err := r.Validate(now)
		if err == nil || ErrorCode(err) != EINVALID || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: %v; want EINVALID containing %q", tc.name, err, tc.msg)
		}
	}
}
