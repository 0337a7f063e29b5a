package report

import (
	"bytes"
	"testing"
	"time"

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
