package release

import (
	"math/big"
	"strings"
	"testing"

	"github.com/celltrack/celltrack/lot"
)

// The fuzz targets run their seed corpus (below and in testdata/fuzz) as
// ordinary tests under `go test`; `go test ./release -run '^$' -fuzz
// FuzzParseSpecFile -fuzztime 1m` explores.

func FuzzParseSpecFile(f *testing.F) {
	for _, s := range []string{
		`{"name": "lab-uc", "title": "Lab UC panel", "kinds": ["uc"], "criteria": [
		  {"assay": "endotoxin", "op": "<=", "limit": "1.0", "unit": "EU/mL", "source": "USP <85>"},
		  {"assay": "CD14|CD11b", "op": "≤", "limit": 2, "unit": "%"}]}`,
		`{"name": "b", "title": "B", "kinds": ["uc", "rfib"], "criteria": [
		  {"assay": "viability", "op": "between", "min": "70", "max": "100", "unit": "percent"},
		  {"assay": "sterility", "op": "equals", "result": "no-growth"},
		  {"assay": "viable-cells", "op": ">=", "limit": "1x10^8", "kinds": ["rfib"]}]}`,
		`{"name": "bad", "title": "Bad", "kinds": ["uc"], "criteria": [{"assay": "sterility", "op": ">=", "limit": "1"}]}`,
		`{"name": "x", "kinds": ["blood"], "criteria": []}`,
		`{"name": "x", "title": "X", "kinds": ["uc"], "criteria": [{"assay": "CD105", "op": ">=", "limit": 1e999999, "unit": "%"}]}`,
		`{"name": "x", "colour": "red"}`, `[]`, `null`, ``, `{`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseSpecFile(data)
		if err != nil {
			if lot.ErrorCode(err) != lot.EINVALID {
				t.Fatalf("ParseSpecFile(%q): error %v is not EINVALID", data, err)
			}
			return
		}
		if err := s.Validate(); err != nil {
			t.Fatalf("ParseSpecFile(%q) accepted a specification that does not validate: %v", data, err)
		}
		if len(s.Criteria) == 0 {
			t.Fatalf("ParseSpecFile(%q) accepted a specification without criteria", data)
		}
		again, err := ParseSpecFile(data)
		if err != nil || !again.SameContent(s) {
			t.Fatalf("ParseSpecFile(%q) is not deterministic: %v", data, err)
		}
	})
}

func FuzzParseValue(f *testing.F) {
	for _, s := range [][3]string{
		{"CD105", "98.2", ""}, {"CD105", "0.982", ""}, {"cd73", "120", "%"}, {"endotoxin", "0.12", "EU/mL"},
		{"endotoxin", "0.12", "mg"}, {"sterility", "no growth", ""}, {"sterility", "clean", ""}, {"viable-cells", "2.36e9", "cells"},
		{"viable-cells", "2.36x10^9", ""}, {"CD45", "-0.1", ""}, {"CD45", "1/3", ""}, {"CD45", "NaN", ""}, {"HLA-DR", "1e-9999", ""},
		{"endotoxin", "1e999999", ""}, {"viability", "94,5", "pct"}, {"karyotype", "normal", "%"}, {"CD999", "1", ""},
		{"endotoxin", "0x10", ""}, {"endotoxin", "1_000", ""}, {"endotoxin", "0x1p-2", ""}, {"viable-cells", "1e99", ""},
	} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, assay, value, unit string) {
		a, err := ParseAssay(assay)
		if err != nil {
			if lot.ErrorCode(err) != lot.EINVALID {
				t.Fatalf("ParseAssay(%q): error %v is not EINVALID", assay, err)
			}
			return
		}
		v, err := ParseValue(a, value, unit)
		if err != nil {
			if lot.ErrorCode(err) != lot.EINVALID {
				t.Fatalf("ParseValue(%s, %q, %q): error %v is not EINVALID", a, value, unit, err)
			}
			return
		}
		if a.Qualitative() {
			if v.Unit != "" || (v.Text != a.Words()[0] && v.Text != a.Words()[1]) {
				t.Fatalf("ParseValue(%s, %q) = %+v, not one of its words", a, value, v)
			}
			return
		}
		if v.Unit != a.Unit() {
			t.Fatalf("ParseValue(%s, %q, %q) has unit %q, want %q", a, value, unit, v.Unit, a.Unit())
		}
		r, err := ParseDecimal("value", v.Text)
		if err != nil {
			t.Fatalf("ParseValue(%s, %q) = %q, which is not a decimal: %v", a, value, v.Text, err)
		}
		if r.Sign() < 0 || (v.Unit == Percent && r.Cmp(big.NewRat(100, 1)) > 0) {
			t.Fatalf("ParseValue(%s, %q) = %s %s, out of range", a, value, v.Text, v.Unit)
		}
		if back, err := ParseValue(a, v.Text, string(v.Unit)); err != nil || back != v {
			t.Fatalf("ParseValue(%s, %q) = %+v, but its text reads back as %+v, %v", a, value, v, back, err)
		}
	})
}

func FuzzParseSpecRef(f *testing.F) {
	for _, s := range []string{"isct-uc-msc", "isct-uc-msc@1", "isct-uc-msc@0", "isct-uc-msc@01", "x@-1", "x@", "@2", "a@b@c", "x@99999999999999999999", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		name, v, err := ParseSpecRef(s)
		if err != nil {
			if lot.ErrorCode(err) != lot.EINVALID {
				t.Fatalf("ParseSpecRef(%q): error %v is not EINVALID", s, err)
			}
			return
		}
		if v < 0 {
			t.Fatalf("ParseSpecRef(%q) = version %d", s, v)
		}
		ref := name
		if v > 0 {
			ref = Spec{Name: name, Version: v}.Ref()
		}
		if n2, v2, err := ParseSpecRef(ref); err != nil || n2 != name || v2 != v {
			t.Fatalf("ParseSpecRef(%q) = %q, %d, but %q reads back as %q, %d, %v", s, name, v, ref, n2, v2, err)
		}
	})
}

// TestParseDecimalRefusesForeignForms: big.Rat reads fractions, hexadecimal
// and exponents of any size (1e999999 took seconds and a million digits,
// found by FuzzParseValue); a QC value or limit is a plain decimal.
func TestParseDecimalRefusesForeignForms(t *testing.T) {
	for _, s := range []string{"1/3", "0x10", "0x1p-2", "1_000", "1e999999", "1e-100", "1e15", "-2e15", "1e", "e5", ".", "--1", strings.Repeat("9", 41)} {
		if r, err := ParseDecimal("--value", s); err == nil || lot.ErrorCode(err) != lot.EINVALID || !strings.Contains(err.Error(), "--value") {
			t.Errorf("ParseDecimal(%q) = %v, %v; want EINVALID naming --value", s, r, err)
		}
	}
	for s, want := range map[string]string{"95": "95", "0.25": "1/4", "2.5e9": "2500000000", "2.5x10^9": "2500000000", "+1.": "1", ".5": "1/2", "1e-30": "1/1000000000000000000000000000000", "999999999999999.9": "9999999999999999/10"} {
		if r, err := ParseDecimal("--value", s); err != nil || r.RatString() != want {
			t.Errorf("ParseDecimal(%q) = %v, %v; want %s", s, r, err, want)
		}
	}
}
