package dose

import (
	"testing"
	"time"

	"github.com/celltrack/celltrack/lot"
	"github.com/google/uuid"
)

// TestSummarizeHandling: medians and ranges worked by hand. Two infusions,
// the second from two bags (its cells/kg and duration count once).
func TestSummarizeHandling(t *testing.T) {
	at := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	a, b := uuid.New(), uuid.New()
	hs := []Handling{
		// stored 24 h before the thaw, thawed 45 min before the start; 62.0 kg, 6.2×10^7 → 1.00×10^6/kg; 60 min
		{Infusion: a, Start: at, End: at.Add(time.Hour), StoredAt: at.Add(-(24*time.Hour + 45*time.Minute)), ThawedAt: at.Add(-45 * time.Minute),
			Viability: 915, Given: 62_000_000, Weight: 62_000},
		// two bags: 48 h and 50 h of storage, thawed 20 and 31 min before; 70.0 kg, 7.7×10^7 → 1.10×10^6/kg; 90 min
		{Infusion: b, Start: at, End: at.Add(90 * time.Minute), StoredAt: at.Add(-(48*time.Hour + 20*time.Minute)), ThawedAt: at.Add(-20 * time.Minute),
			Viability: 900, Given: 77_000_000, Weight: 70_000},
		{Infusion: b, Start: at, End: at.Add(90 * time.Minute), StoredAt: at.Add(-(50*time.Hour + 31*time.Minute)), ThawedAt: at.Add(-31 * time.Minute),
			Viability: 925, Given: 77_000_000, Weight: 70_000},
	}
	want := map[string][4]string{ // N, median, min, max
		MeasureStorage:     {"3", "48.0", "24.0", "50.0"},
		MeasureThawToStart: {"3", "31.0", "20.0", "45.0"},
		MeasureViability:   {"3", "91.50", "90.00", "92.50"},
		// even count: the mean of 1000000 and 1100000
		MeasureCellsPerKg: {"2", "1.05×10^6", "1.00×10^6", "1.10×10^6"},
		MeasureDuration:   {"2", "75.0", "60.0", "90.0"},
	}
	for _, s := range Summarize(hs) {
		w := want[s.Measure]
		got := [4]string{lot.Cells(s.N).Exact(), FormatMeasure(s.Measure, s.Median), FormatMeasure(s.Measure, s.Min), FormatMeasure(s.Measure, s.Max)}
		if got != w {
			t.Errorf("%s: got %v, want %v", s.Measure, got, w)
		}
	}
	if s := Summarize(nil); s[0].N != 0 || s[0].Median != nil {
		t.Errorf("no infusions: %+v", s[0])
	}
	if c, ok := (Infusion{Given: 58_880_000, Weight: 58_900}).CellsPerKg(); !ok || c != 999_660 { // 999660.44 rounds down
		t.Errorf("cells/kg = %d", c)
	}
}
