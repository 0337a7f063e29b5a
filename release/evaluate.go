package release

import (
	"fmt"
	"math/big"
	"strconv"
	"time"

	"github.com/celltrack/celltrack/lot"
)

// Verdict is the outcome of one criterion.
type Verdict string

// Verdicts.
const (
	Pass    Verdict = "PASS"
	Fail    Verdict = "FAIL"
	Missing Verdict = "MISSING"
)

// Row is one judged criterion.
type Row struct {
	Criterion string  `json:"criterion"`
	Limit     string  `json:"limit"`
	Result    string  `json:"result"`
	Verdict   Verdict `json:"verdict"`
	Source    string  `json:"source,omitempty"`
}

// Evaluation is a lot judged against one version of a specification.
type Evaluation struct {
	Spec    string    `json:"spec"`
	Version int       `json:"version"`
	Lot     string    `json:"lot"`
	Rows    []Row     `json:"rows"`
	Pass    bool      `json:"pass"`
	At      time.Time `json:"at"`
}

// Failed lists the criteria that did not pass.
func (e Evaluation) Failed() []string {
	var f []string
	for _, r := range e.Rows {
		if r.Verdict != Pass {
			f = append(f, r.Criterion+" "+string(r.Verdict))
		}
	}
	return f
}

// Nonconforming lists each row that did not pass with its verdict and
// result — "viability FAIL (78 %)", "donor eligibility FAIL (ineligible:
// HBV positive)" — so that whoever signs an exceptional release sees every
// failing criterion, the donor's eligibility included.
func Nonconforming(rows []Row) []string {
	var f []string
	for _, r := range rows {
		if r.Verdict != Pass {
			f = append(f, r.Criterion+" "+string(r.Verdict)+" ("+r.Result+")")
		}
	}
	return f
}

// NewFailures lists the criteria that fail in after but did not fail in
// before — they passed, had no result yet, or were not judged at all — and
// those that passed in before and no longer pass: what a QC result recorded
// after release broke. A released lot with a new failure must go back to
// quarantine — a late sterility "growth" or an endotoxin over the limit is
// as serious as a voided result, and no less so when an exceptional release
// was signed while that result was still MISSING. A criterion that already
// failed (the known failure of an exceptional release, an expired lot) is
// not new.
func NewFailures(before, after Evaluation) []string {
	was := map[string]Verdict{}
	for _, r := range before.Rows {
		was[r.Criterion] = r.Verdict
	}
	var f []string
	for _, r := range after.Rows {
		v, judged := was[r.Criterion]
		if (r.Verdict == Fail && (!judged || v != Fail)) || (r.Verdict != Pass && v == Pass) {
			f = append(f, r.Criterion+" "+string(r.Verdict))
		}
	}
	return f
}

// ReleasedAgainst is the specification ("name@version") of a lot's latest
// approval or exceptional release among its dispositions, oldest first, or
// "" when it was never released.
func ReleasedAgainst(ds []Disposition) string {
	spec := ""
	for _, d := range ds {
		if d.Spec != "" && (d.Decision == Approved || d.Decision == Exception) {
			spec = d.Spec + "@" + strconv.Itoa(d.SpecVersion)
		}
	}
	return spec
}

// Donor is what evaluation needs to know about a UC lot's donor.
type Donor struct {
	Code      string
	Screening *Screening // latest; nil when never screened
}

// Evaluate judges lot l against spec s with the lot's results, its donor's
// latest screening (UC lots) and the clock. Every criterion yields a row; the
// lot passes only when every row passes. An expired lot never passes. A
// result whose unit does not fit the criterion's is an EINVALID error, not a
// fail: the number was entered wrongly, not measured out of range.
func Evaluate(s Spec, l lot.Lot, results []Result, donor *Donor, now time.Time) (Evaluation, error) {
	if !s.Covers(l.Source) {
		return Evaluation{}, lot.FieldErrorf("spec", lot.EINVALID, "specification %s judges %v lots; lot %s is %s — use specification %s", s.Ref(), s.Kinds, l.Number, l.Source, DefaultSpec(l.Source))
	}
	ev := Evaluation{Spec: s.Name, Version: s.Version, Lot: l.Number, At: now, Pass: true}
	valid := Valid(results)
	for _, c := range s.Criteria {
		if !c.AppliesTo(l.Source) {
			continue
		}
		row := Row{Criterion: c.Name(), Limit: c.Limit(), Source: c.Source, Verdict: Missing, Result: "no result"}
		for _, a := range c.Assays {
			vs := valid[a]
			if len(vs) == 0 {
				continue
			}
			if len(vs) > 1 {
				row.Verdict, row.Result = Fail, conflicting(vs)
				break
			}
			r := vs[0]
			ok, err := c.conforms(r)
			if err != nil {
				return Evaluation{}, err
			}
			res := r.Display()
			if len(c.Assays) > 1 {
				res = string(a) + " " + res
			}
			// Of a criterion met by any of several assays ("CD14 or
			// CD11b"), one passing result does not outvote another that
			// fails: a valid failing result fails the criterion.
			if !ok {
				row.Verdict, row.Result = Fail, res
				break
			}
			if row.Verdict == Missing {
				row.Verdict, row.Result = Pass, res
			}
		}
		ev.add(row)
	}
	for _, row := range selfFailing(s, l.Source, valid) {
		ev.add(row)
	}
	if l.Source == lot.SourceUC {
		row := Row{Criterion: "donor eligibility", Limit: "all markers negative, consent on file", Verdict: Missing, Result: "donor not screened"}
		if donor != nil && donor.Screening != nil {
			row.Result = donor.Screening.Summary()
			row.Verdict = Pass
			if p := donor.Screening.Problems(); len(p) > 0 {
				row.Verdict, row.Result = Fail, "ineligible: "+joinComma(p)
			}
		}
		ev.add(row)
	}
	row := Row{Criterion: "expiry", Limit: "not expired", Result: "expires " + lot.FormatDate(l.Expires), Verdict: Pass}
	if l.Expired(now) {
		row.Verdict, row.Result = Fail, "EXPIRED "+lot.FormatDate(l.Expires)
	}
	ev.add(row)
	return ev, nil
}

// selfFailing returns a FAIL row for each valid result that fails on its
// own terms — the failing word of a qualitative assay: sterility growth,
// mycoplasma positive, karyotype abnormal, a failed adherence, trilineage or
// identity — of an assay no criterion of s judges for lots of kind k. A
// specification that leaves out an assay does not make its failing result
// releasable.
func selfFailing(s Spec, k lot.Source, valid map[Assay][]Result) []Row {
	judged := map[Assay]bool{}
	for _, c := range s.Criteria {
		if c.AppliesTo(k) {
			for _, a := range c.Assays {
				judged[a] = true
			}
		}
	}
	var rows []Row
	for _, in := range assays {
		if in.unit != "" || judged[in.code] {
			continue
		}
		for _, r := range valid[in.code] {
			if r.Value.Text == in.words[1] {
				rows = append(rows, Row{Criterion: string(in.code) + " (unlisted)", Limit: in.words[0], Result: r.Display(), Verdict: Fail,
					Source: "a failing " + string(in.code) + " result blocks release whatever the specification lists"})
				break
			}
		}
	}
	return rows
}

// conflicting describes several valid results of one assay (a database
// written before CheckNewResult): none of them is chosen.
func conflicting(vs []Result) string {
	var p []string
	for _, r := range vs {
		p = append(p, fmt.Sprintf("#%d %s", r.Seq, r.Display()))
	}
	return fmt.Sprintf("%d valid %s results (%s): correct or void all but one", len(vs), vs[0].Assay, joinComma(p))
}

func (e *Evaluation) add(r Row) {
	e.Rows = append(e.Rows, r)
	if r.Verdict != Pass {
		e.Pass = false
	}
}

// conforms judges one result against the criterion.
func (c Criterion) conforms(r Result) (bool, error) {
	if c.Op == Equals {
		return r.Value.Text == c.Result, nil
	}
	if r.Value.Unit != c.Unit {
		return false, lot.Errorf(lot.EINVALID, "result #%d of %s is in %q but the limit is in %s; void it and record the result in %s", r.Seq, r.Assay, r.Value.Unit, c.Unit, c.Unit)
	}
	v, err := ParseDecimal(string(r.Assay), r.Value.Text)
	if err != nil {
		return false, err
	}
	ok := true
	if c.Min != "" {
		lo, err := ParseDecimal("limit", c.Min)
		if err != nil {
			return false, err
		}
		ok = ok && v.Cmp(lo) >= 0
	}
	if c.Max != "" {
		hi, err := ParseDecimal("limit", c.Max)
		if err != nil {
			return false, err
		}
		ok = ok && v.Cmp(hi) <= 0
	}
	return ok, nil
}

// MilliEUPerML converts an endotoxin result to milli-EU/mL, rounding up so
// that a rounded value never looks safer than the measurement.
func MilliEUPerML(r Result) (int64, error) {
	v, err := ParseDecimal("endotoxin", r.Value.Text)
	if err != nil {
		return 0, err
	}
	v.Mul(v, big.NewRat(1000, 1))
	q, m := new(big.Int).QuoRem(v.Num(), v.Denom(), new(big.Int))
	if m.Sign() > 0 {
		q.Add(q, big.NewInt(1))
	}
	if !q.IsInt64() {
		return 0, lot.Errorf(lot.EINVALID, "endotoxin %s is out of range", r.Value.Text)
	}
	return q.Int64(), nil
}

func joinComma(p []string) string {
	s := ""
	for i, x := range p {
		if i > 0 {
			s += ", "
		}
		s += x
	}
	return s
}
