package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/dose"
	"github.com/celltrack/celltrack/release"
	"github.com/celltrack/celltrack/store/kv"
	"github.com/google/uuid"
)

// A signature is bound to its record: its Signed field is the SHA-256 of
// what was signed, computed by the functions below both when signing and
// when `audit verify` checks it. A signature copied onto another record, or
// a signed record edited afterwards, no longer matches — even when the
// audit trail was rewritten to agree with the edit.

// roleGrantDigest is what an admin signs to give an account the qa or
// physician role: who the account is and the role, not its other fields
// (last login, wrong-password count), which change afterwards.
func roleGrantDigest(u audit.User) [32]byte {
	payload, _ := json.Marshal(struct {
		ID       uuid.UUID
		Name     string
		FullName string
		Role     audit.Role
	}{u.ID, u.Name, u.FullName, u.Role})
	return sha256.Sum256(payload)
}

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

// blankSignature is a zero signature as encoding/json writes it, and so as
// the two signatures stand in what infusionDigest hashes. Encoded at first
// use: a first json.Marshal builds encoding/json's encoders for the type,
// which at package init cost every command ~0.1 ms of start-up.
var blankSignature = sync.OnceValue(func() []byte {
	b, _ := json.Marshal(audit.Signature{})
	return b
})

// infusionSignedAsStored reports whether the nurse's and the witness's
// signatures of the stored infusion val both sign val itself with the two
// signatures blanked: the SHA-256 of the stored bytes, spliced, without
// decoding and re-encoding the record. It is how `audit verify` checks
// infusions, the largest signed records (a bedside check of a dozen lines),
// at a fifth of the cost of infusionDigest.
//
// When it says yes, infusionDigest says yes: celltrack stores a record as
// encoding/json writes it, so blanking the signatures in the stored bytes
// gives exactly what infusionDigest encodes, and a SHA-256 equal to the
// signed one means the bytes are the ones signed. (A Signed field computed
// by hand over other bytes is no signature either way: whoever can write
// one can as easily compute infusionDigest.) When it says no — a record
// edited, a signature copied, or only stored in another spelling of the
// same JSON — the caller decodes the record and checks it with
// infusionDigest, which decides and words the problem as before.
func infusionSignedAsStored(f *jsonFields, val []byte) bool {
	f.parse(val)
	return infusionSignedAsParsed(f, val)
}

// infusionSignedAsParsed is infusionSignedAsStored of a value f has parsed;
// it uses f as scratch space afterwards.
func infusionSignedAsParsed(f *jsonFields, val []byte) bool {
	if f.err != nil {
		return false
	}
	var spans [2]member // nurse, witness, each found exactly once by its exact name
	found := 0
	for _, m := range f.members {
		if m.unescaped != "" {
			return false
		}
		name := val[m.name:m.nameEnd]
		for i, want := range [2]string{"nurse", "witness"} {
			if bytes.EqualFold(name, []byte(want)) {
				if string(name) != want || spans[i].end != 0 {
					return false // a second spelling: the decoder's business
				}
				spans[i] = m
				found++
			}
		}
	}
	if found != 2 {
		return false
	}
	// f is free again: spans holds what is needed of the record's parse.
	nurse, ok1 := signedOf(f, val[spans[0].value:spans[0].end])
	witness, ok2 := signedOf(f, val[spans[1].value:spans[1].end])
	if !ok1 || !ok2 {
		return false
	}
	first, second := spans[0], spans[1]
	if second.value < first.value {
		first, second = second, first
	}
	h := sha256.New()
	h.Write(val[:first.value])
	h.Write(blankSignature())
	h.Write(val[first.end:second.value])
	h.Write(blankSignature())
	h.Write(val[second.end:])
	var sum [32]byte
	h.Sum(sum[:0])
	return nurse == sum && witness == sum
}

// signatureMembers are the members of an audit.Signature as encoding/json
// writes them, in order, and how signedOf checks each value: as the decoder
// would read it into the field of that name.
var signatureMembers = [...]struct {
	name  string
	valid func(v []byte) bool
}{
	{"UserID", func(v []byte) bool {
		if len(v) != 2+36 || !plainString(v) { // the form uuid.UUID's MarshalText writes
			return false
		}
		_, err := parseUUID(v[1 : len(v)-1]) // as its UnmarshalText reads it (uuid.ParseBytes)
		return err == nil
	}},
	{"User", plainString},
	{"FullName", plainString},
	{"Role", plainString},
	{"Time", func(v []byte) bool { var t time.Time; return plainString(v) && t.UnmarshalJSON(v) == nil }},
	{"Meaning", plainString},
	{"Signed", nil}, // read by signedOf itself
}

// plainString reports whether v is a JSON string without escapes or
// control characters: one encoding/json decodes into a string as it
// stands.
func plainString(v []byte) bool {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return false
	}
	for _, c := range v[1 : len(v)-1] {
		if c < 0x20 || c == '\\' || c == '"' {
			return false
		}
	}
	return true
}

// signedOf returns the Signed field of the signature encoded as b, and
// whether b is an audit.Signature exactly as encoding/json writes one: its
// seven members by their names, in their order, each once, every value one
// the decoder reads into its field without error (an id, plain strings, a
// time), and Signed as [n,n,…], 32 numbers 0–255 in decimal, without spaces
// or leading zeros. Then decoding b would succeed and give the same Signed
// (TestSignedOfAgreesWithTheDecoder); anything else is left to the
// caller's decoder, which decides. f is scratch space.
//
// It reads the members itself rather than through encoding/json, whose
// reflection over the signature's fields was a tenth of `audit verify`'s
// CPU (two signatures per infusion).
func signedOf(f *jsonFields, b []byte) (signed [32]byte, ok bool) {
	if f.parse(b); f.err != nil || len(f.members) != len(signatureMembers) {
		return signed, false
	}
	for i, m := range f.members {
		sm := signatureMembers[i]
		if m.unescaped != "" || string(b[m.name:m.nameEnd]) != sm.name {
			return signed, false
		}
		if sm.valid != nil && !sm.valid(b[m.value:m.end]) {
			return signed, false
		}
	}
	last := f.members[len(f.members)-1]
	r := b[last.value:last.end]
	if len(r) < 2 || r[0] != '[' || r[len(r)-1] != ']' {
		return signed, false
	}
	r = r[1 : len(r)-1]
	for i := range signed {
		if i > 0 {
			if len(r) == 0 || r[0] != ',' {
				return signed, false
			}
			r = r[1:]
		}
		n, digits := 0, 0
		for digits < len(r) && r[digits] >= '0' && r[digits] <= '9' {
			n = n*10 + int(r[digits]-'0')
			digits++
		}
		if digits == 0 || digits > 3 || (digits > 1 && r[0] == '0') || n > 255 {
			return signed, false
		}
		signed[i] = byte(n)
		r = r[digits:]
	}
	return signed, len(r) == 0
}

// screeningDigest is what QA signs to void a screening: the screening's
// record, voided, without that signature.
func screeningDigest(r screeningRecord) [32]byte {
	r.VoidSignature = nil
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
func verifySignatures(tx kv.Tx) []string {
	sc, checks := newSignatureCheck(nil, nil)
	r := startChecks(tx, checks)
	defer r.stop()
	r.wait()
	return sc.finish(tx)
}

// signatureCheck holds what the value checks of verifySignatures found, in
// the order it reports them: dispositions and schedules, weight
// confirmations (whose weight is looked up in the transaction by finish),
// infusions.
type signatureCheck struct {
	signed, infusions []string
	confirms          []weightConfirmRecord
	confirmIDs        []uuid.UUID
}

const signatureMismatch = "its signed SHA-256 is not that of the record: the signature was copied from another record or the record was changed after signing"

func checkSignature(problems *[]string, what string, s audit.Signature, want [32]byte) {
	if s.Signed != want {
		*problems = append(*problems, fmt.Sprintf("%s: the signature of %s (%s): %s", what, s.User, s.Meaning, signatureMismatch))
	}
}

// scheduleLayout is a schedule as celltrack stores it; the physician signs
// each of its date changes. Built by reflection on first use (audit verify),
// not at every command's start.
var scheduleLayout = sync.OnceValue(func() *recordLayout { return newRecordLayout[scheduleRecord]("changes") })

// newSignatureCheck returns the value checks of verifySignatures; they need
// no transaction and run on startChecks' worker. With indexInfusion, the
// infusion check also hands it each infusion as it parsed it, so that the
// index check need not parse the largest records a second time; with
// given, the schedule and infusion checks hand it theirs (givenLists).
func newSignatureCheck(indexInfusion func(id uuid.UUID, r *jsonFields), given *givenLists) (*signatureCheck, []valueCheck) {
	sc := &signatureCheck{}
	var fields jsonFields // scratch of the schedule and infusion checks, on the worker
	bad := func(problems *[]string, format string, args ...any) {
		*problems = append(*problems, fmt.Sprintf(format, args...))
	}
	return sc, []valueCheck{
		{kindDisposition, func(id uuid.UUID, val []byte) {
			var r dispositionRecord
			if err := unmarshalRecord(val, &r); err != nil {
				bad(&sc.signed, "disposition %s cannot be decoded: %v", id, err)
				return
			}
			d := r.disposition()
			what := fmt.Sprintf("disposition %s (lot %s, %s)", id, d.Lot, d.Decision)
			if n := signaturesNeeded[d.Decision]; len(d.Signatures) != n {
				bad(&sc.signed, "%s has %d signature(s); a decision %q carries %d", what, len(d.Signatures), d.Decision, n)
			}
			digest := d.Digest()
			for _, s := range d.Signatures {
				checkSignature(&sc.signed, what, s, digest)
			}
		}},
		{kindUser, func(id uuid.UUID, val []byte) {
			var r userRecord
			if err := unmarshalRecord(val, &r); err != nil {
				bad(&sc.signed, "user %s cannot be decoded: %v", id, err)
				return
			}
			if r.RoleGrant == nil {
				return
			}
			what := fmt.Sprintf("user %s (%s, role %s)", r.Name, id, r.Role)
			if !signedRole(r.Role) {
				bad(&sc.signed, "%s carries an admin's grant signature, but its role is not one that needs it", what)
			}
			checkSignature(&sc.signed, what, *r.RoleGrant, roleGrantDigest(r.user()))
		}},
		{kindSchedule, func(id uuid.UUID, val []byte) {
			if fields.parse(val); given != nil {
				given.schedule(id, fields)
			}
			if scheduleLayout().plain(&fields) {
				return // it decodes, and without date changes it carries no signature
			}
			var r scheduleRecord
			if err := unmarshalRecord(val, &r); err != nil {
				bad(&sc.signed, "schedule %s cannot be decoded: %v", id, err)
				return
			}
			s := r.schedule()
			for i, ch := range s.Changes {
				checkSignature(&sc.signed, fmt.Sprintf("schedule %s (%s course %d) change %d (infusion %d)", id, s.Protocol, s.Course, i+1, ch.Infusion),
					ch.Signature, scheduleChangeDigest(s.ID, ch))
			}
		}},
		{kindScreening, func(id uuid.UUID, val []byte) {
			var r screeningRecord
			if err := unmarshalRecord(val, &r); err != nil {
				bad(&sc.signed, "screening %s cannot be decoded: %v", id, err)
				return
			}
			what := fmt.Sprintf("screening %s (tested %s)", id, r.Tested.Format("2006-01-02"))
			switch {
			case r.VoidSignature != nil:
				checkSignature(&sc.signed, what, r.VoidSignature.signature(), screeningDigest(r))
			case !r.VoidedAt.IsZero():
				bad(&sc.signed, "%s is void but carries no signature; voiding a screening is signed by QA", what)
			}
		}},
		{kindWeightConfirm, func(id uuid.UUID, val []byte) {
			var r weightConfirmRecord
			if err := unmarshalRecord(val, &r); err != nil {
				bad(&sc.signed, "weight confirmation %s cannot be decoded: %v", id, err)
				return
			}
			sc.confirms, sc.confirmIDs = append(sc.confirms, r), append(sc.confirmIDs, id)
		}},
		{kindInfusion, func(id uuid.UUID, val []byte) {
			if fields.parse(val); given != nil {
				given.infusion(id, fields)
			}
			if indexInfusion != nil {
				indexInfusion(id, &fields)
			}
			if infusionSignedAsParsed(&fields, val) {
				return
			}
			var r infusionRecord
			if err := unmarshalRecord(val, &r); err != nil {
				bad(&sc.infusions, "infusion %s cannot be decoded: %v", id, err)
				return
			}
			what := fmt.Sprintf("infusion %s (%s infusion %d)", id, r.Protocol, r.Number)
			sum := infusionDigest(r)
			checkSignature(&sc.infusions, what, r.Nurse, sum)
			checkSignature(&sc.infusions, what, r.Witness, sum)
		}},
	}
}

// finish checks the weight confirmations against their weights, in tx, and
// returns every problem found.
func (sc *signatureCheck) finish(tx kv.Tx) []string {
	problems := sc.signed
	for i, r := range sc.confirms {
		var wr weightRecord
		what := fmt.Sprintf("weight confirmation %s (weight %s)", sc.confirmIDs[i], r.WeightID)
		if found, err := get(tx, kindWeight, r.WeightID, &wr); err != nil || !found {
			problems = append(problems, fmt.Sprintf("%s: the confirmed weight is not stored", what))
			continue
		}
		checkSignature(&problems, what, r.Signature, weightDigest(wr))
	}
	return append(problems, sc.infusions...)
}
