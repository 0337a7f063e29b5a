package report

import (
	"fmt"
	"io"
	"strings"
)

// RenderMarkdown writes r as Markdown (GitHub tables), for wikis and tickets.
func RenderMarkdown(w io.Writer, r Report) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n\n%s\n\n", mdEscape(r.Title), mdEscape(r.Question))
	if s := banner(r.Produced); s != "" {
		fmt.Fprintf(&b, "**%s**\n\n", mdEscape(s))
	}
	mdFields(&b, provenanceFields(r.Produced))
	for _, s := range r.Sections {
		fmt.Fprintf(&b, "## %s\n\n", mdEscape(s.Title))
		if s.Warning != "" {
			fmt.Fprintf(&b, "**%s**\n\n", mdEscape(s.Warning))
		}
		mdFields(&b, s.Fields)
		if s.Table != nil {
			mdTable(&b, s.Table.Columns, s.Table.Rows)
		}
	}
	if len(r.Events) > 0 {
		fmt.Fprintf(&b, "## %s (%d)\n\n", eventsTitle, len(r.Events))
		rows := make([][]string, len(r.Events))
		for i, e := range r.Events {
			rows[i] = eventRow(e)
		}
		mdTable(&b, eventColumns, rows)
	}
	b.WriteString("## Sign-off\n\n" + mdEscape(signOffText(r)) + "\n\n")
	for _, s := range signOff {
		fmt.Fprintf(&b, "%s: ______________________________\n\n", s)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func mdFields(b *strings.Builder, fs []Field) {
	for _, f := range fs {
		fmt.Fprintf(b, "- **%s:** %s\n", mdEscape(f.Label), mdEscape(f.Value))
	}
	if len(fs) > 0 {
		b.WriteString("\n")
	}
}

func mdTable(b *strings.Builder, cols []string, rows [][]string) {
	esc := func(cells []string) string {
		out := make([]string, len(cells))
		for i, c := range cells {
			out[i] = mdEscape(c)
		}
		return "| " + strings.Join(out, " | ") + " |\n"
	}
	b.WriteString(esc(cols))
	b.WriteString("|" + strings.Repeat("---|", len(cols)) + "\n")
	for _, r := range rows {
		b.WriteString(esc(r))
	}
	b.WriteString("\n")
}

// mdEscape keeps a value from being read as Markdown or breaking a table.
func mdEscape(s string) string {
	return strings.NewReplacer("|", `\|`, "*", `\*`, "_", `\_`, "`", "\\`", "<", "&lt;", "\n", " ").Replace(s)
}
