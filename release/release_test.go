package release

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/celltrack/celltrack/lot"
	"github.com/google/uuid"
)

func TestLookBack(t *testing.T) {
	mei := uuid.New()
	din := lot.DIN{FIN: "G1234", Year: 26, Seq: 1}
	mk := func(n int, st lot.ContainerState, p uuid.UUID) lot.Container {
		return lot.Container{DIN: din, Number: n, State: st, PatientID: p}
	}
	cs := []lot.Container{mk(1, lot.Infused, mei), mk(2, lot.Dispensed, mei), mk(3, lot.Thawed, uuid.Nil),
		mk(4, lot.Stored, uuid.Nil), mk(5, lot.Discarded, uuid.Nil), mk(6, lot.Returned, uuid.Nil)}
	infused, recall := LookBack(cs, func(id uuid.UUID) string {
		if id != mei {
			t.Fatalf("asked for the MRN of %s", id)
		}
		return "MRN-1001"
	})
	if got := strings.Join(infused, ","); got != "G12342600000101 (MRN-1001)" {
		t.Errorf("infused %q", got)
	}
	if got := strings.Join(recall, ","); got != "G12342600000102 (dispensed to MRN-1001),G12342600000103 (thawed)" {
		t.Errorf("recall %q", got)
	}
}

func TestParseValue(t *testing.T) {
	for _, tc := range []struct {
		assay, value, unit string
		want               string // canonical text, or the error's fragment after "!"
	}{
		{"cd105", "98.20", "", "98.2"},
		{"CD105", "98.2", "pct", "98.2"},
		{"viability", "0.95", "", "!looks like a fraction"},
		{"viability", "1", "%", "!give 100"},
		{"CD45", "0.4", "", "0.4"}, // a marker that should be near 0 % is not a fraction trap
		{"CD45", "101", "", "!over 100 %"},
		{"endotoxin", "0.125", "EU/mL", "0.125"},
		{"endotoxin", "0.1250", "EU/mL", "0.125"},                           // a trailing zero adds no precision
		{"endotoxin", "1.25e-1", "EU/mL", "0.125"},                          // written with an exponent
		{"endotoxin", "0.1234", "EU/mL", "!has more than 3 decimal places"}, // issue 12: dosed in 0.001 EU, never rounded
		{"endotoxin", "5e-4", "EU/mL", "!has more than 3 decimal places"},
		{"endotoxin", "0.1", "%", "!does not fit endotoxin"},
		{"viable-cells", "2.36e9", "", "2360000000"},
		{"viable-cells", "2.5x10^8", "cells", "250000000"},
		{"viable-cells", "1.5", "", "!not a whole number"},
		{"sterility", "No Growth", "", "no-growth"},
		{"sterility", "clean", "", "!use no-growth or growth"},
		{"mycoplasma", "negative", "%", "!takes no unit"},
		{"CD90", "negative", "", "!is a number in %"},
		{"CD90", "1/2", "", "!is not a number"},
		{"CD90", "-1", "", "!negative"},
	} {
		a, err := ParseAssay(tc.assay)
		if err != nil {
			t.Fatal(err)
		}
		v, err := ParseValue(a, tc.value, tc.unit)
		if strings.HasPrefix(tc.want, "!") {
			if err == nil || !strings.Contains(err.Error(), tc.want[1:]) || lot.ErrorCode(err) != lot.EINVALID {
				t.Errorf("%s %q %q: err %v, want EINVALID containing %q", tc.assay, tc.value, tc.unit, err, tc.want[1:])
			}
			continue
		}
		if err != nil || v.Text != tc.want {
			t.Errorf("%s %q %q = %q, %v; want %q", tc.assay, tc.value, tc.unit, v.Text, err, tc.want)
		}
	}
}

func TestBuiltinsValid(t *testing.T) {
	for _, s := range Builtins() {
		if err := s.Validate(); err != nil {
			t.Errorf("%s: %v", s.Name, err)
		}
		for _, c := range s.Criteria {
			if c.Source == "" {
				t.Errorf("%s: criterion %s has no source", s.Name, c.Name())
			}
		}
	}
}

// passing returns one conforming result for every criterion of s.
func passing(s Spec) []Result {
	good := map[Assay]string{"CD105": "98", "CD73": "98", "CD90": "98", "CD45": "1", "CD34": "1", "CD14": "1",
		"CD79a": "1", "HLA-DR": "1", "endotoxin": "0.1", "viability": "90", "viable-cells": "200000000"}
	var rs []Result
	for _, c := range s.Criteria {
		a := c.Assays[0]
		v := Value{Text: good[a], Unit: a.Unit()}
		if a.Qualitative() {
			v = Value{Text: a.Words()[0]}
		}
		rs = append(rs, Result{Seq: len(rs) + 1, Assay: a, Value: v})
	}
	return rs
}

func TestEvaluate(t *testing.T) {
	now := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	uc := Builtins()[0]
	l := lot.Lot{Number: "L1", Source: lot.SourceUC, Expires: now.AddDate(1, 0, 0)}
	eligible := &Donor{Code: "D", Screening: &Screening{Consented: now, Markers: []Marker{
		{"HIV-1/2", Negative}, {"HBV", Negative}, {"HCV", Negative}, {"syphilis", Negative}, {"HTLV", Negative}}}}
	positive := &Donor{Code: "D", Screening: &Screening{Consented: now, Markers: []Marker{
		{"HIV-1/2", Negative}, {"HBV", Negative}, {"HCV", Indeterminate}, {"syphilis", Negative}, {"HTLV", Negative}}}}
	// add replaces the lot's result of assay a, as a correction does: the
	// earlier one is voided.
	add := func(rs []Result, a Assay, text string, unit Unit) []Result {
		out := append([]Result(nil), rs...)
		for i := range out {
			if out[i].Assay == a {
				out[i].VoidedAt = now
			}
		}
		return append(out, Result{Seq: len(rs) + 1, Assay: a, Value: Value{Text: text, Unit: unit}})
	}
	// both keeps the earlier result of assay a valid beside the new one: a
	// database written before CheckNewResult.
	both := func(rs []Result, a Assay, text string, unit Unit) []Result {
		return append(append([]Result(nil), rs...), Result{Seq: len(rs) + 1, Assay: a, Value: Value{Text: text, Unit: unit}})
	}
	base := passing(uc)
	for _, tc := range []struct {
		name    string
		results []Result
		donor   *Donor
		lot     lot.Lot
		pass    bool
		failed  string
	}{
		{"all pass", base, eligible, l, true, ""},
		{"unscreened donor", base, &Donor{Code: "D"}, l, false, "donor eligibility MISSING"},
		{"HCV indeterminate", base, positive, l, false, "donor eligibility FAIL"},
		{"endotoxin exactly at limit", add(base, "endotoxin", "0.5", EUPerML), eligible, l, true, ""},
		{"endotoxin just over", add(base, "endotoxin", "0.5000001", EUPerML), eligible, l, false, "endotoxin FAIL"},
		{"CD105 exactly 95", add(base, "CD105", "95", Percent), eligible, l, true, ""},
		// Either marker may be tested; when both are, a failing one is not
		// outvoted by the other (the code review: a failing CD14 passed once
		// a CD11b was added, and a CD11b failing after release returned nothing).
		{"CD14 fails, CD11b passes", add(add(base, "CD14", "3", Percent), "CD11b", "1", Percent), eligible, l, false, "CD14 or CD11b FAIL"},
		{"CD14 passes, CD11b fails", add(add(base, "CD14", "1", Percent), "CD11b", "3", Percent), eligible, l, false, "CD14 or CD11b FAIL"},
		{"CD11b alone passes", add(base, "CD11b", "1", Percent), eligible, l, true, ""},
		{"CD14 fails alone", add(base, "CD14", "3", Percent), eligible, l, false, "CD14 or CD11b FAIL"},
		{"expired", base, eligible, lot.Lot{Number: "L1", Source: lot.SourceUC, Expires: now}, false, "expiry FAIL"},
		{"no results", nil, eligible, l, false, "adherence MISSING"},
		// Two valid results of one assay: neither the later nor the
		// passing one wins (finding A).
		{"growth then no-growth, both valid", both(add(base, "sterility", "growth", ""), "sterility", "no-growth", ""), eligible, l, false, "sterility FAIL"},
		{"no-growth then growth, both valid", both(base, "sterility", "growth", ""), eligible, l, false, "sterility FAIL"},
		{"growth corrected to no-growth", add(add(base, "sterility", "growth", ""), "sterility", "no-growth", ""), eligible, l, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := Evaluate(uc, tc.lot, tc.results, tc.donor, now)
			if err != nil {
				t.Fatal(err)
			}
			if ev.Pass != tc.pass || (tc.failed != "" && !strings.Contains(strings.Join(ev.Failed(), ", "), tc.failed)) {
				t.Errorf("pass=%v failed=%v; want pass=%v with %q", ev.Pass, ev.Failed(), tc.pass, tc.failed)
			}
		})
	}
	// A result whose unit does not fit the limit is an error, not a fail.
	bad := add(base, "viability", "0.95", "fraction")
	if _, err := Evaluate(uc, l, bad, eligible, now); lot.ErrorCode(err) != lot.EINVALID {
		t.Errorf("unit mismatch: err %v, want EINVALID", err)
	}
}

func TestMilliEUPerML(t *testing.T) {
	for _, tc := range []struct {
		text string
		want int64
	}{{"0.12", 120}, {"0.5", 500}, {"0.0001", 1}, {"2", 2000}, {"0.1234", 124}} {
		got, err := MilliEUPerML(Result{Assay: "endotoxin", Value: Value{Text: tc.text, Unit: EUPerML}})
		if err != nil || got != tc.want {
			t.Errorf("%s EU/mL = %d mEU/mL, %v; want %d", tc.text, got, err, tc.want)
		}
	}
}

func TestParseSpecRef(t *testing.T) {
	for _, tc := range []struct {
		in      string
		name    string
		version int
		ok      bool
	}{{"isct-uc-msc", "isct-uc-msc", 0, true}, {"isct-uc-msc@2", "isct-uc-msc", 2, true}, {"x@0", "", 0, false}, {"x@02", "", 0, false}, {"x@v", "", 0, false}} {
		n, v, err := ParseSpecRef(tc.in)
		if (err == nil) != tc.ok || n != tc.name || v != tc.version {
			t.Errorf("%q = %q %d %v", tc.in, n, v, err)
		}
	}
}

func TestParseSpecFileNumbersAndStrings(t *testing.T) {
	s, err := ParseSpecFile([]byte(`{"name":"x","title":"X","kinds":["uc"],"criteria":[
		{"assay":"endotoxin","op":"<=","limit":0.25},
		{"assay":"viable-cells","op":"between","min":"1e8","max":5e9},
		{"assay":"CD79A|cd19","op":"≤","limit":"2.0"},` + safetyRows + `]}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := []string{s.Criteria[0].Limit(), s.Criteria[1].Limit(), s.Criteria[2].Limit(), s.Criteria[2].Name()}; strings.Join(got, "|") !=
		"≤ 0.25 EU/mL|100000000–5000000000 cells|≤ 2 %|CD79a or CD19" {
		t.Errorf("limits %q", got)
	}
	for _, bad := range []string{
		`{"name":"x","title":"X","kinds":["uc"],"criteria":[{"assay":"CD90","op":"equals","result":"pass"}]}`,
		`{"name":"x","title":"X","kinds":["uc"],"criteria":[{"assay":"CD90|sterility","op":"<=","limit":"2"}]}`,
		`{"name":"x","title":"X","kinds":["uc"],"criteria":[{"assay":"CD90","op":"between","min":"9","max":"2"}]}`,
		`{"name":"x","title":"X","kinds":[],"criteria":[{"assay":"CD90","op":">=","limit":"9"}]}`,
		`{"name":"x","title":"X","kinds":["uc"],"criteria":[{"assay":"CD90","op":">=","limit":"9","colour":"red"}]}`,
	} {
		if _, err := ParseSpecFile([]byte(bad)); lot.ErrorCode(err) != lot.EINVALID {
			t.Errorf("%s: err %v, want EINVALID", bad, err)
		}
	}
}

func TestCheckCorrectionAndRejectable(t *testing.T) {
	old := Result{Seq: 3, Assay: "CD90"}
	if err := CheckCorrection(old, Result{Assay: "CD90"}); err != nil {
		t.Errorf("same assay: %v", err)
	}
	err := CheckCorrection(old, Result{Assay: "CD73"})
	if lot.ErrorCode(err) != lot.EINVALID || !strings.Contains(lot.ErrorMessage(err), "the corrected result #3 is a CD90 result; a correction must be of the same assay, not CD73") {
		t.Errorf("other assay: %v", err)
	}
	for _, tc := range []struct {
		st   lot.Status
		want string
	}{{lot.Quarantine, ""}, {lot.Released, ""}, {lot.Rejected, lot.ECONFLICT}} {
		if got := lot.ErrorCode(CheckRejectable(lot.Lot{Number: "LOT-UC-1", Status: tc.st})); got != tc.want {
			t.Errorf("%s: code %q, want %q", tc.st, got, tc.want)
		}
	}
}

func TestNewFailures(t *testing.T) {
	ev := func(verdicts ...Verdict) Evaluation {
		e := Evaluation{Spec: "isct-uc-msc", Version: 1}
		for i, v := range verdicts {
			e.Rows = append(e.Rows, Row{Criterion: []string{"sterility", "viability", "expiry"}[i], Verdict: v})
		}
		return e
	}
	for _, c := range []struct {
		name          string
		before, after Evaluation
		want          string
	}{
		{"a conforming lot stays conforming", ev(Pass, Pass, Pass), ev(Pass, Pass, Pass), ""},
		{"late sterility growth", ev(Pass, Pass, Pass), ev(Fail, Pass, Pass), "sterility FAIL"},
		{"exceptional release: the known failure is not new", ev(Pass, Fail, Pass), ev(Pass, Fail, Pass), ""},
		{"exceptional release: a second failure is new", ev(Pass, Fail, Pass), ev(Fail, Fail, Pass), "sterility FAIL"},
		{"expired before and after", ev(Pass, Pass, Fail), ev(Pass, Pass, Fail), ""},
		{"exceptional release with sterility missing: growth is new", ev(Missing, Fail, Pass), ev(Fail, Fail, Pass), "sterility FAIL"},
		{"exceptional release with sterility missing: no-growth is not a failure", ev(Missing, Fail, Pass), ev(Pass, Fail, Pass), ""},
		{"still missing", ev(Missing, Fail, Pass), ev(Missing, Fail, Pass), ""},
		{"a failing row that was not judged before is new", ev(Pass), ev(Pass, Fail), "viability FAIL"},
	} {
		if got := strings.Join(NewFailures(c.before, c.after), ", "); got != c.want {
			t.Errorf("%s: NewFailures = %q, want %q", c.name, got, c.want)
		}
	}
}

func TestReleasedAgainst(t *testing.T) {
	ds := []Disposition{
		{Decision: Approved, Spec: "isct-uc-msc", SpecVersion: 1},
		{Decision: Quarantined},
		{Decision: Exception, Spec: "isct-uc-msc", SpecVersion: 2},
		{Decision: Quarantined},
	}
	if got := ReleasedAgainst(ds); got != "isct-uc-msc@2" {
		t.Errorf("ReleasedAgainst = %q, want the latest release's spec isct-uc-msc@2", got)
	}
	if got := ReleasedAgainst(ds[1:2]); got != "" {
		t.Errorf("never released: ReleasedAgainst = %q, want \"\"", got)
	}
}

func TestWithHistoryKeepsAReactiveDonorIneligible(t *testing.T) {
	day := func(d int) time.Time { return time.Date(2026, 11, d, 0, 0, 0, 0, time.UTC) }
	screen := func(d int, hiv, hbv Reactivity) Screening {
		s := Screening{Tested: day(d), Consented: day(1)}
		for _, m := range ScreenMarkers {
			r := Negative
			switch m {
			case "HIV-1/2":
				r = hiv
			case "HBV":
				r = hbv
			}
			s.Markers = append(s.Markers, Marker{Name: m, Result: r})
		}
		return s
	}
	for _, c := range []struct {
		name string
		ss   []Screening
		want string
	}{
		{"one negative screening", []Screening{screen(2, Negative, Negative)}, ""},
		{"positive, then a negative re-test", []Screening{screen(2, Positive, Negative), screen(9, Negative, Negative)},
			"HIV-1/2 positive on 2026-11-02 (a reactive donor stays ineligible)"},
		{"indeterminate resolved by a negative re-test", []Screening{screen(2, Indeterminate, Negative), screen(9, Negative, Negative)}, ""},
		{"positive now and before", []Screening{screen(2, Negative, Positive), screen(9, Negative, Positive)},
			"HBV positive, HBV positive on 2026-11-02 (a reactive donor stays ineligible)"},
		// Finding F: entered later, tested earlier — the indeterminate stands.
		{"indeterminate, then an older negative entered", []Screening{screen(9, Indeterminate, Negative), screen(2, Negative, Negative)}, "HIV-1/2 indeterminate"},
		{"same test date: the later entry stands", []Screening{screen(9, Indeterminate, Negative), screen(9, Negative, Negative)}, ""},
		{"an older positive entered later stays", []Screening{screen(9, Negative, Negative), screen(2, Negative, Positive)},
			"HBV positive on 2026-11-02 (a reactive donor stays ineligible)"},
	} {
		got := WithHistory(c.ss)
		if p := strings.Join(got.Problems(), ", "); p != c.want {
			t.Errorf("%s: problems %q, want %q", c.name, p, c.want)
		}
		latest := c.ss[0].Tested
		for _, s := range c.ss {
			if s.Tested.After(latest) {
				latest = s.Tested
			}
		}
		if !got.Tested.Equal(latest) {
			t.Errorf("%s: WithHistory returned the screening tested %v, not the latest", c.name, got.Tested)
		}
	}
}

// A voided screening (a mistyped entry) counts for nothing: not as the
// current screening, not as a reactive result that keeps the donor
// ineligible; with every screening void the donor is not screened.
func TestVoidedScreeningsCountForNothing(t *testing.T) {
	day := func(d int) time.Time { return time.Date(2026, 11, d, 0, 0, 0, 0, time.UTC) }
	screen := func(d int, syphilis Reactivity, void bool) Screening {
		s := Screening{Tested: day(d), Consented: day(1)}
		for _, m := range ScreenMarkers {
			r := Negative
			if m == "syphilis" {
				r = syphilis
			}
			s.Markers = append(s.Markers, Marker{Name: m, Result: r})
		}
		if void {
			s.VoidedAt, s.VoidedBy, s.VoidReason = day(25), "quinn", "typo"
		}
		return s
	}
	for _, c := range []struct {
		name   string
		ss     []Screening
		tested int // of the current screening; 0: none counts
		want   string
	}{
		{"mistyped positive voided, tested later", []Screening{screen(2, Negative, false), screen(9, Positive, true)}, 2, ""},
		{"mistyped positive voided, tested earlier", []Screening{screen(9, Negative, false), screen(2, Positive, true)}, 9, ""},
		{"the not-voided positive still counts", []Screening{screen(2, Positive, false), screen(9, Positive, true), screen(12, Negative, false)}, 12,
			"syphilis positive on 2026-11-02 (a reactive donor stays ineligible)"},
		{"a voided negative does not resolve an indeterminate", []Screening{screen(2, Indeterminate, false), screen(9, Negative, true)}, 2, "syphilis indeterminate"},
		{"every screening void", []Screening{screen(9, Positive, true)}, 0, ""},
	} {
		got := Current(c.ss)
		if c.tested == 0 {
			if got != nil {
				t.Errorf("%s: Current = screening tested %v, want none", c.name, got.Tested)
			}
			continue
		}
		if got == nil {
			t.Errorf("%s: Current = nil, want the screening tested on day %d", c.name, c.tested)
			continue
		}
		if !got.Tested.Equal(day(c.tested)) {
			t.Errorf("%s: current screening tested %v, want day %d", c.name, got.Tested, c.tested)
		}
		if p := strings.Join(got.Problems(), ", "); p != c.want {
			t.Errorf("%s: problems %q, want %q", c.name, p, c.want)
		}
	}
}

func TestCheckScreeningVoid(t *testing.T) {
	ss := []Screening{{Seq: 1}, {Seq: 2, VoidedAt: time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC), VoidedBy: "quinn", VoidReason: "typo"}}
	for _, c := range []struct {
		seq    int
		reason string
		code   string
		want   string
	}{
		{1, "typo", "", ""},
		{0, "typo", lot.EINVALID, "0 is not a screening number"},
		{-1, "typo", lot.EINVALID, "-1 is not a screening number"},
		{3, "typo", lot.ENOTFOUND, "donor D-1 has no screening #3: it has screenings #1–#2"},
		{2, "typo", lot.ECONFLICT, "screening #2 of donor D-1 was already voided"},
		{1, "", lot.EINVALID, "the reason is required: say why screening #1 of donor D-1 is void"},
		{1, " \t", lot.EINVALID, "the reason is required"},
	} {
		_, err := CheckScreeningVoid("D-1", ss, c.seq, c.reason)
		if c.want == "" {
			if err != nil {
				t.Errorf("void #%d: %v", c.seq, err)
			}
			continue
		}
		if lot.ErrorCode(err) != c.code || !strings.Contains(err.Error(), c.want) {
			t.Errorf("void #%d %q: got %v (%s), want %s %q", c.seq, c.reason, err, lot.ErrorCode(err), c.code, c.want)
		}
	}
	if _, err := CheckScreeningVoid("D-2", nil, 1, "typo"); err == nil || !strings.Contains(err.Error(), "it has no screening") {
		t.Errorf("void of a donor never screened: %v", err)
	}
}

func TestCheckNewResult(t *testing.T) {
	now := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	made := time.Date(2026, 11, 10, 0, 0, 0, 0, time.UTC)
	l := lot.Lot{Number: "LOT-B", Manufactured: made}
	growth := Result{Seq: 11, Assay: "sterility", Value: Value{Text: "growth"}, Tested: made.AddDate(0, 0, 7)}
	voided := Result{Seq: 12, Assay: "mycoplasma", Value: Value{Text: "positive"}, Tested: made, VoidedAt: now}
	rs := []Result{growth, voided}
	entry := func(a Assay, text string, tested time.Time) Result {
		return Result{Assay: a, Value: Value{Text: text}, Tested: tested}
	}
	for _, tc := range []struct {
		name     string
		r        Result
		corrects int
		code     string
		msg      string
	}{
		{"first sterility result of another lot", entry("sterility", "no-growth", now), 0, "", ""},
		{"a later passing sterility beside the growth", entry("sterility", "no-growth", now), 0, lot.ECONFLICT,
			"lot LOT-B already has a valid sterility result, #11 growth (tested 2026-11-17); a lot has one valid result per assay: to replace it, give a correction of #11 with a reason, or void #11 first, with a reason"},
		{"an older passing sterility beside the growth", entry("sterility", "no-growth", made), 0, lot.ECONFLICT, "already has a valid sterility result, #11 growth"},
		{"the growth corrected", entry("sterility", "no-growth", now), 11, "", ""},
		{"a voided result does not block", entry("mycoplasma", "negative", now), 0, "", ""},
		{"tested on the day of manufacture", entry("CD90", "98", made), 0, "", ""},
		{"tested before manufacture", entry("CD90", "98", made.AddDate(0, 0, -1)), 0, lot.EINVALID,
			"the test date 2026-11-09 is before lot LOT-B was manufactured (2026-11-10); a QC test of the lot cannot predate it — check the date"},
		{"tested tomorrow", entry("CD90", "98", now.AddDate(0, 0, 1)), 0, lot.EINVALID, "the test date 2026-11-26 is in the future"},
	} {
		have := rs
		if tc.name == "first sterility result of another lot" {
			have = nil
		}
		err := CheckNewResult(l, have, tc.r, tc.corrects, now)
		if lot.ErrorCode(err) != tc.code || (tc.msg != "" && !strings.Contains(lot.ErrorMessage(err), tc.msg)) {
			t.Errorf("%s: err %v, want code %q containing %q", tc.name, err, tc.code, tc.msg)
		}
	}
}

func TestCheckCurrent(t *testing.T) {
	v1, v2 := Spec{Name: "isct-uc-msc", Version: 1}, Spec{Name: "isct-uc-msc", Version: 2}
	if err := CheckCurrent(v2, v2); err != nil {
		t.Errorf("latest version: %v", err)
	}
	err := CheckCurrent(v1, v2)
	if lot.ErrorCode(err) != lot.ECONFLICT || !strings.Contains(lot.ErrorMessage(err), "specification isct-uc-msc@1 is superseded: the latest version of isct-uc-msc is 2") {
		t.Errorf("superseded version: %v", err)
	}
}

// safetyRows are the criteria every UC specification must hold (Validate).
const safetyRows = `{"assay":"sterility","op":"equals","result":"no-growth"},
	{"assay":"mycoplasma","op":"equals","result":"negative"},
	{"assay":"viability","op":">=","limit":"80"}`

func TestValidateRequiresTheSafetyPanel(t *testing.T) {
	uc := func(rows string) string {
		return `{"name":"lax","title":"X","kinds":["uc"],"criteria":[` + rows + `]}`
	}
	endo := `{"assay":"endotoxin","op":"<=","limit":"0.5"}`
	cells := `{"assay":"viable-cells","op":">=","limit":"1e8"}`
	full := safetyRows + "," + endo + "," + cells
	for _, tc := range []struct {
		name, file, want string // want "" accepts
	}{
		{"the reviewer's lax spec: viability only", uc(`{"assay":"viability","op":">=","limit":"50","unit":"%"}`),
			"specification lax lacks safety criteria every release must check: for uc lots sterility equals no-growth, mycoplasma equals negative, endotoxin with an upper limit (op <= or between), viable-cells with a lower limit (op >= or between); add each as a criterion of its own assay, as the built-in isct-uc-msc does"},
		{"the full panel", uc(full), ""},
		{"between counts as an upper limit", uc(safetyRows + `,{"assay":"endotoxin","op":"between","min":"0","max":"0.5"},` + cells), ""},
		{"endotoxin with only a floor", uc(safetyRows + `,{"assay":"endotoxin","op":">=","limit":"0"},` + cells), "for uc lots endotoxin with an upper limit"},
		{"sterility only for rfib lots", uc(strings.Replace(full, `"result":"no-growth"}`, `"result":"no-growth","kinds":["rfib"]}`, 1)), "for uc lots sterility equals no-growth"},
		{"viability only as an alternative", uc(strings.Replace(full, `"assay":"viability"`, `"assay":"viability|CD105"`, 1)), "for uc lots viability with a lower limit"},
		{"sterility that accepts growth", uc(strings.Replace(full, `"no-growth"`, `"growth"`, 1)), "result growth is the failing result of sterility"},
		{"rfib needs karyotype and identity", strings.Replace(uc(full), `["uc"]`, `["uc","rfib"]`, 1),
			"for rfib lots karyotype equals normal, identity equals pass"},
		{"rfib with karyotype and identity", strings.Replace(uc(full+`,{"assay":"karyotype","op":"equals","result":"normal","kinds":["rfib"]},{"assay":"identity","op":"equals","result":"pass"}`), `["uc"]`, `["uc","rfib"]`, 1), ""},
	} {
		_, err := ParseSpecFile([]byte(tc.file))
		if tc.want == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			continue
		}
		if lot.ErrorCode(err) != lot.EINVALID || !strings.Contains(lot.ErrorMessage(err), tc.want) {
			t.Errorf("%s: err %v, want EINVALID containing %q", tc.name, err, tc.want)
		}
	}
}

// TestEvaluateSelfFailingResults: a lax specification without sterility or
// mycoplasma does not make their failing results releasable (finding E).
func TestEvaluateSelfFailingResults(t *testing.T) {
	now := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	l := lot.Lot{Number: "LOT-B", Source: lot.SourceUC, Expires: now.AddDate(1, 0, 0)}
	donor := &Donor{Code: "D", Screening: &Screening{Consented: now, Markers: []Marker{
		{"HIV-1/2", Negative}, {"HBV", Negative}, {"HCV", Negative}, {"syphilis", Negative}, {"HTLV", Negative}}}}
	// A specification stored before Validate required the safety panel.
	lax := Spec{Name: "lax", Version: 1, Kinds: []lot.Source{lot.SourceUC},
		Criteria: []Criterion{{Assays: []Assay{"viability"}, Op: AtLeast, Min: "50", Unit: Percent}}}
	res := func(seq int, a Assay, text string, unit Unit) Result {
		return Result{Seq: seq, Assay: a, Value: Value{Text: text, Unit: unit}}
	}
	viab := res(1, "viability", "95", Percent)
	for _, tc := range []struct {
		name   string
		spec   Spec
		rs     []Result
		pass   bool
		failed string
	}{
		{"lax spec, clean results", lax, []Result{viab, res(2, "sterility", "no-growth", ""), res(3, "mycoplasma", "negative", "")}, true, ""},
		{"lax spec, growth and positive", lax, []Result{viab, res(2, "sterility", "growth", ""), res(3, "mycoplasma", "positive", "")}, false,
			"sterility (unlisted) FAIL, mycoplasma (unlisted) FAIL"},
		{"lax spec, abnormal karyotype of a UC lot", lax, []Result{viab, res(2, "karyotype", "abnormal", "")}, false, "karyotype (unlisted) FAIL"},
		{"lax spec, a numeric assay it lacks is not judged", lax, []Result{viab, res(2, "endotoxin", "9", EUPerML)}, true, ""},
		{"built-in: karyotype of a UC lot is judged by no criterion", Builtins()[0], append(passing(Builtins()[0]), res(99, "karyotype", "abnormal", "")), false, "karyotype (unlisted) FAIL"},
	} {
		ev, err := Evaluate(tc.spec, l, tc.rs, donor, now)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(ev.Failed(), ", "); ev.Pass != tc.pass || got != tc.failed {
			t.Errorf("%s: pass=%v failed=%q; want pass=%v failed=%q", tc.name, ev.Pass, got, tc.pass, tc.failed)
		}
	}
}

func TestCheckResultNumber(t *testing.T) {
	for _, tc := range []struct {
		n    int
		want string
	}{{1, ""}, {17, ""}, {0, "0 is not a result number"}, {-1, "-1 is not a result number: results are numbered from 1"}} {
		err := CheckResultNumber("corrects", tc.n)
		if (tc.want == "") != (err == nil) || (err != nil && (lot.ErrorCode(err) != lot.EINVALID || !strings.Contains(lot.ErrorMessage(err), tc.want) || lot.ErrorField(err) != "corrects")) {
			t.Errorf("%d: %v, want %q", tc.n, err, tc.want)
		}
	}
}

func TestExceptionMeaningsNameEveryFailure(t *testing.T) {
	rows := []Row{
		{Criterion: "sterility", Result: "no result", Verdict: Missing},
		{Criterion: "viability", Result: "78 %", Verdict: Fail},
		{Criterion: "CD105", Result: "98 %", Verdict: Pass},
		{Criterion: "donor eligibility", Result: "ineligible: HBV positive", Verdict: Fail},
	}
	qa, md := ExceptionMeanings(rows, "MRN-1001")
	const despite = "; does not meet: sterility MISSING (no result), viability FAIL (78 %), donor eligibility FAIL (ineligible: HBV positive)"
	if qa != MeaningException+despite {
		t.Errorf("QA meaning %q", qa)
	}
	if md != MeaningPhysician+" for patient MRN-1001"+despite {
		t.Errorf("physician meaning %q", md)
	}
}

// TestViabilityFloor: the floor a released lot must still meet after thaw
// is its specification's viability criterion, rounded up to 0.1 %; an
// exceptional release whose signers accepted viability failing waives it.
func TestViabilityFloor(t *testing.T) {
	uc := Builtins()[0]
	floor, waived, ok, err := ViabilityFloor(uc, Disposition{Decision: Approved}, lot.SourceUC)
	if err != nil || !ok || floor != 800 || waived != "" {
		t.Fatalf("isct-uc-msc: %v %q %v %v; want 80.0 %%, not waived", floor, waived, ok, err)
	}
	fine := uc
	fine.Criteria = append([]Criterion(nil), uc.Criteria...)
	for i, c := range fine.Criteria {
		if len(c.Assays) == 1 && c.Assays[0] == "viability" {
			fine.Criteria[i].Min = "80.01"
		}
	}
	if floor, _, _, _ := ViabilityFloor(fine, Disposition{Decision: Approved}, lot.SourceUC); floor != 801 {
		t.Errorf("a floor of 80.01 %% is %v; want 80.1 %%, never relaxed to 80.0", floor)
	}
	d := Disposition{Decision: Exception, Lot: "LOT-UC-3", At: time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC),
		Rows: []Row{{Criterion: "viability", Result: "78 %", Verdict: Fail}}}
	_, waived, _, _ = ViabilityFloor(uc, d, lot.SourceUC)
	if waived != "the exceptional release of LOT-UC-3 signed 2026-11-25 accepted viability FAIL (78 %)" {
		t.Errorf("waived %q", waived)
	}
	d.Rows[0].Criterion = "sterility"
	if _, waived, _, _ = ViabilityFloor(uc, d, lot.SourceUC); waived != "" {
		t.Errorf("an exception for sterility waives the viability floor: %q", waived)
	}
	none := Spec{Name: "none"}
	if _, _, ok, _ := ViabilityFloor(none, Disposition{Decision: Approved}, lot.SourceUC); ok {
		t.Error("a specification without a viability criterion has a floor")
	}
}

// TestInvalidated: the results that no longer stand, each with how — a
// sterility growth corrected by a repeat test, an endotoxin voided for a
// sample mix-up — and nothing for the results that stand.
func TestInvalidated(t *testing.T) {
	day := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	at := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	rs := []Result{
		{Seq: 1, Assay: "CD105", Value: Value{Text: "98.2", Unit: "%"}, Tested: day, RecordedBy: "liu"},
		{Seq: 2, Assay: "sterility", Value: Value{Text: "growth"}, Tested: day, RecordedBy: "liu",
			VoidedAt: at, VoidedBy: "liu", VoidReason: "corrected by result #4: repeat sterility, INV-12"},
		{Seq: 3, Assay: "endotoxin", Value: Value{Text: "0.9", Unit: "EU/mL"}, Tested: day, RecordedBy: "sam",
			VoidedAt: at.Add(time.Hour), VoidedBy: "liu", VoidReason: "sample mix-up"},
		{Seq: 4, Assay: "sterility", Value: Value{Text: "no-growth"}, Tested: day, RecordedBy: "liu", Corrects: 2},
	}
	got := Invalidated(rs)
	want := []string{
		"#2 sterility growth, tested 2026-11-20, recorded by liu — CORRECTED by #4 2026-11-25 09:00 UTC by liu: repeat sterility, INV-12",
		"#3 endotoxin 0.9 EU/mL, tested 2026-11-20, recorded by sam — VOID 2026-11-25 10:00 UTC by liu: sample mix-up",
	}
	if len(got) != len(want) {
		t.Fatalf("Invalidated = %v, want %d", got, len(want))
	}
	for i := range want {
		if got[i].Line() != want[i] {
			t.Errorf("line %d = %q, want %q", i, got[i].Line(), want[i])
		}
	}
	if got := Invalidated(rs[:1]); len(got) != 0 {
		t.Errorf("Invalidated of valid results = %v, want none", got)
	}
}

// TestSpecFileRoundTrip: every built-in specification, written in the file
// format (`release spec show --json`) and read back by ParseSpecFile (`release
// spec add`), says exactly what it said, limits' text included.
func TestSpecFileRoundTrip(t *testing.T) {
	for _, s := range Builtins() {
		t.Run(s.Name, func(t *testing.T) {
			data, err := json.Marshal(s.File())
			if err != nil {
				t.Fatal(err)
			}
			back, err := ParseSpecFile(data)
			if err != nil {
				t.Fatalf("its own file is refused: %v\n%s", err, data)
			}
			if !back.SameContent(s) {
				t.Errorf("round trip changed it:\n got %+v\nwant %+v", back, s)
			}
		})
	}
}

// TestEligibilityHistory: a donor's status after each screening recorded
// and each void, in the order they happened, as a look-back shows it.
func TestEligibilityHistory(t *testing.T) {
	at := func(d, h int) time.Time { return time.Date(2026, 11, d, h, 0, 0, 0, time.UTC) }
	screen := func(seq, recorded int, syphilis Reactivity) Screening {
		s := Screening{Seq: seq, Tested: at(recorded, 0), Consented: at(1, 0), RecordedAt: at(recorded, 9), RecordedBy: "liu"}
		for _, m := range ScreenMarkers {
			r := Negative
			if m == "syphilis" {
				r = syphilis
			}
			s.Markers = append(s.Markers, Marker{Name: m, Result: r})
		}
		return s
	}
	void := func(s Screening, d int) Screening {
		s.VoidedAt, s.VoidedBy, s.VoidReason = at(d, 15), "quinn", "typed positive"
		return s
	}
	for _, c := range []struct {
		name string
		ss   []Screening
		want []string // "what by: verdict"
	}{
		{"never screened", nil, nil},
		{"one negative screening", []Screening{screen(1, 10, Negative)},
			[]string{"screening #1 recorded (tested 2026-11-10) by liu: ELIGIBLE (screening #1)"}},
		{"a mistyped positive, voided two days later", []Screening{screen(1, 10, Negative), void(screen(2, 24, Positive), 26)},
			[]string{
				"screening #1 recorded (tested 2026-11-10) by liu: ELIGIBLE (screening #1)",
				"screening #2 recorded (tested 2026-11-24) by liu: INELIGIBLE: syphilis positive",
				"screening #2 voided: typed positive by quinn: ELIGIBLE (screening #1)",
			}},
		{"a true positive after a negative stays ineligible whatever comes later", []Screening{screen(1, 10, Positive), screen(2, 20, Negative)},
			[]string{
				"screening #1 recorded (tested 2026-11-10) by liu: INELIGIBLE: syphilis positive",
				"screening #2 recorded (tested 2026-11-20) by liu: INELIGIBLE: syphilis positive on 2026-11-10 (a reactive donor stays ineligible)",
			}},
		{"the only screening voided", []Screening{void(screen(1, 10, Negative), 11)},
			[]string{
				"screening #1 recorded (tested 2026-11-10) by liu: ELIGIBLE (screening #1)",
				"screening #1 voided: typed positive by quinn: NOT SCREENED: no valid screening",
			}},
		{"a void made before a later screening was entered", []Screening{void(screen(1, 10, Positive), 12), screen(2, 20, Negative)},
			[]string{
				"screening #1 recorded (tested 2026-11-10) by liu: INELIGIBLE: syphilis positive",
				"screening #1 voided: typed positive by quinn: NOT SCREENED: no valid screening",
				"screening #2 recorded (tested 2026-11-20) by liu: ELIGIBLE (screening #2)",
			}},
	} {
		var got []string
		for _, h := range EligibilityHistory(c.ss) {
			got = append(got, h.What(c.ss)+" by "+h.By+": "+DonorVerdict(h.Status))
		}
		if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
			t.Errorf("%s:\n got %q\nwant %q", c.name, got, c.want)
		}
	}
}
