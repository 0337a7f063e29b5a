package lot

import (
	"strings"
	"testing"
	"time"
)

func TestParseCells(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Cells
	}{
		{"62000000", 62_000_000},
		{"6.2e7", 62_000_000},
		{"6.2E7", 62_000_000},
		{"6.2E+07", 62_000_000},
		{"6.2x10^7", 62_000_000},
		{"6.2X10^7", 62_000_000},
		{"6.2×10^7", 62_000_000},
		{"6.2*10^7", 62_000_000},
		{" 7.5e7 ", 75_000_000}, // rFib infusions 8–12, seed 002
		{"1e6", 1_000_000},      // 1×10^6 cells/kg, seeds 000, 001, 003, 004
		{"2.5e9", 2_500_000_000},
		{"1", 1},
		{"1e13", MaxCells},
		{"0.5e2", 50},
		{".5e2", 50},
	} {
		got, err := ParseCells("--cells", tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseCells(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
}

func TestParseCellsRefusals(t *testing.T) {
	for _, tc := range []struct{ in, why string }{
		{"1×10", "the power of ten must be written 10^N"},
		{"1e", "the exponent is missing"},
		{"-5e7", "it is negative"},
		{"0", "it is zero"},
		{"0e5", "it is zero"},
		{"", "it is empty"},
		{"6.25e1", "not a whole number of cells"},
		{"1.5", "not a whole number of cells"},
		{"2e13", "it is more than"},
		{"1e16", "the exponent must be a whole number from 0 to 15"},
		{"1e-3", "the exponent must be a whole number from 0 to 15"},
		{"6,2e7", "digits with at most one decimal point"},
		{"1.2.3e4", "digits with at most one decimal point"},
		{"e7", "digits with at most one decimal point"},
		{".e7", "digits with at most one decimal point"},
		{"6.2x10^", "the exponent is missing"},
		{"6.2x10", "the power of ten must be written 10^N"},
		{"6.2 million", "digits with at most one decimal point"},
	} {
		_, err := ParseCells("--cells", tc.in)
		if err == nil || ErrorCode(err) != EINVALID {
			t.Errorf("ParseCells(%q) = %v; want EINVALID", tc.in, err)
			continue
		}
		// The message quotes the input exactly as typed and says why.
		if msg := err.Error(); !strings.Contains(msg, `--cells "`+tc.in+`"`) || !strings.Contains(msg, tc.why) {
			t.Errorf("ParseCells(%q) message %q; want the quoted input and %q", tc.in, msg, tc.why)
		}
	}
}

func TestCellsString(t *testing.T) {
	for c, want := range map[Cells]string{
		62_000_000:    "6.20×10^7",
		75_000_000:    "7.50×10^7",
		2_500_000_000: "2.50×10^9",
		62_050_000:    "6.205×10^7", // 62.05 kg × 1×10^6/kg: every digit shown
		99_950_000:    "9.995×10^7", // never rounded up to 1.00×10^8
		62_012_345:    "6.2012345×10^7",
		105_300_000:   "1.053×10^8",
		999:           "999",
		1000:          "1.00×10^3",
		1234:          "1.234×10^3",
		1235:          "1.235×10^3",
		1_000_000_001: "1.000000001×10^9",
	} {
		if got := c.String(); got != want {
			t.Errorf("Cells(%d).String() = %s; want %s", c, got, want)
		}
	}
}

// TestCellsRounded: the three-significant-digit form that only a summary
// saying it rounds may print.
func TestCellsRounded(t *testing.T) {
	for c, want := range map[Cells]string{
		62_000_000: "6.20×10^7",
		62_062_000: "6.21×10^7",
		99_950_000: "1.00×10^8", // rounds up to the next power
		999:        "999",
		1234:       "1.23×10^3",
		1235:       "1.24×10^3", // half up
	} {
		if got := c.Rounded(); got != want {
			t.Errorf("Cells(%d).Rounded() = %s; want %s", c, got, want)
		}
	}
}

func TestParseFixed(t *testing.T) {
	for _, tc := range []struct {
		in     string
		places int
		want   int64
	}{
		{"62.0", 3, 62_000},
		{"62", 3, 62_000},
		{"62.125", 3, 62_125},
		{".5", 1, 5},
		{"0", 1, 0},
		{" 31.0 ", 1, 310},
	} {
		got, err := ParseFixed("--kg", tc.in, tc.places)
		if err != nil || got != tc.want {
			t.Errorf("ParseFixed(%q, %d) = %d, %v; want %d", tc.in, tc.places, got, err, tc.want)
		}
	}
	for _, tc := range []struct {
		in     string
		places int
		msg    string
	}{
		{"", 1, "is not a number"},
		{".", 1, "is not a number"},
		{"62.", 1, "is not a number"},
		{"-1", 1, "--kg -1 must be 0 or more"},
		{"6,2", 1, "is not a number"},
		{"1e3", 1, "is not a number"},
		{"62.05", 1, "--kg 62.05 must have at most 1 decimal place: it is kept to 0.1; give it as measured to 0.1, for example 62.0 or 62.1"},
		{"0.0625", 3, "--kg 0.0625 must have at most 3 decimal places: it is kept to 0.001; give it as measured to 0.001, for example 0.062 or 0.063"},
		{"1234567890123", 1, "is too large"},
	} {
		_, err := ParseFixed("--kg", tc.in, tc.places)
		if err == nil || ErrorCode(err) != EINVALID || !strings.Contains(err.Error(), tc.msg) || !strings.Contains(err.Error(), `"`+tc.in+`"`) && !strings.Contains(err.Error(), "--kg "+tc.in) {
			t.Errorf("ParseFixed(%q) = %v; want EINVALID naming the input, %q", tc.in, err, tc.msg)
		}
	}
}

// TestDecimalRules: the one parser of exact decimals (ParseFixed, the
// volumes of dose) names the field, the value and the rule it breaks; a
// negative number is a number below the least value, never "not a number"
// (text11).
func TestDecimalRules(t *testing.T) {
	volume := Decimal{Places: 1, Min: 1, Unit: "mL", How: "give the volume in mL"}
	for _, tc := range []struct {
		rule Decimal
		in   string
		want int64
		msg  string
	}{
		{Decimal{Places: 1}, "62.50", 625, ""}, // zeros past the places kept add nothing
		{Decimal{Places: 1}, "-0", 0, ""},
		{Decimal{Places: 1}, "-2.5", 0, "cells -2.5 must be 0 or more"},
		{Decimal{Places: 1}, "-0.05", 0, "cells -0.05 must be 0 or more"},
		{Decimal{Places: 3, Min: 500}, "0.4999", 0, "cells 0.4999 must be 0.5 or more"},
		{Decimal{Places: 3, Min: 500}, "0.5001", 0, "cells 0.5001 must have at most 3 decimal places: it is kept to 0.001; give it as measured to 0.001, for example 0.500 or 0.501"},
		{volume, "36.5", 365, ""},
		{volume, "0", 0, "cells 0 mL must be 0.1 mL or more; give the volume in mL"},
		{volume, "-3", 0, "cells -3 mL must be 0.1 mL or more; give the volume in mL"},
		{volume, "34.15", 0, "cells 34.15 mL must have at most 1 decimal place: it is kept to 0.1 mL; give the volume in mL"},
		{volume, "-x", 0, `cells "-x" is not a number; give the volume in mL`},
		{volume, "+3", 0, `cells "+3" is not a number; give the volume in mL`},
	} {
		got, err := tc.rule.Parse("cells", tc.in)
		switch {
		case tc.msg == "" && (err != nil || got != tc.want):
			t.Errorf("%+v.Parse(%q) = %d, %v; want %d", tc.rule, tc.in, got, err, tc.want)
		case tc.msg != "" && (ErrorCode(err) != EINVALID || ErrorMessage(err) != tc.msg):
			t.Errorf("%+v.Parse(%q) = %v;\nwant EINVALID %q", tc.rule, tc.in, err, tc.msg)
		}
	}
}

// TestParseWeightKg: a weight is kept to the scale's 10 g and shown exactly
// as typed, never rounded (issue 12: 62.05 kg was dosed on but shown as
// 62.1 kg); a finer weight is refused, not rounded.
func TestParseWeightKg(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Grams
		show string
	}{
		{"62.0", 62_000, "62.0 kg"},
		{"62", 62_000, "62.0 kg"},
		{"62.05", 62_050, "62.05 kg"},    // the paediatric-scale weight
		{"62.050", 62_050, "62.05 kg"},   // a trailing zero adds no precision
		{"8.35", 8_350, "8.35 kg"},       // an infant on a 10 g scale
		{"3.1", 3_100, "3.1 kg"},         // a neonate
		{"1.00", 1_000, "1.0 kg"},        // the lower bound
		{"300.00", 300_000, "300.0 kg"},  // the upper bound
		{" 70.10 ", 70_100, "70.1 kg"},   // spaces around
		{"105.35", 105_350, "105.35 kg"}, // three digits before the point
	} {
		g, err := ParseWeightKg("--kg", tc.in)
		if err != nil || g != tc.want || g.String() != tc.show {
			t.Errorf("ParseWeightKg(%q) = %d g shown %q, %v; want %d g shown %q", tc.in, g, g.String(), err, tc.want, tc.show)
		}
	}
	for _, tc := range []struct{ in, msg string }{
		{"620", "outside 1.0–300.0 kg"},
		{"0.9", "outside 1.0–300.0 kg"},
		{"300.01", "outside 1.0–300.0 kg"},
		{"0", "outside 1.0–300.0 kg"},
		{"62.055", `"62.055" has more than 2 decimal places; celltrack keeps weights to 0.01 kg`},
		{"62.051", "has more than 2 decimal places"},
		{"300.001", "outside 1.0–300.0 kg"},
		{"0.062", "--kg 0.062 kg is outside"},
		{"0.0625", "--kg 0.0625 kg is outside"},
		{"300.0001", "--kg 300.0001 kg is outside"},
		{"61.9999999", "has more than 2 decimal places"},
		{"62.0501", "has more than 2 decimal places"},
		{"62.0500001", "has more than 2 decimal places"},
		{"62,05", "is not a number"},
	} {
		_, err := ParseWeightKg("--kg", tc.in)
		if err == nil || ErrorCode(err) != EINVALID || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("ParseWeightKg(%q) = %v; want EINVALID %q", tc.in, err, tc.msg)
		}
	}
}

// TestGramsShownExactly: a weight already on file to the gram (recorded
// before weights were kept to 10 g) is shown to the gram, not rounded.
func TestGramsShownExactly(t *testing.T) {
	for g, want := range map[Grams]string{62_000: "62.0", 62_050: "62.05", 62_055: "62.055", 62_100: "62.1", 999: "0.999", 300_001: "300.001"} {
		if got := g.KgString(); got != want {
			t.Errorf("Grams(%d).KgString() = %q, want %q", g, got, want)
		}
	}
}

func TestParsePercent(t *testing.T) {
	for in, want := range map[string]Tenths{"95": 950, "94.5": 945, "100": 1000, "1.1": 11, "92.10": 921} {
		if got, err := ParsePercent("--viability", in); err != nil || got != want {
			t.Errorf("ParsePercent(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, tc := range []struct{ in, msg string }{
		{"0.95", "looks like a fraction"},
		{"0.955", "looks like a fraction"},
		{"1", "looks like a fraction"},
		{"0", "looks like a fraction"},
		{"100.1", "more than 100 %"},
		{"950", "more than 100 %"},
		{"94.55", "more than 1 decimal place"},
		{"95%", "is not a number"},
		{"abc", "is not a number"},
	} {
		_, err := ParsePercent("--viability", tc.in)
		if err == nil || ErrorCode(err) != EINVALID || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("ParsePercent(%q) = %v; want EINVALID containing %q", tc.in, err, tc.msg)
		}
	}
}

func TestParseDate(t *testing.T) {
	if d, err := ParseDate("--born", "1984-03-09"); err != nil || !d.Equal(time.Date(1984, 3, 9, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("ParseDate(1984-03-09) = %v, %v", d, err)
	}
	if d, err := ParseDate("--born", "2024-02-29"); err != nil || d.Day() != 29 {
		t.Errorf("ParseDate(2024-02-29) (a leap day) = %v, %v", d, err)
	}
	for _, tc := range []struct{ in, msg string }{
		{"2026-02-30", "is not a calendar date (day out of range)"},
		{"2025-02-29", "is not a calendar date (day out of range)"},
		{"2026-13-01", "is not a calendar date (month out of range)"},
		{"25/11/2026", "write it as YYYY-MM-DD"},
		{"2026-11-25T09:00Z", "write it as YYYY-MM-DD"},
		{"", "write it as YYYY-MM-DD"},
	} {
		_, err := ParseDate("--expires", tc.in)
		if err == nil || ErrorCode(err) != EINVALID || !strings.Contains(err.Error(), tc.msg) || !strings.Contains(err.Error(), `"`+tc.in+`"`) {
			t.Errorf("ParseDate(%q) = %v; want EINVALID quoting it, %q", tc.in, err, tc.msg)
		}
	}
}

func TestParseTime(t *testing.T) {
	want := time.Date(2026, 11, 25, 14, 30, 0, 0, time.UTC)
	for _, in := range []string{"2026-11-25T14:30Z", "2026-11-25T14:30:00Z", "2026-11-25T15:30+01:00", "2026-11-25T09:30:00-05:00", "2026-11-25T14:30:00.000Z"} {
		got, err := ParseTime("--at", in)
		if err != nil || !got.Equal(want) || got.Location() != time.UTC {
			t.Errorf("ParseTime(%q) = %v, %v; want %v in UTC", in, got, err, want)
		}
	}
	for _, tc := range []struct{ in, msg string }{
		// An event time without its hour would be read as midnight UTC.
		{"2026-11-25", `--at "2026-11-25" is a date without a time; give the time it happened with a zone, e.g. 2026-11-25T08:30Z`},
		{"2026-11-25T14:30", "has no time zone"},
		{"2026-11-25T14:30:00", "has no time zone"},
		{"2026-11-25 14:30Z", "is not a time"},
		{"14:30", "is not a time"},
		{"2026-02-30T10:00Z", "is not a time"},
	} {
		_, err := ParseTime("--at", tc.in)
		if err == nil || ErrorCode(err) != EINVALID || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("ParseTime(%q) = %v; want EINVALID containing %q", tc.in, err, tc.msg)
		}
	}
}

func TestFormatTimeShowsZone(t *testing.T) {
	at := time.Date(2026, 11, 25, 15, 30, 0, 0, time.FixedZone("CET", 3600))
	if got := FormatTime(at); got != "2026-11-25 14:30 UTC" {
		t.Errorf("FormatTime = %q", got)
	}
}

// TestDecimalLeadingZerosAndLimit: leading zeros add nothing (they are not
// digits "too large"), and past the limit the refusal says it and what to
// give (review14 B).
func TestDecimalLeadingZerosAndLimit(t *testing.T) {
	for in, want := range map[string]int64{"00000000000062.5": 625, "000": 0, "-000.0": 0, "0999999999999": 9999999999990} {
		if n, err := (Decimal{Places: 1}).Parse("--kg", in); err != nil || n != want {
			t.Errorf("Parse(%q) = %d %v; want %d", in, n, err, want)
		}
	}
	if n, err := (Decimal{}).Parse("--n", "000"); err != nil || n != 0 {
		t.Errorf("Parse(000) at no places = %d %v; want 0", n, err)
	}
	_, err := Decimal{Places: 1, Unit: "kg"}.Parse("--kg", "0001234567890123")
	if want := `--kg "0001234567890123" is too large: it may have at most 12 digits before the decimal point (at most 999999999999 kg); check the value and its unit, and give it again`; ErrorMessage(err) != want || ErrorCode(err) != EINVALID {
		t.Errorf("too large: %v (%s); want %q", err, ErrorCode(err), want)
	}
}
