package report

import (
	"fmt"
	"io"
	"strings"

	"codeberg.org/go-pdf/fpdf"
	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/release"
)

// CertificatePDF writes the certificate as an A4 PDF in black and white, for
// QA to file and auditors to print: one page for a normal lot. A lot with a
// long history of decisions flows onto further pages — never is a signature
// cut off the bottom of the page — and every page's footer names the lot,
// the page ("page 2 of 3") and the audit chain head.
//
// It prints in the trace PDF's embedded font (DejaVu Sans), so names in
// Latin, Greek or Cyrillic scripts print as written; a character the font
// lacks is printed as its code point, [U+9648], with a NOTE right below
// naming the field and sending the reader to the HTML or text certificate,
// which carry every character.
func CertificatePDF(w io.Writer, c release.Certificate) error {
	pdf := fpdf.New("P", "mm", "A4", "")
	// Deterministic object order (fpdf orders its catalog from maps
	// otherwise): the same certificate gives the same bytes, whichever
	// front end printed it.
	pdf.SetCatalogSort(true)
	pdf.SetCreationDate(c.Generated)
	pdf.SetModificationDate(c.Generated)
	pdf.SetTitle("Certificate of analysis "+c.Lot.Number, true)
	pdf.SetMargins(14, 12, 14)
	pdf.SetAutoPageBreak(true, 14)
	pdf.AliasNbPages("{nb}")
	addPDFFonts(pdf)
	p := &pdfDoc{f: pdf, alt: "certificate"}
	pdf.SetFooterFunc(func() {
		pdf.SetY(-10)
		pdf.SetFont(pdfFont, "", 6.5)
		footer, _ := pdfClean(fmt.Sprintf("Certificate of analysis - lot %s - page %d of {nb} - audit chain head %s",
			c.Lot.Number, pdf.PageNo(), c.ChainHead))
		pdf.CellFormat(0, 3, footer, "", 0, "L", false, 0, "")
	})
	pdf.AddPage()
	pdf.SetFont(pdfFont, "B", 14)
	pdf.CellFormat(0, 7, p.text("Title", "Certificate of analysis - lot "+c.Lot.Number), "", 1, "L", false, 0, "")
	pdf.SetFont(pdfFont, "", 8)
	pdf.CellFormat(0, 4, p.text("Facility", "Facility "+c.Facility), "", 1, "L", false, 0, "")
	p.notes()
	pdf.Ln(1)
	if warn := certWarning(c); warn != "" {
		pdf.SetFont(pdfFont, "BU", 9)
		pdf.MultiCell(0, 4.6, p.text("Warning", warn), "", "L", false)
		p.notes()
		pdf.Ln(1)
	}
	for _, f := range certProvenance(c) {
		pdf.SetFont(pdfFont, "B", 7)
		pdf.CellFormat(28, 3.6, p.text("Label "+f.Label, f.Label), "", 0, "L", false, 0, "")
		pdf.SetFont(pdfFont, "", 7)
		pdf.MultiCell(0, 3.6, p.text(f.Label, f.Value), "", "L", false)
		p.notes()
	}
	pdf.Ln(1)
	for _, l := range certHeader(c) {
		pdf.SetFont(pdfFont, "B", 8)
		pdf.CellFormat(28, 4.2, p.text("Label "+l.Label, l.Label), "", 0, "L", false, 0, "")
		pdf.SetFont(pdfFont, "", 8)
		pdf.CellFormat(0, 4.2, p.text(l.Label, l.Value), "", 1, "L", false, 0, "")
		p.notes()
	}
	pdf.Ln(2)
	widths := []float64{34, 30, 88, 30}
	cols := []string{"Criterion", "Limit", "Result", "Verdict"}
	pdf.SetFont(pdfFont, "B", 8)
	for i, h := range cols {
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
			pdf.SetFont(pdfFont, style, 7.5)
			field := fmt.Sprintf("Results, column %s, row %s", cols[i], r.Criterion)
			pdf.CellFormat(widths[i], 4.4, certFit(pdf, p.text(field, s), widths[i]-2), "1", 0, "L", false, 0, "")
		}
		pdf.Ln(-1)
		pdf.SetFont(pdfFont, "", 7.5)
		p.notes()
	}
	pdf.Ln(2)
	pdf.SetFont(pdfFont, "B", 9)
	pdf.MultiCell(0, 4.6, p.text("Verdict", "Verdict: "+certVerdict(c)), "", "L", false)
	p.notes()
	pdf.Ln(1)
	pdf.SetFont(pdfFont, "B", 9)
	pdf.CellFormat(0, 5, certInvalidatedTitle, "", 1, "L", false, 0, "")
	pdf.SetFont(pdfFont, "", 7.5)
	for _, s := range certInvalidated(c) {
		pdf.MultiCell(0, 3.8, p.text(certInvalidatedTitle, s), "", "L", false)
		p.notes()
	}
	pdf.Ln(1)
	pdf.SetFont(pdfFont, "B", 9)
	pdf.CellFormat(0, 5, "Decisions and signatures", "", 1, "L", false, 0, "")
	pdf.SetFont(pdfFont, "", 7.5)
	for _, s := range certDecisions(c) {
		field := "Decisions and signatures, decision"
		if strings.HasPrefix(s, "  signed:") {
			field = "Decisions and signatures, signature"
		}
		pdf.MultiCell(0, 3.8, p.text(field, s), "", "L", false)
		p.notes()
	}
	pdf.Ln(2)
	pdf.SetFont(pdfFont, "", 7)
	pdf.MultiCell(0, 3.6, p.text("Audit chain head", "Audit chain head "+c.ChainHead+"; tree head "+c.TreeHead), "", "L", false)
	pdf.CellFormat(0, 3.6, p.text("Generated", "Generated "+lot.FormatTime(c.Generated)), "", 1, "L", false, 0, "")
	p.notes()
	if err := pdf.Error(); err != nil {
		return fmt.Errorf("render certificate PDF: %w", err)
	}
	return pdf.Output(w)
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
