package lot

import (
	"strings"
	"testing"
	"time"
)

func date(s string) time.Time {
	t, err := time.Parse(DateLayout, s)
	if err != nil {
		panic(err)
	}
	return t
}

// TestCorrectPatient: a registration clerk's typos, corrected with a reason;
// every refusal names the flag and the value.
func TestCorrectPatient(t *testing.T) {
	now := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	mei := Patient{MRN: "MRN-1001", Name: "Mei Chen", Born: date("1984-03-09"), Sex: "F"}
	for _, tc := range []struct {
		name    string
		fix     PatientFix
		reason  string
		code    string // "" for a correction that is made
		want    string // the summary, or a piece of the refusal
		correct func(Patient) bool
	}{
		{"a mistyped name", PatientFix{Name: "Mei Chan"}, "wristband reads Mei Chan", "", `name "Mei Chen" → "Mei Chan"`,
			func(p Patient) bool { return p.Name == "Mei Chan" && p.MRN == "MRN-1001" }},
		{"day and month swapped in the date of birth", PatientFix{Born: date("1984-09-03")}, "passport: 3 September", "", "born 1984-03-09 → 1984-09-03",
			func(p Patient) bool { return p.Born.Equal(date("1984-09-03")) }},
		{"sex entered wrongly", PatientFix{Sex: "M"}, "ticked the wrong box", "", "sex F → M",
			func(p Patient) bool { return p.Sex == "M" }},
		{"a mistyped MRN keeps the old one as former", PatientFix{MRN: "MRN-1010"}, "digits swapped", "", "MRN MRN-1001 → MRN-1010",
			func(p Patient) bool {
				return p.MRN == "MRN-1010" && len(p.FormerMRNs) == 1 && p.FormerMRNs[0] == "MRN-1001"
			}},
		{"several fields at once", PatientFix{Name: "Mei Chan", Sex: "M"}, "re-registered from the ID card", "", `name "Mei Chen" → "Mei Chan"; sex F → M`,
			func(p Patient) bool { return p.Name == "Mei Chan" && p.Sex == "M" }},
		{"no field given", PatientFix{}, "typo", EINVALID, "nothing to correct", nil},
		{"blank reason", PatientFix{Name: "Mei Chan"}, "   ", EINVALID, "the reason is required", nil},
		{"reason of an ideographic space", PatientFix{Name: "Mei Chan"}, "\u3000", EINVALID, "the reason is required", nil},
		{"same name", PatientFix{Name: "Mei Chen"}, "typo", ECONFLICT, `"Mei Chen" is already the patient's name`, nil},
		{"same date of birth", PatientFix{Born: date("1984-03-09")}, "typo", ECONFLICT, "1984-03-09 is already the patient's date of birth", nil},
		{"same sex", PatientFix{Sex: "F"}, "typo", ECONFLICT, "F is already the patient's sex", nil},
		{"same MRN", PatientFix{MRN: "MRN-1001"}, "typo", ECONFLICT, "MRN-1001 is already the patient's MRN", nil},
		{"born in the future", PatientFix{Born: date("2027-01-01")}, "typo", EINVALID, "the date of birth 2027-01-01 is in the future", nil},
		{"born 131 years ago", PatientFix{Born: date("1895-01-01")}, "typo", EINVALID, "the date of birth 1895-01-01 is more than 130 years ago", nil},
		{"born 1899 (review finding 13)", PatientFix{Born: date("1899-12-31")}, "typo", EINVALID, "the date of birth 1899-12-31 is before 1900-01-01", nil},
		{"an MRN with a space", PatientFix{MRN: "MRN 1010"}, "typo", EINVALID, `the MRN "MRN 1010" contains ' '`, nil},
		{"a name with a zero-width space", PatientFix{Name: "Mei\u200bChan"}, "typo", EINVALID, "contains U+200B ZERO WIDTH SPACE", nil},
		{"sex Q", PatientFix{Sex: "Q"}, "typo", EINVALID, `sex "Q" is not F, M or X`, nil},
		{"one good field and one unchanged", PatientFix{Name: "Mei Chan", Sex: "F"}, "typo", ECONFLICT, "F is already the patient's sex", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, c, err := CorrectPatient(mei, tc.fix, "nina", tc.reason, now)
			if tc.code != "" {
				if ErrorCode(err) != tc.code || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("got %v; want %s %q", err, tc.code, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Summary() != tc.want || c.By != "nina" || c.Reason != tc.reason || !c.At.Equal(now) {
				t.Errorf("correction %+v (summary %q); want %q by nina at %s", c, c.Summary(), tc.want, now)
			}
			if !tc.correct(got) || len(got.Corrections) != 1 {
				t.Errorf("corrected patient %+v", got)
			}
			if mei.Name != "Mei Chen" || len(mei.Corrections) != 0 || len(mei.FormerMRNs) != 0 {
				t.Errorf("the original was changed: %+v", mei)
			}
		})
	}
}

// TestCorrectPatientTwice: the second correction is kept after the first,
// and a second MRN change keeps both former MRNs.
func TestCorrectPatientTwice(t *testing.T) {
	now := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	p := Patient{MRN: "MRN-1001", Name: "Mei Chen", Born: date("1984-03-09"), Sex: "F"}
	p, _, err := CorrectPatient(p, PatientFix{MRN: "MRN-1010"}, "nina", "digits swapped", now)
	if err != nil {
		t.Fatal(err)
	}
	p, _, err = CorrectPatient(p, PatientFix{MRN: "MRN-1100"}, "nina", "swapped again", now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if p.MRN != "MRN-1100" || strings.Join(p.FormerMRNs, ",") != "MRN-1001,MRN-1010" || len(p.Corrections) != 2 ||
		p.Corrections[1].Summary() != "MRN MRN-1010 → MRN-1100" {
		t.Errorf("after two corrections: %+v", p)
	}
}

// TestCorrectPatientBack: correcting a correction back to the first MRN
// makes it current again and keeps the wrong one as former.
func TestCorrectPatientBack(t *testing.T) {
	now := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	p := Patient{MRN: "MRN-1001", Name: "Mei Chen", Born: date("1984-03-09"), Sex: "F"}
	p, _, _ = CorrectPatient(p, PatientFix{MRN: "MRN-1010"}, "nina", "digits swapped", now)
	p, _, err := CorrectPatient(p, PatientFix{MRN: "MRN-1001"}, "nina", "the first was right", now)
	if err != nil || p.MRN != "MRN-1001" || strings.Join(p.FormerMRNs, ",") != "MRN-1010" {
		t.Errorf("back to the first MRN: %+v, %v", p, err)
	}
}

// TestCorrectDonor: a donor's delivery and consent dates and collection site.
func TestCorrectDonor(t *testing.T) {
	now := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	d := Donor{Code: "D-0001", Delivered: date("2026-10-30"), Consented: date("2026-10-12"), Site: "Ward 5 maternity"}
	for _, tc := range []struct {
		name   string
		fix    DonorFix
		reason string
		code   string
		want   string
	}{
		{"delivery date typed a day late", DonorFix{Delivered: date("2026-10-29")}, "delivery record says 29 Oct", "", "delivered 2026-10-30 → 2026-10-29"},
		{"consent date", DonorFix{Consented: date("2026-10-02")}, "consent form dated 2 Oct", "", "consented 2026-10-12 → 2026-10-02"},
		{"both dates and the site", DonorFix{Delivered: date("2026-10-29"), Consented: date("2026-10-02"), Site: "Ward 6 maternity"}, "re-keyed from the form", "",
			`delivered 2026-10-30 → 2026-10-29; consented 2026-10-12 → 2026-10-02; site "Ward 5 maternity" → "Ward 6 maternity"`},
		{"nothing given", DonorFix{}, "typo", EINVALID, "nothing to correct: give at least one of the delivery date, the consent date or the collection site"},
		{"blank reason", DonorFix{Delivered: date("2026-10-29")}, "", EINVALID, "the reason is required"},
		{"delivered in the future", DonorFix{Delivered: date("2026-12-01")}, "typo", EINVALID, "the delivery date 2026-12-01 is in the future"},
		{"consented in the future", DonorFix{Consented: date("2026-12-01")}, "typo", EINVALID, "the consent date 2026-12-01 is in the future"},
		{"same delivery date", DonorFix{Delivered: date("2026-10-30")}, "typo", ECONFLICT, "2026-10-30 is already the donor's delivery date"},
		{"same site", DonorFix{Site: "Ward 5 maternity"}, "typo", ECONFLICT, `"Ward 5 maternity" is already`},
		{"site with a control character", DonorFix{Site: "Ward\x075"}, "typo", EINVALID, "the collection site"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, c, err := CorrectDonor(d, tc.fix, "liu", tc.reason, now)
			if tc.code != "" {
				if ErrorCode(err) != tc.code || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("got %v; want %s %q", err, tc.code, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Summary() != tc.want || len(got.Corrections) != 1 || got.Code != "D-0001" {
				t.Errorf("correction %q, donor %+v; want %q", c.Summary(), got, tc.want)
			}
		})
	}
}
