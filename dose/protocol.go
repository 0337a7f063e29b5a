// Package dose holds celltrack's dosing domain: protocols (regimens as data),
// the schedules laid out from them, the exact dose arithmetic and the bedside
// check that decides GO or NO-GO. It does no I/O; package store persists it.
package dose

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/celltrack/celltrack/lot"
)

// Basis says how a protocol's dose is computed.
type Basis string

// Dose bases.
const (
	PerKg Basis = "per_kg" // cells per kg of actual body weight
	Fixed Basis = "fixed"  // a fixed cell count, whatever the weight
	Bands Basis = "bands"  // a fixed count chosen by weight band
)

// EndotoxinLimitMilliEU is the USP <85> threshold pyrogenic dose K for
// parenteral products not given intrathecally: 5 EU per kg per hour, in
// milli-EU so that it is an integer.
const EndotoxinLimitMilliEU = 5000

// Plausible doses in a protocol. The seeds give 1×10^6/kg and fixed doses of
// 5×10^7 and 7.5×10^7 cells; these bounds, two orders of magnitude either way
// (chosen here, README "Dosing"), refuse a slipped exponent in a protocol
// file ("1e9" for "1e6") before it can dose anyone.
const (
	MinCellsPerKg = lot.Cells(10_000)
	MaxCellsPerKg = lot.Cells(100_000_000)
	MinDoseCells  = lot.Cells(1_000_000)
	MaxDoseCells  = lot.Cells(10_000_000_000)
)

// FileFormat is the version of the protocol file format read by ParseProtocol.
const FileFormat = 1

// Band is one weight band: patients up to and including UpTo (zero for the
// last, open band) get Cells.
type Band struct {
	UpTo  lot.Grams
	Cells lot.Cells
}

// Phase is part of a schedule: Count infusions, each IntervalDays after the
// one before (the first infusion of the whole course is on the start date).
type Phase struct {
	Count        int
	IntervalDays int
}

// Change changes the dose from infusion From onwards: either a fixed Cells
// count or CellsPerKg.
type Change struct {
	From       int
	Cells      lot.Cells
	CellsPerKg lot.Cells
}

// Protocol is a regimen: what product, how much, how often, and the limits
// the bedside check holds every infusion to. Protocols are data: built-ins
// are installed at init, a site adds its own from a file.
type Protocol struct {
	Name    string
	Version int
	Title   string
	Source  string // where the regimen comes from (trial registry id, paper)
	Product lot.Source

	Basis      Basis
	CellsPerKg lot.Cells // PerKg
	Cells      lot.Cells // Fixed
	Bands      []Band    // Bands, ascending
	Changes    []Change  // ascending by From

	Phases       []Phase
	WindowDays   int  // ± days around the planned date
	FollowActual bool // a later infusion is planned from the actual date of the one before

	ToleranceMinus lot.Tenths // % below the computed dose still accepted
	TolerancePlus  lot.Tenths // % above
	CapCells       lot.Cells  // optional maximum per infusion (0: none)

	MaxWeightAgeDays int // a weight older than this is refused
	MaxThawMinutes   int // thaw to start of infusion
	InfusionMinutes  int // planned duration; sets the end time and the endotoxin rate

	EndotoxinMilliEUPerKgH int64 // 5000 = 5 EU/kg/h (USP <85>)
	Notes                  string
}

// Infusions is the number of infusions in one course.
func (p Protocol) Infusions() int {
	n := 0
	for _, ph := range p.Phases {
		n += ph.Count
	}
	return n
}

// interval returns the days between infusion n−1 and n (n ≥ 2): the interval
// of the phase infusion n belongs to.
func (p Protocol) interval(n int) int {
	seen := 0
	for _, ph := range p.Phases {
		seen += ph.Count
		if n <= seen {
			return ph.IntervalDays
		}
	}
	return 0
}

// Validate checks that a protocol is complete and consistent.
func (p Protocol) Validate() error {
	bad := func(format string, args ...any) error {
		return lot.Errorf(lot.EINVALID, "protocol %q: "+format, append([]any{p.Name}, args...)...)
	}
	if err := lot.ValidateCode("protocol name", p.Name); err != nil {
		return err
	}
	if err := lot.ValidateText("title", p.Title, true); err != nil {
		return bad("%s", lot.ErrorMessage(err))
	}
	if err := lot.ValidateText("source", p.Source, true); err != nil {
		return bad("source is required: cite the trial registry id or paper the regimen comes from")
	}
	if p.Product != lot.SourceUC && p.Product != lot.SourceRFib {
		return bad("product %q is not uc or rfib", p.Product)
	}
	switch p.Basis {
	case PerKg:
		if p.CellsPerKg <= 0 {
			return bad("basis per_kg needs cells_per_kg, e.g. \"1e6\"")
		}
	case Fixed:
		if p.Cells <= 0 {
			return bad("basis fixed needs cells, e.g. \"5e7\"")
		}
	case Bands:
		if len(p.Bands) < 2 {
			return bad("basis bands needs at least two bands")
		}
		for i, b := range p.Bands {
			last := i == len(p.Bands)-1
			if b.Cells <= 0 {
				return bad("band %d has no cells", i+1)
			}
			if last != (b.UpTo == 0) {
				return bad("every band but the last needs up_to_kg, and the last (open) band none")
			}
			if i > 0 && !last && b.UpTo <= p.Bands[i-1].UpTo {
				return bad("band %d: up_to_kg %s is not above the band before", i+1, b.UpTo.KgString())
			}
		}
	default:
		return bad("basis %q is not per_kg, fixed or bands", p.Basis)
	}
	perKg := func(what string, c lot.Cells) error {
		if c > 0 && (c < MinCellsPerKg || c > MaxCellsPerKg) {
			return bad("%s %s/kg is outside %s–%s/kg; check the exponent", what, c, MinCellsPerKg, MaxCellsPerKg)
		}
		return nil
	}
	count := func(what string, c lot.Cells) error {
		if c > 0 && (c < MinDoseCells || c > MaxDoseCells) {
			return bad("%s %s is outside %s–%s; check the exponent", what, c, MinDoseCells, MaxDoseCells)
		}
		return nil
	}
	errs := []error{perKg("cells_per_kg", p.CellsPerKg), count("cells", p.Cells), count("cap_cells", p.CapCells)}
	for _, b := range p.Bands {
		errs = append(errs, count("band cells", b.Cells))
	}
	for _, c := range p.Changes {
		errs = append(errs, perKg("dose change cells_per_kg", c.CellsPerKg), count("dose change cells", c.Cells))
	}
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	if len(p.Phases) == 0 {
		return bad("phases are required, e.g. [{\"count\":2,\"interval_days\":7}]")
	}
	for i, ph := range p.Phases {
		if ph.Count < 1 || ph.Count > 100 {
			return bad("phase %d: count %d is outside 1–100", i+1, ph.Count)
		}
		if ph.IntervalDays < 0 || ph.IntervalDays > 366 || ph.IntervalDays == 0 && (i > 0 || ph.Count > 1) {
			return bad("phase %d: interval_days %d must be 1–366 (0 only for a single first infusion)", i+1, ph.IntervalDays)
		}
	}
	for i, c := range p.Changes {
		if c.From < 2 || c.From > p.Infusions() {
			return bad("dose change %d: from_infusion %d is outside 2–%d", i+1, c.From, p.Infusions())
		}
		if (c.Cells > 0) == (c.CellsPerKg > 0) {
			return bad("dose change %d: give exactly one of cells or cells_per_kg", i+1)
		}
		if i > 0 && c.From <= p.Changes[i-1].From {
			return bad("dose changes must be in ascending from_infusion order")
		}
	}
	if p.WindowDays < 0 || p.WindowDays > 30 {
		return bad("window_days %d is outside 0–30", p.WindowDays)
	}
	for i, ph := range p.Phases {
		// Two windows that overlap would let two infusions be due on one
		// day: the one after a dose given late would open before that dose.
		if (i > 0 || ph.Count > 1) && 2*p.WindowDays >= ph.IntervalDays {
			return bad("window_days %d is too wide for phase %d every %d days: ±%d days around two infusions %d days apart overlap; use a window under half the interval",
				p.WindowDays, i+1, ph.IntervalDays, p.WindowDays, ph.IntervalDays)
		}
	}
	if p.ToleranceMinus < 0 || p.ToleranceMinus > 500 || p.TolerancePlus < 0 || p.TolerancePlus > 500 {
		return bad("tolerance must be 0–50 %% each way")
	}
	if p.CapCells < 0 {
		return bad("cap_cells is negative")
	}
	if p.MaxWeightAgeDays < 1 || p.MaxWeightAgeDays > 90 {
		return bad("max_weight_age_days %d is outside 1–90", p.MaxWeightAgeDays)
	}
	if p.MaxThawMinutes < 1 || p.MaxThawMinutes > 24*60 {
		return bad("max_thaw_minutes %d is outside 1–1440", p.MaxThawMinutes)
	}
	if p.InfusionMinutes < 1 || p.InfusionMinutes > 24*60 {
		return bad("infusion_minutes %d is outside 1–1440", p.InfusionMinutes)
	}
	if p.EndotoxinMilliEUPerKgH <= 0 || p.EndotoxinMilliEUPerKgH > EndotoxinLimitMilliEU {
		return bad("endotoxin limit must be above 0 and at most 5 EU/kg/h (USP <85>)")
	}
	return lot.ValidateText("notes", p.Notes, false)
}

// protocolFile is the documented JSON format of `protocol add --file`.
// Cell counts are strings ("1e6", "7.5x10^7") and are parsed exactly;
// kg and % are decimal strings.
type protocolFile struct {
	Format               int          `json:"format"`
	Name                 string       `json:"name"`
	Title                string       `json:"title"`
	Source               string       `json:"source"`
	Product              string       `json:"product"`
	Basis                string       `json:"basis"`
	CellsPerKg           string       `json:"cells_per_kg,omitempty"`
	Cells                string       `json:"cells,omitempty"`
	Bands                []bandFile   `json:"bands,omitempty"`
	DoseChanges          []changeFile `json:"dose_changes,omitempty"`
	Phases               []phaseFile  `json:"phases"`
	WindowDays           int          `json:"window_days"`
	FollowActual         bool         `json:"follow_actual"`
	ToleranceMinusPct    string       `json:"tolerance_minus_pct"`
	TolerancePlusPct     string       `json:"tolerance_plus_pct"`
	CapCells             string       `json:"cap_cells,omitempty"`
	MaxWeightAgeDays     int          `json:"max_weight_age_days"`
	MaxThawMinutes       int          `json:"max_thaw_minutes"`
	InfusionMinutes      int          `json:"infusion_minutes"`
	EndotoxinEUPerKgPerH string       `json:"endotoxin_eu_per_kg_per_h"`
	Notes                string       `json:"notes,omitempty"`
}

type bandFile struct {
	UpToKg string `json:"up_to_kg,omitempty"`
	Cells  string `json:"cells"`
}

type changeFile struct {
	FromInfusion int    `json:"from_infusion"`
	Cells        string `json:"cells,omitempty"`
	CellsPerKg   string `json:"cells_per_kg,omitempty"`
}

type phaseFile struct {
	Count        int `json:"count"`
	IntervalDays int `json:"interval_days"`
}

// ParseProtocol reads a protocol file (format 1, see README "Dosing") and
// validates it. The version is assigned by the store.
func ParseProtocol(data []byte) (Protocol, error) {
	var f protocolFile
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return Protocol{}, lot.Errorf(lot.EINVALID, "protocol file is not valid protocol JSON: %v; see README, \"Protocol files\"", err)
	}
	if f.Format != FileFormat {
		return Protocol{}, lot.Errorf(lot.EINVALID, "protocol file format %d is not supported; this celltrack reads format %d", f.Format, FileFormat)
	}
	p := Protocol{Name: f.Name, Title: f.Title, Source: f.Source, Product: lot.Source(f.Product), Basis: Basis(f.Basis),
		WindowDays: f.WindowDays, FollowActual: f.FollowActual, MaxWeightAgeDays: f.MaxWeightAgeDays,
		MaxThawMinutes: f.MaxThawMinutes, InfusionMinutes: f.InfusionMinutes, Notes: f.Notes}
	var err error
	cells := func(field, s string) lot.Cells {
		if err != nil || s == "" {
			return 0
		}
		var c lot.Cells
		c, err = lot.ParseCells(field, s)
		return c
	}
	tenths := func(field, s string) lot.Tenths {
		if err != nil {
			return 0
		}
		var t lot.Tenths
		t, err = lot.ParseTenths(field, s)
		return t
	}
	p.CellsPerKg = cells("cells_per_kg", f.CellsPerKg)
	p.Cells = cells("cells", f.Cells)
	p.CapCells = cells("cap_cells", f.CapCells)
	for _, b := range f.Bands {
		band := Band{Cells: cells("bands.cells", b.Cells)}
		if b.UpToKg != "" && err == nil {
			band.UpTo, err = lot.ParseWeightKg("bands.up_to_kg", b.UpToKg)
		}
		p.Bands = append(p.Bands, band)
	}
	for _, c := range f.DoseChanges {
		p.Changes = append(p.Changes, Change{From: c.FromInfusion, Cells: cells("dose_changes.cells", c.Cells),
			CellsPerKg: cells("dose_changes.cells_per_kg", c.CellsPerKg)})
	}
	for _, ph := range f.Phases {
		p.Phases = append(p.Phases, Phase(ph))
	}
	p.ToleranceMinus = tenths("tolerance_minus_pct", f.ToleranceMinusPct)
	p.TolerancePlus = tenths("tolerance_plus_pct", f.TolerancePlusPct)
	eu := tenths("endotoxin_eu_per_kg_per_h", f.EndotoxinEUPerKgPerH)
	if err != nil {
		return Protocol{}, err
	}
	p.EndotoxinMilliEUPerKgH = int64(eu) * 100
	return p, p.Validate()
}

// File returns the protocol in the file format ParseProtocol reads, so that
// `protocol show --json` output can be edited and added back as a new version.
func (p Protocol) File() any {
	f := protocolFile{Format: FileFormat, Name: p.Name, Title: p.Title, Source: p.Source, Product: string(p.Product),
		Basis: string(p.Basis), WindowDays: p.WindowDays, FollowActual: p.FollowActual,
		ToleranceMinusPct: p.ToleranceMinus.String(), TolerancePlusPct: p.TolerancePlus.String(),
		MaxWeightAgeDays: p.MaxWeightAgeDays, MaxThawMinutes: p.MaxThawMinutes, InfusionMinutes: p.InfusionMinutes,
		EndotoxinEUPerKgPerH: lot.FormatFixed(p.EndotoxinMilliEUPerKgH, 3, 1), Notes: p.Notes}
	exact := func(c lot.Cells) string {
		if c == 0 {
			return ""
		}
		return c.Exact()
	}
	f.CellsPerKg, f.Cells, f.CapCells = exact(p.CellsPerKg), exact(p.Cells), exact(p.CapCells)
	for _, b := range p.Bands {
		bf := bandFile{Cells: b.Cells.Exact()}
		if b.UpTo > 0 {
			bf.UpToKg = lot.FormatFixed(int64(b.UpTo), 3, 3)
		}
		f.Bands = append(f.Bands, bf)
	}
	for _, c := range p.Changes {
		f.DoseChanges = append(f.DoseChanges, changeFile{FromInfusion: c.From, Cells: exact(c.Cells), CellsPerKg: exact(c.CellsPerKg)})
	}
	for _, ph := range p.Phases {
		f.Phases = append(f.Phases, phaseFile(ph))
	}
	return f
}

// DoseText describes the dose of infusion n in words: "1.00×10^6 cells/kg".
func (p Protocol) DoseText(n int) string {
	perKg, fixed := p.CellsPerKg, p.Cells
	basis := p.Basis
	for _, c := range p.Changes {
		if n >= c.From {
			perKg, fixed = c.CellsPerKg, c.Cells
			if c.Cells > 0 {
				basis = Fixed
			} else {
				basis = PerKg
			}
		}
	}
	switch basis {
	case PerKg:
		return perKg.String() + " cells/kg"
	case Fixed:
		return fixed.String() + " cells"
	}
	var parts []string
	for i, b := range p.Bands {
		parts = append(parts, fmt.Sprintf("%s → %s", bandRange(p.Bands, i), b.Cells))
	}
	return "by weight band: " + strings.Join(parts, "; ")
}

// ScheduleText describes the phases: "4 × every 7 days, then 8 × every 28 days".
func (p Protocol) ScheduleText() string {
	var parts []string
	for i, ph := range p.Phases {
		switch {
		case i == 0 && ph.Count == 1:
			parts = append(parts, "once")
		default:
			parts = append(parts, fmt.Sprintf("%d × every %d days", ph.Count, ph.IntervalDays))
		}
	}
	return strings.Join(parts, ", then ")
}
