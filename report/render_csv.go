package report

import (
	"encoding/csv"
	"io"
	"strconv"
	"time"
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
// infusion event. The provenance columns repeat on every row so that a row
// pasted into another spreadsheet still says where it came from.
var CSVColumns = []string{"report", "subject", "kind", "time_utc", "lot", "container", "from", "to", "by",
	"site", "location", "custodian", "patient_mrn", "reason", "details",
	"produced_at", "produced_by", "database", "audit_head", "audit_verified"}

// RenderCSV writes one row per event of r, oldest first, under CSVColumns;
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
	for _, e := range r.Events {
		row := []string{r.Kind, r.Subject, e.Kind, e.At.UTC().Format(time.RFC3339), e.Lot, e.Container, e.From, e.To, e.By,
			e.Site, e.Location, e.Custodian, e.Patient, e.Reason, e.DetailText(),
			p.At.UTC().Format(time.RFC3339), p.By, p.Database, p.AuditHead, p.VerifyCell()}
		if err := writeCSVRow(cw, row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}
