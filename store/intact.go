package store

import (
	"bytes"
	"fmt"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/dose"
	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/release"
	"github.com/celltrack/celltrack/store/kv"
	"github.com/google/uuid"
)

// A safety-critical write — a release decision, a custody move, an infusion —
// decides on records it reads: the lot's status, its results, the donor's
// screenings, the container's state. A record edited with a raw bbolt tool
// ("status":"quarantine" → "released") is named by `audit verify`, but until
// someone runs it every command would trust it, and the write itself would
// then overwrite the record and bury the edit under a new, valid audit entry.
// So such a write first checks each record it rests on against its latest
// audit entry, as a traceability report checks the records it shows
// (verifyCursors.verifyRecord), and refuses on a mismatch, writing nothing.
// The cost is a few seeks per record, not a verification of the trail.

// checkIntact refuses, with ECONFLICT, when one of refs is not stored with
// exactly the value its latest audit entry set.
func checkIntact(tx kv.Tx, refs ...recordRef) error {
	vc := &verifyCursors{tx: tx, audit: tx.Bucket(bAudit).Cursor(), ents: tx.Bucket(bAuditEntity).Cursor(), records: map[string]kv.Cursor{}, keepSums: true}
	vc.prefetch(refs)
	seen := make(map[uuid.UUID]bool, len(refs))
	for _, r := range refs {
		if r.id == uuid.Nil || seen[r.id] {
			continue
		}
		seen[r.id] = true
		if p := vc.verifyRecord(r); p != "" {
			return lot.Errorf(lot.ECONFLICT, "refused: %s; this command rests on it, so nothing was written — run the database check and contact the administrator", p).Run("check")
		}
	}
	return nil
}

// refsOf lists ids of one kind as records to check.
func refsOf(kind string, ids ...uuid.UUID) []recordRef {
	refs := make([]recordRef, len(ids))
	for i, id := range ids {
		refs[i] = recordRef{kind, id}
	}
	return refs
}

// lotRecords lists a lot and what its release status was decided on: its
// QC results and, for a UC lot, its donor and the donor's screenings.
func lotRecords(tx kv.Tx, l lot.Lot) []recordRef {
	refs := append(refsOf(kindLot, l.ID), refsOf(kindResult, children(tx, "idx_result_lot", l.ID)...)...)
	if l.DonorID != uuid.Nil {
		refs = append(refs, recordRef{kindDonor, l.DonorID})
		refs = append(refs, refsOf(kindScreening, children(tx, "idx_screening_donor", l.DonorID)...)...)
	}
	return refs
}

// approvalRecords lists what an approval rests on: the lot, its results and
// donor screenings, the specification it is judged against, the signers and
// the registrant (segregation of duties: their names and roles), and for an
// exceptional release the patient it is restricted to. A reference that does
// not resolve is left to the approval's own checks, which name it.
func approvalRecords(tx kv.Tx, a release.Approval, l lot.Lot, qa, registrant audit.User) []recordRef {
	refs := append(lotRecords(tx, l), recordRef{kindUser, qa.ID}, recordRef{kindUser, registrant.ID})
	spec := a.Spec
	if spec == "" {
		spec = release.DefaultSpec(l.Source)
	}
	if sp, err := specByRef(tx, spec); err == nil {
		refs = append(refs, recordRef{kindSpec, sp.ID})
	}
	if a.Exception {
		if id, ok := lookup(tx, "idx_user_name", a.Physician); ok {
			refs = append(refs, recordRef{kindUser, id})
		}
		if p, err := patientByMRN(tx, a.Patient); err == nil { // in any letter case, as the approval reads it
			refs = append(refs, recordRef{kindPatient, p.ID})
		}
	}
	return refs
}

// moveRecords lists what a custody move rests on: the container (its state
// decides which moves are allowed) and its lot (its status decides whether
// it may be dispensed, and to whom).
func moveRecords(c lot.Container) []recordRef {
	return []recordRef{{kindContainer, c.ID}, {kindLot, c.LotID}}
}

// bedsideRecords lists what an infusion rests on: the patient, the active
// course and its protocol, the weights and their confirmations, the
// patient's earlier infusions (the weights they were given with are the
// reference of the weight-change check), every container with its lot, the
// lot's results (the endotoxin load), its release decisions and the
// specifications they were judged against (the post-thaw viability floor),
// and the two signers.
func bedsideRecords(tx kv.Tx, f dose.Facts, ac *dose.Course, signers ...audit.User) []recordRef {
	// A few dozen: one allocation, not the six that growing one takes.
	refs := append(make([]recordRef, 0, 48), recordRef{kindPatient, f.Patient.ID})
	refs = append(refs, refsOf(kindInfusion, children(tx, "idx_infusion_patient", f.Patient.ID)...)...)
	if ac != nil {
		refs = append(refs, recordRef{kindSchedule, ac.Schedule.ID}, recordRef{kindProtocol, ac.Protocol.ID})
		// The infusions the schedule records as given: the index may lack them.
		for _, g := range ac.Schedule.Given {
			refs = append(refs, recordRef{kindInfusion, g.InfusionID})
		}
		// A course stored before the list: the infusion records found on it
		// that the index lacks (givenOn).
		if !ac.Schedule.GivenListed {
			for _, g := range ac.IndexLacks {
				refs = append(refs, recordRef{kindInfusion, g.InfusionID})
			}
		}
		// The zone the course's days are counted in decides "due today".
		if ac.Schedule.SiteID != uuid.Nil {
			refs = append(refs, recordRef{kindSite, ac.Schedule.SiteID})
		}
	}
	if fr, ok, err := facilityRec(tx); err == nil && ok {
		refs = append(refs, recordRef{kindFacility, fr.ID})
	}
	for _, w := range f.Weights {
		refs = append(refs, recordRef{kindWeight, w.ID})
		if id, ok := lookup(tx, "idx_weight_confirm", string(w.ID[:])); ok {
			refs = append(refs, recordRef{kindWeightConfirm, id})
		}
	}
	for _, c := range f.Containers {
		refs = append(refs, recordRef{kindContainer, c.Container.ID}, recordRef{kindLot, c.Lot.ID})
		refs = append(refs, refsOf(kindResult, children(tx, "idx_result_lot", c.Lot.ID)...)...)
		ds := children(tx, "idx_disposition_lot", c.Lot.ID)
		refs = append(refs, refsOf(kindDisposition, ds...)...)
		refs = append(refs, dispositionSpecs(tx, ds)...)
	}
	for _, u := range signers {
		refs = append(refs, recordRef{kindUser, u.ID})
	}
	return refs
}

// dispositionSpecs lists the specification versions the dispositions ds
// were judged against, in their order: of each disposition only "spec" and
// "spec_version" are read (jsonFields, as encoding/json reads them into
// dispositionRecord), not its rows and signatures, and the versions are
// found as specByRef finds them, each decoded through decodedSpecs. As
// before, a reference that does not resolve is left out, and a lot one of
// whose dispositions does not decode adds none (the disposition itself is
// checked, and named first).
func dispositionSpecs(tx kv.Tx, ds []uuid.UUID) []recordRef {
	var refs []recordRef
	var r jsonFields
	b := tx.Bucket(recordBuckets[kindDisposition])
	for _, id := range ds {
		v := b.Get(id[:])
		if v == nil {
			continue // decoded as the zero record: no specification
		}
		r.parse(v)
		name, version := r.str("spec"), r.num("spec_version")
		if r.err != nil {
			return nil
		}
		if sp, ok := specIDByRef(tx, name, version); ok {
			refs = append(refs, recordRef{kindSpec, sp})
		}
	}
	return refs
}

// specIDByRef is the id of specByRef(tx, "NAME@VERSION"), false when that
// refuses: every version of the name is read, as specByRef reads them, but
// decoded through decodedSpecs, which decodes a version again only when its
// stored bytes changed.
func specIDByRef(tx kv.Tx, name string, version int) (uuid.UUID, bool) {
	name, version, err := release.ParseSpecRef(fmt.Sprintf("%s@%d", name, version))
	if err != nil || version == 0 {
		return uuid.Nil, false
	}
	prefix := []byte(name + "@")
	b := tx.Bucket(recordBuckets[kindSpec])
	var found uuid.UUID
	ok := false
	c := tx.Bucket([]byte("idx_spec_name")).Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) && len(k) == len(prefix)+8; k, v = c.Next() {
		id := uuid.UUID(v)
		var sp release.Spec // a version not stored reads as the zero record
		if rv := b.Get(id[:]); rv != nil {
			if sp, err = decodedSpecs.get(id, rv); err != nil {
				return uuid.Nil, false
			}
		}
		if !ok && sp.Version == version {
			found, ok = sp.ID, true
		}
	}
	return found, ok
}
