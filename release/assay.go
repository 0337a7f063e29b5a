// Package release holds the rules by which QA judges a lot before it may leave
// quarantine: versioned specifications, QC results, donor eligibility, the
// evaluation of a lot against a specification, the signed disposition and the
// certificate of analysis. It does no I/O; package store persists it.
package release

import (
	"math/big"
	"regexp"
	"strings"
	"sync"

	"github.com/celltrack/celltrack/lot"
)

// Assay is a QC test code in its canonical spelling, e.g. "CD105" or
// "viable-cells". Codes are typed case-insensitively.
type Assay string

// Unit is the unit a numeric result and a numeric limit are expressed in.
type Unit string

// Units of the numeric assays.
const (
	Percent   Unit = "%"
	EUPerML   Unit = "EU/mL"
	CellCount Unit = "cells"
)

// Qualitative result vocabularies: the first word of each pair is the
// conforming one.
var (
	PassFail        = [2]string{"pass", "fail"}
	GrowthWords     = [2]string{"no-growth", "growth"}
	NegPos          = [2]string{"negative", "positive"}
	NormalAbnormal  = [2]string{"normal", "abnormal"}
	qualitativeSets = [][2]string{PassFail, GrowthWords, NegPos, NormalAbnormal}
)

type assayInfo struct {
	code  Assay
	unit  Unit      // numeric assays
	words [2]string // qualitative assays
	// fractionTrap marks percentages that are never at or below 1 % in a real
	// result, so that 0.95 typed for 95 % is refused instead of judged.
	fractionTrap bool
	what         string
}

// assays is the closed list of assay codes (issue 3).
var assays = []assayInfo{
	{code: "CD105", unit: Percent, fractionTrap: true, what: "CD105-positive cells"},
	{code: "CD73", unit: Percent, fractionTrap: true, what: "CD73-positive cells"},
	{code: "CD90", unit: Percent, fractionTrap: true, what: "CD90-positive cells"},
	{code: "CD45", unit: Percent, what: "CD45-positive cells"},
	{code: "CD34", unit: Percent, what: "CD34-positive cells"},
	{code: "CD14", unit: Percent, what: "CD14-positive cells"},
	{code: "CD11b", unit: Percent, what: "CD11b-positive cells"},
	{code: "CD79a", unit: Percent, what: "CD79α-positive cells"},
	{code: "CD19", unit: Percent, what: "CD19-positive cells"},
	{code: "HLA-DR", unit: Percent, what: "HLA-DR-positive cells"},
	{code: "adherence", words: PassFail, what: "plastic adherence"},
	{code: "trilineage", words: PassFail, what: "osteo-, adipo- and chondrogenic differentiation"},
	{code: "sterility", words: GrowthWords, what: "sterility culture"},
	{code: "mycoplasma", words: NegPos, what: "mycoplasma"},
	{code: "endotoxin", unit: EUPerML, what: "bacterial endotoxin"},
	{code: "viability", unit: Percent, fractionTrap: true, what: "viable cells"},
	{code: "viable-cells", unit: CellCount, what: "total viable cells"},
	{code: "karyotype", words: NormalAbnormal, what: "karyotype (genetic stability)"},
	{code: "identity", words: PassFail, what: "identity match to the source patient"},
}

// Assays returns every assay code, in the order of the closed list, for a
// front end to offer.
func Assays() []Assay {
	out := make([]Assay, len(assays))
	for i, a := range assays {
		out[i] = a.code
	}
	return out
}

func assayCodes() string {
	var s []string
	for _, a := range assays {
		s = append(s, string(a.code))
	}
	return strings.Join(s, " ")
}

func info(a Assay) assayInfo {
	for _, x := range assays {
		if x.code == a {
			return x
		}
	}
	return assayInfo{}
}

// ParseAssay reads an assay code, ignoring case.
func ParseAssay(s string) (Assay, error) {
	t := strings.TrimSpace(s)
	for _, a := range assays {
		if strings.EqualFold(string(a.code), t) {
			return a.code, nil
		}
	}
	return "", lot.Errorf(lot.EINVALID, "assay %q is not an assay code; use one of: %s", s, assayCodes())
}

// Qualitative reports whether the assay's result is a word, not a number.
func (a Assay) Qualitative() bool { return info(a).unit == "" }

// Unit is the assay's unit; "" for a qualitative assay.
func (a Assay) Unit() Unit { return info(a).unit }

// Words returns the conforming and non-conforming result words of a
// qualitative assay.
func (a Assay) Words() [2]string { return info(a).words }

// Describe says what the assay measures, for reports.
func (a Assay) Describe() string { return info(a).what }

// ParseUnit reads a unit as typed: %, pct, percent, EU/mL, cells.
func ParseUnit(s string) (Unit, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "%", "pct", "percent":
		return Percent, nil
	case "eu/ml":
		return EUPerML, nil
	case "cells", "cell":
		return CellCount, nil
	}
	return "", lot.Errorf(lot.EINVALID, "unit %q is not a unit celltrack knows; use %%, EU/mL or cells", s)
}

// ParseDecimal reads an exact decimal such as 95, 0.25, 2.5e9 or 2.5x10^9.
// It never uses floating point.
func ParseDecimal(field, s string) (*big.Rat, error) {
	t := strings.TrimSpace(s)
	for _, sep := range []string{"×10^", "x10^", "X10^", "*10^"} {
		t = strings.Replace(t, sep, "e", 1)
	}
	if len(t) > 40 {
		return nil, lot.Errorf(lot.EINVALID, "%s %q is %d characters long; write a decimal such as 95, 0.25 or 2.5e9", field, s, len(t))
	}
	m := decimalRE().FindStringSubmatch(t)
	if m == nil {
		return nil, lot.Errorf(lot.EINVALID, "%s %q is not a number; write a decimal such as 95, 0.25 or 2.5e9", field, s)
	}
	// big.Rat would expand an exponent of a million into a million digits;
	// no QC result or limit is anywhere near 10^±30.
	if len(m[1]) > 2 {
		return nil, lot.Errorf(lot.EINVALID, "%s %q is out of range: the exponent may have at most 2 digits", field, s)
	}
	r, ok := new(big.Rat).SetString(t)
	if !ok {
		return nil, lot.Errorf(lot.EINVALID, "%s %q is not a number; write a decimal such as 95, 0.25 or 2.5e9", field, s)
	}
	if new(big.Rat).Abs(r).Cmp(decimalMax) >= 0 {
		return nil, lot.Errorf(lot.EINVALID, "%s %q is out of range: no QC value or limit reaches 10^15", field, s)
	}
	return r, nil
}

// decimalMax bounds every decimal, so that its canonical text stays short.
var decimalMax = new(big.Rat).SetInt64(1_000_000_000_000_000)

// decimalRE is a decimal with an optional exponent (submatch 1): no
// fractions, hexadecimal or underscores, which big.Rat would also accept.
// Compiled at first use, not at every process start: most commands never
// read a QC value.
var decimalRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?([0-9]+))?$`)
})

// FormatDecimal prints r exactly as a decimal, without trailing zeros.
// Values with more than 9 decimal places (never typed) are rounded.
func FormatDecimal(r *big.Rat) string {
	if r.IsInt() {
		return r.Num().String()
	}
	s := r.FloatString(9)
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}

// Value is one parsed result: a number with its unit, or a word.
type Value struct {
	Text string // canonical text: an exact decimal or a vocabulary word
	Unit Unit   // "" for a word
}

// ParseValue checks a result for assay a as typed: a number in the assay's
// unit (unit "" means the assay's own), or a word from its vocabulary.
func ParseValue(a Assay, value, unit string) (Value, error) {
	in := info(a)
	if in.code == "" {
		return Value{}, lot.Errorf(lot.EINVALID, "assay %q is not an assay code; use one of: %s", a, assayCodes())
	}
	if in.unit == "" {
		if unit != "" {
			return Value{}, lot.FieldErrorf("unit", lot.EINVALID, "the unit %q: %s is a qualitative assay and takes no unit", unit, a)
		}
		w := strings.ToLower(strings.TrimSpace(value))
		w = strings.ReplaceAll(w, " ", "-")
		if w == in.words[0] || w == in.words[1] {
			return Value{Text: w}, nil
		}
		return Value{}, lot.FieldErrorf("value", lot.EINVALID, "the value %q is not a result of %s; use %s or %s", value, a, in.words[0], in.words[1])
	}
	u := in.unit
	if unit != "" {
		var err error
		if u, err = ParseUnit(unit); err != nil {
			return Value{}, err
		}
		if u != in.unit {
			return Value{}, lot.FieldErrorf("unit", lot.EINVALID, "the unit %s does not fit %s, which is measured in %s; convert the result to %s", u, a, in.unit, in.unit)
		}
	}
	r, err := ParseDecimal("the value", value)
	if err != nil {
		err = lot.OnField("value", err)
		for _, set := range qualitativeSets {
			if strings.EqualFold(value, set[0]) || strings.EqualFold(value, set[1]) {
				return Value{}, lot.FieldErrorf("value", lot.EINVALID, "the value %q: %s is a number in %s, not a word", value, a, in.unit)
			}
		}
		return Value{}, err
	}
	if r.Sign() < 0 {
		return Value{}, lot.FieldErrorf("value", lot.EINVALID, "the value %s for %s is negative", value, a)
	}
	if u == Percent && r.Cmp(big.NewRat(100, 1)) > 0 {
		return Value{}, lot.FieldErrorf("value", lot.EINVALID, "the value %s %% for %s is over 100 %%", value, a)
	}
	if in.fractionTrap && r.Sign() > 0 && r.Cmp(big.NewRat(1, 1)) <= 0 {
		return Value{}, lot.FieldErrorf("value", lot.EINVALID, "the value %s for %s looks like a fraction, but %s is a percentage (0–100); give %s", value, a, a, FormatDecimal(new(big.Rat).Mul(r, big.NewRat(100, 1))))
	}
	// The bedside computes the endotoxin dose in 0.001 EU (dose.Source):
	// a finer result would be dosed on one value and shown as another.
	if u == EUPerML && !new(big.Rat).Mul(r, big.NewRat(1000, 1)).IsInt() {
		return Value{}, lot.FieldErrorf("value", lot.EINVALID, "the value %s EU/mL for %s has more than 3 decimal places; celltrack keeps endotoxin to 0.001 EU/mL, which the bedside endotoxin dose is computed on: give the result as the assay reports it to 0.001 EU/mL", value, a)
	}
	if u == CellCount && !r.IsInt() {
		return Value{}, lot.FieldErrorf("value", lot.EINVALID, "the value %s for %s is not a whole number of cells", value, a)
	}
	return Value{Text: FormatDecimal(r), Unit: u}, nil
}

// ParseWord reads a word of any qualitative vocabulary, for limits.
func parseWord(a Assay, s string) (string, error) {
	v, err := ParseValue(a, s, "")
	return v.Text, err
}
