package report

import (
	"fmt"
	"io"
	"strings"

	"github.com/celltrack/celltrack/release"
	"github.com/go-pdf/fpdf"
)

// CertificatePDF writes the certificate as an A4 PDF in black and white, for
// QA to file and auditors to print: one page for a normal lot. A lot with a
// long history of decisions flows onto further pages — never is a signature
// cut off the bottom of the page — and every page's footer names the lot,
// the page ("page 2 of 3") and the audit chain head.
func CertificatePDF(w io.Writer, c release.Certificate) error {
	pdf := fpdf.New("P", "mm", "A4", "")
	pdf.SetCreationDate(c.Generated)
	pdf.SetModificationDate(c.Generated)
	pdf.SetTitle("Certificate of analysis "+c.Lot.Number, true)
	pdf.SetMargins(14, 12, 14)
	pdf.SetAutoPageBreak(true, 14)
	pdf.AliasNbPages("{nb}")
	tr := certPDFText(pdf)
	pdf.SetFooterFunc(func() {
		pdf.SetY(-10)
		pdf.SetFont("Helvetica", "", 6.5)
		pdf.CellFormat(0, 3, tr(fmt.Sprintf("Certificate of analysis - lot %s - page %d of {nb} - audit chain head %s",
			c.Lot.Number, pdf.PageNo(), c.ChainHead)), "", 0, "L", false, 0, "")
	})
	pdf.AddPage()
	pdf.SetFont("Helvetica", "B", 14)
	pdf.CellFormat(0, 7, tr("Certificate of analysis - lot "+c.Lot.Number), "", 1, "L", false, 0, "")
	pdf.SetFont("Helvetica", "", 8)
	pdf.CellFormat(0, 4, tr("Facility "+c.Facility), "", 1, "L", false, 0, "")
	pdf.Ln(1)
	if warn := certWarning(c); warn != "" {
		pdf.SetFont("Helvetica", "BU", 9)
		pdf.MultiCell(0, 4.6, tr(warn), "", "L", false)
		pdf.Ln(1)
	}
	for _, f := range certProvenance(c) {
		pdf.SetFont("Helvetica", "B", 7)
		pdf.CellFormat(28, 3.6, tr(f.Label), "", 0, "L", false, 0, "")
		pdf.SetFont("Helvetica", "", 7)
		pdf.MultiCell(0, 3.6, tr(f.Value), "", "L", false)
	}
	pdf.Ln(1)
	for _, l := range certHeader(c) {
		pdf.SetFont("Helvetica", "B", 8)
		pdf.CellFormat(28, 4.2, tr(l.Label), "", 0, "L", false, 0, "")
		pdf.SetFont("Helvetica", "", 8)
		pdf.CellFormat(0, 4.2, tr(l.Value), "", 1, "L", false, 0, "")
	}
	pdf.Ln(2)
	widths := []float64{34, 30, 88, 30}
	pdf.SetFont("Helvetica", "B", 8)
	for i, h := range []string{"Criterion", "Limit", "Result", "Verdict"} {
		pdf.CellFormat(widths[i], 4.6, h, "1", 0, "L", false, 0, "")
	}
	pdf.Ln(-1)
	for _, r := range c.Evaluation.Rows {
		cells := []string{r.Criterion, r.Limit, r.Result, string(r.Verdict)}
		for i, s := range cells {
			style := ""
			if i == 3 && r.Verdict != release.Pass {
				style = "BU"
			}
			pdf.SetFont("Helvetica", style, 7.5)
			pdf.CellFormat(widths[i], 4.4, certFit(pdf, tr(s), widths[i]-2), "1", 0, "L", false, 0, "")
		}
		pdf.Ln(-1)
	}
	pdf.Ln(2)
	pdf.SetFont("Helvetica", "B", 9)
	pdf.MultiCell(0, 4.6, tr("Verdict: "+certVerdict(c)), "", "L", false)
	pdf.Ln(1)
	pdf.SetFont("Helvetica", "B", 9)
	pdf.CellFormat(0, 5, "Decisions and signatures", "", 1, "L", false, 0, "")
	pdf.SetFont("Helvetica", "", 7.5)
	for _, s := range certDecisions(c) {
		pdf.MultiCell(0, 3.8, tr(s), "", "L", false)
	}
	pdf.Ln(2)
	pdf.SetFont("Courier", "", 7)
	pdf.MultiCell(0, 3.6, tr("Audit chain head "+c.ChainHead), "", "L", false)
	pdf.SetFont("Helvetica", "", 7)
	pdf.CellFormat(0, 3.6, tr("Generated "+c.Generated.UTC().Format("2006-01-02 15:04 UTC")), "", 1, "L", false, 0, "")
	return pdf.Output(w)
}

// certPDFText converts UTF-8 to the core fonts' code page, spelling out the
// characters it lacks.
func certPDFText(pdf *fpdf.Fpdf) func(string) string {
	tr := pdf.UnicodeTranslatorFromDescriptor("")
	spell := strings.NewReplacer("≥", ">=", "≤", "<=", "α", "alpha", "—", "-")
	return func(s string) string { return tr(spell.Replace(s)) }
}

// certFit shortens s with "..." until it fits width mm in the current font.
func certFit(pdf *fpdf.Fpdf, s string, width float64) string {
	if pdf.GetStringWidth(s) <= width {
		return s
	}
	r := []rune(s)
	for len(r) > 0 && pdf.GetStringWidth(string(r)+"...") > width {
		r = r[:len(r)-1]
	}
	return string(r) + "..."
}
