package lot

import (
	"errors"
	"strings"
	"testing"
)

func TestParseImport(t *testing.T) {
	in := "lot_number,source,donor,patient,cells,viability,volume_ml,manufactured,expires,passage\n" +
		"LOT-UC-7,uc,D-0001,,2.5e9,94.5,250,2026-11-10,2027-11-10,4\n" +
		"LOT-RF-7,rfib,,MRN-2001,\"1,2e9\",92.1,120,2026-11-12,2027-05-12,\n"
	_, err := ParseImport(strings.NewReader(in))
	if err == nil || !strings.Contains(err.Error(), `line 3: cells "1,2e9" is not a cell count`) {
		t.Fatalf("ParseImport: %v; want line 3 cells problem", err)
	}
	rows, err := ParseImport(strings.NewReader(strings.Replace(in, `"1,2e9"`, "1.2e9", 1)))
	if err != nil || len(rows) != 2 {
		t.Fatalf("ParseImport = %d rows, %v", len(rows), err)
	}
	if r := rows[1]; r.Line != 3 || r.Source != SourceRFib || r.Patient != "MRN-2001" || r.Cells != 1_200_000_000 || r.Viability != 921 || r.VolumeML != 1200 {
		t.Errorf("row 2 = %+v", r)
	}
}

func TestParseImportReportsEveryBadRow(t *testing.T) {
	in := "lot_number,source,donor,cells,viability,volume_ml,manufactured,expires\n" +
		"L1,uc,D-1,1×10,95,10,2026-01-01,2027-01-01\n" +
		"L2,uc,D-1,1e9,0.95,10,2026-01-01,2027-01-01\n" +
		"L3,uc,D-1,1e9,95,10,2026-02-30,2027-01-01\n" +
		"L4,uc,D-1,1e9,95,10,2026-01-01\n" +
		"L5,xx,D-1,1e9,95,10,2026-01-01,2027-01-01\n" +
		"L6,uc,D-1,1e9,95,10,2026-01-01,2027-01-01\n"
	rows, err := ParseImport(strings.NewReader(in))
	if err == nil || rows != nil {
		t.Fatalf("ParseImport = %v, %v; want an error and no rows", rows, err)
	}
	for _, want := range []string{`line 2: cells "1×10"`, `line 3: viability 0.95 % looks like a fraction`, `line 4: manufactured "2026-02-30" is not a calendar date`,
		"line 5: has 7 fields, the header has 8", "line 6: "} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%s", want, err)
		}
	}
	if strings.Contains(err.Error(), "line 7") {
		t.Errorf("the good row is reported:\n%s", err)
	}
}

func TestParseImportHeader(t *testing.T) {
	for _, tc := range []struct{ in, msg string }{
		{"", "the import file is empty"},
		{"lot_number,source,cells,viability,volume_ml,manufactured,expires\n", "a header but no rows"},
		{"lot_number,source,cells,viability,volume_ml,manufactured\n", `required column "expires" is missing`},
		{"lot_number,lot_number\n", `column "lot_number" appears twice`},
		{"lot_number,colour\n", `column "colour" is not an import column`},
	} {
		_, err := ParseImport(strings.NewReader(tc.in))
		if err == nil || ErrorCode(err) != EINVALID || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("ParseImport(%q) = %v; want %q", tc.in, err, tc.msg)
		}
	}
}

// TestParseImportManyBadRows: a file of the wrong kind gives a readable
// refusal that describes the first MaxImportProblems rows and counts the rest.
func TestParseImportManyBadRows(t *testing.T) {
	in := "lot_number,source,cells,viability,volume_ml,manufactured,expires\n" +
		strings.Repeat("L,uc,lots,95,10,2026-01-01,2027-01-01\n", 250)
	_, err := ParseImport(strings.NewReader(in))
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	if !strings.Contains(msg, "250 bad row(s)") || !strings.Contains(msg, "line 101: cells") || strings.Contains(msg, "line 102:") ||
		!strings.Contains(msg, "... and 150 more bad rows") {
		t.Fatalf("message: %.300s ... %s", msg, msg[len(msg)-200:])
	}
}

type failingReader struct{ n int }

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		r.n++
		return copy(p, "lot_number,source,cells,viability,volume_ml,manufactured,expires\nL,uc,1e9,95,10,2026-01-01,2027-01-01\n"), nil
	}
	return 0, errors.New("disk on fire")
}

// TestParseImportReadError: an I/O error ends the import with that error
// (it must not be retried as a bad row forever).
func TestParseImportReadError(t *testing.T) {
	_, err := ParseImport(&failingReader{})
	if err == nil || !strings.Contains(err.Error(), "disk on fire") || ErrorCode(err) != EINTERNAL {
		t.Fatalf("ParseImport = %v; want the I/O error", err)
	}
}
