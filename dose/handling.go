package dose

import (
	"math/big"
	"sort"
	"time"

	"github.com/celltrack/celltrack/lot"
	"github.com/google/uuid"
)

// CellsPerKg is the viable cells given per kg of the weight the dose used,
// rounded half up to a whole cell; ok is false when no weight was used.
func (in Infusion) CellsPerKg() (cells lot.Cells, ok bool) {
	if in.Weight <= 0 {
		return 0, false
	}
	return lot.Cells(roundRat(big.NewRat(int64(in.Given)*1000, int64(in.Weight)))), true
}

// HandlingFilter selects the infusions of the handling report: those of
// Protocol (any when empty) that started in [From, To) (open when zero).
type HandlingFilter struct {
	Protocol string
	From, To time.Time
}

// HandlingPeriod reads the handling report's period from two dates
// (YYYY-MM-DD, UTC; empty leaves that end open), both included, as the
// half-open [From, To) of HandlingFilter. Each front end names its own
// fields (`--from` on the command line, `from` on a page): EINVALID naming
// the field and the value for a date that is not one, or a from after to.
func HandlingPeriod(fromField, from, toField, to string) (start, end time.Time, err error) {
	if from != "" {
		if start, err = lot.ParseDate(fromField, from); err != nil {
			return time.Time{}, time.Time{}, err
		}
	}
	if to != "" {
		if end, err = lot.ParseDate(toField, to); err != nil {
			return time.Time{}, time.Time{}, err
		}
		end = end.AddDate(0, 0, 1) // the whole day
	}
	if !start.IsZero() && !end.IsZero() && !start.Before(end) {
		return time.Time{}, time.Time{}, lot.Errorf(lot.EINVALID, "%s %s is after %s %s; give the earlier date first", fromField, from, toField, to)
	}
	return start, end, nil
}

// Handling is what happened to one container of one infusion between the
// freezer and the vein: the handling data MSC trial publications rarely
// report (storage time, time from thaw to infusion, post-thaw viability,
// cells per kg, infusion duration). An infusion from two bags has two.
type Handling struct {
	Infusion   uuid.UUID
	Patient    string // MRN
	Protocol   string // name
	Course     int
	Number     int
	Start, End time.Time
	Container  string // code
	Lot        string
	// StoredAt is the container's first `stored` custody event (into the
	// freezer after manufacture); zero when never recorded.
	StoredAt time.Time
	// ThawedAt and Viability are the post-thaw record; zero when the bag
	// was infused without one.
	ThawedAt  time.Time
	Viability lot.Tenths
	Cells     lot.Cells // viable cells this container gave
	Given     lot.Cells // viable cells of the whole infusion (every container)
	Weight    lot.Grams // the weight the dose used
}

// Storage is the time from the first storage to the thaw (it includes
// any time in transit between sites); ok is false without both records.
func (h Handling) Storage() (time.Duration, bool) {
	if h.StoredAt.IsZero() || h.ThawedAt.IsZero() {
		return 0, false
	}
	return h.ThawedAt.Sub(h.StoredAt), true
}

// ThawToStart is the time from the thaw to the start of the infusion.
func (h Handling) ThawToStart() (time.Duration, bool) {
	if h.ThawedAt.IsZero() {
		return 0, false
	}
	return h.Start.Sub(h.ThawedAt), true
}

// Duration is the infusion's duration, start to end.
func (h Handling) Duration() time.Duration { return h.End.Sub(h.Start) }

// CellsPerKg is the infusion's cells per kg (see Infusion.CellsPerKg).
func (h Handling) CellsPerKg() (lot.Cells, bool) {
	return Infusion{Given: h.Given, Weight: h.Weight}.CellsPerKg()
}

// Handling measures, in the order of the summary table.
const (
	MeasureStorage     = "storage time (stored → thawed), h"
	MeasureThawToStart = "thaw → infusion start, min"
	MeasureViability   = "post-thaw viability, %"
	MeasureCellsPerKg  = "infused cells/kg"
	MeasureDuration    = "infusion duration, min"
)

// Stat is the summary of one measure: how many values it had, the median
// and the range, exact (big.Rat in the measure's unit: hours, minutes,
// percent or cells/kg).
type Stat struct {
	Measure          string
	N                int
	Median, Min, Max *big.Rat
}

// Summarize returns the median and range of each measure over hs. Container
// measures (storage, thaw → start, viability) count every row; infusion
// measures (cells/kg, duration) count each infusion once. A measure without
// values has N 0 and nil numbers.
func Summarize(hs []Handling) []Stat {
	vals := map[string][]*big.Rat{}
	seen := map[uuid.UUID]bool{}
	for _, h := range hs {
		if d, ok := h.Storage(); ok {
			vals[MeasureStorage] = append(vals[MeasureStorage], big.NewRat(int64(d), int64(time.Hour)))
		}
		if d, ok := h.ThawToStart(); ok {
			vals[MeasureThawToStart] = append(vals[MeasureThawToStart], big.NewRat(int64(d), int64(time.Minute)))
		}
		if !h.ThawedAt.IsZero() {
			vals[MeasureViability] = append(vals[MeasureViability], big.NewRat(int64(h.Viability), 10))
		}
		if seen[h.Infusion] {
			continue
		}
		seen[h.Infusion] = true
		if c, ok := h.CellsPerKg(); ok {
			vals[MeasureCellsPerKg] = append(vals[MeasureCellsPerKg], big.NewRat(int64(c), 1))
		}
		vals[MeasureDuration] = append(vals[MeasureDuration], big.NewRat(int64(h.Duration()), int64(time.Minute)))
	}
	var out []Stat
	for _, m := range []string{MeasureStorage, MeasureThawToStart, MeasureViability, MeasureCellsPerKg, MeasureDuration} {
		out = append(out, stat(m, vals[m]))
	}
	return out
}

// stat is the median (the mean of the two middle values for an even count)
// and range of vs.
func stat(measure string, vs []*big.Rat) Stat {
	s := Stat{Measure: measure, N: len(vs)}
	if len(vs) == 0 {
		return s
	}
	sort.Slice(vs, func(i, j int) bool { return vs[i].Cmp(vs[j]) < 0 })
	s.Min, s.Max = vs[0], vs[len(vs)-1]
	if n := len(vs); n%2 == 1 {
		s.Median = vs[n/2]
	} else {
		s.Median = new(big.Rat).Add(vs[n/2-1], vs[n/2])
		s.Median.Quo(s.Median, big.NewRat(2, 1))
	}
	return s
}

// FormatMeasure prints a value of measure for people: hours and minutes to
// 0.1, viability to 0.01 % (a median of tenths is exact there), cells/kg to three
// significant digits (lot.Cells.Rounded; the handling report says it rounds
// and its CSV and JSON carry the exact value). Rounding is half away from zero, on the exact value.
func FormatMeasure(measure string, v *big.Rat) string {
	switch measure {
	case MeasureViability:
		return v.FloatString(2)
	case MeasureCellsPerKg:
		return lot.Cells(roundRat(v)).Rounded()
	}
	return v.FloatString(1)
}
