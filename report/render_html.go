package report

import (
	"html/template"
	"io"
	"sync"

	"github.com/celltrack/celltrack/lot"
)

// RenderHTML writes r as one self-contained printable page: the style is
// inline and nothing is fetched, so the file can be archived or mailed and
// prints the same anywhere.
func RenderHTML(w io.Writer, r Report) error {
	rows := make([][]string, len(r.Events))
	for i, e := range r.Events {
		rows[i] = eventRow(e)
	}
	return htmlPage().Execute(w, map[string]any{
		"R": r, "Provenance": provenanceFields(r.Produced), "Verified": r.Produced.Verified, "Banner": banner(r.Produced),
		"EventsTitle": eventsTitle, "EventColumns": eventColumns, "EventRows": rows, "SignOff": signOff,
		"Produced": lot.FormatTime(r.Produced.At), "SignOffText": signOffText(r),
	})
}

// htmlPage is parsed on first use, not at start-up: every command, a one-record
// write among them, would otherwise pay for parsing it.
var htmlPage = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("report").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{{.R.Title}}</title>
<style>
  body { font-family: "DejaVu Sans", Arial, sans-serif; font-size: 10pt; margin: 1.5cm; color: #000; }
  h1 { font-size: 16pt; margin: 0 0 .2em; }
  h2 { font-size: 12pt; margin: 1.2em 0 .4em; border-bottom: 1px solid #444; }
  .question { font-style: italic; margin-bottom: 1em; }
  dl { display: grid; grid-template-columns: max-content auto; gap: .15em 1em; margin: .4em 0; }
  dt { font-weight: bold; }
  dd { margin: 0; overflow-wrap: anywhere; }
  table { border-collapse: collapse; width: 100%; margin: .4em 0; }
  th, td { border: 1px solid #888; padding: 2px 4px; text-align: left; vertical-align: top; font-size: 9pt; }
  th { background: #e8e8e8; }
  thead { display: table-header-group; }
  tr { page-break-inside: avoid; }
  .warning { font-weight: bold; border: 2px solid #000; padding: .2em .5em; display: inline-block; }
  .verify-failed { color: #a00; font-weight: bold; }
  .signoff { margin-top: 2em; page-break-inside: avoid; }
  .signoff div { margin: 1.6em 0 0; border-top: 1px solid #000; width: 60%; padding-top: 2px; font-size: 9pt; }
  footer { margin-top: 2em; font-size: 8pt; color: #444; }
  @media print { body { margin: 0; } @page { size: A4; margin: 1.5cm; } }
</style>
</head>
<body>
<header>
<h1 id="title">{{.R.Title}}</h1>
<p class="question">{{.R.Question}}</p>
<dl id="provenance">
{{- range .Provenance}}
  <dt>{{.Label}}</dt><dd>{{.Value}}</dd>
{{- end}}
</dl>
{{- if not .Verified}}
<p class="verify-failed warning">{{.Banner}}</p>
{{- end}}
</header>
<main>
{{- range .R.Sections}}
<section>
<h2>{{.Title}}</h2>
{{- if .Warning}}
<p class="warning">{{.Warning}}</p>
{{- end}}
{{- if .Fields}}
<dl>
{{- range .Fields}}
  <dt>{{.Label}}</dt><dd>{{.Value}}</dd>
{{- end}}
</dl>
{{- end}}
{{- with .Table}}
<table>
<thead><tr>{{range .Columns}}<th>{{.}}</th>{{end}}</tr></thead>
<tbody>
{{- range .Rows}}
<tr>{{range .}}<td>{{.}}</td>{{end}}</tr>
{{- end}}
</tbody>
</table>
{{- end}}
</section>
{{- end}}
{{- if .EventRows}}
<section id="events">
<h2>{{.EventsTitle}} ({{len .EventRows}})</h2>
<table>
<thead><tr>{{range .EventColumns}}<th>{{.}}</th>{{end}}</tr></thead>
<tbody>
{{- range .EventRows}}
<tr>{{range .}}<td>{{.}}</td>{{end}}</tr>
{{- end}}
</tbody>
</table>
</section>
{{- end}}
<section class="signoff" id="signoff">
<h2>Sign-off</h2>
<p>{{.SignOffText}}</p>
{{- range .SignOff}}
<div>{{.}}</div>
{{- end}}
</section>
</main>
<footer>celltrack traceability report · {{.R.Kind}} {{.R.Subject}} · produced {{.Produced}} by {{.R.Produced.By}}</footer>
</body>
</html>
`))
})
