package dose

import "github.com/celltrack/celltrack/lot"

// Numbers the seed papers do not give, chosen here and shared by every
// built-in protocol (README, "Dosing", lists them with the reasons):
const (
	// builtinTolerance is ±10 % of the computed dose: the example in issue 4
	// and a common acceptance range for cell-dose release; a bag's post-thaw
	// count differs from the label by a few %, so a tighter range would stop
	// good infusions and a wider one would hide a wrong bag.
	builtinTolerance = lot.Tenths(100)
	// builtinWeightAgeDays: per-kg doses use actual body weight (seeds 000,
	// 001); a weight taken within 7 days of the infusion is the one the dose
	// was prescribed against, and catches fluid shifts in lupus nephritis.
	builtinWeightAgeDays = 7
	// builtinThawMinutes: the seeds give no post-thaw stability; 4 h from
	// thaw to start of infusion is the window chosen until the lab sets its
	// own validated stability in a new protocol version.
	builtinThawMinutes = 240
	// builtinInfusionMinutes: the seeds do not give the infusion time; 60
	// minutes is assumed. It sets the recorded end time and the endotoxin
	// rate (USP <85>: EU per kg per hour; a shorter infusion is counted as
	// one hour's dose, so the rate is never understated).
	builtinInfusionMinutes = 60
)

// Builtins returns the regimens of the seed papers (DOMAIN.md, "Regimens in
// the seeds"), installed by `celltrack init` as version 1 of each.
func Builtins() []Protocol {
	common := func(p Protocol) Protocol {
		p.Version = 1
		p.ToleranceMinus, p.TolerancePlus = builtinTolerance, builtinTolerance
		p.MaxWeightAgeDays, p.MaxThawMinutes, p.InfusionMinutes = builtinWeightAgeDays, builtinThawMinutes, builtinInfusionMinutes
		p.EndotoxinMilliEUPerKgH = EndotoxinLimitMilliEU
		return p
	}
	return []Protocol{
		common(Protocol{
			Name: "sle-uc-d0d7", Title: "SLE: UC-MSC 1×10^6/kg on day 0 and day 7",
			Source:  "seed 001: multicentre trial, 40 patients, NCT01741857",
			Product: lot.SourceUC, Basis: PerKg, CellsPerKg: 1_000_000,
			Phases: []Phase{{Count: 2, IntervalDays: 7}}, WindowDays: 1, FollowActual: true,
			Notes: "day 7 is counted from the day the first dose was actually given; ±1 day window chosen (the trial gives exact days)",
		}),
		common(Protocol{
			Name: "sle-uc-single", Title: "SLE: one UC-MSC infusion of 1×10^6/kg",
			Source:  "seed 004: phase I, 6 patients, NCT03171194 (the abstract lost the superscript: 1×10 MSCs/kg); seed 003: 16 patients",
			Product: lot.SourceUC, Basis: PerKg, CellsPerKg: 1_000_000,
			Phases: []Phase{{Count: 1}}, WindowDays: 1,
			Notes: "±1 day around the start date chosen by the physician",
		}),
		common(Protocol{
			Name: "ss-uc-single", Title: "Sjögren's: one UC-MSC infusion of 1×10^6/kg",
			Source:  "seed 000: 24 patients with primary SS, one million cells per kg per infusion",
			Product: lot.SourceUC, Basis: PerKg, CellsPerKg: 1_000_000,
			Phases: []Phase{{Count: 1}}, WindowDays: 1,
			Notes: "±1 day around the start date chosen by the physician",
		}),
		common(Protocol{
			Name: "ss-uc-fixed-x10", Title: "Sjögren's: 10 UC-MSC infusions of 5×10^7 cells",
			Source:  "seed 002: case report, 5.0×10^7 UC-MSC per time, 10 infusions May 2021–Nov 2022",
			Product: lot.SourceUC, Basis: Fixed, Cells: 50_000_000,
			Phases: []Phase{{Count: 10, IntervalDays: 56}}, WindowDays: 7, FollowActual: true,
			Notes: "the paper leaves the interval to the physician; 10 infusions over ~18 months is one every ~8 weeks, so 56 days ±7 is chosen",
		}),
		common(Protocol{
			Name: "ss-rfib-12", Title: "Sjögren's: 12 autologous rFib infusions, 4 weekly then 8 every 4 weeks",
			Source:  "seed 002: case report, autologous rFib Oct 2023–Jun 2024; 5×10^7 for infusions 1–7, 7.5×10^7 for 8–12",
			Product: lot.SourceRFib, Basis: Fixed, Cells: 50_000_000,
			Changes: []Change{{From: 8, Cells: 75_000_000}},
			Phases:  []Phase{{Count: 4, IntervalDays: 7}, {Count: 8, IntervalDays: 28}}, WindowDays: 2, FollowActual: true,
			Notes: "only the patient's own lots; ±2 days chosen for weekly and 4-weekly visits",
		}),
	}
}
