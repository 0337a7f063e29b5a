package report

import (
	"fmt"
	"io"
	"strings"

	"github.com/celltrack/celltrack/lot"
	"github.com/go-pdf/fpdf"
)

// RenderPDF writes r as an A4 PDF for an auditor to print, review and sign:
// the provenance block first, every section and event, and a sign-off block.
// The file carries the report's production time as its creation date, so
// the same report renders to the same bytes.
func RenderPDF(w io.Writer, r Report) error {
	f := fpdf.New("P", "mm", "A4", "")
	f.SetCatalogSort(true)
	f.SetCreationDate(r.Produced.At)
	f.SetModificationDate(r.Produced.At)
	f.SetTitle(r.Title, true)
	f.SetAuthor(r.Produced.By, true)
	f.SetCreator("celltrack", false)
	f.SetMargins(15, 15, 15)
	f.SetAutoPageBreak(true, 18)
	f.AliasNbPages("")
	p := &pdfDoc{f: f, tr: f.UnicodeTranslatorFromDescriptor("")}
	f.SetFooterFunc(func() {
		f.SetY(-13)
		f.SetFont("Helvetica", "", 7)
		head := r.Produced.AuditHead
		if len(head) > 16 {
			head = head[:16] + "…"
		}
		p.cell(0, 4, fmt.Sprintf("%s — produced %s by %s — audit head %s — page %d of {nb}",
			r.Command(), lot.FormatTime(r.Produced.At), r.Produced.By, head, f.PageNo()), "C")
	})
	f.AddPage()

	f.SetFont("Helvetica", "B", 15)
	p.multi(6.5, r.Title)
	f.SetFont("Helvetica", "I", 10)
	p.multi(5, r.Question)
	f.Ln(2)
	p.fields(provenanceFields(r.Produced))
	for _, s := range r.Sections {
		p.heading(s.Title)
		if s.Warning != "" {
			f.SetFont("Helvetica", "B", 10)
			p.cellBorder(6, s.Warning)
			f.Ln(7)
		}
		p.fields(s.Fields)
		if s.Table != nil {
			p.f.Ln(1.5)
			p.table(s.Table.Columns, s.Table.Rows)
		}
	}
	if len(r.Events) > 0 {
		p.heading(fmt.Sprintf("%s (%d)", eventsTitle, len(r.Events)))
		rows := make([][]string, len(r.Events))
		for i, e := range r.Events {
			rows[i] = eventRow(e)
		}
		p.table(eventColumns, rows)
	}
	p.signOff(r)
	if err := f.Error(); err != nil {
		return fmt.Errorf("render PDF: %w", err)
	}
	return f.Output(w)
}

type pdfDoc struct {
	f  *fpdf.Fpdf
	tr func(string) string
}

// pdfText maps what the core PDF fonts (code page 1252) cannot show to
// plain equivalents, so that nothing is silently dropped.
var pdfText = strings.NewReplacer("→", "->", "—", "-", "–", "-", "·", "-", "…", "...", "≥", ">=", "≤", "<=")

func latin1(s string) string {
	s = pdfText.Replace(s)
	return strings.Map(func(r rune) rune {
		if r > 0xFF {
			return '?'
		}
		return r
	}, s)
}

func (p *pdfDoc) width() float64 {
	w, _ := p.f.GetPageSize()
	l, _, r, _ := p.f.GetMargins()
	return w - l - r
}

func (p *pdfDoc) cell(w, h float64, s, align string) {
	p.f.CellFormat(w, h, p.tr(latin1(s)), "", 0, align, false, 0, "")
}

func (p *pdfDoc) cellBorder(h float64, s string) {
	s = latin1(s)
	p.f.CellFormat(p.f.GetStringWidth(s)+4, h, p.tr(s), "1", 0, "L", false, 0, "")
}

func (p *pdfDoc) multi(h float64, s string) {
	for _, l := range p.f.SplitText(latin1(s), p.width()) {
		p.f.CellFormat(0, h, p.tr(l), "", 1, "L", false, 0, "")
	}
}

func (p *pdfDoc) heading(s string) {
	p.f.Ln(3)
	p.ensure(14)
	p.f.SetFont("Helvetica", "B", 11)
	p.f.CellFormat(0, 6, p.tr(latin1(s)), "B", 1, "L", false, 0, "")
	p.f.Ln(1.5)
}

// ensure starts a new page unless h mm are left on this one.
func (p *pdfDoc) ensure(h float64) {
	_, ph := p.f.GetPageSize()
	_, _, _, bottom := p.f.GetMargins()
	if p.f.GetY()+h > ph-bottom {
		p.f.AddPage()
	}
}

func (p *pdfDoc) fields(fs []Field) {
	const labelW, lh = 38.0, 4.2
	for _, fd := range fs {
		p.f.SetFont("Helvetica", "", 9)
		lines := p.f.SplitText(latin1(fd.Value), p.width()-labelW)
		if len(lines) == 0 {
			lines = []string{""}
		}
		p.ensure(float64(len(lines)) * lh)
		p.f.SetFont("Helvetica", "B", 9)
		p.f.CellFormat(labelW, lh, p.tr(latin1(fd.Label)), "", 0, "L", false, 0, "")
		p.f.SetFont("Helvetica", "", 9)
		for i, l := range lines {
			if i > 0 {
				p.f.SetX(p.f.GetX() + labelW)
			}
			p.f.CellFormat(0, lh, p.tr(l), "", 1, "L", false, 0, "")
		}
	}
}

// table draws a grid whose columns share the page width by content, wraps
// each cell, and repeats the header row on every new page. A row that does
// not fit on what is left of the page starts a new one; a row taller than a
// whole page is drawn across pages, its cells split by line, so that no row
// is ever left out.
func (p *pdfDoc) table(cols []string, rows [][]string) {
	p.f.SetFont("Helvetica", "B", 7.5)
	widths := p.columnWidths(cols, rows)
	head := p.splitRow(cols, widths, true)
	if p.linesLeft() < rowLines(head)+2 {
		p.f.AddPage()
	}
	p.rowPart(head, 0, rowLines(head), widths, true)
	for _, r := range rows {
		lines := p.splitRow(r, widths, false)
		n := rowLines(lines)
		for from := 0; from < n; {
			room := p.linesLeft()
			// Start a new page when the row would fit on one but not on what
			// is left of this one, or when not even two lines are left.
			if n-from > room && (from == 0 && n <= p.linesPerPage()-rowLines(head) || room < 2) {
				p.f.AddPage()
				p.rowPart(head, 0, rowLines(head), widths, true)
				continue
			}
			to := min(n, from+room)
			p.rowPart(lines, from, to, widths, false)
			from = to
			if from < n {
				p.f.AddPage()
				p.rowPart(head, 0, rowLines(head), widths, true)
			}
		}
	}
	p.f.Ln(2)
}

// rowLineH is the height of one line of text in a table cell; a row is its
// lines plus rowPad.
const rowLineH, rowPad = 3.4, 1.0

// splitRow wraps each cell of a row to its column width.
func (p *pdfDoc) splitRow(cells []string, widths []float64, head bool) [][]string {
	style := ""
	if head {
		style = "B"
	}
	p.f.SetFont("Helvetica", style, 7.5)
	lines := make([][]string, len(cells))
	for i, c := range cells {
		lines[i] = p.f.SplitText(latin1(c), widths[i])
	}
	return lines
}

// rowLines is the number of lines of a row's tallest cell (at least one).
func rowLines(lines [][]string) int {
	n := 1
	for _, l := range lines {
		n = max(n, len(l))
	}
	return n
}

// linesLeft is how many table lines fit on what is left of the page.
func (p *pdfDoc) linesLeft() int {
	_, ph := p.f.GetPageSize()
	_, _, _, bottom := p.f.GetMargins()
	return max(0, int((ph-bottom-p.f.GetY()-rowPad)/rowLineH))
}

// linesPerPage is how many table lines fit on an empty page.
func (p *pdfDoc) linesPerPage() int {
	_, ph := p.f.GetPageSize()
	_, top, _, bottom := p.f.GetMargins()
	return int((ph - top - bottom - rowPad) / rowLineH)
}

// rowPart draws lines from..to of a row, each cell boxed; the caller has
// made sure they fit on the page.
func (p *pdfDoc) rowPart(lines [][]string, from, to int, widths []float64, head bool) {
	style := ""
	if head {
		style = "B"
	}
	p.f.SetFont("Helvetica", style, 7.5)
	h := float64(to-from)*rowLineH + rowPad
	x0, y0 := p.f.GetXY()
	x := x0
	for i := range lines {
		if head {
			p.f.SetFillColor(225, 225, 225)
			p.f.Rect(x, y0, widths[i], h, "FD")
		} else {
			p.f.Rect(x, y0, widths[i], h, "D")
		}
		for j := from; j < to && j < len(lines[i]); j++ {
			p.f.SetXY(x, y0+rowPad/2+float64(j-from)*rowLineH)
			p.f.CellFormat(widths[i], rowLineH, p.tr(lines[i][j]), "", 0, "L", false, 0, "")
		}
		x += widths[i]
	}
	p.f.SetXY(x0, y0+h)
}

// columnWidths gives each column at least its longest word, so that codes,
// times and hashes break only when they must, then shares the rest of the
// page width in proportion to what each column would need on one line.
func (p *pdfDoc) columnWidths(cols []string, rows [][]string) []float64 {
	const pad = 3.0
	n := len(cols)
	least, want := make([]float64, n), make([]float64, n)
	for i, c := range cols {
		cells := []string{c}
		for _, r := range rows {
			cells = append(cells, r[i])
		}
		for _, cell := range cells {
			cell = latin1(cell)
			want[i] = max(want[i], min(p.f.GetStringWidth(cell)+pad, 90))
			for _, word := range strings.Fields(cell) {
				least[i] = max(least[i], min(p.f.GetStringWidth(word)+pad, 45))
			}
		}
	}
	avail, sumLeast, sumMore := p.width(), 0.0, 0.0
	for i := range cols {
		sumLeast += least[i]
		sumMore += want[i] - least[i]
	}
	widths := make([]float64, n)
	for i := range cols {
		switch {
		case sumLeast >= avail:
			widths[i] = least[i] * avail / sumLeast
		case sumLeast+sumMore <= avail:
			widths[i] = want[i] * avail / (sumLeast + sumMore)
		default:
			widths[i] = least[i] + (want[i]-least[i])*(avail-sumLeast)/sumMore
		}
	}
	return widths
}

// signOff is the block the reviewing auditor completes by hand.
func (p *pdfDoc) signOff(r Report) {
	p.f.Ln(4)
	p.ensure(50)
	p.heading("Sign-off")
	p.f.SetFont("Helvetica", "", 9)
	p.multi(4.2, signOffText(r))
	for _, s := range signOff {
		p.f.Ln(10)
		x, y := p.f.GetXY()
		p.f.Line(x+45, y+4, x+150, y+4)
		p.f.SetFont("Helvetica", "B", 9)
		p.cell(45, 4, s+":", "L")
		p.f.Ln(4)
	}
}
