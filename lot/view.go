package lot

import (
	"time"

	"github.com/google/uuid"
)

// The JSON views below are the --json output of `lot show`, `lot list` and
// `container show` and the web API's answers about lots: one definition, so
// that a script reads either and the two cannot drift apart.

// ViewLot is a lot as --json prints it, judged at now (expired, usable);
// restrictedTo is the MRN an exceptional release restricts it to, or "".
func ViewLot(l Lot, now time.Time, restrictedTo string) map[string]any {
	return map[string]any{"id": l.ID, "number": l.Number, "din": l.DIN.String(), "din_check": string(l.DIN.Check()),
		"source": l.Source, "product": l.Source.Product(), "status": l.Status, "expired": l.Expired(now), "usable": l.Usable(now),
		"cells": l.Cells, "viability_pct": l.Viability.String(), "volume_ml": l.VolumeML.String(),
		"manufactured": FormatDate(l.Manufactured), "expires": FormatDate(l.Expires), "passage": l.Passage,
		"location": l.Location, "containers_count": l.Containers, "cells_split": l.CellsSplit,
		"created_at": l.CreatedAt, "created_by": l.CreatedBy, "exceptional": l.Exceptional, "restricted_to": restrictedTo}
}

// ViewContainer is a container as --json prints it: where it is, its
// post-thaw numbers once thawed (doses use them) and, once dispensed, the
// patient it is for (patientMRN names them).
func ViewContainer(c Container, patientMRN func(uuid.UUID) string) map[string]any {
	v := map[string]any{"id": c.ID, "code": c.Code(), "lot_id": c.LotID, "number": c.Number, "cells": c.Cells,
		"volume_ml": c.VolumeML.String(), "state": c.State, "location": c.Location, "site": c.Site,
		"custodian": c.Custodian, "created_at": c.CreatedAt, "created_by": c.CreatedBy}
	if !c.ThawedAt.IsZero() {
		v["thawed_at"], v["thaw_viability_pct"], v["viable_cells"] = c.ThawedAt, c.ThawViability.String(), c.ViableCells
	}
	if c.PatientID != uuid.Nil {
		v["patient_id"], v["patient"] = c.PatientID, patientMRN(c.PatientID)
	}
	return v
}

// ViewDonor is a donor as --json prints it, with its corrections.
func ViewDonor(d Donor) map[string]any {
	return map[string]any{"id": d.ID, "code": d.Code, "delivered": FormatDate(d.Delivered), "site": d.Site,
		"consented": FormatDate(d.Consented), "created_at": d.CreatedAt, "created_by": d.CreatedBy,
		"corrections": ViewCorrections(d.Corrections)}
}

// ViewCorrections is a record's corrections, oldest first ([] when none).
func ViewCorrections(cs []Correction) []map[string]any {
	out := []map[string]any{}
	for _, c := range cs {
		out = append(out, ViewCorrection(c))
	}
	return out
}

// ViewCorrection is one correction: when, who, why and every field's old
// and new value.
func ViewCorrection(c Correction) map[string]any {
	changes := []map[string]any{}
	for _, ch := range c.Changes {
		changes = append(changes, map[string]any{"field": ch.Field, "old": ch.Old, "new": ch.New})
	}
	return map[string]any{"at": c.At, "by": c.By, "reason": c.Reason, "changes": changes}
}

// ViewPatient is a patient as --json prints it, with the weights when ws
// is not nil (`patient show`).
func ViewPatient(p Patient, ws []Weight) map[string]any {
	former := append([]string{}, p.FormerMRNs...)
	v := map[string]any{"id": p.ID, "mrn": p.MRN, "name": p.Name, "born": FormatDate(p.Born), "sex": p.Sex,
		"created_at": p.CreatedAt, "created_by": p.CreatedBy, "former_mrns": former, "corrections": ViewCorrections(p.Corrections)}
	if ws != nil {
		wv := []map[string]any{}
		for _, w := range ws {
			wv = append(wv, ViewWeight(w))
		}
		v["weights"] = wv
	}
	return v
}

// ViewWeight is a recorded weight.
func ViewWeight(w Weight) map[string]any {
	v := map[string]any{"id": w.ID, "kg": w.Grams.KgString(), "measured_at": w.MeasuredAt, "recorded_by": w.RecordedBy}
	if !w.RecordedAt.IsZero() {
		v["recorded_at"] = w.RecordedAt
	}
	return v
}
