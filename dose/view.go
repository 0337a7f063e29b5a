package dose

import (
	"time"

	"github.com/celltrack/celltrack/lot"
	"github.com/google/uuid"
)

// The JSON views below are the --json output of `dose check` and `dose
// administer` and the API's answers to the same calls: one definition, so
// a script reads either and the two cannot drift apart.

// ReportView is the bedside check's outcome.
type ReportView struct {
	GO bool `json:"go"`
	// AlreadyInfused, on a NO-GO because a bag offered was already
	// infused into this patient, says when, by whom and which infusion:
	// the same administration sent twice.
	AlreadyInfused string    `json:"already_infused,omitempty"`
	Checks         []Result  `json:"checks"`
	Calc           *CalcView `json:"calc,omitempty"`
	// TimeZone is the zone of the site that treats the patient: the
	// checks' times are local there.
	TimeZone string `json:"time_zone"`
	// Shown, on a GO, is the dose the check shows, for the signatures to
	// bind: the API's administer takes it back as "shown".
	Shown *ShownView `json:"shown,omitempty"`
}

// ShownView is the dose a GO check shows, as the API answers it and takes
// it back to sign: the weight record it rests on, the volume to draw and
// the viable cells in it (an exact integer).
type ShownView struct {
	WeightID string `json:"weight_id"`
	VolumeML string `json:"volume_ml"`
	Cells    string `json:"cells"`
}

// ViewShown is the JSON view of a dose shown.
func ViewShown(s Shown) ShownView {
	return ShownView{WeightID: s.WeightID.String(), VolumeML: s.Volume.String(), Cells: s.Cells.Exact()}
}

// Parse reads a dose shown back, naming a bad or missing value by its key
// under field ("shown"): the signatures may bind nothing less than all
// three.
func (v ShownView) Parse(field string) (Shown, error) {
	var s Shown
	var err error
	if v.WeightID == "" || v.VolumeML == "" || v.Cells == "" {
		return s, lot.Errorf(lot.EUSAGE, "%s needs weight_id, volume_ml and cells, as the GO check answered them (its report's \"shown\"): the signatures bind the dose the signers were shown; nothing was signed", field)
	}
	if s.WeightID, err = uuid.Parse(v.WeightID); err != nil {
		return s, lot.Errorf(lot.EINVALID, "%s.weight_id %q is not a weight record id; send back the one the GO check answered", field, v.WeightID)
	}
	if s.Volume, err = lot.ParseTenths(field+".volume_ml", v.VolumeML); err != nil {
		return s, err
	}
	if s.Cells, err = lot.ParseCells(field+".cells", v.Cells); err != nil {
		return s, err
	}
	if s.Volume <= 0 || s.Cells <= 0 {
		return s, lot.Errorf(lot.EINVALID, "%s shows %s cells in %s mL; a GO check shows more than 0 of both — send back the one it answered", field, v.Cells, v.VolumeML)
	}
	return s, nil
}

// CalcView is the dose working.
type CalcView struct {
	Infusion          int        `json:"infusion"`
	Basis             string     `json:"basis"`
	WeightKg          string     `json:"weight_kg"`
	RequiredCells     string     `json:"required_cells"`
	Working           string     `json:"working"`
	Draws             []DrawView `json:"draws"`
	GivenCells        string     `json:"given_cells"`
	VolumeML          string     `json:"volume_ml"`
	DeviationPct      string     `json:"deviation_pct"`
	Short             bool       `json:"short"`
	EndotoxinEUPerKgH string     `json:"endotoxin_eu_per_kg_h,omitempty"`
}

// DrawView is what to draw from one container.
type DrawView struct {
	Container   string `json:"container"`
	ViableCells string `json:"viable_cells"`
	PostThaw    bool   `json:"post_thaw"`
	VolumeML    string `json:"volume_ml"`
	DrawML      string `json:"draw_ml"`
	Cells       string `json:"cells"`
	// ConcentrationPerML is viable cells per mL, rounded to a whole cell,
	// as the bedside text shows it.
	ConcentrationPerML string `json:"concentration_per_ml"`
}

// ViewReport is the JSON view of a bedside check.
func ViewReport(r Report) ReportView {
	v := ReportView{GO: r.GO, AlreadyInfused: r.Repeat, Checks: r.Checks, TimeZone: lot.ZoneName(r.Zone)}
	if v.Checks == nil {
		v.Checks = []Result{}
	}
	if r.Calc.Infusion > 0 {
		c := ViewCalc(r.Calc)
		v.Calc = &c
	}
	if s := ShownBy(r); r.GO && !s.IsZero() {
		sv := ViewShown(s)
		v.Shown = &sv
	}
	return v
}

// ViewCalc is the JSON view of a dose working.
func ViewCalc(k Calculation) CalcView {
	v := CalcView{Infusion: k.Infusion, Basis: k.Basis, WeightKg: k.Weight.KgString(), RequiredCells: k.Required.Exact(),
		Working: k.Working, Draws: []DrawView{}, GivenCells: k.Given.Exact(), VolumeML: k.Volume.String(),
		DeviationPct: k.Deviation.String(), Short: k.Short}
	for _, d := range k.Draws {
		v.Draws = append(v.Draws, DrawView{Container: d.Code, ViableCells: d.Viable.Exact(), PostThaw: d.PostThaw,
			VolumeML: d.Volume.String(), DrawML: d.Draw.String(), Cells: d.Cells.Exact(), ConcentrationPerML: d.ConcentrationPerML.Exact()})
	}
	if k.EndotoxinKnown {
		v.EndotoxinEUPerKgH = FormatEU(k.EndotoxinMilliEUPerKgH)
	}
	return v
}

// InfusionView is a recorded infusion with its two signatures.
type InfusionView struct {
	ID                string        `json:"id"`
	Number            int           `json:"number"`
	Protocol          string        `json:"protocol"`
	Course            int           `json:"course"`
	Start             time.Time     `json:"start"`
	End               time.Time     `json:"end"`
	WeightKg          string        `json:"weight_kg"`
	RequiredCells     string        `json:"required_cells"`
	GivenCells        string        `json:"given_cells"`
	VolumeML          string        `json:"volume_ml"`
	DeviationPct      string        `json:"deviation_pct"`
	Containers        []InfusedView `json:"containers"`
	Nurse             string        `json:"nurse"`
	Witness           string        `json:"witness"`
	EndotoxinEUPerKgH string        `json:"endotoxin_eu_per_kg_h"`
	// TimeZone is the zone of the site that treats the patient, in which
	// the infusion's start and end are shown.
	TimeZone string `json:"time_zone"`
}

// InfusedView is what one container gave.
type InfusedView struct {
	Container string `json:"container"`
	VolumeML  string `json:"volume_ml"`
	Cells     string `json:"cells"`
}

// ViewInfusion is the JSON view of a recorded infusion; zone is the
// treating site's (Report.Zone of its bedside check).
func ViewInfusion(in Infusion, zone *time.Location) InfusionView {
	v := InfusionView{ID: in.ID.String(), Number: in.Number, Protocol: in.Protocol, Course: in.Course, Start: in.Start, End: in.End,
		WeightKg: in.Weight.KgString(), RequiredCells: in.Required.Exact(), GivenCells: in.Given.Exact(), VolumeML: in.Volume.String(),
		DeviationPct: in.Deviation.String(), Nurse: in.Nurse.String(), Witness: in.Witness.String(),
		EndotoxinEUPerKgH: FormatEU(in.EndotoxinMilliEUPerKgH), TimeZone: lot.ZoneName(zone)}
	for _, c := range in.Containers {
		v.Containers = append(v.Containers, InfusedView{Container: c.Code, VolumeML: c.Volume.String(), Cells: c.Cells.Exact()})
	}
	return v
}
