package report

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/internal/pdftest"
	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/release"
)

// certSample is a released UC lot with one signature.
func certSample() release.Certificate {
	at := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	l := lot.Lot{Number: "LOT-UC-1", DIN: lot.DIN{FIN: "G1234", Year: 26, Seq: 1}, Source: lot.SourceUC, Cells: 2_500_000_000,
		Viability: 945, VolumeML: 2500, Manufactured: at.AddDate(0, 0, -15), Expires: at.AddDate(1, 0, 0), Status: lot.Released}
	ev := release.Evaluation{Spec: "isct-uc-msc", Version: 1, Lot: l.Number, Pass: true, Rows: []release.Row{
		{Criterion: "CD105", Limit: "≥ 95 %", Result: "98.2 %", Verdict: release.Pass},
		{Criterion: "CD14 or CD11b", Limit: "≤ 2 %", Result: "CD11b 1.2 %", Verdict: release.Pass},
		{Criterion: "endotoxin", Limit: "≤ 0.5 EU/mL", Result: "0.12 EU/mL", Verdict: release.Pass},
	}}
	d := release.Disposition{Lot: l.Number, Decision: release.Approved, Spec: "isct-uc-msc", SpecVersion: 1, Rows: ev.Rows, At: at, By: "quinn"}
	d.Signatures = []audit.Signature{{User: "quinn", FullName: "Quinn Adebayo", Role: audit.QA, Time: at, Meaning: release.MeaningApprove, Signed: d.Digest()}}
	return release.Certificate{Lot: l, Source: "allogeneic; donor D-0001", Evaluation: ev, SpecTitle: "Allogeneic UC-MSC",
		Dispositions: []release.Disposition{d}, ChainHead: strings.Repeat("ab", 32), Generated: at, Facility: "G1234",
		Database: "/srv/lab/celltrack.db", AuditEntries: 40, Verified: true, ProducedBy: "quinn", ProducedByName: "Quinn Adebayo", ProducedByRole: "qa"}
}

func TestCertificatePDF(t *testing.T) {
	var buf bytes.Buffer
	c := certSample()
	if err := CertificatePDF(&buf, c); err != nil {
		t.Fatal(err)
	}
	text := extractPDFText(t, buf.Bytes())
	for _, want := range []string{
		"Certificate of analysis - lot LOT-UC-1",
		"G1234 26 000001 " + string(c.Lot.DIN.Check()),
		"allogeneic; donor D-0001",
		"isct-uc-msc version 1",
		"CD14 or CD11b", "≤ 0.5 EU/mL", "CD11b 1.2 %", "≥ 95 %",
		"Verdict: CONFORMS to isct-uc-msc@1",
		"Quinn Adebayo (quinn), 2026-11-25 09:00 UTC, approved for release",
		"Audit chain head " + c.ChainHead,
		"quinn (Quinn Adebayo, qa)", "/srv/lab/celltrack.db", "PASSED",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("PDF text lacks %q:\n%s", want, text)
		}
	}
	if pages := strings.Count(strings.TrimRight(text, "\f"), "\f") + 1; pages != 1 {
		t.Errorf("certificate has %d pages, want 1", pages)
	}
}

// TestCertificatePDFPrintsNamesAsWritten: the certificate embeds the trace
// PDF's font, so a signer's and a donor site's names in Polish or Greek
// print as written (the core fonts printed '?'); a character the font lacks
// is printed as its code point with a note naming the field, and the HTML
// certificate carries it.
func TestCertificatePDFPrintsNamesAsWritten(t *testing.T) {
	c := certSample()
	c.Source = "allogeneic; donor D-0001, collected at Szpital Łódź"
	c.Dispositions[0].Signatures[0].FullName = "Łucja Wąsowska"
	c.ProducedByName = "Ελένη Παπαδοπούλου"
	var buf bytes.Buffer
	if err := CertificatePDF(&buf, c); err != nil {
		t.Fatal(err)
	}
	text := extractPDFText(t, buf.Bytes())
	for _, want := range []string{"Szpital Łódź", "signed: Łucja Wąsowska (quinn)", "quinn (Ελένη Παπαδοπούλου, qa)"} {
		if !strings.Contains(text, want) {
			t.Errorf("PDF text lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "?") || strings.Contains(text, "NOTE") {
		t.Errorf("a character was lost, or a note for names the font can draw:\n%s", text)
	}

	c.Dispositions[0].Signatures[0].FullName = "陈美玲"
	buf.Reset()
	if err := CertificatePDF(&buf, c); err != nil {
		t.Fatal(err)
	}
	text = extractPDFText(t, buf.Bytes())
	for _, want := range []string{"signed: [U+9648][U+7F8E][U+73B2] (quinn)",
		"NOTE: Decisions and signatures, signature: has characters this PDF's font cannot show",
		"read the HTML or text certificate"} {
		if !strings.Contains(strings.Join(strings.Fields(text), " "), want) {
			t.Errorf("PDF text lacks %q:\n%s", want, text)
		}
	}
	buf.Reset()
	CertificateHTML(&buf, c)
	if !strings.Contains(buf.String(), "陈美玲") {
		t.Error("the HTML certificate lacks the signer's name")
	}
}

func TestCertificateTextFormats(t *testing.T) {
	c := certSample()
	for name, render := range map[string]func(*bytes.Buffer) error{
		"text": func(b *bytes.Buffer) error { return CertificateText(b, c) },
		"md":   func(b *bytes.Buffer) error { return CertificateMarkdown(b, c) },
		"html": func(b *bytes.Buffer) error { return CertificateHTML(b, c) },
	} {
		var b bytes.Buffer
		if err := render(&b); err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"LOT-UC-1", "Quinn Adebayo", c.ChainHead, "CONFORMS to isct-uc-msc@1"} {
			if !strings.Contains(b.String(), want) {
				t.Errorf("%s lacks %q", name, want)
			}
		}
	}
}

// TestCertificatePDFLongHistoryLosesNothing: a lot released, sent back to
// quarantine and released again many times has more decisions than one page
// holds; the PDF flows onto further pages, each naming the lot and the audit
// chain head, instead of cutting the last signatures off the bottom.
func TestCertificatePDFLongHistoryLosesNothing(t *testing.T) {
	c := certSample()
	first := c.Dispositions[0]
	for i := 1; i <= 24; i++ {
		d := first
		d.At = first.At.Add(time.Duration(i) * time.Hour)
		d.Signatures = append([]audit.Signature(nil), first.Signatures...)
		d.Signatures[0].Time = d.At
		if i%2 == 1 {
			d.Decision, d.Reason, d.Signatures = release.Quarantined, "QC result voided (round "+strings.Repeat("I", i%5+1)+")", nil
		}
		c.Dispositions = append(c.Dispositions, d)
	}
	last := c.Dispositions[len(c.Dispositions)-1]
	var buf bytes.Buffer
	if err := CertificatePDF(&buf, c); err != nil {
		t.Fatal(err)
	}
	text := extractPDFText(t, buf.Bytes())
	pages := strings.Split(strings.TrimRight(text, "\f"), "\f")
	if len(pages) < 2 {
		t.Fatalf("%d page(s) for %d decisions; want the certificate to flow onto a second page", len(pages), len(c.Dispositions))
	}
	if want := "Quinn Adebayo (quinn), " + last.At.Format("2006-01-02 15:04") + " UTC, approved for release"; !strings.Contains(text, want) {
		t.Errorf("the last signature %q is missing from the PDF:\n%s", want, text)
	}
	for i, p := range pages {
		if !strings.Contains(p, "LOT-UC-1") || !strings.Contains(p, fmt.Sprintf("page %d of %d", i+1, len(pages))) {
			t.Errorf("page %d does not name the lot and its page number:\n%s", i+1, p)
		}
	}
	if !strings.Contains(text, "Audit chain head "+c.ChainHead) {
		t.Error("the audit chain head is missing")
	}
}

// TestCertificateTextFits80ColumnsAndStatesProvenance: the text certificate
// wraps long results and signatures to an 80-column terminal, and every
// format states when, by whom and from which database it was produced, the
// audit chain head and whether `audit verify` passed.
func TestCertificateTextFits80ColumnsAndStatesProvenance(t *testing.T) {
	c := certSample()
	c.Database, c.AuditEntries, c.Verified = "/srv/lab/celltrack.db", 412, true
	c.ProducedBy, c.ProducedByName, c.ProducedByRole = "aud", "Ada Auditor", "auditor"
	c.Evaluation.Rows = append(c.Evaluation.Rows, release.Row{Criterion: "donor eligibility", Limit: "all markers negative, consent on file",
		Result: "HIV-1/2 negative, HBV negative, HCV negative, syphilis negative, HTLV negative", Verdict: release.Pass})
	var b bytes.Buffer
	if err := CertificateText(&b, c); err != nil {
		t.Fatal(err)
	}
	for i, line := range strings.Split(b.String(), "\n") {
		if n := len([]rune(line)); n > TextWidth {
			t.Errorf("line %d is %d columns: %q", i+1, n, line)
		}
	}
	if !strings.Contains(b.String(), "syphilis negative, HTLV") || !strings.Contains(b.String(), "approved for") {
		t.Errorf("wrapped text lost content:\n%s", b.String())
	}
	for name, render := range map[string]func(io.Writer, release.Certificate) error{
		"text": CertificateText, "md": CertificateMarkdown, "html": CertificateHTML,
	} {
		var b bytes.Buffer
		if err := render(&b, c); err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"2026-11-25 09:00 UTC", "aud (Ada Auditor, auditor)", "/srv/lab/celltrack.db", c.ChainHead, "412", "PASSED"} {
			if !strings.Contains(b.String(), want) {
				t.Errorf("%s certificate lacks %q", name, want)
			}
		}
		if strings.Contains(b.String(), "AUDIT VERIFY FAILED") {
			t.Errorf("%s certificate of a verified database warns of a failed verification", name)
		}
	}
	c.ProducedBy = ""
	b.Reset()
	CertificateText(&b, c)
	if !strings.Contains(b.String(), "not stated (no acting user given)") {
		t.Errorf("a certificate without --user does not say so:\n%s", b.String())
	}
}

// certRender renders c in format (text, md, html, or pdf read back with
// pdftotext), with every run of white space as one space: a long line wraps
// differently in each format.
func certRender(t *testing.T, c release.Certificate, format string) string {
	t.Helper()
	var b bytes.Buffer
	var err error
	switch format {
	case "text":
		err = CertificateText(&b, c)
	case "md":
		err = CertificateMarkdown(&b, c)
	case "html":
		err = CertificateHTML(&b, c)
	case "pdf":
		err = CertificatePDF(&b, c)
	}
	if err != nil {
		t.Fatal(err)
	}
	s := b.String()
	if format == "pdf" {
		s = pdftest.Text(t, b.Bytes())
	}
	return strings.Join(strings.Fields(s), " ")
}

// TestCertificateListsVoidedAndCorrectedResults: a lot whose sterility growth
// was corrected by a repeat test and whose endotoxin was voided conforms, and
// its certificate says so — but in every format it also lists, after the
// conforming results and apart from them, each result that no longer stands,
// with who recorded it and who invalidated it, when and why; a lot without
// any says "none".
func TestCertificateListsVoidedAndCorrectedResults(t *testing.T) {
	day := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	at := time.Date(2026, 11, 24, 14, 30, 0, 0, time.UTC)
	withVoids := certSample()
	withVoids.Results = []release.Result{
		{Seq: 1, Assay: "CD105", Value: release.Value{Text: "98.2", Unit: "%"}, Tested: day, RecordedBy: "liu"},
		{Seq: 2, Assay: "sterility", Value: release.Value{Text: "growth"}, Tested: day, RecordedBy: "liu",
			VoidedAt: at, VoidedBy: "sam", VoidReason: "corrected by result #4: repeat sterility, INV-12"},
		{Seq: 3, Assay: "endotoxin", Value: release.Value{Text: "0.9", Unit: "EU/mL"}, Tested: day, RecordedBy: "sam",
			VoidedAt: at, VoidedBy: "liu", VoidReason: "sample mix-up"},
		{Seq: 4, Assay: "sterility", Value: release.Value{Text: "no-growth"}, Tested: day, RecordedBy: "sam", Corrects: 2},
	}
	for _, format := range []string{"text", "md", "html", "pdf"} {
		t.Run(format, func(t *testing.T) {
			s := certRender(t, withVoids, format)
			title := strings.Index(s, "Results voided or corrected")
			table := strings.Index(s, "CD11b 1.2 %")
			decisions := strings.Index(s, "Decisions and signatures")
			if title < 0 || table < 0 || decisions < 0 || !(table < title && title < decisions) {
				t.Fatalf("want the conforming results, then %q, then the decisions; got positions %d, %d, %d in:\n%s",
					"Results voided or corrected", table, title, decisions, s)
			}
			section := s[title:decisions]
			for _, want := range []string{
				"#2 sterility growth, tested 2026-11-20, recorded by liu — CORRECTED by #4 2026-11-24 14:30 UTC by sam: repeat sterility, INV-12",
				"#3 endotoxin 0.9 EU/mL, tested 2026-11-20, recorded by sam — VOID 2026-11-24 14:30 UTC by liu: sample mix-up",
			} {
				if !strings.Contains(section, want) {
					t.Errorf("the section lacks %q:\n%s", want, section)
				}
			}
			for _, unwanted := range []string{"#1 ", "#4 sterility", "none"} {
				if strings.Contains(section, unwanted) {
					t.Errorf("the section lists %q, which stands:\n%s", unwanted, section)
				}
			}
			if strings.Contains(s[:title], "growth") {
				t.Errorf("a voided result appears before its section, among the conforming results:\n%s", s[:title])
			}
			none := certRender(t, certSample(), format)
			if i := strings.Index(none, "Results voided or corrected"); i < 0 || !strings.Contains(none[i:min(i+80, len(none))], "none") {
				t.Errorf("a lot without voided results does not say so:\n%s", none)
			}
		})
	}
	var b bytes.Buffer
	if err := CertificateText(&b, withVoids); err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(b.String(), "\n") {
		if utf8.RuneCountInString(l) > TextWidth {
			t.Errorf("line wider than %d columns: %q", TextWidth, l)
		}
	}
}
