package report

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/celltrack/celltrack/internal/pdftest"
	"github.com/celltrack/celltrack/lot"
)

func TestLabelsOnePagePerContainerAndReproducible(t *testing.T) {
	din, _ := lot.ParseDIN("G123426000002")
	p := lot.Patient{MRN: "MRN-2001", Name: "Hana Sato"}
	set := lot.LabelSet{Lot: lot.Lot{Number: "LOT-RF-1", Source: lot.SourceRFib, DIN: din,
		Expires: time.Date(2027, 5, 12, 0, 0, 0, 0, time.UTC)}, Patient: &p}
	for n := 1; n <= 3; n++ {
		set.Containers = append(set.Containers, lot.Container{DIN: din, Number: n, Cells: 75_000_000, VolumeML: 500})
	}
	at := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	a, err := Labels(set, "G1234", at)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Labels(set, "G1234", at)
	if !bytes.HasPrefix(a, []byte("%PDF-")) || !bytes.Equal(a, b) {
		t.Fatal("not a PDF, or two renderings of the same labels differ")
	}
	if n := bytes.Count(a, []byte("/Type /Page\n")); n != 3 {
		t.Fatalf("%d pages, want one per container (3)", n)
	}
}

// labelSample is an autologous lot of one container, for patient name.
func labelSample(name string) lot.LabelSet {
	din, _ := lot.ParseDIN("G123426000002")
	p := lot.Patient{MRN: "MRN-2001", Name: name}
	return lot.LabelSet{Lot: lot.Lot{Number: "LOT-RF-1", Source: lot.SourceRFib, DIN: din,
		Expires: time.Date(2027, 5, 12, 0, 0, 0, 0, time.UTC)}, Patient: &p,
		Containers: []lot.Container{{DIN: din, Number: 1, Cells: 75_000_000, VolumeML: 500}}}
}

// TestLabelsPrintNamesAsWritten: the label embeds DejaVu, so a Polish,
// Greek or Cyrillic name prints exactly as written — the core fonts printed
// 'Łucja Wąsowska' as '?ucja W?sowska', a name the nurse could not match
// with the wristband. A name typed decomposed (a + combining ogonek) prints
// composed.
func TestLabelsPrintNamesAsWritten(t *testing.T) {
	at := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	for _, name := range []string{"Łucja Wąsowska", "Ελένη Παπαδοπούλου", "Ольга Смирнова", "Łucja Wa\u0328sowska"} {
		a, err := Labels(labelSample(name), "G1234", at)
		if err != nil {
			t.Fatal(err)
		}
		if b, _ := Labels(labelSample(name), "G1234", at); !bytes.Equal(a, b) {
			t.Errorf("%s: two renderings of the same label differ", name)
		}
		text := extractPDFText(t, a)
		want := strings.Replace(name, "a\u0328", "ą", 1)
		if !regexp.MustCompile(`Patient ` + want + ` +MRN MRN-2001`).MatchString(text) {
			t.Errorf("label lacks 'Patient %s   MRN MRN-2001':\n%s", want, text)
		}
		if strings.Contains(text, "?") {
			t.Errorf("label has a '?':\n%s", text)
		}
	}
}

// TestLabelsFitLongNames: DejaVu is wider than Helvetica. A long name is set
// smaller and, beyond that, wrapped, never cut or run off the label; a name
// that cannot fit even so refuses the label.
func TestLabelsFitLongNames(t *testing.T) {
	at := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	var set lot.LabelSet
	for _, long := range []string{"Bartłomiej Grzegorz Żółkiewski-Szczepańska-Wierzbięta",
		"Bartłomiej Grzegorz Żółkiewski-Szczepańska-Wierzbięta Wąsowska-Łęczyńska Kowalczyk-Nowak"} {
		set = labelSample(long)
		if len(long) < 60 {
			set.RestrictedTo = set.Patient // the line that leaves least room
		}
		pdf, err := Labels(set, "G1234", at)
		if err != nil {
			t.Fatal(err)
		}
		text := extractPDFText(t, pdf)
		for _, want := range append(strings.Fields(long), "MRN MRN-2001", "FOR AUTOLOGOUS USE ONLY") {
			if !strings.Contains(text, want) {
				t.Errorf("label lacks %q:\n%s", want, text)
			}
		}
		// pdftotext -bbox gives every word's box: none may cross the
		// label's border, 2 mm from each edge.
		for _, box := range extractPDFWordBoxes(t, pdf) {
			const edge = (labelSize - 2) / 25.4 * 72
			if box[0] < 2/25.4*72 || box[1] > edge || box[2] > edge {
				t.Errorf("a word crosses the label's border: x %.1f to %.1f pt, bottom %.1f pt (border at %.1f pt)", box[0], box[1], box[2], edge)
			}
		}
	}
	set.Patient.Name = strings.Repeat("Żółkiewska-Wąsowska ", 10) // 200 characters, the most a name may have
	if _, err := Labels(set, "G1234", at); lot.ErrorCode(err) != lot.EINVALID || !strings.Contains(err.Error(), "does not fit") {
		t.Errorf("a name too long for the label: %v, want EINVALID 'does not fit'", err)
	}
}

// TestLabelsRefuseCharactersTheFontLacks: a label never carries a
// substitute for a character. A Chinese name (or MRN, or lot number) refuses
// the print, naming the field, the value and the code point.
func TestLabelsRefuseCharactersTheFontLacks(t *testing.T) {
	at := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	set := labelSample("陈美玲")
	_, err := Labels(set, "G1234", at)
	if lot.ErrorCode(err) != lot.EINVALID {
		t.Fatalf("got %v, want EINVALID", err)
	}
	for _, want := range []string{`patient name "陈美玲"`, "U+9648", "Latin, Greek and Cyrillic", "by another means", "administrator"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message lacks %q: %s", want, err)
		}
	}
	set = labelSample("Hana Sato")
	set.Lot.Number = "LOT-\U0001F600"
	if _, err := Labels(set, "G1234", at); err == nil || !strings.Contains(err.Error(), `lot number "LOT-😀"`) || !strings.Contains(err.Error(), "U+1F600") {
		t.Errorf("a lot number with an emoji: %v", err)
	}
}

// extractPDFWordBoxes returns the horizontal extent (xMin, xMax, in points)
// and the bottom (yMax) of every word pdftotext -bbox finds, in points.
func extractPDFWordBoxes(t *testing.T, pdf []byte) [][3]float64 {
	t.Helper()
	out := pdftest.Text(t, pdf, "-bbox")
	var boxes [][3]float64
	for _, m := range regexp.MustCompile(`<word xMin="([0-9.]+)" yMin="[0-9.]+" xMax="([0-9.]+)" yMax="([0-9.]+)"`).FindAllStringSubmatch(out, -1) {
		var box [3]float64
		for i := range box {
			box[i], _ = strconv.ParseFloat(m[i+1], 64)
		}
		boxes = append(boxes, box)
	}
	if len(boxes) == 0 {
		t.Fatalf("pdftotext -bbox found no word:\n%s", out)
	}
	return boxes
}
