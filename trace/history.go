package trace

import (
	"fmt"
	"strings"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/dose"
	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/release"
	"github.com/celltrack/celltrack/report"
	"github.com/google/uuid"
)

// The parts of a trace an auditor expects beside custody: a donor's
// screenings and eligibility history, a lot's label history and
// reconciliation, and the deviations of everything the trace shows.

// screenings adds a donor's screenings (idx_screening_donor), valid and
// voided — a voided one with who voided it, when, why and QA's signature —
// and the donor's eligibility after each screening was recorded or voided
// (release.EligibilityHistory). It returns the donor's status now.
func (t *tracer) screenings(d lot.Donor) (string, error) {
	ss, err := t.s.Screenings(d.ID)
	if err != nil {
		return "", err
	}
	for _, s := range ss {
		t.saw(audit.EntityScreening, s.ID)
	}
	now := release.DonorVerdict(release.Current(ss))
	if len(ss) == 0 {
		t.add(report.Section{Title: "Screenings of donor " + d.Code, Fields: []report.Field{field("Screenings", "none recorded: the donor was never screened")}})
		return now, nil
	}
	tb := &report.Table{Columns: []string{"#", "Tested", "Result", "Recorded", "Status"}}
	var voids []report.Field
	for _, s := range ss {
		rs := report.Screening{Seq: s.Seq, Tested: s.Tested, Markers: s.Summary(), RecordedAt: s.RecordedAt, RecordedBy: s.RecordedBy, Status: "valid"}
		if s.Voided() {
			at := s.VoidedAt
			rs.Status, rs.VoidedAt, rs.VoidedBy, rs.VoidReason = "void", &at, s.VoidedBy, s.VoidReason
			if s.VoidSignature.User != "" {
				sg := reportSignature(s.VoidSignature)
				rs.VoidSigned = &sg
				voids = append(voids, field(fmt.Sprintf("Void of #%d", s.Seq), signatureText(sg)))
			}
		}
		t.r.Screenings = append(t.r.Screenings, rs)
		tb.Rows = append(tb.Rows, []string{fmt.Sprint(s.Seq), lot.FormatDate(s.Tested), markersText(s),
			lot.FormatTime(s.RecordedAt) + " by " + s.RecordedBy, s.Status()})
	}
	t.add(report.Section{Title: "Screenings of donor " + d.Code, Fields: voids, Table: tb})
	hist := &report.Table{Columns: []string{"When", "Change", "By", "Eligibility after it"}}
	for _, h := range release.EligibilityHistory(ss) {
		e := report.Eligibility{At: h.At, By: h.By, Change: h.What(ss), Eligible: h.Status != nil && h.Status.Eligible(), Status: release.DonorVerdict(h.Status)}
		t.r.Eligibility = append(t.r.Eligibility, e)
		hist.Rows = append(hist.Rows, []string{lot.FormatTime(e.At), e.Change, e.By, e.Status})
	}
	t.add(report.Section{Title: "Eligibility history of donor " + d.Code, Fields: []report.Field{field("Eligibility now", now)}, Table: hist})
	return now, nil
}

// markersText is a screening's result in a table cell: "all negative"
// (naming the markers), or the markers that were not negative, then
// "others negative". The full list is in the JSON and CSV.
func markersText(s release.Screening) string {
	var not, names []string
	for _, m := range s.Markers {
		names = append(names, m.Name)
		if m.Result != release.Negative {
			not = append(not, m.Name+" "+string(m.Result))
		}
	}
	switch {
	case len(not) == 0:
		return "all negative (" + strings.Join(names, ", ") + ")"
	case len(not) == len(s.Markers):
		return strings.Join(not, ", ")
	}
	return strings.Join(not, ", ") + "; others negative"
}

// labels adds the label history of containers cs of lot l — every label
// printed, applied or voided, from the audit entries of each container's
// label record (idx_label_container) — and their reconciliation: printed =
// applied + voided + unused, as `label reconcile` shows it. of names what
// the sections are of: "lot LOT-1", "container G12342600000101".
func (t *tracer) labels(l lot.Lot, cs []lot.Container, of string) error {
	hist := &report.Table{Columns: []string{"When", "Container", "Label", "By", "Reason"}}
	rec := &report.Table{Columns: []string{"Container", "Printed", "Applied", "Voided", "Unused"}}
	var total lot.LabelCount
	for _, c := range cs {
		id, n, steps, err := t.s.Labels(c)
		if err != nil {
			return err
		}
		if id == uuid.Nil {
			rec.Rows = append(rec.Rows, []string{c.Code(), "0", "0", "0", "0"})
			continue
		}
		t.saw(audit.EntityLabel, id)
		for _, e := range steps {
			after := e.After
			le := report.LabelEvent{At: e.At, Lot: l.Number, Container: c.Code(), Action: labelAction(e.Action), By: e.By, Reason: e.Reason,
				Printed: after.Printed, Applied: after.Applied, Voided: after.Voided, Unused: after.Unused()}
			t.r.Labels = append(t.r.Labels, le)
			hist.Rows = append(hist.Rows, []string{lot.FormatTime(le.At), le.Container, le.Action, le.By, orDash(le.Reason)})
		}
		total = total.Add(n)
		rec.Rows = append(rec.Rows, []string{c.Code(), fmt.Sprint(n.Printed), fmt.Sprint(n.Applied), fmt.Sprint(n.Voided), fmt.Sprint(n.Unused())})
	}
	title := "Label history of " + of
	if len(hist.Rows) == 0 {
		t.add(report.Section{Title: title, Fields: []report.Field{field("Labels", "none printed")}})
		return nil
	}
	t.add(report.Section{Title: title, Table: hist})
	if len(cs) > 1 {
		rec.Rows = append(rec.Rows, []string{"total", fmt.Sprint(total.Printed), fmt.Sprint(total.Applied), fmt.Sprint(total.Voided), fmt.Sprint(total.Unused())})
	}
	acc := fmt.Sprintf("printed %d = applied %d + voided %d + unused %d", total.Printed, total.Applied, total.Voided, total.Unused())
	if total.Unused() > 0 {
		acc += fmt.Sprintf("; %d printed label(s) neither applied nor voided yet", total.Unused())
	}
	t.add(report.Section{Title: "Label reconciliation of " + of, Fields: []report.Field{field("Accounted for", acc)}, Table: rec})
	return nil
}

// labelAction names a label audit action as the history shows it.
func labelAction(a string) string {
	switch audit.Action(a) {
	case audit.LabelPrint:
		return "printed"
	case audit.LabelApply:
		return "applied"
	case audit.LabelVoid:
		return "voided"
	}
	return a
}

// departures records how infusion in departed from its plan
// (dose.Departures): its day against the schedule's plan, its volume against
// the volume computed for the same bags, its dose against the required one.
// It reads the infusion's schedule, protocol version and containers.
func (t *tracer) departures(in dose.Infusion, d report.Dose) error {
	sr, found, err := t.s.Schedule(in.ScheduleID)
	if err != nil {
		return err
	} else if !found {
		return fmt.Errorf("schedule %s of infusion %s is referenced but missing", in.ScheduleID, in.ID)
	}
	t.saw(audit.EntitySchedule, sr.ID)
	sp, err := t.s.Protocol(sr.ProtocolID)
	if err != nil {
		return err
	}
	t.saw(audit.EntityProtocol, sp.ID)
	infs, err := t.s.InfusionsOfPatient(in.PatientID)
	if err != nil {
		return err
	}
	given := map[int]dose.GivenAt{}
	for _, x := range infs {
		if x.ScheduleID == in.ScheduleID {
			given[x.Number] = dose.GivenAt{InfusionID: x.ID, At: x.Start}
		}
	}
	// Every day is counted as the bedside check counted it: in the zone in
	// force when the infusion was recorded, not in one set since (review
	// 17 B, 19 A).
	zoneAt, err := t.s.Zones(sr)
	if err != nil {
		return err
	}
	if err := dose.GivenDays(given, zoneAt); err != nil {
		return err
	}
	loc, err := zoneAt(dose.GivenAt{InfusionID: in.ID, At: in.Start})
	if err != nil {
		return err
	}
	es := dose.Plan(sp.Protocol, sr, given, in.Start, loc)
	if in.Number < 1 || in.Number > len(es) {
		return fmt.Errorf("infusion %s is number %d of a course of %d", in.ID, in.Number, len(es))
	}
	var srcs []dose.Source
	for _, ic := range in.Containers {
		c, found, err := t.s.ContainerByID(ic.ContainerID)
		if err != nil {
			return err
		} else if !found {
			return fmt.Errorf("container %s of infusion %s is referenced but missing", ic.Code, in.ID)
		}
		t.saw(audit.EntityContainer, ic.ContainerID)
		l, err := t.lotOf(ic.LotID)
		if err != nil {
			return err
		}
		srcs = append(srcs, dose.Source{Container: c, Lot: l})
	}
	planned := dose.Calculate(sp.Protocol, in.Number, in.Weight, srcs, 0)
	for _, dp := range dose.Departures(sp.Protocol, es[in.Number-1], in, planned, loc) {
		t.deviate(report.Deviation{At: in.Start, Kind: dp.Kind, Lot: strings.Join(d.Lots, ", "), Container: strings.Join(d.Containers, ", "),
			Patient: d.Patient, Infusion: d.ID, By: d.Nurse.By, Detail: dp.Detail})
	}
	return nil
}

// deviate records a deviation once: a lot's exceptional release or an
// infusion met from two directions (a donor's two lots) is listed once.
func (t *tracer) deviate(d report.Deviation) {
	for _, x := range t.r.Deviations {
		if x.At.Equal(d.At) && x.Kind == d.Kind && x.Lot == d.Lot && x.Infusion == d.Infusion {
			return
		}
	}
	t.r.Deviations = append(t.r.Deviations, d)
}

// deviationSection lists every deviation of the report together, oldest
// first, or says there is none.
func (t *tracer) deviationSection() report.Section {
	report.SortDeviations(t.r.Deviations)
	s := report.Section{Title: "Deviations"}
	if len(t.r.Deviations) == 0 {
		s.Fields = []report.Field{field("Deviations", "none: no infusion given off its planned day, off its computed volume or short of its dose, and no exceptional release")}
		return s
	}
	tb := &report.Table{Columns: []string{"When", "Deviation", "What"}}
	for _, d := range t.r.Deviations {
		var who []string
		if d.Patient != "" {
			who = append(who, "patient "+d.Patient)
		}
		if d.Lot != "" {
			who = append(who, "lot "+d.Lot)
		}
		if d.Container != "" {
			who = append(who, "container "+d.Container)
		}
		what := d.Detail
		if len(who) > 0 {
			what = strings.Join(who, ", ") + ": " + what
		}
		if d.By != "" {
			what += "; given by " + d.By
		}
		tb.Rows = append(tb.Rows, []string{lot.FormatTime(d.At), d.Kind, what})
	}
	s.Table = tb
	return s
}
