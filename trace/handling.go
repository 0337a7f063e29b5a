package trace

import (
	"context"
	"fmt"
	"math/big"
	"time"

	"github.com/celltrack/celltrack/dose"
	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/report"
	"github.com/google/uuid"
)

// Handling is the handling report: per container of each selected infusion,
// the storage time, time from thaw to infusion, post-thaw viability, cells
// per kg and infusion duration, with their median and range. The snapshot
// seeks the period in idx_event_infused and reads only the infusions,
// containers, lots and custody events of that period. ENOTFOUND for an
// unknown protocol, EFORBIDDEN for a disabled user.
func (s *Service) Handling(ctx context.Context, user string, f dose.HandlingFilter) (report.Report, error) {
	// The snapshot does not list the records it reads for the rows, for a
	// report-scoped verification, so this report always verifies in full.
	return s.trace(ctx, user, true, "", "", func(t *tracer) error {
		if f.Protocol != "" {
			if _, err := t.s.ProtocolNamed(f.Protocol); err != nil {
				return err
			}
		}
		hs, err := t.s.Handling(f)
		if err != nil {
			return err
		}
		handlingReport(&t.r, f, hs)
		return nil
	})
}

// HandlingColumns are the CSV columns of `report handling`, one row per
// container of each infusion; durations are exact, shown to 0.1.
// cells_given is what the row's container gave, so the column sums to the
// cells infused; infusion_cells_given, weight_kg, cells_per_kg and
// duration_min are the infusion's, repeated on each of its rows.
var HandlingColumns = []string{"infusion_id", "patient_mrn", "protocol", "course", "infusion", "start_utc", "end_utc",
	"container", "lot", "stored_utc", "thawed_utc", "storage_h", "thaw_to_start_min", "post_thaw_viability_pct",
	"cells_given", "infusion_cells_given", "weight_kg", "cells_per_kg", "duration_min"}

// handlingReport lays the rows and their summary out as a report.
func handlingReport(r *report.Report, f dose.HandlingFilter, hs []dose.Handling) {
	r.Kind, r.Subject, r.Title = "handling", "all infusions", "Handling of infused cells"
	if f.Protocol != "" {
		r.Subject = "protocol " + f.Protocol
	}
	period := "any time"
	switch {
	case !f.From.IsZero() && !f.To.IsZero():
		period = lot.FormatTime(f.From) + " to " + lot.FormatTime(f.To) + " (exclusive)"
	case !f.From.IsZero():
		period = "from " + lot.FormatTime(f.From)
	case !f.To.IsZero():
		period = "before " + lot.FormatTime(f.To)
	}
	// The subject names the whole selection: it is what the sign-off
	// sentence and the page footers say the auditor reviewed.
	switch {
	case period != "any time" && f.Protocol != "":
		r.Subject += ", infusions started " + period
	case period != "any time":
		r.Subject = "infusions started " + period
	}
	r.Question = "How long were the infused cells stored, how soon after thawing were they infused, how viable were they, how many per kg, and over how long?"
	infusions := map[uuid.UUID]bool{}
	for _, h := range hs {
		infusions[h.Infusion] = true
	}
	r.Sections = append(r.Sections, report.Section{Title: "Selection", Fields: []report.Field{
		field("Protocol", orDash(f.Protocol)), field("Infusion start", period),
		field("Infusions", fmt.Sprint(len(infusions))), field("Containers", fmt.Sprint(len(hs))),
		field("Storage time", "from the container's first `stored` event to its thaw (includes transit)"),
		field("Medians", "exact; the mean of the two middle values for an even count; shown rounded half away from zero")}})
	sum := &report.Table{Columns: []string{"Measure", "N", "Median", "Min", "Max"}}
	for _, s := range dose.Summarize(hs) {
		row := []string{s.Measure, fmt.Sprint(s.N), "-", "-", "-"}
		if s.N > 0 {
			row[2], row[3], row[4] = dose.FormatMeasure(s.Measure, s.Median), dose.FormatMeasure(s.Measure, s.Min), dose.FormatMeasure(s.Measure, s.Max)
		}
		sum.Rows = append(sum.Rows, row)
	}
	r.Sections = append(r.Sections, report.Section{Title: "Summary (median and range)", Table: sum})
	data := &report.Table{Columns: HandlingColumns}
	// The text table fits 80 columns; the CSV has every column.
	// Start times are local at the facility, its zone named in the heading
	// (the CSV keeps UTC); with the offset in every cell the table would
	// no longer fit 80 columns.
	zone := lot.DisplayZone()
	short := &report.Table{Columns: []string{"Start (" + lot.ZoneName(zone) + ")", "Container", "Stor h", "Thaw min", "Viab %", "Cells/kg", "Min"}}
	for _, h := range hs {
		storage, thaw, viab, perKg, perKgExact, weight := "", "", "", "", "", ""
		if d, ok := h.Storage(); ok {
			storage = dose.FormatMeasure(dose.MeasureStorage, durationRat(d, time.Hour))
		}
		if d, ok := h.ThawToStart(); ok {
			thaw = dose.FormatMeasure(dose.MeasureThawToStart, durationRat(d, time.Minute))
		}
		if !h.ThawedAt.IsZero() {
			viab = h.Viability.String()
		}
		if c, ok := h.CellsPerKg(); ok {
			perKg, perKgExact, weight = c.Rounded(), c.Exact(), h.Weight.KgString()
		}
		minutes := dose.FormatMeasure(dose.MeasureDuration, durationRat(h.Duration(), time.Minute))
		data.Rows = append(data.Rows, []string{h.Infusion.String(), h.Patient, h.Protocol, fmt.Sprint(h.Course), fmt.Sprint(h.Number),
			rfc3339(h.Start), rfc3339(h.End), h.Container, h.Lot, rfc3339(h.StoredAt), rfc3339(h.ThawedAt), storage, thaw, viab,
			h.Cells.Exact(), h.Given.Exact(), weight, perKgExact, minutes})
		short.Rows = append(short.Rows, []string{h.Start.In(zone).Format("2006-01-02 15:04"), h.Container, orDash(storage), orDash(thaw),
			orDash(viab), orDash(perKg), minutes})
	}
	r.Data = data
	if len(hs) == 0 {
		r.Sections = append(r.Sections, report.Section{Title: "Infusions", Fields: []report.Field{field("Infusions", "none in the selection")}})
		return
	}
	r.Sections = append(r.Sections, report.Section{Title: "Infusions", Table: short})
}

func durationRat(d, unit time.Duration) *big.Rat { return big.NewRat(int64(d), int64(unit)) }

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}
