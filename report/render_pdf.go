package report

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"codeberg.org/go-pdf/fpdf"
	"github.com/celltrack/celltrack/lot"
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
	addPDFFonts(f)
	p := &pdfDoc{f: f}
	f.SetFooterFunc(func() {
		f.SetY(-13)
		f.SetFont(pdfFont, "", 7)
		head := r.Produced.AuditHead
		if len(head) > 16 {
			head = head[:16] + "…"
		}
		p.cell(0, 4, "", fmt.Sprintf("%s — produced %s by %s — audit head %s — page %d of {nb}",
			r.Command(), lot.FormatTime(r.Produced.At), r.Produced.By, head, f.PageNo()), "C")
	})
	f.AddPage()

	f.SetFont(pdfFont, "B", 15)
	p.multi(6.5, "Title", r.Title)
	f.SetFont(pdfFont, "", 10)
	p.multi(5, "Question", r.Question)
	p.notes()
	f.Ln(2)
	p.fields(provenanceFields(r.Produced))
	for _, s := range r.Sections {
		p.heading(s.Title)
		if s.Warning != "" {
			f.SetFont(pdfFont, "B", 10)
			p.warning(s.Title, s.Warning)
		}
		p.fields(s.Fields)
		if s.Table != nil {
			p.f.Ln(1.5)
			p.table(s.Title, s.Table.Columns, s.Table.Rows)
		}
	}
	if len(r.Events) > 0 {
		p.heading(fmt.Sprintf("%s (%d)", eventsTitle, len(r.Events)))
		rows := make([][]string, len(r.Events))
		for i, e := range r.Events {
			rows[i] = eventRow(e)
		}
		p.table(eventsTitle, eventColumns, rows)
	}
	p.signOff(r)
	if err := f.Error(); err != nil {
		return fmt.Errorf("render PDF: %w", err)
	}
	return f.Output(w)
}

type pdfDoc struct {
	f *fpdf.Fpdf
	// lost names the fields drawn since the last note in which a character
	// the font lacks was printed as its code point.
	lost []string
	// alt is what the note calls the document whose HTML or text form
	// carries every character: "report" when empty, or "certificate".
	alt string
}

// text is s as the PDF can draw it (pdfClean); when a character had to be
// replaced, field is noted so that notes names it on the page.
func (p *pdfDoc) text(field, s string) string {
	s, lost := pdfClean(s)
	if lost && field != "" && !slices.Contains(p.lost, field) {
		p.lost = append(p.lost, field)
	}
	return s
}

// notes prints, right below what it concerns, which fields hold characters
// the PDF font cannot draw, so that a code point in brackets is never read
// as the value: the HTML and text reports carry every character. It leaves
// the regular face at the size it found; callers set the style they draw in.
func (p *pdfDoc) notes() {
	if len(p.lost) == 0 {
		return
	}
	fields := strings.Join(p.lost, "; ")
	p.lost = nil
	size, _ := p.f.GetFontSize()
	p.f.SetFont(pdfFont, "B", 7.5)
	alt := p.alt
	if alt == "" {
		alt = "report"
	}
	p.multi(3.6, "", "NOTE: "+fields+": has characters this PDF's font cannot show, printed as [U+code point]; read the HTML or text "+alt+" for the exact text.")
	p.f.SetFont(pdfFont, "", size)
}

func (p *pdfDoc) width() float64 {
	w, _ := p.f.GetPageSize()
	l, _, r, _ := p.f.GetMargins()
	return w - l - r
}

func (p *pdfDoc) cell(w, h float64, field, s, align string) {
	p.f.CellFormat(w, h, p.text(field, s), "", 0, align, false, 0, "")
}

// warning draws s in a box the width of the page, wrapped.
func (p *pdfDoc) warning(field, s string) {
	p.f.MultiCell(0, 5.5, p.text(field, s), "1", "L", false)
	p.notes()
	p.f.Ln(1)
}

func (p *pdfDoc) multi(h float64, field, s string) {
	for _, l := range p.f.SplitText(p.text(field, s), p.width()) {
		p.f.CellFormat(0, h, l, "", 1, "L", false, 0, "")
	}
}

func (p *pdfDoc) heading(s string) {
	p.f.Ln(3)
	p.ensure(14)
	p.f.SetFont(pdfFont, "B", 11)
	p.f.CellFormat(0, 6, p.text("Heading "+s, s), "B", 1, "L", false, 0, "")
	p.notes()
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
		p.f.SetFont(pdfFont, "", 9)
		lines := p.f.SplitText(p.text(fd.Label, fd.Value), p.width()-labelW)
		if len(lines) == 0 {
			lines = []string{""}
		}
		p.ensure(float64(len(lines)) * lh)
		p.f.SetFont(pdfFont, "B", 9)
		p.f.CellFormat(labelW, lh, p.text("Label "+fd.Label, fd.Label), "", 0, "L", false, 0, "")
		p.f.SetFont(pdfFont, "", 9)
		for i, l := range lines {
			if i > 0 {
				p.f.SetX(p.f.GetX() + labelW)
			}
			p.f.CellFormat(0, lh, l, "", 1, "L", false, 0, "")
		}
		p.notes()
	}
}

// table draws a grid whose columns share the page width by content, wraps
// each cell, and repeats the header row on every new page. A row that does
// not fit on what is left of the page starts a new one; a row taller than a
// whole page is drawn across pages, its cells split by line, so that no row
// is ever left out. A row holding characters the font lacks is followed by
// a note naming the table, the column and the row (by its first cell).
func (p *pdfDoc) table(title string, cols []string, rows [][]string) {
	p.f.SetFont(pdfFont, "B", 7.5)
	widths := p.columnWidths(cols, rows)
	head := p.splitRow(title, cols, cols, widths, true)
	if p.linesLeft() < rowLines(head)+2 {
		p.f.AddPage()
	}
	p.rowPart(head, 0, rowLines(head), widths, true)
	for _, r := range rows {
		lines := p.splitRow(title, cols, r, widths, false)
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
		p.notes()
	}
	p.f.Ln(2)
}

// rowLineH is the height of one line of text in a table cell; a row is its
// lines plus rowPad.
const rowLineH, rowPad = 3.4, 1.0

// splitRow wraps each cell of a row of table title to its column width.
func (p *pdfDoc) splitRow(title string, cols, cells []string, widths []float64, head bool) [][]string {
	style := ""
	if head {
		style = "B"
	}
	p.f.SetFont(pdfFont, style, 7.5)
	lines := make([][]string, len(cells))
	for i, c := range cells {
		field := fmt.Sprintf("%s, column %s, row %s", title, cols[i], cells[0])
		if head {
			field = fmt.Sprintf("%s, heading of column %d", title, i+1)
		}
		lines[i] = p.f.SplitText(p.text(field, c), widths[i])
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
	p.f.SetFont(pdfFont, style, 7.5)
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
			p.f.CellFormat(widths[i], rowLineH, lines[i][j], "", 0, "L", false, 0, "")
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
			cell, _ = pdfClean(cell)
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
	p.f.SetFont(pdfFont, "", 9)
	p.multi(4.2, "Sign-off", signOffText(r))
	p.notes()
	for _, s := range signOff {
		p.f.Ln(10)
		x, y := p.f.GetXY()
		p.f.Line(x+45, y+4, x+150, y+4)
		p.f.SetFont(pdfFont, "B", 9)
		p.cell(45, 4, "", s+":", "L")
		p.f.Ln(4)
	}
}
