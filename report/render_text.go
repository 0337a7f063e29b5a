package report

import (
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/celltrack/celltrack/lot"
)

// TextWidth is the widest line RenderText writes: an 80-column terminal.
const TextWidth = 80

// labelWidth is the width of a field label column in text.
const labelWidth = 16

// RenderText writes r as plain text no wider than TextWidth columns.
func RenderText(w io.Writer, r Report) error {
	t := &textWriter{}
	// The events are most of a trace's text (a lot's ~700 take ~220 KB):
	// room for them at once, not the doubling copies of a growing builder.
	t.b.Grow(16<<10 + 320*len(r.Events))
	t.line("CELLTRACK TRACEABILITY REPORT")
	t.wrapped("", r.Title, "")
	t.wrapped("", r.Question, "")
	if b := banner(r.Produced); b != "" {
		t.blank()
		t.wrapped("", "*** "+b+" ***", "    ")
	}
	t.blank()
	t.fields(provenanceFields(r.Produced))
	for _, s := range r.Sections {
		t.blank()
		t.heading(s.Title)
		if s.Warning != "" {
			t.wrapped("", "*** "+s.Warning+" ***", "    ")
		}
		t.fields(s.Fields)
		if s.Table != nil {
			t.table(*s.Table)
		}
	}
	if len(r.Events) > 0 {
		t.blank()
		t.heading(fmt.Sprintf("%s (%d)", eventsTitle, len(r.Events)))
		for _, e := range r.Events {
			t.event(e)
		}
	}
	t.blank()
	t.line("End of report.")
	_, err := io.WriteString(w, t.b.String())
	return err
}

// WriteTextTable writes a table for an 80-column terminal, as the reports
// lay theirs out: each row indented two spaces, the widest columns wrapped
// (never inside a word), or one labelled block per row when even that cannot
// fit. The command-line screens that list criteria or custody steps use it.
func WriteTextTable(w io.Writer, columns []string, rows [][]string) error {
	t := &textWriter{}
	t.table(Table{Columns: columns, Rows: rows})
	_, err := io.WriteString(w, t.b.String())
	return err
}

type textWriter struct {
	b     strings.Builder
	parts []byte // an event's particulars, reused from one event to the next
}

func (t *textWriter) line(s string) {
	t.b.WriteString(strings.TrimRight(s, " "))
	t.b.WriteByte('\n')
}

// lineAfter writes the line prefix+s, as line does, without joining them
// first.
func (t *textWriter) lineAfter(prefix, s string) {
	if s = strings.TrimRight(s, " "); s == "" {
		t.line(prefix)
		return
	}
	t.b.WriteString(prefix)
	t.b.WriteString(s)
	t.b.WriteByte('\n')
}

func (t *textWriter) blank() { t.b.WriteString("\n") }

func (t *textWriter) heading(s string) {
	t.wrapped("", s, "")
	t.line(strings.Repeat("-", min(utf8.RuneCountInString(s), TextWidth)))
}

// wrapped writes s after prefix, wrapped at TextWidth; continuation lines
// start with indent.
func (t *textWriter) wrapped(prefix, s, indent string) {
	first := TextWidth - utf8.RuneCountInString(prefix)
	if fitsAsIs(s, first) { // wrap's one line, s itself
		t.lineAfter(prefix, s)
		return
	}
	for i, l := range wrap(s, first, TextWidth-utf8.RuneCountInString(indent)) {
		if i == 0 {
			t.lineAfter(prefix, l)
		} else {
			t.lineAfter(indent, l)
		}
	}
}

// labelPad is the indent of a field's continuation lines.
var labelPad = strings.Repeat(" ", labelWidth)

func (t *textWriter) fields(fs []Field) {
	for _, f := range fs {
		t.wrapped(padRight(f.Label, labelWidth-1)+" ", f.Value, labelPad)
	}
}

// table writes tb aligned. When it is wider than TextWidth, the widest
// columns wrap their cells (never inside a word); when even that cannot fit,
// each row becomes a block with each cell labelled by its column.
func (t *textWriter) table(tb Table) {
	widths := make([]int, len(tb.Columns))
	least := make([]int, len(tb.Columns)) // the longest word of each column
	measure := func(i int, c string) {
		widths[i] = max(widths[i], utf8.RuneCountInString(c))
		for _, w := range strings.Fields(c) {
			least[i] = max(least[i], utf8.RuneCountInString(w))
		}
	}
	for i, c := range tb.Columns {
		measure(i, c)
	}
	for _, row := range tb.Rows {
		for i, c := range row {
			measure(i, c)
		}
	}
	total := 2 + 2*(len(widths)-1)
	for _, n := range widths {
		total += n
	}
	for total > TextWidth {
		widest := -1
		for i := range widths {
			if widths[i] > least[i] && (widest < 0 || widths[i] > widths[widest]) {
				widest = i
			}
		}
		if widest < 0 {
			t.tableBlocks(tb)
			return
		}
		widths[widest]--
		total--
	}
	t.tableRow(tb.Columns, widths)
	for _, row := range tb.Rows {
		t.tableRow(row, widths)
	}
}

// tableRow writes one row, its cells wrapped to their column widths.
func (t *textWriter) tableRow(cells []string, widths []int) {
	lines := make([][]string, len(cells))
	n := 1
	for i, c := range cells {
		lines[i] = wrap(c, widths[i], widths[i])
		n = max(n, len(lines[i]))
	}
	for k := range n {
		parts := make([]string, len(cells))
		for i := range cells {
			if k < len(lines[i]) {
				parts[i] = lines[i][k]
			}
		}
		t.line("  " + alignRow(parts, widths))
	}
}

func (t *textWriter) tableBlocks(tb Table) {
	for i, row := range tb.Rows {
		if i > 0 {
			t.blank()
		}
		for j, c := range row {
			if c == "" {
				continue
			}
			t.wrapped("  "+padRight(tb.Columns[j], labelWidth-3)+" ", c, strings.Repeat(" ", labelWidth))
		}
	}
}

// event writes one event on a line of its own, then its particulars indented.
func (t *textWriter) event(e Event) {
	move := e.Move()
	if e.Kind == Infusion {
		move = "INFUSED"
	}
	t.wrapped("", lot.FormatTime(e.At)+" "+e.Container+" "+move, "      ")
	// The particulars, "; "-separated, built in one reused buffer: a lot's
	// trace writes ~700 of them.
	p := t.parts[:0]
	add := func(label, v string) {
		if v != "" {
			if len(p) > 0 {
				p = append(p, "; "...)
			}
			p = append(p, label...)
			p = append(p, ' ')
			p = append(p, v...)
		}
	}
	add("by", e.By)
	add("custodian", e.Custodian)
	add("site", e.Site)
	add("location", e.Location)
	add("patient", e.Patient)
	add("reason", e.Reason)
	if len(e.Details) > 0 { // DetailText is then never ""
		if len(p) > 0 {
			p = append(p, "; "...)
		}
		p = e.appendDetailText(p)
	}
	t.parts = p
	if len(p) > 0 {
		t.wrapped("      ", string(p), "      ")
	}
}

func alignRow(cells []string, widths []int) string {
	var b strings.Builder
	for i, c := range cells {
		if i > 0 {
			b.WriteString("  ")
		}
		b.WriteString(padRight(c, widths[i]))
	}
	return b.String()
}

func padRight(s string, n int) string {
	if k := utf8.RuneCountInString(s); k < n {
		return s + strings.Repeat(" ", n-k)
	}
	return s
}

// wrap breaks s into lines: the first at most first runes wide, the rest at
// most rest runes. It breaks at spaces, and inside a word (a path, a hash)
// only when the word alone is too wide. A byte that is not UTF-8 becomes
// U+FFFD.
func wrap(s string, first, rest int) []string {
	if fitsAsIs(s, first) {
		return []string{s}
	}
	if !utf8.ValidString(s) {
		s = strings.Map(func(r rune) rune { return r }, s)
	}
	var lines []string
	width := first
	var cur strings.Builder
	n := 0 // runes in cur
	for _, word := range strings.Fields(s) {
		wn := utf8.RuneCountInString(word)
		for {
			need := wn
			if n > 0 {
				need++
			}
			if n+need <= width {
				if n > 0 {
					cur.WriteByte(' ')
				}
				cur.WriteString(word)
				n += need
				break
			}
			if n > 0 {
				lines, width, n = append(lines, cur.String()), rest, 0
				cur.Reset()
				continue
			}
			// The word alone is wider than a line: cut it.
			cut := 0
			for range width {
				_, size := utf8.DecodeRuneInString(word[cut:])
				cut += size
			}
			lines, word, wn, width = append(lines, word[:cut]), word[cut:], wn-width, rest
		}
	}
	if n > 0 || len(lines) == 0 {
		lines = append(lines, cur.String())
	}
	return lines
}

// fitsAsIs reports whether wrap would return s itself as its one line: s
// is valid UTF-8, at most width runes, and its words are separated by
// single spaces with none before or after. Most of a report's values are.
func fitsAsIs(s string, width int) bool {
	if s == "" || s[0] == ' ' || s[len(s)-1] == ' ' {
		return false
	}
	n := 0
	for i, r := range s {
		switch n++; {
		case n > width:
			return false
		case r == ' ':
			if s[i-1] == ' ' {
				return false
			}
		case r < ' ', r == utf8.RuneError, r >= utf8.RuneSelf && unicode.IsSpace(r):
			return false
		}
	}
	return true
}
