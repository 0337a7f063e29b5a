package report

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/celltrack/celltrack/lot"
)

// csvCell keeps a cell from being run as a formula by the spreadsheet that
// opens the file (OWASP "CSV injection"): a cell that starts with = + - @,
// a tab or a carriage return gets a leading apostrophe, which spreadsheets
// show as text. A negative number (-12.5) is left as it is: it is a number,
// not a formula, and a column of numbers must stay numeric.
func csvCell(s string) string {
	if s == "" {
		return s
	}
	switch s[0] {
	case '-':
		if _, err := strconv.ParseFloat(s, 64); err == nil {
			return s
		}
		return "'" + s
	case '=', '+', '@', '\t', '\r':
		return "'" + s
	}
	return s
}

// writeCSVRow writes one row, every cell through csvCell.
func writeCSVRow(cw *csv.Writer, row []string) error {
	safe := make([]string, len(row))
	for i, c := range row {
		safe[i] = csvCell(c)
	}
	return cw.Write(safe)
}

// CSVColumns are the columns of the CSV report: one row per custody or
// infusion event, then one per screening, eligibility change, label step and
// deviation (recordRows), kind saying which. The provenance columns repeat on every row so that a row
// pasted into another spreadsheet still says where it came from.
var CSVColumns = []string{"report", "subject", "kind", "time_utc", "lot", "container", "from", "to", "by",
	"site", "location", "custodian", "patient_mrn", "reason", "details",
	"produced_at", "produced_by", "database", "audit_head", "audit_verified"}

// RenderCSV writes one row per event of r, oldest first, then r's
// screenings, eligibility history, label history and deviations, under
// CSVColumns;
// a report with Data writes Data's rows instead, followed by the same
// provenance columns. No cell can run as a spreadsheet formula (csvCell).
func RenderCSV(w io.Writer, r Report) error {
	cw := csv.NewWriter(w)
	p := r.Produced
	if r.Data != nil {
		prov := []string{p.At.UTC().Format(time.RFC3339), p.By, p.Database, p.AuditHead, p.VerifyCell()}
		if err := cw.Write(append(append([]string{}, r.Data.Columns...), CSVColumns[len(CSVColumns)-len(prov):]...)); err != nil {
			return err
		}
		for _, row := range r.Data.Rows {
			if err := writeCSVRow(cw, append(append([]string{}, row...), prov...)); err != nil {
				return err
			}
		}
		cw.Flush()
		return cw.Error()
	}
	if err := cw.Write(CSVColumns); err != nil {
		return err
	}
	var rows [][]string
	for _, e := range r.Events {
		rows = append(rows, []string{r.Kind, r.Subject, e.Kind, utc(e.At), e.Lot, e.Container, e.From, e.To, e.By,
			e.Site, e.Location, e.Custodian, e.Patient, e.Reason, e.DetailText()})
	}
	rows = append(rows, recordRows(r)...)
	for _, row := range rows {
		if err := writeCSVRow(cw, append(row, utc(p.At), p.By, p.Database, p.AuditHead, p.VerifyCell())); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// CSV row kinds after the custody and infusion events.
const (
	CSVScreening   = "screening"
	CSVEligibility = "eligibility"
	CSVLabel       = "label"
	CSVDeviation   = "deviation"
)

// recordRows are the report's screenings, eligibility history, label
// history and deviations as CSV rows under the event columns (up to
// details): kind names which, time_utc is when it happened, to what it
// became, by who did it, reason why; the rest is in details.
func recordRows(r Report) [][]string {
	var rows [][]string
	row := func(kind string, at time.Time, lotNumber, container, to, by, patient, reason string, details ...string) {
		rows = append(rows, []string{r.Kind, r.Subject, kind, utc(at), lotNumber, container, "", to, by, "", "", "", patient, reason, strings.Join(details, "; ")})
	}
	for _, s := range r.Screenings {
		ds := []string{fmt.Sprintf("seq=%d", s.Seq), "tested=" + lot.FormatDate(s.Tested), "markers=" + s.Markers}
		if s.VoidedAt != nil {
			ds = append(ds, "voided_at="+utc(*s.VoidedAt), "voided_by="+s.VoidedBy)
			if s.VoidSigned != nil {
				ds = append(ds, "void_signature="+s.VoidSigned.FullName+" ("+s.VoidSigned.By+") "+utc(s.VoidSigned.At)+": "+s.VoidSigned.Meaning)
			}
		}
		row(CSVScreening, s.RecordedAt, "", "", s.Status, s.RecordedBy, "", s.VoidReason, ds...)
	}
	for _, e := range r.Eligibility {
		row(CSVEligibility, e.At, "", "", e.Status, e.By, "", e.Change, fmt.Sprintf("eligible=%t", e.Eligible))
	}
	for _, l := range r.Labels {
		row(CSVLabel, l.At, l.Lot, l.Container, l.Action, l.By, "", l.Reason,
			fmt.Sprintf("printed=%d", l.Printed), fmt.Sprintf("applied=%d", l.Applied), fmt.Sprintf("voided=%d", l.Voided), fmt.Sprintf("unused=%d", l.Unused))
	}
	for _, d := range r.Deviations {
		var ds []string
		if d.Infusion != "" {
			ds = append(ds, "infusion="+d.Infusion)
		}
		row(CSVDeviation, d.At, d.Lot, d.Container, d.Kind, d.By, d.Patient, d.Detail, ds...)
	}
	return rows
}

func utc(t time.Time) string { return t.UTC().Format(time.RFC3339) }
