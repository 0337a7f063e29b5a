package dose

import (
	"fmt"
	"math/big"

	"github.com/celltrack/celltrack/lot"
	"github.com/google/uuid"
)

// Source is a container offered for an infusion, with what the dose
// arithmetic needs to know about it.
type Source struct {
	Container lot.Container
	Lot       lot.Lot
	// Endotoxin of the lot in milli-EU per mL, when QC recorded one.
	EndotoxinMilliEUPerML int64
	EndotoxinFound        bool
}

// Viable returns the viable cells the container holds: the post-thaw count
// when recorded, otherwise the label count × the lot's viability at release
// (an estimate, said so by PostThaw false).
func (s Source) Viable() (cells lot.Cells, postThaw bool) {
	if s.Container.ViableCells > 0 {
		return s.Container.ViableCells, true
	}
	return lot.Cells(roundRat(new(big.Rat).SetFrac64(int64(s.Container.Cells)*int64(s.Lot.Viability), 1000))), false
}

// Draw is what to take from one container.
type Draw struct {
	ContainerID uuid.UUID
	Code        string
	Viable      lot.Cells
	PostThaw    bool
	Volume      lot.Tenths // the container's volume
	Draw        lot.Tenths // mL to draw, to 0.1
	Cells       lot.Cells  // viable cells in the drawn volume, rounded to a whole cell
	// ConcentrationPerML is viable cells per mL, rounded to a whole cell, for display.
	ConcentrationPerML lot.Cells
	EndotoxinMilliEU   int64 // endotoxin in the drawn volume, milli-EU (0 when unknown)
}

// Calculation is the working of one dose: every number a nurse checks.
type Calculation struct {
	Infusion int
	Basis    string    // e.g. "1.00×10^6 cells/kg of actual body weight"
	Weight   lot.Grams // weight used (also for the endotoxin dose)
	Required lot.Cells
	Working  string // e.g. "62.0 kg × 1.00×10^6/kg = 6.20×10^7"
	Capped   bool

	Draws     []Draw
	Given     lot.Cells  // viable cells in the drawn volumes
	Volume    lot.Tenths // total mL drawn
	Deviation lot.Tenths // (given − required) / required, in 0.1 %, signed
	Held      lot.Cells  // viable cells the containers hold, all of them
	Short     bool       // the containers hold fewer viable cells than required

	// EndotoxinMilliEUPerKgH is the endotoxin dose in milli-EU per kg per
	// hour, rounded up; EndotoxinKnown is false when a lot has no result.
	EndotoxinMilliEUPerKgH int64
	EndotoxinKnown         bool
	InfusionMinutes        int
}

// RequiredCells returns the dose of infusion n of p for a patient weighing w,
// with the working written out. A per-kg dose is rounded half up to a whole
// cell; a cap, when the protocol has one, limits it.
func RequiredCells(p Protocol, n int, w lot.Grams) (cells lot.Cells, basis, working string, capped bool) {
	b, perKg, fixed := p.Basis, p.CellsPerKg, p.Cells
	changed := 0
	for _, c := range p.Changes {
		if n >= c.From {
			changed, perKg, fixed = c.From, c.CellsPerKg, c.Cells
			if c.Cells > 0 {
				b = Fixed
			} else {
				b = PerKg
			}
		}
	}
	switch b {
	case PerKg:
		cells = lot.Cells(roundRat(new(big.Rat).SetFrac(new(big.Int).Mul(big.NewInt(int64(perKg)), big.NewInt(int64(w))), big.NewInt(1000))))
		basis = perKg.String() + " cells/kg of actual body weight"
		working = fmt.Sprintf("%s × %s/kg = %s", exactKg(w), perKg, cells)
	case Fixed:
		cells = fixed
		basis = "fixed " + fixed.String() + " cells, whatever the weight"
		working = "fixed dose " + fixed.String()
	case Bands:
		// Bands are contiguous and the weight is never rounded first: a band
		// holds the weights above the bound before it up to and including
		// its own, so 60.5 kg with bounds 60 and 80 kg is in band 2. The
		// working prints the weight to the gram and both bounds, so that the
		// two people at the bedside see which band was chosen and why.
		i := BandOf(p.Bands, w)
		cells = p.Bands[i].Cells
		working = fmt.Sprintf("%s is %s: band %d of %d, %s", exactKg(w), bandRange(p.Bands, i), i+1, len(p.Bands), cells)
		basis = "weight bands"
	}
	if changed > 0 {
		working += fmt.Sprintf(" (the dose changes from infusion %d on)", changed)
	}
	if p.CapCells > 0 && cells > p.CapCells {
		working += fmt.Sprintf(", capped at %s per infusion", p.CapCells)
		cells, capped = p.CapCells, true
	}
	return cells, basis, working, capped
}

// Calculate works out infusion n of p for weight w from the containers in
// order: each gives what is still needed, up to all its viable cells; the
// volume to draw is cells ÷ viable concentration, rounded half up to 0.1 mL;
// the cells given are those in the rounded volume. volume, when above zero,
// is the total infused volume actually given (filled container by container)
// instead of the computed one.
func Calculate(p Protocol, n int, w lot.Grams, srcs []Source, volume lot.Tenths) Calculation {
	c := Calculation{Infusion: n, Weight: w, InfusionMinutes: p.InfusionMinutes, EndotoxinKnown: len(srcs) > 0}
	c.Required, c.Basis, c.Working, c.Capped = RequiredCells(p, n, w)
	remaining := big.NewRat(int64(c.Required), 1)
	left := volume
	given := new(big.Rat)
	endo := new(big.Rat) // milli-EU
	for _, s := range srcs {
		d := Draw{ContainerID: s.Container.ID, Code: s.Container.Code(), Volume: s.Container.VolumeML}
		d.Viable, d.PostThaw = s.Viable()
		if d.Viable <= 0 || d.Volume <= 0 {
			c.Draws = append(c.Draws, d)
			continue
		}
		c.Held += d.Viable
		d.ConcentrationPerML = lot.Cells(roundRat(new(big.Rat).SetFrac64(int64(d.Viable)*10, int64(d.Volume))))
		if volume > 0 {
			d.Draw = min(left, d.Volume)
			left -= d.Draw
		} else if remaining.Sign() > 0 {
			take := remaining
			if take.Cmp(big.NewRat(int64(d.Viable), 1)) > 0 {
				take = big.NewRat(int64(d.Viable), 1)
			}
			// tenths of mL = take × volume(tenths) ÷ viable
			exact := new(big.Rat).Mul(take, big.NewRat(int64(d.Volume), int64(d.Viable)))
			d.Draw = lot.Tenths(roundRat(exact))
			// Rounding up to 0.1 mL must not push the dose over a cap: the
			// bedside check refuses anything above it, so the proposal
			// rounds down instead.
			if p.CapCells > 0 && overCap(given, d, p.CapCells) {
				d.Draw = lot.Tenths(floorRat(exact))
			}
			d.Draw = min(d.Draw, d.Volume)
			remaining = new(big.Rat).Sub(remaining, take)
		}
		cells := d.drawn()
		given.Add(given, cells)
		d.Cells = lot.Cells(roundRat(cells))
		c.Volume += d.Draw
		if s.EndotoxinFound {
			e := new(big.Rat).SetFrac64(s.EndotoxinMilliEUPerML*int64(d.Draw), 10)
			endo.Add(endo, e)
			d.EndotoxinMilliEU = ceilRat(e)
		} else {
			c.EndotoxinKnown = false
		}
		c.Draws = append(c.Draws, d)
	}
	c.Given = lot.Cells(roundRat(given))
	// Short is about the bags, whether or not a volume was given: the
	// tolerance decides, the same way on both paths, whether short is too short.
	c.Short = c.Held < c.Required
	c.Deviation = deviation(given, c.Required)
	if c.EndotoxinKnown && w > 0 {
		// EU/kg/h = EU ÷ kg ÷ h, with h = max(1, minutes/60): USP <85> limits the
		// dose in any one hour, so an infusion shorter than an hour counts as one.
		minutes := int64(max(60, p.InfusionMinutes))
		rate := new(big.Rat).Mul(endo, big.NewRat(1000*60, int64(w)*minutes))
		c.EndotoxinMilliEUPerKgH = ceilRat(rate)
	}
	return c
}

// deviation is (given − required) ÷ required in 0.1 %, rounded half away
// from zero (0 when nothing is required).
func deviation(given *big.Rat, required lot.Cells) lot.Tenths {
	if required <= 0 {
		return 0
	}
	dev := new(big.Rat).Sub(given, big.NewRat(int64(required), 1))
	dev.Mul(dev, big.NewRat(1000, int64(required)))
	return lot.Tenths(roundRat(dev))
}

// WithinTolerance reports whether the given cells are inside the protocol's
// tolerance around the required dose: required × (1 − minus%) ≤ given ≤
// required × (1 + plus%), compared exactly: on the cells drawn (ExactGiven),
// not on Given rounded to a whole cell, which may round a dose a fraction
// of a cell outside onto the limit (review 17).
func WithinTolerance(p Protocol, c Calculation) bool {
	g := new(big.Rat).Mul(c.ExactGiven(), big.NewRat(1000, 1))
	lo := big.NewRat(int64(c.Required)*int64(1000-p.ToleranceMinus), 1)
	hi := big.NewRat(int64(c.Required)*int64(1000+p.TolerancePlus), 1)
	return g.Cmp(lo) >= 0 && g.Cmp(hi) <= 0
}

// ExactGiven is the viable cells in the drawn volumes exactly, as a
// fraction: what every limit is judged on. Given is it rounded to a whole
// cell, for the record and the screen. It is worked out from the draws, so
// a Calculation that crossed the wire (the API's report) gives the same.
func (c Calculation) ExactGiven() *big.Rat {
	given := new(big.Rat)
	for _, d := range c.Draws {
		if d.Viable > 0 && d.Volume > 0 {
			given.Add(given, d.drawn())
		}
	}
	return given
}

// drawn is the viable cells in the volume drawn from d, exactly.
func (d Draw) drawn() *big.Rat {
	return new(big.Rat).SetFrac64(int64(d.Draw)*int64(d.Viable), int64(d.Volume))
}

// BandOf returns the index of the weight band w falls in: the first whose
// bound is at or above w, or the last (open) band.
func BandOf(bands []Band, w lot.Grams) int {
	for i, b := range bands {
		if b.UpTo == 0 || w <= b.UpTo {
			return i
		}
	}
	return len(bands) - 1
}

// bandRange describes band i in words: "at most 60.0 kg", "above 60.0 kg
// and at most 80.0 kg", "above 80.0 kg".
func bandRange(bands []Band, i int) string {
	var lo, hi string
	if i > 0 {
		lo = "above " + exactKg(bands[i-1].UpTo)
	}
	if bands[i].UpTo > 0 {
		hi = "at most " + exactKg(bands[i].UpTo)
	}
	switch {
	case lo == "":
		return hi
	case hi == "":
		return lo
	}
	return lo + " and " + hi
}

// exactKg prints a weight exactly as kept, so the working shows the weight
// actually used.
func exactKg(g lot.Grams) string { return g.String() }

// roundRat rounds r half away from zero to an integer.
func roundRat(r *big.Rat) int64 {
	num, den := new(big.Int).Set(r.Num()), r.Denom()
	neg := num.Sign() < 0
	num.Abs(num)
	q, m := new(big.Int).QuoRem(num, den, new(big.Int))
	if new(big.Int).Mul(m, big.NewInt(2)).Cmp(den) >= 0 {
		q.Add(q, big.NewInt(1))
	}
	if neg {
		q.Neg(q)
	}
	return q.Int64()
}

// overCap reports whether drawing d.Draw from d after the cells already
// given would take the total above cap.
func overCap(given *big.Rat, d Draw, cap lot.Cells) bool {
	total := new(big.Rat).Add(given, d.drawn())
	return total.Cmp(big.NewRat(int64(cap), 1)) > 0
}

// floorRat rounds a non-negative r down to an integer.
func floorRat(r *big.Rat) int64 { return new(big.Int).Quo(r.Num(), r.Denom()).Int64() }

// ceilRat rounds a non-negative r up to an integer.
func ceilRat(r *big.Rat) int64 {
	q, m := new(big.Int).QuoRem(r.Num(), r.Denom(), new(big.Int))
	if m.Sign() > 0 {
		q.Add(q, big.NewInt(1))
	}
	return q.Int64()
}

// FormatEU prints milli-EU as EU with three decimals: 0.125.
func FormatEU(milli int64) string { return lot.FormatFixed(milli, 3, 3) }

// FormatDeviation prints a signed percentage: +1.5 %, -0.3 %, 0.0 %.
func FormatDeviation(t lot.Tenths) string {
	if t > 0 {
		return "+" + t.String() + " %"
	}
	return t.String() + " %"
}
