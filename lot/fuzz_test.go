package lot

import (
	"strings"
	"testing"
	"time"
)

// The fuzz targets run their seed corpus (below and in testdata/fuzz) as
// ordinary tests under `go test`; `go test -fuzz FuzzParseCells ./lot` explores.

func FuzzParseCells(f *testing.F) {
	for _, s := range []string{"62000000", "6.2e7", "6.2E+07", "6.2x10^7", "6.2×10^7", "1×10", "1e", "-5e7", "0", "1e13", "2e13", ".5e2", "9999999999999.9e1", "1x10^", "×"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCells("cells", s)
		if err != nil {
			if ErrorCode(err) != EINVALID || !strings.Contains(err.Error(), "cells") {
				t.Fatalf("ParseCells(%q): error %v is not an EINVALID naming the field", s, err)
			}
			return
		}
		if c < 1 || c > MaxCells {
			t.Fatalf("ParseCells(%q) = %d, outside 1..MaxCells", s, c)
		}
		if back, err := ParseCells("cells", c.Exact()); err != nil || back != c {
			t.Fatalf("ParseCells(%q) = %d, but its exact form reads back as %d, %v", s, c, back, err)
		}
	})
}

func FuzzParseDIN(f *testing.F) {
	for _, s := range []string{"G123417654321", "G123417654321A", "G1234 17 654321 A", "=G12341765432100", "g1234-17-654321-a", "O123417654321", "G1234 17 000000", "", "=", "G1234 17 65432\u00e9"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDIN(s)
		if err != nil {
			if ErrorCode(err) != EINVALID {
				t.Fatalf("ParseDIN(%q): error %v is not EINVALID", s, err)
			}
			return
		}
		for _, form := range []string{d.String(), d.String() + string(d.Check()), d.EyeReadable()} {
			if back, err := ParseDIN(form); err != nil || back != d {
				t.Fatalf("ParseDIN(%q) = %+v, but %q reads back as %+v, %v", s, d, form, back, err)
			}
		}
	})
}

func FuzzParseDate(f *testing.F) {
	for _, s := range []string{"2026-11-25", "2026-02-30", "2024-02-29", "2026-13-01", "25/11/2026", " 2026-11-25 ", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDate("date", s)
		if err != nil {
			if ErrorCode(err) != EINVALID {
				t.Fatalf("ParseDate(%q): error %v is not EINVALID", s, err)
			}
			return
		}
		if d.Location() != time.UTC || d.Hour() != 0 || d.Minute() != 0 {
			t.Fatalf("ParseDate(%q) = %v; want midnight UTC", s, d)
		}
		if back, err := ParseDate("date", FormatDate(d)); err != nil || !back.Equal(d) {
			t.Fatalf("ParseDate(%q) = %v does not round-trip: %v, %v", s, d, back, err)
		}
	})
}

func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"2026-11-25T14:30Z", "2026-11-25T15:30+01:00", "2026-11-25T14:30:00.123456789Z", "2026-11-25T14:30", "2026-11-25", "2026-02-30T10:00Z", "14:30"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		at, err := ParseTime("time", s)
		if err != nil {
			if ErrorCode(err) != EINVALID {
				t.Fatalf("ParseTime(%q): error %v is not EINVALID", s, err)
			}
			return
		}
		if at.Location() != time.UTC {
			t.Fatalf("ParseTime(%q) = %v; not stored in UTC", s, at)
		}
		if !strings.HasSuffix(FormatTime(at), " UTC") {
			t.Fatalf("FormatTime(%v) = %q does not show the zone", at, FormatTime(at))
		}
	})
}

func FuzzParseImport(f *testing.F) {
	header := strings.Join(ImportColumns, ",") + "\n"
	f.Add(header + "LOT-1,uc,D-1,,2.5e9,94.5,250,2026-11-10,2027-11-10,4,2026-11-11,LN2-A\n")
	f.Add(header + "LOT-1,rfib,,MRN-1,1.2e9,92.1,120,2026-11-12,2027-05-12,,,\nLOT-2,uc,D-1,,1×10,0.95,x,2026-02-30,2027,,,\n")
	f.Add("lot_number,source,cells\n\"unterminated,uc,1e9\n")
	f.Add("")
	f.Add("\ufefflot_number,source,cells,viability,volume_ml,manufactured,expires\nL,uc,1e9,90,10,2026-01-01,2027-01-01\n")
	f.Fuzz(func(t *testing.T, s string) {
		rows, err := ParseImport(strings.NewReader(s))
		if err != nil {
			if ErrorCode(err) != EINVALID || !strings.Contains(err.Error(), "line") && !strings.Contains(err.Error(), "import file") {
				t.Fatalf("ParseImport: error %v is not an EINVALID naming a line", err)
			}
			if rows != nil {
				t.Fatalf("ParseImport returned rows with an error")
			}
			return
		}
		if len(rows) == 0 {
			t.Fatalf("ParseImport returned no rows and no error")
		}
		for _, r := range rows {
			if r.Line < 2 || r.Cells < 1 || r.Viability < 1 || r.VolumeML < 1 && r.VolumeML != 0 {
				t.Fatalf("ParseImport accepted a row it should not: %+v", r)
			}
		}
	})
}

func FuzzParseFixed(f *testing.F) {
	for _, s := range []string{"62.0", "62", ".5", "0", "94.55", "0.95", "620", "1e3", "-1", "62.", "999999999999.999", "1234567890123"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for places := 0; places <= 6; places++ {
			v, err := ParseFixed("value", s, places)
			if err != nil {
				if ErrorCode(err) != EINVALID {
					t.Fatalf("ParseFixed(%q, %d): error %v is not EINVALID", s, places, err)
				}
				continue
			}
			if v < 0 {
				t.Fatalf("ParseFixed(%q, %d) = %d < 0", s, places, v)
			}
			if back, err := ParseFixed("value", FormatFixed(v, places, places), places); err != nil || back != v {
				t.Fatalf("ParseFixed(%q, %d) = %d does not round-trip: %d, %v", s, places, v, back, err)
			}
		}
		if p, err := ParsePercent("viability", s); err == nil && (p <= 10 || p > 1000) {
			t.Fatalf("ParsePercent(%q) = %d tenths, outside (1 %%, 100 %%]", s, p)
		}
		if g, err := ParseWeightKg("kg", s); err == nil && (g < MinWeight || g > MaxWeight) {
			t.Fatalf("ParseWeightKg(%q) = %d g, outside the plausible range", s, g)
		}
	})
}

func FuzzParseContainerCode(f *testing.F) {
	for _, s := range []string{"G12342600000101", "G1234260000014 01", "=G123426000002-12", "G12342600000100", "G123426000001", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, n, err := ParseContainerCode(s)
		if err != nil {
			if ErrorCode(err) != EINVALID {
				t.Fatalf("ParseContainerCode(%q): error %v is not EINVALID", s, err)
			}
			return
		}
		if n < 1 || n > 99 {
			t.Fatalf("ParseContainerCode(%q): container number %d outside 1–99", s, n)
		}
		if d2, n2, err := ParseContainerCode(ContainerCode(d, n)); err != nil || d2 != d || n2 != n {
			t.Fatalf("ParseContainerCode(%q) = %s %d does not round-trip: %s %d %v", s, d, n, d2, n2, err)
		}
	})
}

// FuzzMayBeSameName: the admin look-alike check is symmetric, covers
// SameName, and a name of two or more words with a number added still
// reads as that name (review 21, finding A).
func FuzzMayBeSameName(f *testing.F) {
	for _, c := range [][2]string{{"Alice Adams", "Adams, Alice"}, {"Ian Hill", "Lan Hill"}, {"Ian Hill", "lan Hill"}, {"Mark Ali", "Mark All"},
		{"Alice Adams", "A. Adams"}, {"Al1ce Adarns", "AIice Adams"}, {"İan Hill", "Ian Hill"}, {"Dr", "Dr"}, {"", "x"}, {"rn", "m"}, {"Dr MD", "x"}} {
		f.Add(c[0], c[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		if MayBeSameName(a, b) != MayBeSameName(b, a) {
			t.Fatalf("MayBeSameName(%q, %q) = %v but reversed %v", a, b, MayBeSameName(a, b), MayBeSameName(b, a))
		}
		if SameName(a, b) && !MayBeSameName(a, b) {
			t.Fatalf("SameName(%q, %q) but not MayBeSameName", a, b)
		}
		// three words kept: a's two or more, and the 2 (not all titles)
		if len(nameWords(a+" 2", false)) >= 3 && !MayBeSameName(a, a+" 2") {
			t.Fatalf("MayBeSameName(%q, %q) = false; a number added tells the name apart", a, a+" 2")
		}
	})
}
