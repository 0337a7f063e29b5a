package report

import (
	"encoding/json"
	"io"
	"time"

	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/release"
)

// CertificateJSON writes c as `release certificate --format json` prints it
// (indented, keys sorted), so the command line and the web download are
// one rendering. now decides whether the lot shows as expired; the lot's
// restricted_to is the MRN of an exceptional release.
func CertificateJSON(w io.Writer, c release.Certificate, now time.Time) error {
	restricted := ""
	if c.Lot.Exceptional {
		restricted = c.RestrictedTo
		if restricted == "" {
			restricted = c.Lot.RestrictedTo.String()
		}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(map[string]any{"lot": lot.ViewLot(c.Lot, now, restricted), "source": c.Source, "restricted_to": c.RestrictedTo,
		"evaluation": c.Evaluation, "spec_title": c.SpecTitle, "dispositions": release.ViewDispositions(c.Dispositions),
		"chain_head": c.ChainHead, "tree_head": c.TreeHead, "generated": c.Generated, "results_voided_or_corrected": InvalidationViews(release.Invalidated(c.Results)),
		"produced": map[string]any{"at": c.Generated, "by": c.ProducedBy, "by_name": c.ProducedByName, "by_role": c.ProducedByRole,
			"database": c.Database, "audit_head": c.ChainHead, "audit_entries": c.AuditEntries,
			"audit_verified": c.Verified, "audit_problems": c.AuditProblems}})
}

// CertificateFormats are the formats `release certificate` writes.
var CertificateFormats = []string{"text", "md", "json", "html", "pdf"}

// RenderCertificate writes c in format (one of CertificateFormats); an
// unknown format is EUSAGE naming it.
func RenderCertificate(w io.Writer, c release.Certificate, format string, now time.Time) error {
	switch format {
	case "text":
		return CertificateText(w, c)
	case "md":
		return CertificateMarkdown(w, c)
	case "html":
		return CertificateHTML(w, c)
	case "pdf":
		return CertificatePDF(w, c)
	case "json":
		return CertificateJSON(w, c, now)
	}
	return lot.Errorf(lot.EUSAGE, "format %q is not a certificate format; use text, md, json, html or pdf", format)
}

// InvalidationViews is the JSON of a lot's voided and corrected results:
// each result with "invalidated" "void" or "corrected", and by which result,
// when, by whom and why. Never null: an empty list says there are none.
func InvalidationViews(is []release.Invalidation) []map[string]any {
	v := []map[string]any{}
	for _, i := range is {
		how := "void"
		if i.CorrectedBy > 0 {
			how = "corrected"
		}
		v = append(v, map[string]any{"seq": i.Seq, "assay": i.Assay, "value": i.Value.Text, "unit": i.Value.Unit,
			"tested": lot.FormatDate(i.Tested), "recorded_by": i.RecordedBy, "recorded_at": i.RecordedAt,
			"invalidated": how, "corrected_by": i.CorrectedBy, "voided_at": i.VoidedAt, "voided_by": i.VoidedBy, "reason": i.Reason})
	}
	return v
}
