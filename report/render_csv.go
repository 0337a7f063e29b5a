package report

import (
	"encoding/csv"
	"io"
	"strconv"
	"time"
)

// CSVColumns are the columns of the CSV report: one row per custody or
// infusion event. The provenance columns repeat on every row so that a row
// pasted into another spreadsheet still says where it came from.
var CSVColumns = []string{"report", "subject", "kind", "time_utc", "lot", "container", "from", "to", "by",
	"site", "location", "custodian", "patient_mrn", "reason", "details",
	"produced_at", "produced_by", "database", "audit_head", "audit_verified"}

// RenderCSV writes one row per event of r, oldest first, under CSVColumns.
func RenderCSV(w io.Writer, r Report) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(CSVColumns); err != nil {
		return err
	}
	p := r.Produced
	for _, e := range r.Events {
		row := []string{r.Kind, r.Subject, e.Kind, e.At.UTC().Format(time.RFC3339), e.Lot, e.Container, e.From, e.To, e.By,
			e.Site, e.Location, e.Custodian, e.Patient, e.Reason, e.DetailText(),
			p.At.UTC().Format(time.RFC3339), p.By, p.Database, p.AuditHead, strconv.FormatBool(p.Verified)}
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}
