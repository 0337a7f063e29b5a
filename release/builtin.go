package release

import "github.com/celltrack/celltrack/lot"

// Sources of the built-in limits, cited on every criterion.
const (
	srcISCT = "ISCT minimal criteria, Dominici et al., Cytotherapy 2006;8(4):315-7"
	// Endotoxin: tested per USP <85> / Ph. Eur. 2.6.14; 0.5 EU/mL is the
	// lab's limit, well inside USP's K/M = 5 EU/kg/h for intravenous products
	// at the volumes infused here.
	srcEndotoxin  = "USP <85> / Ph. Eur. 2.6.14 bacterial endotoxins; lab limit 0.5 EU/mL"
	srcSterility  = "USP <71> / Ph. Eur. 2.6.1 sterility; Ph. Eur. 2.6.27 for cell-based preparations"
	srcMycoplasma = "USP <63> / Ph. Eur. 2.6.7 mycoplasmas"
	srcViability  = "viability floor of 80 % used by the MSC trials in the seeds (issue 3)"
	// One 1×10^6/kg dose for a 100 kg patient (seeds 000, 001, 003).
	srcViableUC = "at least one 1×10^6 cells/kg dose for a 100 kg patient (seeds 000/001/003)"
	// Seed 002: the rFib course needs 7.5×10^7 cells per late infusion.
	srcViableRF = "at least one 7.5×10^7-cell rFib infusion (seed 002)"
	srcTCSCB    = "T/CSCB 0003-2021 Human mesenchymal stem cells (release standard of seed 002)"
)

func isctPanel(extra string) []Criterion {
	src := srcISCT
	if extra != "" {
		src += "; " + extra
	}
	ge := func(a Assay) Criterion {
		return Criterion{Assays: []Assay{a}, Op: AtLeast, Min: "95", Unit: Percent, Source: src}
	}
	le := func(as ...Assay) Criterion {
		return Criterion{Assays: as, Op: AtMost, Max: "2", Unit: Percent, Source: src}
	}
	return []Criterion{
		{Assays: []Assay{"adherence"}, Op: Equals, Result: "pass", Source: src},
		ge("CD105"), ge("CD73"), ge("CD90"),
		le("CD45"), le("CD34"), le("CD14", "CD11b"), le("CD79a", "CD19"), le("HLA-DR"),
		{Assays: []Assay{"trilineage"}, Op: Equals, Result: "pass", Source: src},
	}
}

func safetyPanel(minViable, viableSrc string) []Criterion {
	return []Criterion{
		{Assays: []Assay{"sterility"}, Op: Equals, Result: "no-growth", Source: srcSterility},
		{Assays: []Assay{"mycoplasma"}, Op: Equals, Result: "negative", Source: srcMycoplasma},
		{Assays: []Assay{"endotoxin"}, Op: AtMost, Max: "0.5", Unit: EUPerML, Source: srcEndotoxin},
		{Assays: []Assay{"viability"}, Op: AtLeast, Min: "80", Unit: Percent, Source: srcViability},
		{Assays: []Assay{"viable-cells"}, Op: AtLeast, Min: minViable, Unit: CellCount, Source: viableSrc},
	}
}

// Builtins returns the specifications `celltrack init` installs as version 1.
func Builtins() []Spec {
	uc := Spec{Name: "isct-uc-msc", Title: "Allogeneic UC-MSC: ISCT identity and safety panel",
		Kinds: []lot.Source{lot.SourceUC}, Source: srcISCT,
		Criteria: append(isctPanel(""), safetyPanel("100000000", srcViableUC)...)}
	rf := Spec{Name: "rfib-autologous", Title: "Autologous rFib: identity, safety, karyotype and identity match",
		Kinds: []lot.Source{lot.SourceRFib}, Source: srcTCSCB,
		Criteria: append(append(isctPanel(srcTCSCB), safetyPanel("75000000", srcViableRF)...),
			Criterion{Assays: []Assay{"karyotype"}, Op: Equals, Result: "normal", Source: srcTCSCB + "; genetic stability of reprogrammed cells"},
			Criterion{Assays: []Assay{"identity"}, Op: Equals, Result: "pass", Source: "chain of identity: the lot matches its source patient (DOMAIN.md)"})}
	return []Spec{uc, rf}
}
