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
	for _, tc := range []struct {
		name   string
		change func(r *Registration)
		msg    string
	}{
		{"lot number shaped like another lot's DIN", func(r *Registration) { r.Number = "G123426000002" }, "has the form of a DIN"},
		{"lot number shaped like a DIN with dashes", func(r *Registration) { r.Number = "G1234-26-000002-2" }, "has the form of a DIN"},
		{"lot number shaped like a UUID", func(r *Registration) { r.Number = "01a212be-caab-7665-85ab-86ec8ab3e2e0" }, "has the form of a UUID"},
		{"lot number with a space", func(r *Registration) { r.Number = "LOT UC 1" }, "use letters, digits"},
		{"uc lot without donor", func(r *Registration) { r.Donor = "" }, "--donor is required for a uc lot"},
		{"uc lot naming a patient", func(r *Registration) { r.Patient = "MRN-1001" }, "is for autologous rfib lots"},
		{"rfib lot without patient", func(r *Registration) { r.Source, r.Donor = SourceRFib, "" }, "--patient is required for an rfib lot"},
		{"manufactured tomorrow", func(r *Registration) { r.Manufactured = now.AddDate(0, 0, 1) }, "is in the future"},
		{"expires before made", func(r *Registration) { r.Expires = r.Manufactured }, "is not after --manufactured"},
		{"passage 51", func(r *Registration) { r.Passage = 51 }, "outside 0–50"},
		{"cryopreserved tomorrow", func(r *Registration) { r.Cryopreserved = now.AddDate(0, 0, 1) }, "--cryopreserved 2026-11-26 is in the future"},
		{"cryopreserved before made", func(r *Registration) { r.Cryopreserved = r.Manufactured.AddDate(0, 0, -1) }, "is before --manufactured"},
	} {
		r := good
		tc.change(&r)
		err := r.Validate(now)
		if err == nil || ErrorCode(err) != EINVALID || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: %v; want EINVALID containing %q", tc.name, err, tc.msg)
		}
	}
}
