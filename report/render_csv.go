package report

import (
	"encoding/csv"
	"io"
	"time"
)

// CSVColumns are the columns of the CSV report: one row per custody or
// infusion event. The provenance columns repeat on every row so that a row
// pasted into another spreadsheet still says where it came from.
var CSVColumns = []string{"report", "subject", "kind", "time_utc", "lot", "container", "from", "to", "by",
	"site", "location", "custodian", "patient_mrn", "reason", "details",
	"produced_at", "produced_by", "database", "audit_head", "audit_verified"}

// RenderCSV writes one row per event of r, oldest first, under CSVColumns;
// a report with Data writes Data's rows instead, followed by the same
// provenance columns.
func RenderCSV(w io.Writer, r Report) error {
	cw := csv.NewWriter(w)
	p := r.Produced
	if r.Data != nil {
		prov := []string{p.At.UTC().Format(time.RFC3339), p.By, p.Database, p.AuditHead, p.VerifyCell()}
		if err := cw.Write(append(append([]string{}, r.Data.Columns...), CSVColumns[len(CSVColumns)-len(prov):]...)); err != nil {
			return err
		}
		for _, row := range r.Data.Rows {
			if err := cw.Write(append(append([]string{}, row...), prov...)); err != nil {
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
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}
