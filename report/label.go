// Package report renders celltrack's records for people and printers:
// container labels, traceability reports and certificates. It turns domain
// values into bytes (PDF, HTML, CSV, text) in memory and does no file or
// database I/O; cmd/celltrack writes what it returns.
package report

import (
	"bytes"
	"fmt"
	"image/color"
	"time"

	"github.com/boombuler/barcode"
	"github.com/boombuler/barcode/code128"
	"github.com/celltrack/celltrack/lot"
	"github.com/go-pdf/fpdf"
)

// Label geometry in millimetres. ISBT 128 container labels are 100 × 100 mm
// (ICCBBA ST-005); the barcode's narrowest bar is 0.33 mm, within Code 128's
// printable range for hand-held scanners and above the 0.25 mm that 203 dpi
// label printers resolve.
const (
	labelSize      = 100.0
	labelMargin    = 6.0
	labelModule    = 0.33
	labelBarHeight = 16.0
)

// Labels renders one 100 × 100 mm page per container of set: the eye-readable
// DIN with its boxed check character, the Code 128 barcode of the ISBT 128
// data content ("=" + DIN + container number as flag), the product, cells and
// volume, expiry with its time zone, the storage condition and, for an
// autologous lot, the patient's name, MRN and FOR AUTOLOGOUS USE ONLY; for a
// lot released exceptionally, the one patient it may go to.
// printedAt stamps the PDF's creation date so that output is reproducible.
func Labels(set lot.LabelSet, facility string, printedAt time.Time) ([]byte, error) {
	pdf := fpdf.NewCustom(&fpdf.InitType{UnitStr: "mm", Size: fpdf.SizeType{Wd: labelSize, Ht: labelSize}})
	pdf.SetCreationDate(printedAt.UTC())
	pdf.SetModificationDate(printedAt.UTC())
	pdf.SetCatalogSort(true) // deterministic object order: the same labels give the same bytes
	pdf.SetAutoPageBreak(false, 0)
	pdf.SetMargins(labelMargin, labelMargin, labelMargin)
	pdf.SetTitle("celltrack labels "+set.Lot.Number, true)
	tr := pdf.UnicodeTranslatorFromDescriptor("") // cp1252: ×, ° and — print
	for _, c := range set.Containers {
		if err := labelPage(pdf, tr, set, c, facility); err != nil {
			return nil, err
		}
	}
	var buf bytes.Buffer
	if err := pdf.Output(&buf); err != nil {
		return nil, fmt.Errorf("render labels: %w", err)
	}
	return buf.Bytes(), nil
}

func labelPage(pdf *fpdf.Fpdf, tr func(string) string, set lot.LabelSet, c lot.Container, facility string) error {
	l := set.Lot
	pdf.AddPage()
	pdf.SetDrawColor(0, 0, 0)
	pdf.Rect(2, 2, labelSize-4, labelSize-4, "D")

	y := labelMargin + 3
	pdf.SetFont("Helvetica", "", 7)
	pdf.Text(labelMargin, y, tr("ISBT 128 Donation Identification Number  ·  facility "+facility))

	// Barcode: "=" + DIN + flag, with a 10-module quiet zone each side.
	data := lot.BarcodeData(c)
	bc, err := code128.Encode(data)
	if err != nil {
		return fmt.Errorf("encode barcode %s: %w", data, err)
	}
	y += 2
	labelBars(pdf, bc, labelMargin+10*labelModule, y)
	y += labelBarHeight + 5

	// Eye-readable DIN, check character boxed, then the flag.
	pdf.SetFont("Courier", "B", 14)
	din := fmt.Sprintf("%s %02d %06d", c.DIN.FIN, c.DIN.Year, c.DIN.Seq)
	x := labelMargin + 10*labelModule
	pdf.Text(x, y, din)
	x += pdf.GetStringWidth(din + " ")
	check := string(c.DIN.Check())
	w := pdf.GetStringWidth(check)
	pdf.Rect(x-0.8, y-4.4, w+1.6, 5.6, "D")
	pdf.Text(x, y, check)
	pdf.SetFont("Courier", "B", 10)
	pdf.Text(x+w+3, y, fmt.Sprintf("%02d", c.Number))

	y += 8
	pdf.SetFont("Helvetica", "B", 15)
	product, kind := "UC-MSC", "allogeneic umbilical-cord MSC"
	if l.Source == lot.SourceRFib {
		product, kind = "autologous rFib", "regenerative fibroblasts"
	}
	pdf.Text(labelMargin, y, tr(product))
	kindX := labelMargin + pdf.GetStringWidth(tr(product)) + 3
	pdf.SetFont("Helvetica", "", 8)
	pdf.Text(kindX, y, tr(kind))
	lines := []string{
		fmt.Sprintf("Lot %s   container %02d", l.Number, c.Number),
		fmt.Sprintf("Cells %s   volume %s mL", c.Cells, c.VolumeML),
		"Expires " + lot.FormatTime(l.Expires),
		lot.StorageCondition,
	}
	pdf.SetFont("Helvetica", "", 9)
	for _, s := range lines {
		y += 6
		pdf.Text(labelMargin, y, tr(s))
	}
	if set.RestrictedTo != nil {
		y += 7
		pdf.SetFont("Helvetica", "B", 10)
		pdf.Text(labelMargin, y, tr(lot.ExceptionalWarning(*set.RestrictedTo)))
	}
	if l.Source == lot.SourceRFib && set.Patient != nil {
		y += 8
		pdf.SetFont("Helvetica", "B", 11)
		pdf.Text(labelMargin, y, tr(fmt.Sprintf("Patient %s   MRN %s", set.Patient.Name, set.Patient.MRN)))
		y += 8
		pdf.SetFillColor(0, 0, 0)
		pdf.Rect(labelMargin, y-5.5, labelSize-2*labelMargin, 8, "F")
		pdf.SetTextColor(255, 255, 255)
		pdf.SetFont("Helvetica", "B", 14)
		pdf.Text(labelMargin+2, y, lot.AutologousWarning)
		pdf.SetTextColor(0, 0, 0)
	}
	return pdf.Error()
}

// labelBars draws a 1-D barcode as filled rectangles, one per run of dark
// modules, so that the bars are vector shapes a printer renders exactly.
func labelBars(pdf *fpdf.Fpdf, bc barcode.Barcode, x, y float64) {
	pdf.SetFillColor(0, 0, 0)
	width := bc.Bounds().Dx()
	for i := 0; i < width; {
		if !labelDark(bc.At(i, 0)) {
			i++
			continue
		}
		j := i
		for j < width && labelDark(bc.At(j, 0)) {
			j++
		}
		pdf.Rect(x+float64(i)*labelModule, y, float64(j-i)*labelModule, labelBarHeight, "F")
		i = j
	}
}

func labelDark(c color.Color) bool {
	r, g, b, _ := c.RGBA()
	return r+g+b < 3*0x8000
}
