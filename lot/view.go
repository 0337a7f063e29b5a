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
