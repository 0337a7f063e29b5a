package release

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/celltrack/celltrack/lot"
	"github.com/google/uuid"
)

// Op is a criterion's comparator.
type Op string

// Comparators.
const (
	AtLeast Op = ">="
	AtMost  Op = "<="
	Between Op = "between"
	Equals  Op = "equals"
)

func parseOp(s string) (Op, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case ">=", "≥", "min":
		return AtLeast, nil
	case "<=", "≤", "max":
		return AtMost, nil
	case "between":
		return Between, nil
	case "equals", "=", "==":
		return Equals, nil
	}
	return "", lot.Errorf(lot.EINVALID, "op %q is not a comparator; use >=, <=, between or equals", s)
}

// Criterion is one line of a specification. Several Assays make an either/or
// criterion (CD14 or CD11b): any one conforming result satisfies it.
type Criterion struct {
	Assays []Assay      `json:"assays"`
	Op     Op           `json:"op"`
	Min    string       `json:"min,omitempty"`    // >= and between
	Max    string       `json:"max,omitempty"`    // <= and between
	Result string       `json:"result,omitempty"` // equals
	Unit   Unit         `json:"unit,omitempty"`
	Kinds  []lot.Source `json:"kinds,omitempty"`  // empty: every kind the specification covers
	Source string       `json:"source,omitempty"` // where the limit comes from
}

// Name is the criterion as people read it: "CD14 or CD11b".
func (c Criterion) Name() string {
	var s []string
	for _, a := range c.Assays {
		s = append(s, string(a))
	}
	return strings.Join(s, " or ")
}

// Limit prints the acceptance limit: "≥ 95 %", "no-growth".
func (c Criterion) Limit() string {
	u := ""
	if c.Unit != "" {
		u = " " + string(c.Unit)
	}
	switch c.Op {
	case AtLeast:
		return "≥ " + c.Min + u
	case AtMost:
		return "≤ " + c.Max + u
	case Between:
		return c.Min + "–" + c.Max + u
	}
	return c.Result
}

// AppliesTo reports whether the criterion applies to lots of kind k.
func (c Criterion) AppliesTo(k lot.Source) bool {
	if len(c.Kinds) == 0 {
		return true
	}
	for _, x := range c.Kinds {
		if x == k {
			return true
		}
	}
	return false
}

// Spec is a named, versioned specification. A changed specification is a new
// version; old versions stay, and each disposition names the version it used.
type Spec struct {
	ID        uuid.UUID    `json:"-"`
	Name      string       `json:"name"`
	Version   int          `json:"version"`
	Title     string       `json:"title"`
	Kinds     []lot.Source `json:"kinds"`
	Source    string       `json:"source,omitempty"`
	Criteria  []Criterion  `json:"criteria"`
	CreatedAt time.Time    `json:"created_at"`
	CreatedBy string       `json:"created_by"`
}

// Ref is NAME@VERSION.
func (s Spec) Ref() string { return fmt.Sprintf("%s@%d", s.Name, s.Version) }

// Covers reports whether the specification is written for lots of kind k.
func (s Spec) Covers(k lot.Source) bool {
	for _, x := range s.Kinds {
		if x == k {
			return true
		}
	}
	return false
}

// SameContent reports whether s and o say the same thing (ignoring version,
// author and time), so that adding an unchanged file creates no version.
func (s Spec) SameContent(o Spec) bool {
	c := func(x Spec) []byte {
		x.ID, x.Version, x.CreatedAt, x.CreatedBy = uuid.Nil, 0, time.Time{}, ""
		b, _ := json.Marshal(x)
		return b
	}
	return bytes.Equal(c(s), c(o))
}

// CheckCurrent refuses releasing a lot against s when latest, the latest
// version of the same specification, supersedes it: a changed specification
// is what the lab now requires, and an old version stays only to show what
// earlier decisions were judged against.
func CheckCurrent(s, latest Spec) error {
	if s.Version != latest.Version {
		return lot.FieldErrorf("spec", lot.ECONFLICT, "specification %s is superseded: the latest version of %s is %d; a lot is released only against the current version — give specification %s (or %s)",
			s.Ref(), s.Name, latest.Version, latest.Ref(), s.Name)
	}
	return nil
}

// ParseSpecRef reads NAME or NAME@VERSION; version 0 means the latest.
func ParseSpecRef(s string) (string, int, error) {
	name, v, found := strings.Cut(s, "@")
	if err := lot.ValidateCode("specification name", name); err != nil {
		return "", 0, err
	}
	if !found {
		return name, 0, nil
	}
	n := 0
	if _, err := fmt.Sscanf(v, "%d", &n); err != nil || n < 1 || fmt.Sprint(n) != v {
		return "", 0, lot.Errorf(lot.EINVALID, "specification %q: version %q must be a whole number from 1, e.g. %s@2", s, v, name)
	}
	return name, n, nil
}

// DefaultSpec names the built-in specification for lots of kind k.
func DefaultSpec(k lot.Source) string {
	if k == lot.SourceRFib {
		return "rfib-autologous"
	}
	return "isct-uc-msc"
}

// specFile is the documented file format of `release spec add` (README,
// "Release"): assay may name alternatives with "|" (CD14|CD11b); op is >=,
// <=, between or equals; limit (or min and max for between) is an exact
// decimal; result is the conforming word for equals.
type specFile struct {
	Name     string         `json:"name"`
	Title    string         `json:"title"`
	Kinds    []string       `json:"kinds"`
	Source   string         `json:"source,omitempty"`
	Criteria []criterionRow `json:"criteria"`
}

type criterionRow struct {
	Assay  string      `json:"assay"`
	Op     string      `json:"op"`
	Limit  decimalText `json:"limit,omitempty"`
	Min    decimalText `json:"min,omitempty"`
	Max    decimalText `json:"max,omitempty"`
	Result string      `json:"result,omitempty"`
	Unit   string      `json:"unit,omitempty"`
	Kinds  []string    `json:"kinds,omitempty"`
	Source string      `json:"source,omitempty"`
}

// File returns the specification in the file format ParseSpecFile reads
// (README, "Release"), so that `release spec show --json` output can be
// edited and added back as a new version, as protocols can. Version,
// author and time are the store's, not the file's, and are left out.
func (s Spec) File() any {
	f := specFile{Name: s.Name, Title: s.Title, Source: s.Source, Kinds: sourceNames(s.Kinds), Criteria: []criterionRow{}}
	for _, c := range s.Criteria {
		row := criterionRow{Op: string(c.Op), Result: c.Result, Unit: string(c.Unit), Kinds: sourceNames(c.Kinds), Source: c.Source}
		var assays []string
		for _, a := range c.Assays {
			assays = append(assays, string(a))
		}
		row.Assay = strings.Join(assays, "|")
		switch c.Op {
		case AtLeast:
			row.Limit = decimalText(c.Min)
		case AtMost:
			row.Limit = decimalText(c.Max)
		case Between:
			row.Min, row.Max = decimalText(c.Min), decimalText(c.Max)
		}
		f.Criteria = append(f.Criteria, row)
	}
	return f
}

func sourceNames(ks []lot.Source) []string {
	var s []string
	for _, k := range ks {
		s = append(s, string(k))
	}
	return s
}

// decimalText is a limit written in a specification file either as a JSON
// string ("0.25") or as a JSON number (0.25); the number's text is kept as
// written, so it is never rounded through a float.
type decimalText string

func (d *decimalText) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*d = decimalText(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return err
	}
	*d = decimalText(n.String())
	return nil
}

// ParseSpecFile reads and checks a specification file. Every problem is
// reported with the criterion's position.
func ParseSpecFile(data []byte) (Spec, error) {
	var f specFile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return Spec{}, lot.Errorf(lot.EINVALID, "specification file is not valid JSON in the documented format (README, \"Release\"): %v", err)
	}
	s := Spec{Name: f.Name, Title: f.Title, Source: f.Source}
	for _, k := range f.Kinds {
		src, err := lot.ParseSource(k)
		if err != nil {
			return Spec{}, err
		}
		s.Kinds = append(s.Kinds, src)
	}
	for i, row := range f.Criteria {
		c, err := row.criterion()
		if err != nil {
			return Spec{}, lot.Errorf(lot.EINVALID, "criteria[%d] (%s): %s", i, row.Assay, lot.ErrorMessage(err))
		}
		s.Criteria = append(s.Criteria, c)
	}
	return s, s.Validate()
}

func (row criterionRow) criterion() (Criterion, error) {
	c := Criterion{Source: row.Source}
	for _, a := range strings.Split(row.Assay, "|") {
		code, err := ParseAssay(a)
		if err != nil {
			return c, err
		}
		c.Assays = append(c.Assays, code)
	}
	op, err := parseOp(row.Op)
	if err != nil {
		return c, err
	}
	c.Op = op
	switch op {
	case AtLeast:
		c.Min = string(row.Limit)
	case AtMost:
		c.Max = string(row.Limit)
	case Between:
		c.Min, c.Max = string(row.Min), string(row.Max)
	case Equals:
		c.Result = row.Result
	}
	if row.Unit != "" {
		if c.Unit, err = ParseUnit(row.Unit); err != nil {
			return c, err
		}
	}
	for _, k := range row.Kinds {
		src, err := lot.ParseSource(k)
		if err != nil {
			return c, err
		}
		c.Kinds = append(c.Kinds, src)
	}
	return c, nil
}

// Validate checks a specification: a name, at least one lot kind and one
// criterion, and every criterion's comparator, limits and unit fitting its
// assays. It normalises limits to their exact canonical text.
func (s *Spec) Validate() error {
	if err := lot.ValidateCode("specification name", s.Name); err != nil {
		return err
	}
	if err := lot.ValidateText("title", s.Title, true); err != nil {
		return err
	}
	if len(s.Kinds) == 0 {
		return lot.Errorf(lot.EINVALID, "specification %s: kinds is empty; name the lot kinds it judges (uc, rfib)", s.Name)
	}
	if len(s.Criteria) == 0 {
		return lot.Errorf(lot.EINVALID, "specification %s has no criteria", s.Name)
	}
	for i := range s.Criteria {
		if err := s.Criteria[i].validate(); err != nil {
			return lot.Errorf(lot.EINVALID, "specification %s, criteria[%d] (%s): %s", s.Name, i, s.Criteria[i].Name(), lot.ErrorMessage(err))
		}
	}
	var missing []string
	for _, k := range s.Kinds {
		var m []string
		for _, r := range requiredSafety {
			if r.kind != "" && r.kind != k {
				continue
			}
			if !s.hasSafety(k, r) {
				m = append(m, r.need())
			}
		}
		if len(m) > 0 {
			missing = append(missing, fmt.Sprintf("for %s lots %s", k, strings.Join(m, ", ")))
		}
	}
	if len(missing) > 0 {
		return lot.Errorf(lot.EINVALID, "specification %s lacks safety criteria every release must check: %s; "+
			"add each as a criterion of its own assay, as the built-in %s does",
			s.Name, strings.Join(missing, "; "), DefaultSpec(s.Kinds[0])).Run("release spec show " + DefaultSpec(s.Kinds[0]))
	}
	return nil
}

// safetyCheck is a criterion every specification of a kind must hold: the
// safety panel of the MSC trials (DOMAIN.md, "Release criteria"). A
// specification without it would let a lot with positive mycoplasma or a
// growing sterility culture be released as conforming.
type safetyCheck struct {
	assay Assay
	op    Op         // Equals: the conforming word; AtMost: an upper limit; AtLeast: a lower limit
	kind  lot.Source // "" for every kind
}

var requiredSafety = []safetyCheck{
	{assay: "sterility", op: Equals},
	{assay: "mycoplasma", op: Equals},
	{assay: "endotoxin", op: AtMost},
	{assay: "viability", op: AtLeast},
	{assay: "viable-cells", op: AtLeast},
	// rFib: genetic stability of reprogrammed cells and the chain of
	// identity (seed 002; T/CSCB 0003-2021).
	{assay: "karyotype", op: Equals, kind: lot.SourceRFib},
	{assay: "identity", op: Equals, kind: lot.SourceRFib},
}

// need says what the check requires, as a spec file writes it.
func (r safetyCheck) need() string {
	switch r.op {
	case AtMost:
		return fmt.Sprintf("%s with an upper limit (op <= or between)", r.assay)
	case AtLeast:
		return fmt.Sprintf("%s with a lower limit (op >= or between)", r.assay)
	}
	return fmt.Sprintf("%s equals %s", r.assay, r.assay.Words()[0])
}

// hasSafety reports whether a criterion of assay r.assay alone, applying
// to lots of kind k, checks what r requires. Validated criteria of a
// qualitative assay always name its conforming word.
func (s Spec) hasSafety(k lot.Source, r safetyCheck) bool {
	_, ok := s.safetyCriterion(k, r)
	return ok
}

// safetyCriterion returns the criterion of s that judges safety check r for
// lot kind k: one of r's assay alone, with r's operator or a range.
func (s Spec) safetyCriterion(k lot.Source, r safetyCheck) (Criterion, bool) {
	for _, c := range s.Criteria {
		if len(c.Assays) == 1 && c.Assays[0] == r.assay && c.AppliesTo(k) && (c.Op == r.op || c.Op == Between) {
			return c, true
		}
	}
	return Criterion{}, false
}

// ViabilityFloor is the viability a lot of kind k released against s by d
// must still have after thaw: the lower limit of s's viability criterion in
// 0.1 %, read to 6 places and rounded up, so that a floor written finer
// than a thaw's 0.1 % is never relaxed; ok is false when s has none. When d
// is an exceptional release whose signers accepted that criterion failing,
// waived says so: a floor the lot never met cannot stop its bags at the
// bedside, or every bag of it would be thawed and wasted.
func ViabilityFloor(s Spec, d Disposition, k lot.Source) (floor lot.Tenths, waived string, ok bool, err error) {
	c, ok := s.safetyCriterion(k, safetyCheck{assay: "viability", op: AtLeast})
	if !ok {
		return 0, "", false, nil
	}
	v, err := lot.ParseFixed("viability floor of "+s.Name, c.Min, 6)
	if d.Decision == Exception {
		for _, r := range d.Rows {
			if r.Criterion == c.Name() && r.Verdict != Pass {
				waived = fmt.Sprintf("the exceptional release of %s signed %s accepted %s %s (%s)",
					d.Lot, lot.FormatDate(d.At), r.Criterion, r.Verdict, r.Result)
			}
		}
	}
	return lot.Tenths((v + 99_999) / 100_000), waived, true, err
}

func (c *Criterion) validate() error {
	if len(c.Assays) == 0 {
		return lot.Errorf(lot.EINVALID, "assay is required")
	}
	qual := c.Assays[0].Qualitative()
	for _, a := range c.Assays {
		if info(a).code == "" {
			return lot.Errorf(lot.EINVALID, "assay %q is not an assay code; use one of: %s", a, assayCodes())
		}
		if a.Qualitative() != qual || a.Unit() != c.Assays[0].Unit() || a.Words() != c.Assays[0].Words() {
			return lot.Errorf(lot.EINVALID, "alternatives %s are not measured the same way; either/or assays must share a unit or vocabulary", c.Name())
		}
	}
	if qual {
		if c.Op != Equals {
			return lot.Errorf(lot.EINVALID, "%s is qualitative; use op equals with result %s", c.Name(), c.Assays[0].Words()[0])
		}
		if c.Unit != "" {
			return lot.Errorf(lot.EINVALID, "%s is qualitative and takes no unit", c.Name())
		}
		w, err := parseWord(c.Assays[0], c.Result)
		if err != nil {
			return err
		}
		if good := c.Assays[0].Words()[0]; w != good {
			return lot.Errorf(lot.EINVALID, "result %s is the failing result of %s and would release a lot that fails it; a criterion names the conforming result, %s", w, c.Name(), good)
		}
		c.Result = w
		return nil
	}
	if c.Op == Equals {
		return lot.Errorf(lot.EINVALID, "%s is numeric; use op >=, <= or between", c.Name())
	}
	if c.Unit == "" {
		c.Unit = c.Assays[0].Unit()
	}
	if c.Unit != c.Assays[0].Unit() {
		return lot.Errorf(lot.EINVALID, "unit %s does not fit %s, which is measured in %s", c.Unit, c.Name(), c.Assays[0].Unit())
	}
	var lo, hi *big.Rat
	var err error
	if c.Op == AtLeast || c.Op == Between {
		if lo, err = ParseDecimal("limit", c.Min); err != nil {
			return err
		}
		c.Min = FormatDecimal(lo)
	}
	if c.Op == AtMost || c.Op == Between {
		if hi, err = ParseDecimal("limit", c.Max); err != nil {
			return err
		}
		c.Max = FormatDecimal(hi)
	}
	if lo != nil && hi != nil && lo.Cmp(hi) > 0 {
		return lot.Errorf(lot.EINVALID, "min %s is above max %s", c.Min, c.Max)
	}
	// The same traps as a result (ParseValue): a limit of 0.95 % for CD105
	// is 95 % written as a fraction, and would pass every lot.
	for _, r := range []*big.Rat{lo, hi} {
		switch {
		case r == nil:
		case r.Sign() < 0:
			return lot.Errorf(lot.EINVALID, "limit %s is negative", FormatDecimal(r))
		case c.Unit == Percent && r.Cmp(big.NewRat(100, 1)) > 0:
			return lot.Errorf(lot.EINVALID, "limit %s %% is over 100 %%", FormatDecimal(r))
		case info(c.Assays[0]).fractionTrap && r.Sign() > 0 && r.Cmp(big.NewRat(1, 1)) <= 0:
			return lot.Errorf(lot.EINVALID, "limit %s for %s looks like a fraction, but %s is a percentage (0–100); give %s",
				FormatDecimal(r), c.Name(), c.Name(), FormatDecimal(new(big.Rat).Mul(r, big.NewRat(100, 1))))
		}
	}
	return nil
}
