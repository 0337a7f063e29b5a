package store

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/dose"
	"github.com/celltrack/celltrack/release"
	"github.com/google/uuid"
	bolt "go.etcd.io/bbolt"
)

// A signature is bound to its record: its Signed field is the SHA-256 of
// what was signed, computed by the functions below both when signing and
// when `audit verify` checks it. A signature copied onto another record, or
// a signed record edited afterwards, no longer matches — even when the
// audit trail was rewritten to agree with the edit.

// scheduleChangeDigest is what a physician signs to move an infusion: the
// schedule's id and the change without its signature.
func scheduleChangeDigest(schedule uuid.UUID, ch dose.DateChange) [32]byte {
	ch.Signature = audit.Signature{}
	payload, _ := json.Marshal(struct {
		Schedule uuid.UUID
		Change   dose.DateChange
	}{schedule, ch})
	return sha256.Sum256(payload)
}

// weightDigest is what a physician signs to confirm a weight: the weight's
// stored record.
func weightDigest(r weightRecord) [32]byte {
	payload, _ := json.Marshal(r)
	return sha256.Sum256(payload)
}

// infusionDigest is what the nurse and the witness sign: the infusion's
// record without their two signatures.
func infusionDigest(r infusionRecord) [32]byte {
	r.Nurse, r.Witness = audit.Signature{}, audit.Signature{}
	payload, _ := json.Marshal(r)
	return sha256.Sum256(payload)
}

// signaturesNeeded is how many signatures each kind of disposition carries:
// QA's, and for an exceptional release also the physician's. An automatic
// return to quarantine is not signed.
var signaturesNeeded = map[release.Decision]int{release.Approved: 1, release.Rejected: 1, release.Exception: 2}

// verifySignatures checks every stored signature against the record it is
// stored in and names each record whose signature does not match. It decodes
// only the signed kinds of record, which are few next to containers and
// events.
func verifySignatures(tx *bolt.Tx) []string {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	mismatch := "its signed SHA-256 is not that of the record: the signature was copied from another record or the record was changed after signing"
	check := func(what string, s audit.Signature, want [32]byte) {
		if s.Signed != want {
			bad("%s: the signature of %s (%s): %s", what, s.User, s.Meaning, mismatch)
		}
	}
	each := func(kind string, fn func(id uuid.UUID, val []byte) error) {
		err := tx.Bucket(recordBuckets[kind]).ForEach(func(k, v []byte) error { return fn(uuid.UUID(k), v) })
		if err != nil {
			bad("%s records cannot be read: %v", kind, err)
		}
	}
	each(kindDisposition, func(id uuid.UUID, val []byte) error {
		var r dispositionRecord
		if err := json.Unmarshal(val, &r); err != nil {
			bad("disposition %s cannot be decoded: %v", id, err)
			return nil
		}
		d := r.disposition()
		what := fmt.Sprintf("disposition %s (lot %s, %s)", id, d.Lot, d.Decision)
		if n := signaturesNeeded[d.Decision]; len(d.Signatures) != n {
			bad("%s has %d signature(s); a decision %q carries %d", what, len(d.Signatures), d.Decision, n)
		}
		digest := d.Digest()
		for _, s := range d.Signatures {
			check(what, s, digest)
		}
		return nil
	})
	each(kindSchedule, func(id uuid.UUID, val []byte) error {
		var r scheduleRecord
		if err := json.Unmarshal(val, &r); err != nil {
			bad("schedule %s cannot be decoded: %v", id, err)
			return nil
		}
		s := r.schedule()
		for i, ch := range s.Changes {
			check(fmt.Sprintf("schedule %s (%s course %d) change %d (infusion %d)", id, s.Protocol, s.Course, i+1, ch.Infusion),
				ch.Signature, scheduleChangeDigest(s.ID, ch))
		}
		return nil
	})
	each(kindWeightConfirm, func(id uuid.UUID, val []byte) error {
		var r weightConfirmRecord
		if err := json.Unmarshal(val, &r); err != nil {
			bad("weight confirmation %s cannot be decoded: %v", id, err)
			return nil
		}
		var wr weightRecord
		what := fmt.Sprintf("weight confirmation %s (weight %s)", id, r.WeightID)
		if found, err := get(tx, kindWeight, r.WeightID, &wr); err != nil || !found {
			bad("%s: the confirmed weight is not stored", what)
			return nil
		}
		check(what, r.Signature, weightDigest(wr))
		return nil
	})
	each(kindInfusion, func(id uuid.UUID, val []byte) error {
		var r infusionRecord
		if err := json.Unmarshal(val, &r); err != nil {
			bad("infusion %s cannot be decoded: %v", id, err)
			return nil
		}
		what := fmt.Sprintf("infusion %s (%s infusion %d)", id, r.Protocol, r.Number)
		sum := infusionDigest(r)
		check(what, r.Nurse, sum)
		check(what, r.Witness, sum)
		return nil
	})
	return problems
}
