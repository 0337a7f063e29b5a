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

	"codeberg.org/go-pdf/fpdf"
	"github.com/boombuler/barcode"
	"github.com/boombuler/barcode/code128"
	"github.com/celltrack/celltrack/lot"
	"golang.org/x/text/unicode/norm"
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
//
// Every text is drawn in the embedded DejaVu fonts, as written. A label never
// carries a substitute for a character — the nurse compares the patient's
// name on the bag with the wristband — so a text holding a character the
// fonts cannot draw (Chinese, say) refuses the whole print (CheckLabelText),
// before any page is drawn. A line too long for the label is set smaller,
// down to a floor, then wrapped.
// printedAt stamps the PDF's creation date so that output is reproducible.
func Labels(set lot.LabelSet, facility string, printedAt time.Time) ([]byte, error) {
	if err := CheckLabelText(set, facility); err != nil {
		return nil, err
	}
	pdf := fpdf.NewCustom(&fpdf.InitType{UnitStr: "mm", Size: fpdf.SizeType{Wd: labelSize, Ht: labelSize}})
	pdf.SetCreationDate(printedAt.UTC())
	pdf.SetModificationDate(printedAt.UTC())
	pdf.SetCatalogSort(true) // deterministic object order: the same labels give the same bytes
	pdf.SetAutoPageBreak(false, 0)
	pdf.SetMargins(labelMargin, labelMargin, labelMargin)
	pdf.SetTitle("celltrack labels "+set.Lot.Number, true)
	addPDFFonts(pdf)
	pdf.AddUTF8FontFromBytes(pdfMonoFont, "B", dejaVuSansMonoBold)
	d := &labelDoc{pdf: pdf}
	for _, c := range set.Containers {
		if err := d.page(set, c, facility); err != nil {
			return nil, err
		}
	}
	var buf bytes.Buffer
	if err := pdf.Output(&buf); err != nil {
		return nil, fmt.Errorf("render labels: %w", err)
	}
	return buf.Bytes(), nil
}

// CheckLabelText refuses a label whose texts — patient name and MRN, the
// MRN of an exceptional release, lot number, facility — hold a character
// the label's fonts cannot draw, naming the field, the value and the code
// point. Labels print the Latin, Greek and Cyrillic scripts.
func CheckLabelText(set lot.LabelSet, facility string) error {
	fields := [][2]string{{"facility", facility}, {"lot number", set.Lot.Number}}
	if set.RestrictedTo != nil {
		fields = append(fields, [2]string{"MRN of the patient the lot is restricted to", set.RestrictedTo.MRN})
	}
	if set.Lot.Source == lot.SourceRFib && set.Patient != nil {
		fields = append(fields, [2]string{"patient name", set.Patient.Name}, [2]string{"patient MRN", set.Patient.MRN})
	}
	for _, f := range fields {
		if err := labelCheck(f[0], norm.NFC.String(f[1]), pdfGlyphs()); err != nil {
			return err
		}
	}
	return nil
}

// labelCheck refuses s, the value of field, if it holds a character has
// lacks.
func labelCheck(field, s string, has func(rune) bool) error {
	for _, r := range s {
		if !has(r) {
			return lot.Errorf(lot.EINVALID, "cannot print the label: %s %q has %q (U+%04X), a character the label font cannot draw; "+
				"labels print the Latin, Greek and Cyrillic scripts, and never a substitute for a character. Nothing was printed "+
				"or counted: print the %s by another means, and ask the administrator", field, s, r, r, field)
		}
	}
	return nil
}

// labelLine is the width a line of text may take on a label.
const labelLine = labelSize - 2*labelMargin

// labelDoc draws labels' texts, each checked against the face it is drawn
// in — a last guard for the fixed texts, which CheckLabelText does not see.
type labelDoc struct {
	pdf  *fpdf.Fpdf
	mono bool
	err  error
}

func (d *labelDoc) font(style string, size float64) {
	d.mono = false
	d.pdf.SetFont(pdfFont, style, size)
}

func (d *labelDoc) monoFont(size float64) {
	d.mono = true
	d.pdf.SetFont(pdfMonoFont, "B", size)
}

// text draws s with its baseline at (x, y).
func (d *labelDoc) text(x, y float64, s string) {
	has := pdfGlyphs()
	if d.mono {
		has = pdfMonoGlyphs()
	}
	if err := labelCheck("label text", s, has); err != nil && d.err == nil {
		d.err = err
	}
	if d.err == nil {
		d.pdf.Text(x, y, s)
	}
}

// fit sets the face in style at size points, or smaller — by half points,
// down to least — until s fits width mm, and returns the size set.
func (d *labelDoc) fit(style string, size, least, width float64, s string) float64 {
	for d.font(style, size); size > least && d.pdf.GetStringWidth(s) > width; d.font(style, size) {
		size = max(least, size-0.5)
	}
	return size
}

// line draws s from the left margin with its baseline at y, as fit sets it;
// text too wide even at least points wraps onto further lines. It returns
// the baseline of the last line.
func (d *labelDoc) line(y float64, style string, size, least float64, s string) float64 {
	size = d.fit(style, size, least, labelLine, s)
	lines := []string{s}
	if d.pdf.GetStringWidth(s) > labelLine {
		lines = d.pdf.SplitText(s, labelLine)
	}
	for i, l := range lines {
		if i > 0 {
			y += size * 0.3528 * 1.2
		}
		d.text(labelMargin, y, l)
	}
	return y
}

func (d *labelDoc) page(set lot.LabelSet, c lot.Container, facility string) error {
	pdf, l := d.pdf, set.Lot
	pdf.AddPage()
	pdf.SetDrawColor(0, 0, 0)
	pdf.Rect(2, 2, labelSize-4, labelSize-4, "D")

	y := labelMargin + 3
	d.line(y, "", 7, 5, "ISBT 128 Donation Identification Number  ·  facility "+norm.NFC.String(facility))

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
	// Each group is drawn on its own: fpdf's subset of DejaVu Sans Mono is
	// not reproducible when it holds the space glyph.
	d.monoFont(14)
	x := labelMargin + 10*labelModule
	for _, group := range []string{c.DIN.FIN, fmt.Sprintf("%02d", c.DIN.Year), fmt.Sprintf("%06d", c.DIN.Seq)} {
		d.text(x, y, group)
		x += pdf.GetStringWidth(group + " ")
	}
	check := string(c.DIN.Check())
	w := pdf.GetStringWidth(check)
	pdf.Rect(x-0.8, y-4.4, w+1.6, 5.6, "D")
	d.text(x, y, check)
	d.monoFont(10)
	d.text(x+w+3, y, fmt.Sprintf("%02d", c.Number))

	y += 8
	product, kind := "UC-MSC", "allogeneic umbilical-cord MSC"
	if l.Source == lot.SourceRFib {
		product, kind = "autologous rFib", "regenerative fibroblasts"
	}
	d.font("B", 15)
	d.text(labelMargin, y, product)
	kindX := labelMargin + pdf.GetStringWidth(product) + 3
	d.fit("", 8, 6, labelSize-labelMargin-kindX, kind)
	d.text(kindX, y, kind)
	lines := []string{
		fmt.Sprintf("Lot %s   container %02d", norm.NFC.String(l.Number), c.Number),
		fmt.Sprintf("Cells %s   volume %s mL", c.Cells, c.VolumeML),
		"Expires " + expires(l),
		lot.StorageCondition,
	}
	for _, s := range lines {
		y = d.line(y+6, "", 9, 6, s)
	}
	if set.RestrictedTo != nil {
		y = d.line(y+7, "B", 10, 7, lot.ExceptionalWarning(*set.RestrictedTo))
	}
	if l.Source == lot.SourceRFib && set.Patient != nil {
		name, mrn := "Patient "+norm.NFC.String(set.Patient.Name), "MRN "+norm.NFC.String(set.Patient.MRN)
		// Name and MRN on one line if they fit at 9 points or more, else
		// each on its own, the name wrapped at 8 points if it must be.
		one := name + "   " + mrn
		if d.fit("B", 11, 9, labelLine, one); pdf.GetStringWidth(one) <= labelLine {
			y = d.line(y+7, "B", 11, 9, one)
		} else {
			y = d.line(y+7, "B", 11, 8, name)
			y = d.line(y+4, "B", 11, 8, mrn)
		}
		y += 7.5
		if y+2.5 > labelSize-4 {
			return lot.Errorf(lot.EINVALID, "cannot print the label: patient name %q (%d characters) does not fit on a %g × %g mm label "+
				"even at 8 points on several lines; nothing was printed or counted: print the patient name by another means, and ask the administrator",
				set.Patient.Name, len([]rune(set.Patient.Name)), labelSize, labelSize)
		}
		pdf.SetFillColor(0, 0, 0)
		pdf.Rect(labelMargin, y-5.5, labelLine, 8, "F")
		pdf.SetTextColor(255, 255, 255)
		d.font("B", 14)
		d.text(labelMargin+2, y, lot.AutologousWarning)
		pdf.SetTextColor(0, 0, 0)
	}
	if d.err != nil {
		return d.err
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

// expires is the expiry a label prints: 00:00 of the lot's expiry date at
// the facility, in the facility's zone ("2027-11-10 00:00 +08:00"). A
// label is printed at the facility before anyone knows where the bag will
// be used; at a site east of the facility the bedside check and dispense
// stop it earlier, at that site's midnight (README "Days at the site").
func expires(l lot.Lot) string {
	t, loc := l.Expiry()
	return lot.FormatTimeIn(t, loc)
}
