package report

import (
	"fmt"
	"io"
	"strings"

	"github.com/celltrack/celltrack/lot"
)

// Formats are the output formats, as named by --format.
var Formats = []string{"text", "md", "json", "csv", "html", "pdf"}

// ParseFormat checks a --format value.
func ParseFormat(s string) (string, error) {
	f := strings.ToLower(strings.TrimSpace(s))
	for _, ok := range Formats {
		if f == ok {
			return f, nil
		}
	}
	return "", lot.FieldErrorf("format", lot.EUSAGE, "%q is not a report format; use one of %s", s, strings.Join(Formats, ", "))
}

// Render writes r to w in format (one of Formats).
func Render(w io.Writer, r Report, format string) error {
	switch format {
	case "text":
		return RenderText(w, r)
	case "md":
		return RenderMarkdown(w, r)
	case "json":
		return RenderJSON(w, r)
	case "csv":
		return RenderCSV(w, r)
	case "html":
		return RenderHTML(w, r)
	case "pdf":
		return RenderPDF(w, r)
	}
	return fmt.Errorf("report format %q has no renderer", format)
}

// FailedBanner heads a report whose audit verification failed, in every
// format a person reads (the CSV says audit_verified false on every row,
// the JSON "audit_verified": false): such a report is written, as evidence,
// but nobody should rely on it.
const FailedBanner = "AUDIT VERIFICATION FAILED: this report may rest on records changed outside celltrack; do not rely on it"

// banner is the report's FailedBanner, or "" when its verification passed.
func banner(p Provenance) string {
	if p.Verified {
		return ""
	}
	return FailedBanner
}

// provenanceFields is the report's header block, the same in every format.
func provenanceFields(p Provenance) []Field {
	by := p.By
	if p.ByName != "" {
		by += " (" + p.ByName
		if p.ByRole != "" {
			by += ", " + p.ByRole
		}
		by += ")"
	}
	fs := []Field{
		{"Produced", lot.FormatTime(p.At)},
		{"By", by},
		{"Database", p.Database},
		{"Audit head", p.AuditHead},
		{"Audit entries", fmt.Sprint(p.AuditEntries)},
	}
	if p.AuditTree != "" {
		fs = append(fs, Field{"Audit tree head", p.AuditTree})
	}
	fs = append(fs, Field{"Audit verify", p.VerifyText()})
	for _, prob := range p.Problems {
		fs = append(fs, Field{"Audit problem", prob})
	}
	return fs
}

// eventColumns are the columns of the events table in md, html and pdf;
// each time carries its zone (lot.FormatTime).
var eventColumns = []string{"When", "Container", "Event", "By", "Custodian", "Where", "Patient", "Notes"}

// eventRow is one event as a table row under eventColumns.
func eventRow(e Event) []string {
	where := e.Site
	if e.Location != "" {
		if where != "" {
			where += ", "
		}
		where += e.Location
	}
	notes := e.Reason
	if d := e.DetailText(); d != "" {
		if notes != "" {
			notes += "; "
		}
		notes += d
	}
	move := e.Move()
	if e.Kind == Infusion {
		move = "infused"
	}
	return []string{lot.FormatTime(e.At), e.Container, move, e.By, e.Custodian, where, e.Patient, notes}
}

// eventsTitle heads the events part of every format.
const eventsTitle = "Chain of custody and infusions"

// signOff is the sign-off block an auditor completes on paper.
var signOff = []string{"Reviewed by (name)", "Signature", "Date"}

// signOffText is the sentence the auditor signs: it states the audit
// verification exactly as the header does (scope and result), so that a
// signature never vouches for more than was checked.
func signOffText(r Report) string {
	return fmt.Sprintf("I have reviewed this %s, produced %s from %s (audit chain head %s; audit verify: %s).",
		r.Name(), lot.FormatTime(r.Produced.At), r.Produced.Database, r.Produced.AuditHead, r.Produced.VerifyText())
}

// Name is what the report is, in a phrase: "donor trace of D-0001",
// "handling report of all infusions".
func (r Report) Name() string {
	if r.Data != nil {
		return r.Kind + " report of " + r.Subject
	}
	return r.Kind + " trace of " + r.Subject
}

// Command is the celltrack command that produces the report, for a page
// footer: "celltrack trace donor D-0001", "celltrack report handling".
func (r Report) Command() string {
	if r.Data != nil {
		return "celltrack report " + r.Kind + " (" + r.Subject + ")"
	}
	return "celltrack trace " + r.Kind + " " + r.Subject
}
