// Package report renders celltrack's documents for people and auditors:
// certificates of analysis, traceability reports and labels, as text,
// Markdown, HTML and PDF. It holds no rule and does no lookup: it renders
// what the domain assembled, to the writer it is given.
package report

import (
	"fmt"
	"html/template"
	"io"
	"strings"
	"sync"

	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/release"
)

// certLine is one line of a certificate's header block.
type certLine struct{ Label, Value string }

// certHeader is the identity block shared by every format.
func certHeader(c release.Certificate) []certLine {
	l := c.Lot
	status := l.StatusText(c.Generated, c.RestrictedTo)
	return []certLine{
		{"Lot", l.Number},
		{"DIN", l.DIN.EyeReadable()},
		{"Product", l.Source.Product()},
		{"Source", c.Source},
		{"Cells", fmt.Sprintf("%s  viability %s %%  volume %s mL", l.Cells, l.Viability, l.VolumeML)},
		{"Manufactured", lot.FormatDate(l.Manufactured) + "   expires " + lot.FormatDate(l.Expires)},
		{"Status", status},
		{"Specification", fmt.Sprintf("%s version %d — %s", c.Evaluation.Spec, c.Evaluation.Version, c.SpecTitle)},
	}
}

// certProvenance is when, by whom and from which database the certificate
// was produced, and the state of the audit trail at that moment: the same
// block every traceability report prints.
func certProvenance(c release.Certificate) []Field {
	p := Provenance{At: c.Generated, By: c.ProducedBy, ByName: c.ProducedByName, ByRole: c.ProducedByRole,
		Database: c.Database, AuditHead: c.ChainHead, AuditEntries: c.AuditEntries, AuditTree: c.TreeHead, Verified: c.Verified, Problems: c.AuditProblems}
	if p.By == "" {
		p.By = "not stated (no acting user given)"
	}
	return provenanceFields(p)
}

// certWarning is the banner of a certificate produced while `audit verify`
// failed: its content may rest on records changed outside celltrack.
func certWarning(c release.Certificate) string {
	if c.Verified {
		return ""
	}
	return "AUDIT VERIFY FAILED when this certificate was produced: do not rely on it; report it to QA"
}

func certVerdict(c release.Certificate) string {
	if c.Evaluation.Pass {
		return "CONFORMS to " + fmt.Sprintf("%s@%d", c.Evaluation.Spec, c.Evaluation.Version)
	}
	return "DOES NOT CONFORM: " + strings.Join(c.Evaluation.Failed(), ", ")
}

// certInvalidatedTitle heads the list of the lot's voided and corrected
// results, printed apart from the conforming results in every format.
const certInvalidatedTitle = "Results voided or corrected"

// certInvalidated lists the lot's results that no longer stand, one line
// each, or says there are none: whoever reads the certificate sees that a
// failing result was recorded and how it was invalidated.
func certInvalidated(c release.Certificate) []string {
	var out []string
	for _, i := range release.Invalidated(c.Results) {
		out = append(out, i.Line())
	}
	if len(out) == 0 {
		out = append(out, "none")
	}
	return out
}

// certDecisions prints each disposition with its signatures.
func certDecisions(c release.Certificate) []string {
	var out []string
	for _, d := range c.Dispositions {
		s := fmt.Sprintf("%s %s by %s", lot.FormatTime(d.At), strings.ToUpper(string(d.Decision)), d.By)
		if d.Spec != "" {
			s += fmt.Sprintf(" against %s@%d", d.Spec, d.SpecVersion)
		}
		if d.Patient != "" {
			s += " — restricted to patient " + d.Patient
		}
		if d.Reason != "" {
			s += " — " + d.Reason
		}
		if d.Unevaluated != "" {
			s += " (" + d.Unevaluated + ")"
		}
		out = append(out, s)
		if d.Decision == release.Exception {
			out = append(out, "  released despite: "+strings.Join(release.Nonconforming(d.Rows), ", "))
		}
		for _, sig := range d.Signatures {
			out = append(out, fmt.Sprintf("  signed: %s (%s), %s, %s; SHA-256 %x", sig.FullName, sig.User, lot.FormatTime(sig.Time), sig.Meaning, sig.Signed))
		}
		if len(d.Infused) > 0 {
			out = append(out, "  look-back, containers already infused: "+strings.Join(d.Infused, ", "))
		}
		if len(d.Recall) > 0 {
			out = append(out, "  recalled, thawed or dispensed but not infused: "+strings.Join(d.Recall, ", "))
		}
	}
	if len(out) == 0 {
		out = append(out, "no disposition: the lot has not been released or rejected")
	}
	return out
}

// CertificateText writes the certificate as plain text no wider than
// TextWidth columns.
func CertificateText(w io.Writer, c release.Certificate) error {
	t := &textWriter{}
	t.line("CERTIFICATE OF ANALYSIS — facility " + c.Facility)
	t.blank()
	if warn := certWarning(c); warn != "" {
		t.wrapped("", "*** "+warn+" ***", "    ")
		t.blank()
	}
	t.fields(certProvenance(c))
	t.blank()
	for _, l := range certHeader(c) {
		t.fields([]Field{{l.Label, l.Value}})
	}
	t.blank()
	tb := Table{Columns: []string{"CRITERION", "LIMIT", "RESULT", "VERDICT"}}
	for _, r := range c.Evaluation.Rows {
		tb.Rows = append(tb.Rows, []string{r.Criterion, r.Limit, r.Result, string(r.Verdict)})
	}
	t.table(tb)
	t.blank()
	t.wrapped("", "Verdict: "+certVerdict(c), "  ")
	t.blank()
	t.line(certInvalidatedTitle + ":")
	for _, s := range certInvalidated(c) {
		t.wrapped("  ", s, "    ")
	}
	t.blank()
	t.line("Decisions and signatures:")
	for _, s := range certDecisions(c) {
		indent := "  "
		if strings.HasPrefix(s, "  ") {
			indent = "    "
		}
		t.wrapped(indent, strings.TrimSpace(s), indent+"  ")
	}
	_, err := io.WriteString(w, t.b.String())
	return err
}

// CertificateMarkdown writes the certificate as Markdown.
func CertificateMarkdown(w io.Writer, c release.Certificate) error {
	var b strings.Builder
	esc := strings.NewReplacer("|", "\\|")
	fmt.Fprintf(&b, "# Certificate of analysis — lot %s\n\nFacility %s\n\n", c.Lot.Number, c.Facility)
	if warn := certWarning(c); warn != "" {
		fmt.Fprintf(&b, "**%s**\n\n", warn)
	}
	for _, f := range certProvenance(c) {
		fmt.Fprintf(&b, "- %s: %s\n", f.Label, esc.Replace(f.Value))
	}
	b.WriteString("\n")
	for _, l := range certHeader(c) {
		fmt.Fprintf(&b, "- **%s:** %s\n", l.Label, esc.Replace(l.Value))
	}
	b.WriteString("\n| criterion | limit | result | verdict |\n|---|---|---|---|\n")
	for _, r := range c.Evaluation.Rows {
		fmt.Fprintf(&b, "| %s | %s | %s | **%s** |\n", esc.Replace(r.Criterion), esc.Replace(r.Limit), esc.Replace(r.Result), r.Verdict)
	}
	fmt.Fprintf(&b, "\n**Verdict:** %s\n\n## %s\n\n", certVerdict(c), certInvalidatedTitle)
	for _, s := range certInvalidated(c) {
		fmt.Fprintf(&b, "- %s\n", s)
	}
	b.WriteString("\n## Decisions and signatures\n\n")
	for _, s := range certDecisions(c) {
		if strings.HasPrefix(s, "  ") {
			fmt.Fprintf(&b, "  - %s\n", strings.TrimSpace(s))
		} else {
			fmt.Fprintf(&b, "- %s\n", s)
		}
	}
	fmt.Fprintf(&b, "\nAudit chain head `%s`, tree head `%s`, generated %s\n", c.ChainHead, c.TreeHead, lot.FormatTime(c.Generated))
	_, err := io.WriteString(w, b.String())
	return err
}

// certHTML is parsed on first use, not at start-up: every command, a one-record
// write among them, would otherwise pay for parsing it.
var certHTML = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("certificate").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Certificate of analysis — lot {{.C.Lot.Number}}</title>
<style>body{font-family:sans-serif;color:#000;background:#fff;max-width:50em;margin:2em auto}
table{border-collapse:collapse;width:100%}td,th{border:1px solid #000;padding:.2em .4em;text-align:left}
.fail{font-weight:bold;text-decoration:underline}</style></head><body>
<h1>Certificate of analysis — lot {{.C.Lot.Number}}</h1>
<p>Facility {{.C.Facility}}</p>
{{with .Warning}}<p><strong>{{.}}</strong></p>{{end}}
<table>{{range .Provenance}}<tr><th>{{.Label}}</th><td>{{.Value}}</td></tr>{{end}}</table>
<table>{{range .Header}}<tr><th>{{.Label}}</th><td>{{.Value}}</td></tr>{{end}}</table>
<h2>Results</h2>
<table><tr><th>criterion</th><th>limit</th><th>result</th><th>verdict</th></tr>
{{range .C.Evaluation.Rows}}<tr><td>{{.Criterion}}</td><td>{{.Limit}}</td><td>{{.Result}}</td><td{{if ne .Verdict "PASS"}} class="fail"{{end}}>{{.Verdict}}</td></tr>
{{end}}</table>
<p><strong>Verdict:</strong> {{.Verdict}}</p>
<h2>{{.InvalidatedTitle}}</h2>
<ul>{{range .Invalidated}}<li>{{.}}</li>{{end}}</ul>
<h2>Decisions and signatures</h2>
<ul>{{range .Decisions}}<li>{{.}}</li>{{end}}</ul>
<p>Audit chain head <code>{{.C.ChainHead}}</code>, tree head <code>{{.C.TreeHead}}</code>, generated {{.Generated}}</p>
</body></html>
`))
})

// CertificateHTML writes the certificate as a self-contained HTML page that
// prints in black and white.
func CertificateHTML(w io.Writer, c release.Certificate) error {
	return certHTML().Execute(w, map[string]any{"C": c, "Header": certHeader(c), "Verdict": certVerdict(c),
		"Decisions": certDecisions(c), "Generated": lot.FormatTime(c.Generated), "Warning": certWarning(c), "Provenance": certProvenance(c),
		"InvalidatedTitle": certInvalidatedTitle, "Invalidated": certInvalidated(c)})
}
