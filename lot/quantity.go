package lot

import (
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"
)

// MaxCells bounds any cell count celltrack accepts. The largest MSC lots in the
// seed trials hold a few ×10^9 cells; 10^13 leaves room for pooled lots while
// catching a slipped exponent (6.2e17) long before int64 overflows.
const MaxCells = Cells(10_000_000_000_000)

// Cells is a count of cells. It is an integer so that dose arithmetic is exact:
// 62.0 kg × 1×10^6/kg is 62000000, never 61999999.99.
type Cells int64

// ParseCells reads a cell count as a person writes it: 62000000, 6.2e7,
// 6.2E+07, 6.2x10^7 or 6.2×10^7. The value must be a whole number of cells
// from 1 to MaxCells. Mangled or ambiguous input (1×10, 1e, -5e7, 0) is
// refused with a message that quotes it; field names the flag or column.
func ParseCells(field, s string) (Cells, error) {
	in := strings.TrimSpace(s)
	bad := func(why string) error {
		return Errorf(EINVALID, "%s %q is not a cell count: %s; write it as 62000000, 6.2e7 or 6.2x10^7", field, s, why)
	}
	if in == "" {
		return 0, bad("it is empty")
	}
	if strings.HasPrefix(in, "-") {
		return 0, bad("it is negative")
	}
	// Split on the original string: lower-casing could change byte offsets
	// (invalid UTF-8 becomes a 3-byte U+FFFD), found by FuzzParseCells.
	mant, exp := in, "0"
	if i := strings.IndexAny(in, "xX×*"); i >= 0 {
		mant = in[:i]
		rest := strings.TrimPrefix(in[i:], "×")
		rest = strings.TrimLeft(rest, "xX*")
		if !strings.HasPrefix(rest, "10^") {
			return 0, bad("the power of ten must be written 10^N")
		}
		exp = rest[len("10^"):]
	} else if i := strings.IndexAny(in, "eE"); i >= 0 {
		mant, exp = in[:i], in[i+1:]
	}
	exp = strings.TrimPrefix(exp, "+")
	if exp == "" {
		return 0, bad("the exponent is missing")
	}
	e, err := strconv.Atoi(exp)
	if err != nil || e < 0 || e > 15 {
		return 0, bad("the exponent must be a whole number from 0 to 15")
	}
	if mant == "" || strings.Trim(mant, "0123456789.") != "" || strings.Count(mant, ".") > 1 || mant == "." {
		return 0, bad("the number before the exponent must be digits with at most one decimal point")
	}
	r, ok := new(big.Rat).SetString(mant)
	if !ok {
		return 0, bad("the number before the exponent is not a number")
	}
	r.Mul(r, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(e)), nil)))
	if !r.IsInt() {
		return 0, bad("it is not a whole number of cells")
	}
	n := r.Num()
	if n.Sign() == 0 {
		return 0, bad("it is zero")
	}
	if !n.IsInt64() || Cells(n.Int64()) > MaxCells {
		return 0, bad(fmt.Sprintf("it is more than %s", MaxCells))
	}
	return Cells(n.Int64()), nil
}

// String formats the count in scientific notation as clinicians write doses,
// with three significant digits or as many more as the count has: 6.20×10^7,
// 6.205×10^7, 6.2012345×10^7. It never rounds (issue 12): the count shown
// is the count a dose was computed on or a record keeps. Counts below 1000
// print whole.
func (c Cells) String() string {
	if c < 0 {
		return "-" + (-c).String()
	}
	if c < 1000 {
		return strconv.FormatInt(int64(c), 10)
	}
	digits := strconv.FormatInt(int64(c), 10)
	exp := len(digits) - 1
	frac := strings.TrimRight(digits[1:], "0")
	if len(frac) < 2 {
		frac += strings.Repeat("0", 2-len(frac))
	}
	return fmt.Sprintf("%s.%s×10^%d", digits[:1], frac, exp)
}

// Rounded formats the count with three significant digits, rounded half
// up: 6.21×10^7 for 62062000. Only summaries that say they round use it (the
// handling report's cells/kg, beside the exact value in its CSV and JSON);
// everything else shows String or Exact.
func (c Cells) Rounded() string {
	if c < 0 {
		return "-" + (-c).Rounded()
	}
	if c < 1000 {
		return strconv.FormatInt(int64(c), 10)
	}
	exp := len(strconv.FormatInt(int64(c), 10)) - 1
	div := pow10(exp - 2)
	m := (int64(c) + div/2) / div
	if m >= 1000 { // 9.995e7 rounds up to 1.00e8
		m /= 10
		exp++
	}
	return fmt.Sprintf("%d.%02d×10^%d", m/100, m%100, exp)
}

// Exact formats the count with every digit, for records and CSV exports.
func (c Cells) Exact() string { return strconv.FormatInt(int64(c), 10) }

func pow10(n int) int64 {
	p := int64(1)
	for range n {
		p *= 10
	}
	return p
}

// ParseFixed reads a decimal of 0 or more such as "62.0" or "31" into an
// integer scaled by 10^places, refusing more decimal places than places so
// that no precision is silently dropped. field names the flag or column.
// It is Decimal{Places: places}.Parse.
func ParseFixed(field, s string, places int) (int64, error) {
	return Decimal{Places: places}.Parse(field, s)
}

// Decimal is the rule an exact decimal is read by: the one parser of
// typed quantities, so that every refusal of one names the field, the
// value and the rule the same way.
type Decimal struct {
	// Places is the number of decimals kept: the value is returned scaled
	// by 10^Places, and a value given finer is refused (zeros past them
	// change nothing, and are read).
	Places int
	// Min is the least value, scaled by 10^Places: 0 refuses a negative
	// number ("must be 0 or more"), 1 at one place refuses 0.
	Min int64
	// Unit follows the values a refusal names ("mL"); "" for none.
	Unit string
	// How ends every refusal: what to give instead. "" for each refusal's
	// own (an example, or the nearest values).
	How string
}

// Parse reads s by the rule d. A refusal (EINVALID) names field and the
// value, and says the rule broken: not a number, too large (past 12 digits
// before the point, leading zeros not counted), "must be MIN or
// more", "must have at most N decimal places".
func (d Decimal) Parse(field, s string) (int64, error) {
	in := strings.TrimSpace(s)
	num, neg := strings.CutPrefix(in, "-")
	whole, frac, hasDot := strings.Cut(num, ".")
	if num == "" || whole == "" && frac == "" || strings.Trim(whole, "0123456789") != "" ||
		strings.Trim(frac, "0123456789") != "" || hasDot && frac == "" {
		return 0, Errorf(EINVALID, "%s %q is not a number; %s", field, s, d.how("write digits with an optional decimal point, e.g. 62.5"))
	}
	// Leading zeros add nothing, as trailing ones past the places do.
	if whole = strings.TrimLeft(whole, "0"); whole == "" {
		whole = "0"
	}
	if len(whole) > maxWholeDigits {
		return 0, d.tooLarge(field, s)
	}
	// Zeros past the places kept change nothing; any other digit there is
	// finer than the rule keeps.
	fine := strings.TrimRight(frac, "0")
	kept := fine
	if len(kept) > d.Places {
		kept = kept[:d.Places]
	}
	n, err := strconv.ParseInt(whole+kept+strings.Repeat("0", d.Places-len(kept)), 10, 64)
	if err != nil {
		return 0, d.tooLarge(field, s)
	}
	finer := len(fine) > d.Places
	if neg {
		n = -n
	}
	// Below the least value: the value kept, or exactly at it with a
	// negative remainder beyond the places kept.
	if n < d.Min || n == d.Min && neg && finer {
		return 0, Errorf(EINVALID, "%s %s must be %s or more%s", field, d.unit(in), d.unit(minimal(d.Min, d.Places)), d.then())
	}
	if finer {
		step := d.unit(FormatFixed(1, d.Places, d.Places))
		unit := "decimal places"
		if d.Places == 1 {
			unit = "decimal place"
		}
		// The nearest values either side, not a rounding: which one was
		// measured is for the person who measured it.
		return 0, Errorf(EINVALID, "%s %s must have at most %d %s: it is kept to %s; %s", field, d.unit(in), d.Places, unit, step,
			d.how(fmt.Sprintf("give it as measured to %s, for example %s or %s", step, FormatFixed(n, d.Places, d.Places), FormatFixed(n+1, d.Places, d.Places))))
	}
	return n, nil
}

// maxWholeDigits is how many digits a decimal may have before its point.
const maxWholeDigits = 12

// tooLarge refuses s, past the digits a decimal may have: the limit, and
// what to give.
func (d Decimal) tooLarge(field, s string) error {
	return Errorf(EINVALID, "%s %q is too large: it may have at most %d digits before the decimal point (at most %s); %s", field, s, maxWholeDigits,
		d.unit(strings.Repeat("9", maxWholeDigits)), d.how("check the value and its unit, and give it again"))
}

// minimal prints n, scaled by 10^places, without trailing zeros: 0, 0.1.
func minimal(n int64, places int) string {
	v := FormatFixed(n, places, places)
	if strings.Contains(v, ".") {
		v = strings.TrimSuffix(strings.TrimRight(v, "0"), ".")
	}
	return v
}

func (d Decimal) unit(v string) string {
	if d.Unit == "" {
		return v
	}
	return v + " " + d.Unit
}

func (d Decimal) how(own string) string {
	if d.How != "" {
		return d.How
	}
	return own
}

// then is "; " and How, when there is one.
func (d Decimal) then() string {
	if d.How != "" {
		return "; " + d.How
	}
	return ""
}

// FormatFixed prints an integer scaled by 10^places with shown decimals.
func FormatFixed(n int64, places, shown int) string {
	neg := n < 0
	if neg {
		n = -n
	}
	// Round half up from places to shown decimals.
	if shown < places {
		d := pow10(places - shown)
		n = (n + d/2) / d
		places = shown
	}
	s := strconv.FormatInt(n, 10)
	if places > 0 {
		for len(s) <= places {
			s = "0" + s
		}
		s = s[:len(s)-places] + "." + s[len(s)-places:]
	}
	if shown > places {
		if places == 0 {
			s += "."
		}
		s += strings.Repeat("0", shown-places)
	}
	if neg {
		s = "-" + s
	}
	return s
}

// Grams is a body weight in grams. Weights are typed in kg to the scale's
// resolution, at finest 0.01 kg (paediatric scales weigh to 10 g), kept
// exact, and always shown exactly as kept: the weight shown is the weight
// a dose was computed on.
type Grams int64

// Plausible body weights. Anything outside is a typo or a wrong unit (lb, g).
const (
	MinWeight = Grams(1_000)
	MaxWeight = Grams(300_000)
)

// ParseWeightKg reads a body weight in kilograms ("62.0", "8.35") and checks
// it is plausible for a human patient. More than two decimals that are not
// zeros (62.055) is refused rather than rounded: celltrack keeps weights to
// 10 g, the resolution of a paediatric scale, so that no screen or record
// shows a weight other than the one typed.
func ParseWeightKg(field, s string) (Grams, error) {
	// Read to the microgram, ignoring digits past the sixth decimal, so
	// that a weight in the wrong unit (0.062, tonnes) is named as outside
	// the plausible range, and a finer weight (62.055) as finer than the
	// scale, rather than either as a number with too many decimals.
	in := strings.TrimSpace(s)
	whole, frac, hasDot := strings.Cut(in, ".")
	digits := strings.Trim(frac, "0123456789") == ""
	read := in
	if hasDot && digits && len(frac) > 6 {
		read = whole + "." + frac[:6]
	}
	ug, err := ParseFixed(field, read, 6)
	if err != nil {
		return 0, err
	}
	sig := strings.TrimRight(frac, "0")
	if ug < int64(MinWeight)*1000 || ug > int64(MaxWeight)*1000 {
		if len(sig) <= 3 {
			return 0, CheckWeight(field, Grams(ug/1000))
		}
		return 0, Errorf(EINVALID, "%s %s kg is outside %s–%s kg; re-weigh the patient and enter the weight in kilograms",
			field, in, MinWeight.KgString(), MaxWeight.KgString())
	}
	if len(sig) > 2 {
		return 0, weightTooFine(field, s)
	}
	return Grams(ug / 1000), nil
}

// CheckWeight refuses a body weight outside MinWeight–MaxWeight, naming the
// field and the value: the one plausibility rule for weights typed in,
// stored and used at the bedside.
func CheckWeight(field string, w Grams) error {
	if w < MinWeight || w > MaxWeight {
		return Errorf(EINVALID, "%s %s kg is outside %s–%s kg; re-weigh the patient and enter the weight in kilograms",
			field, w.exactKg(), MinWeight.KgString(), MaxWeight.KgString())
	}
	return nil
}

func weightTooFine(field, s string) error {
	return Errorf(EINVALID, "%s %q has more than 2 decimal places; celltrack keeps weights to 0.01 kg (10 g): enter the weight as the scale shows it, e.g. 62.05", field, strings.TrimSpace(s))
}

// exactKg prints the weight in kg to the gram, without trailing zeros past
// the first decimal: 620.0, 0.999, 300.001 — a refusal must not round the
// value it refuses into the range it names.
func (g Grams) exactKg() string {
	s := FormatFixed(int64(g), 3, 3)
	for strings.HasSuffix(s, "0") && len(s)-strings.IndexByte(s, '.') > 2 {
		s = s[:len(s)-1]
	}
	return s
}

// KgString prints the weight in kg exactly as kept, with at least one
// decimal: 62.0, 62.05, and 62.055 for a weight recorded to the gram
// before weights were kept to 10 g. It never rounds: doses are computed on
// this value.
func (g Grams) KgString() string { return g.exactKg() }

// String prints the weight exactly with its unit: 62.0 kg, 62.05 kg.
func (g Grams) String() string { return g.KgString() + " kg" }

// Tenths is a quantity kept in tenths: a volume in 0.1 mL or a percentage in
// 0.1 %.
type Tenths int64

// ParseTenths reads a decimal with at most one decimal place into tenths.
func ParseTenths(field, s string) (Tenths, error) {
	n, err := ParseFixed(field, s, 1)
	return Tenths(n), err
}

// String prints the value with one decimal: 31.0.
func (t Tenths) String() string { return FormatFixed(int64(t), 1, 1) }

// ParsePercent reads a percentage from 0 to 100 (to 0.1 %). A value of 1 or
// less is refused as a likely fraction (0.95 meant as 95 %), because reading
// it as 0.95 % would turn a good lot into a failed one or the reverse.
func ParsePercent(field, s string) (Tenths, error) {
	// Read to 6 places first, so that a fraction such as 0.955 is named as
	// a fraction rather than as a value with too many decimals.
	v, err := ParseFixed(field, s, 6)
	if err != nil {
		return 0, err
	}
	in := strings.TrimSpace(s)
	switch {
	case v <= 1_000_000:
		return 0, Errorf(EINVALID, "%s %s %% looks like a fraction; give it in percent (0.95 is written 95)", field, in)
	case v > 100_000_000:
		return 0, Errorf(EINVALID, "%s %s %% is more than 100 %%", field, in)
	case v%100_000 != 0:
		return 0, Errorf(EINVALID, "%s %s %% has more than 1 decimal place; round it to 0.1 %%", field, in)
	}
	return Tenths(v / 100_000), nil
}

// DateLayout is the one date format celltrack reads and writes (ISO 8601).
const DateLayout = "2006-01-02"

// ParseDate reads an ISO 8601 calendar date (2026-11-25) and refuses
// impossible dates such as 2026-02-30. The date is midnight UTC.
func ParseDate(field, s string) (time.Time, error) {
	t, err := time.Parse(DateLayout, strings.TrimSpace(s))
	var pe *time.ParseError
	if errors.As(err, &pe) && strings.Contains(pe.Message, "out of range") {
		return time.Time{}, Errorf(EINVALID, "%s %q is not a calendar date (%s); check the day and month", field, s, strings.TrimPrefix(pe.Message, ": "))
	} else if err != nil {
		return time.Time{}, Errorf(EINVALID, "%s %q is not a date; write it as YYYY-MM-DD, e.g. 2026-11-25", field, s)
	}
	if t.IsZero() {
		// 0001-01-01 is Go's zero time, which every rule reads as "not
		// given": it would be answered "is required" though a value was
		// typed.
		return time.Time{}, Errorf(EINVALID, "%s %q is not a plausible date (year 1); check the year", field, s)
	}
	return t, nil
}

// ParseTime reads an ISO 8601 time with a zone (2026-11-25T14:30:00Z or
// 2026-11-25T15:30+01:00) and returns it in UTC. A time without a zone is
// refused: at a clinic on another continent it would mean a different
// instant; so is a bare date, which is not the time of an event. Dates
// (birth, expiry, tests) are read by ParseDate.
func ParseTime(field, s string) (time.Time, error) {
	in := strings.TrimSpace(s)
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04Z07:00"} {
		if t, err := time.Parse(layout, in); err == nil {
			return t.UTC(), nil
		}
	}
	// A bare date is refused, not read as midnight UTC: every caller reads
	// the time of an event (a weighing, a thaw, an infusion start), and the
	// hour decides a weight's age and a thaw window.
	if _, err := time.Parse(DateLayout, in); err == nil {
		return time.Time{}, Errorf(EINVALID, "%s %q is a date without a time; give the time it happened with a zone, e.g. %sT08:30Z", field, s, in)
	}
	if _, err := time.Parse("2006-01-02T15:04:05", in); err == nil {
		return time.Time{}, Errorf(EINVALID, "%s %q has no time zone; add Z for UTC or an offset such as +01:00", field, s)
	}
	if _, err := time.Parse("2006-01-02T15:04", in); err == nil {
		return time.Time{}, Errorf(EINVALID, "%s %q has no time zone; add Z for UTC or an offset such as +01:00", field, s)
	}
	return time.Time{}, Errorf(EINVALID, "%s %q is not a time; write it as 2026-11-25T14:30Z (ISO 8601 with a zone)", field, s)
}

// FormatDate prints a calendar date (stored as midnight UTC). An instant's
// date where it happened is FormatDateIn.
func FormatDate(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(DateLayout)
}
