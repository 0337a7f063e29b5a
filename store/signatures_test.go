package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/dose"
	"github.com/celltrack/celltrack/store/kv"
	"github.com/google/uuid"
)

// forge changes a stored record with raw bbolt the way a careful attacker
// would: it rewrites the record and its index entries, then the audit entry
// that set it so that the entry records the forged value, then re-chains
// every later entry and rebuilds the audit tree. Afterwards the audit chain, the records and the
// indexes agree; only the signature binding can tell.
func forge[T any](t *testing.T, db *DB, kind string, id uuid.UUID, edit func(*T)) {
	t.Helper()
	err := db.engine.Update(func(tx kv.Tx) error {
		var rec T
		if found, err := get(tx, kind, id, &rec); err != nil || !found {
			t.Fatalf("%s %s: found %v, %v", kind, id, found, err)
		}
		edit(&rec)
		val, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		var old indexEntries
		var r jsonFields
		if indexOf[kind] != nil {
			if err := old.derive(indexOf[kind], &r, id, tx.Bucket(recordBuckets[kind]).Get(id[:])); err != nil {
				return err
			}
		}
		for _, en := range old.list {
			if err := tx.Bucket([]byte(en.bucket)).Delete(en.key); err != nil {
				return err
			}
		}
		if err := tx.Bucket(recordBuckets[kind]).Put(id[:], val); err != nil {
			return err
		}
		if indexOf[kind] != nil {
			if err := writeIndexes(tx, kind, id); err != nil {
				return err
			}
		}
		b := tx.Bucket(bAudit)
		var seq uint64
		c := b.Cursor()
		for k, v := c.Last(); k != nil; k, v = c.Prev() {
			if h, err := audit.ParseHeader(v); err == nil && h.ID == id && h.State {
				seq = btoi(k)
				break
			}
		}
		if seq == 0 {
			t.Fatalf("no audit entry set %s %s", kind, id)
		}
		var prev [32]byte
		if seq > 1 {
			prev, _ = audit.StoredHash(b.Get(itob(seq - 1)))
		}
		var es []audit.Entry
		for s := seq; b.Get(itob(s)) != nil; s++ {
			e, err := audit.Decode(b.Get(itob(s)))
			if err != nil {
				return err
			}
			es = append(es, e)
		}
		fillValues(tx, es) // a lean entry is re-encoded with the value it set
		es[0].New = val
		for _, e := range es {
			s := e.Seq
			e.PrevHash = prev
			enc, err := e.Encode()
			if err != nil {
				return err
			}
			if err := b.Put(itob(s), enc); err != nil {
				return err
			}
			prev = e.Hash
		}
		return retree(tx)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// onlySignatureProblems fails unless verify found problems and every one of
// them is a signature binding that names want.
func onlySignatureProblems(t *testing.T, db *DB, want ...string) {
	t.Helper()
	v, err := db.Verify()
	if err != nil {
		t.Fatal(err)
	}
	if v.OK() {
		t.Fatal("verify passed a forged signature")
	}
	all := strings.Join(v.Problems, "\n")
	for _, p := range v.Problems {
		if !strings.Contains(p, "signature") {
			t.Errorf("the forgery was not consistent, verify also found: %s", p)
		}
	}
	for _, w := range want {
		if !strings.Contains(all, w) {
			t.Errorf("verify does not name %q:\n%s", w, all)
		}
	}
}

// verifyOK fails unless verify finds nothing wrong: a forgery undone with
// forge leaves a consistent database.
func verifyOK(t *testing.T, db *DB) {
	t.Helper()
	if v, err := db.Verify(); err != nil || !v.OK() {
		t.Fatalf("verify: %v %v", err, v.Problems)
	}
}

func dispositionOf(t *testing.T, db *DB, number string) dispositionRecord {
	t.Helper()
	var r dispositionRecord
	err := db.view(func(tx kv.Tx) error {
		l, err := lotByRef(tx, number)
		if err != nil {
			return err
		}
		ids := children(tx, "idx_disposition_lot", l.ID)
		if len(ids) != 1 {
			t.Fatalf("lot %s has %d dispositions", number, len(ids))
		}
		_, err = get(tx, kindDisposition, ids[0], &r)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestVerifyCatchesASignatureCopiedToAnotherDisposition(t *testing.T) {
	db := newTestDB(t)
	releasedUC(t, db) // LOT-1 approved by quinn
	registerUC(t, db, "LOT-2")
	if _, err := NewReleaseService(db).Reject("quinn", testPassword, "LOT-2", "bag leaked", nil); err != nil {
		t.Fatal(err)
	}
	verifyOK(t, db)
	approved, rejected := dispositionOf(t, db, "LOT-1"), dispositionOf(t, db, "LOT-2")

	t.Run("copied onto another lot's decision", func(t *testing.T) {
		// Turn LOT-2's rejection into an approval carrying LOT-1's
		// genuine signature.
		forge(t, db, kindDisposition, rejected.ID, func(r *dispositionRecord) {
			r.Decision, r.Reason, r.Signatures = approved.Decision, "", approved.Signatures
		})
		onlySignatureProblems(t, db, "disposition "+rejected.ID.String()+" (lot LOT-2, approved)", "quinn", "approved for release")
	})
	t.Run("signature removed", func(t *testing.T) {
		forge(t, db, kindDisposition, rejected.ID, func(r *dispositionRecord) { r.Signatures = nil })
		onlySignatureProblems(t, db, "disposition "+rejected.ID.String(), `0 signature(s); a decision "approved" carries 1`)
	})
	t.Run("put back", func(t *testing.T) {
		forge(t, db, kindDisposition, rejected.ID, func(r *dispositionRecord) { *r = rejected })
		verifyOK(t, db)
	})
	t.Run("signed decision edited", func(t *testing.T) {
		forge(t, db, kindDisposition, approved.ID, func(r *dispositionRecord) { r.Rows = r.Rows[1:] })
		onlySignatureProblems(t, db, "disposition "+approved.ID.String()+" (lot LOT-1, approved)")
	})
}

func TestVerifyCatchesEditedSignedDosingRecords(t *testing.T) {
	db, d := bedside(t, "0.5")
	nina, omar, pat := mustUser(t, db, "nina"), mustUser(t, db, "omar"), mustUser(t, db, "pat")
	in, _, err := d.Administer(nina, omar, dose.Administration{MRN: "MRN-1", Containers: []string{bag1}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := d.ChangeSchedule(pat, "MRN-1", 2, db.Now().AddDate(0, 0, 8), "febrile on day 7")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewLotService(db).Weigh("nina", "MRN-1", 68_300, db.Now().Add(-10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := d.ConfirmWeight(pat, "MRN-1", dose.WeightShown{Grams: 68_300}, "re-weighed twice"); err != nil {
		t.Fatal(err)
	}
	verifyOK(t, db)
	var confirmID uuid.UUID
	db.view(func(tx kv.Tx) error {
		k, _ := tx.Bucket(recordBuckets[kindWeightConfirm]).Cursor().First()
		confirmID = uuid.UUID(k)
		return nil
	})

	t.Run("infusion volume", func(t *testing.T) {
		forge(t, db, kindInfusion, in.ID, func(r *infusionRecord) { r.Volume += 100 })
		onlySignatureProblems(t, db, "infusion "+in.ID.String()+" (sle-uc-d0d7 infusion 1)", "the signature of nina", "the signature of omar")
		forge(t, db, kindInfusion, in.ID, func(r *infusionRecord) { r.Volume -= 100 })
	})
	verifyOK(t, db)
	t.Run("infusion renumbered", func(t *testing.T) {
		// The schedule's list of infusions given renumbered with it, as a
		// consistent forgery would (givenLists holds the two together).
		forge(t, db, kindInfusion, in.ID, func(r *infusionRecord) { r.Number = 2 })
		forge(t, db, kindSchedule, c.Schedule.ID, func(r *scheduleRecord) { r.Given[0].Infusion = 2 })
		onlySignatureProblems(t, db, "infusion "+in.ID.String()+" (sle-uc-d0d7 infusion 2)")
		forge(t, db, kindInfusion, in.ID, func(r *infusionRecord) { r.Number = 1 })
		forge(t, db, kindSchedule, c.Schedule.ID, func(r *scheduleRecord) { r.Given[0].Infusion = 1 })
	})
	verifyOK(t, db)
	t.Run("schedule change moved", func(t *testing.T) {
		forge(t, db, kindSchedule, c.Schedule.ID, func(r *scheduleRecord) { r.Changes[0].Date = r.Changes[0].Date.AddDate(0, 0, 1) })
		onlySignatureProblems(t, db, "schedule "+c.Schedule.ID.String()+" (sle-uc-d0d7 course 1) change 1 (infusion 2)", "the signature of pat")
		forge(t, db, kindSchedule, c.Schedule.ID, func(r *scheduleRecord) { r.Changes[0].Date = r.Changes[0].Date.AddDate(0, 0, -1) })
	})
	verifyOK(t, db)
	t.Run("weight confirmation moved to another weight", func(t *testing.T) {
		var first uuid.UUID
		db.view(func(tx kv.Tx) error {
			p, _ := patientByMRN(tx, "MRN-1")
			ws, _ := weightsOf(tx, p.ID)
			first = ws[0].ID
			return nil
		})
		forge(t, db, kindWeightConfirm, confirmID, func(r *weightConfirmRecord) { r.WeightID = first })
		onlySignatureProblems(t, db, "weight confirmation "+confirmID.String(), "the signature of pat")
	})
}

// TestSignaturesOfEveryKindVerify is the positive side: freshly signed
// records of every kind pass, so the check cannot be satisfied by failing
// everything.
func TestSignaturesOfEveryKindVerify(t *testing.T) {
	db, d := bedside(t, "0.5")
	if _, _, err := d.Administer(mustUser(t, db, "nina"), mustUser(t, db, "omar"), dose.Administration{MRN: "MRN-1", Containers: []string{bag1}}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.ChangeSchedule(mustUser(t, db, "pat"), "MRN-1", 2, db.Now().AddDate(0, 0, 8), "febrile"); err != nil {
		t.Fatal(err)
	}
	if _, err := NewLotService(db).Weigh("nina", "MRN-1", 70_000, db.Now()); err != nil { // +12.9 %: a confirmation the check needs
		t.Fatal(err)
	}
	if _, err := d.ConfirmWeight(mustUser(t, db, "pat"), "MRN-1", dose.WeightShown{Grams: 70_000}, "re-weighed"); err != nil {
		t.Fatal(err)
	}
	err := db.view(func(tx kv.Tx) error {
		for _, kind := range []string{kindInfusion, kindSchedule, kindWeightConfirm} {
			if tx.Bucket(recordBuckets[kind]).KeyN() == 0 {
				t.Errorf("no %s record to check", kind)
			}
		}
		if p := verifySignatures(tx); len(p) != 0 {
			t.Errorf("fresh signatures: %v", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestInfusionSignedAsStored: verify checks an infusion's signatures on its
// stored bytes (infusionSignedAsStored) and decodes it only when they do
// not match there. A freshly signed infusion must pass on its bytes — or
// every infusion would take the slow path unnoticed — and agree with
// infusionDigest; an edited one, or one with a signature copied from
// another, must not; and the same record in another spelling of its JSON
// is left to infusionDigest, which passes it as before.
func TestInfusionSignedAsStored(t *testing.T) {
	db, d := bedside(t, "0.5")
	in, _, err := d.Administer(mustUser(t, db, "nina"), mustUser(t, db, "omar"), dose.Administration{MRN: "MRN-1", Containers: []string{bag1}})
	if err != nil {
		t.Fatal(err)
	}
	stored := func() (val []byte, r infusionRecord) {
		db.view(func(tx kv.Tx) error {
			val = bytes.Clone(tx.Bucket(recordBuckets[kindInfusion]).Get(in.ID[:]))
			return nil
		})
		if err := json.Unmarshal(val, &r); err != nil {
			t.Fatal(err)
		}
		return val, r
	}
	var f jsonFields
	val, r := stored()
	if !infusionSignedAsStored(&f, val) {
		t.Fatal("a freshly signed infusion does not pass on its stored bytes")
	}
	if r.Nurse.Signed != infusionDigest(r) || r.Witness.Signed != infusionDigest(r) {
		t.Fatal("the signatures are not infusionDigest's")
	}

	edited := bytes.Replace(val, []byte(`"number":1,`), []byte(`"number":2,`), 1)
	if bytes.Equal(edited, val) {
		t.Fatal("the test's edit did not apply")
	}
	if infusionSignedAsStored(&f, edited) {
		t.Error("an infusion renumbered after signing passes on its stored bytes")
	}
	copied := r
	copied.Nurse.Signed[0] ^= 1
	other, _ := json.Marshal(copied)
	if infusionSignedAsStored(&f, other) {
		t.Error("an infusion whose nurse signed something else passes on its stored bytes")
	}
	for name, mangled := range map[string]string{
		"nurse twice":       strings.Replace(string(val), `"witness":`, `"nurse":`, 1),
		"nurse capitalised": strings.Replace(string(val), `"nurse":`, `"Nurse":`, 1),
		"not JSON":          string(val[:len(val)-1]),
	} {
		if infusionSignedAsStored(&f, []byte(mangled)) {
			t.Errorf("%s: passes on its stored bytes", name)
		}
	}

	// The same record re-spelled (indented): not the bytes signed, but the
	// same record, so verify still passes it through infusionDigest.
	var out bytes.Buffer
	if err := json.Indent(&out, val, "", "  "); err != nil {
		t.Fatal(err)
	}
	if infusionSignedAsStored(&f, out.Bytes()) {
		t.Error("an indented infusion passes on its stored bytes")
	}
	sc, checks := newSignatureCheck(nil, nil)
	for _, c := range checks {
		if c.kind == kindInfusion {
			c.fn(in.ID, out.Bytes())
		}
	}
	if len(sc.infusions) != 0 {
		t.Errorf("the indented infusion fails the signature check: %v", sc.infusions)
	}
}

// TestSignedOf: the infusion check reads a signature's Signed itself only
// when it is written as encoding/json writes it, once, in a signature that
// decodes; anything else goes to the decoder, which decides as before.
func TestSignedOf(t *testing.T) {
	var want [32]byte
	for i := range want {
		want[i] = byte(i * 8)
	}
	sig := plainSignature()
	sig.Signed = want
	good, _ := json.Marshal(sig)
	var f jsonFields
	if got, ok := signedOf(&f, good); !ok || got != want {
		t.Fatalf("signedOf(%s) = %v, %v; want %v", good, got, ok, want)
	}
	for name, b := range signatureVariants(t, sig) {
		if got, ok := signedOf(&f, []byte(b)); ok {
			t.Errorf("%s: signedOf(%s) = %v, read without the decoder", name, b, got)
		}
	}
}

// plainSignature is a signature that signatureVariants can edit.
func plainSignature() audit.Signature {
	return audit.Signature{UserID: uuid.New(), User: "nina", Role: audit.Role("nurse"), Meaning: "administered", Signed: [32]byte{0, 8, 16, 24}}
}

// signatureVariants are spellings of sig that signedOf must leave to the
// decoder: some decode, to the same signature or another, some do not.
func signatureVariants(t testing.TB, sig audit.Signature) map[string]string {
	good, _ := json.Marshal(sig)
	arr := good[bytes.Index(good, []byte(`"Signed":`))+len(`"Signed":`) : len(good)-1]
	variants := map[string]string{
		"spaces":              strings.Replace(string(good), ",8,", ", 8,", 1),
		"31 numbers":          strings.Replace(string(good), "[0,8,", "[8,", 1),
		"33 numbers":          strings.Replace(string(good), "[0,", "[0,0,", 1),
		"256":                 strings.Replace(string(good), ",8,", ",256,", 1),
		"leading zero":        strings.Replace(string(good), ",8,", ",08,", 1),
		"a second Signed":     strings.Replace(string(good), `"Signed":`, `"signed":"x","Signed":`, 1),
		"Signed twice":        strings.Replace(string(good), `"Signed":`, `"Signed":`+string(arr)+`,"Signed":`, 1),
		"user id not a uuid":  strings.Replace(string(good), sig.UserID.String(), "nobody", 1),
		"user id in braces":   strings.Replace(string(good), sig.UserID.String(), "{"+sig.UserID.String()+"}", 1),
		"no Signed":           strings.Replace(string(good), `"Signed":`, `"Sealed":`, 1),
		"signed in lowercase": strings.Replace(string(good), `"Signed":`, `"signed":`, 1),
		"time not a time":     strings.Replace(string(good), `"0001-01-01T00:00:00Z"`, `"yesterday"`, 1),
		"time a number":       strings.Replace(string(good), `"0001-01-01T00:00:00Z"`, `0`, 1),
		"time null":           strings.Replace(string(good), `"0001-01-01T00:00:00Z"`, `null`, 1),
		"user a number":       strings.Replace(string(good), `"nina"`, `7`, 1),
		"user null":           strings.Replace(string(good), `"nina"`, `null`, 1),
		"user escaped":        strings.Replace(string(good), `"nina"`, `"ni\u006ea"`, 1),
		"user with a tab":     strings.Replace(string(good), `"nina"`, "\"ni\tna\"", 1),
		"meaning an object":   strings.Replace(string(good), `"administered"`, `{"a":1}`, 1),
		"role before user":    reorder(good),
		"a member more":       strings.Replace(string(good), `"Signed":`, `"Extra":1,"Signed":`, 1),
		"a member fewer":      strings.Replace(string(good), `"Meaning":"administered",`, ``, 1),
		"escaped name":        strings.Replace(string(good), `"User":`, `"Us\u0065r":`, 1),
		"not an object":       "[" + string(good) + "]",
		"cut short":           string(good[:len(good)-2]),
		"data after":          string(good) + "x",
	}
	for name, b := range variants {
		if b == string(good) {
			t.Fatalf("%s: the test's edit did not apply", name)
		}
	}
	return variants
}

// reorder writes sig's members with User and Role swapped: the same
// signature to the decoder, not encoding/json's spelling.
func reorder(good []byte) string {
	var m map[string]json.RawMessage
	json.Unmarshal(good, &m)
	var b strings.Builder
	b.WriteString("{")
	for i, name := range []string{"UserID", "Role", "FullName", "User", "Time", "Meaning", "Signed"} {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, "%q:%s", name, m[name])
	}
	b.WriteString("}")
	return b.String()
}

// TestSignedOfAgreesWithTheDecoder: whenever signedOf reads a signature
// itself, decoding it as the record's decoder does succeeds and gives the
// same Signed, so the infusion check's fast path never passes a signature
// the decoder would refuse or read differently.
func TestSignedOfAgreesWithTheDecoder(t *testing.T) {
	sig := audit.Signature{UserID: uuid.New(), User: "nina", FullName: "Nina Ödegaard", Role: audit.Role("nurse"),
		Time: time.Date(2026, 5, 27, 8, 32, 4, 0, time.UTC), Meaning: "administered \"as planned\" <85>", Signed: [32]byte{1, 2, 3, 255}}
	inputs := []string{}
	for _, s := range []audit.Signature{sig, {}, plainSignature()} {
		good, _ := json.Marshal(s)
		inputs = append(inputs, string(good))
	}
	for _, b := range signatureVariants(t, plainSignature()) {
		inputs = append(inputs, b)
	}
	var f jsonFields
	for _, b := range inputs {
		agreeWithDecoder(t, &f, []byte(b))
	}
}

func agreeWithDecoder(t *testing.T, f *jsonFields, b []byte) {
	got, ok := signedOf(f, b)
	if !ok {
		return
	}
	var s audit.Signature
	if err := json.Unmarshal(b, &s); err != nil {
		t.Errorf("signedOf reads %s, which the decoder refuses: %v", b, err)
	} else if s.Signed != got {
		t.Errorf("signedOf reads Signed %v from %s, the decoder %v", got, b, s.Signed)
	}
}

// FuzzSignedOf looks for a signature signedOf reads that the decoder
// refuses or reads differently (go test -fuzz FuzzSignedOf ./store).
func FuzzSignedOf(f *testing.F) {
	sig := audit.Signature{UserID: uuid.New(), User: "nina", Role: audit.Role("nurse"), Meaning: "administered", Signed: [32]byte{9, 8, 7}}
	good, _ := json.Marshal(sig)
	f.Add(good)
	var scratch jsonFields
	f.Fuzz(func(t *testing.T, b []byte) { agreeWithDecoder(t, &scratch, b) })
}

// TestSignatureMembersAreASignature: signedOf reads the members
// encoding/json writes for an audit.Signature, so audit.Signature must have
// exactly those fields, untagged, in that order, of the types each member
// is checked as.
func TestSignatureMembersAreASignature(t *testing.T) {
	a := reflect.TypeFor[audit.Signature]()
	if a.NumField() != len(signatureMembers) {
		t.Fatalf("audit.Signature has %d fields, signatureMembers %d", a.NumField(), len(signatureMembers))
	}
	types := map[string]reflect.Type{"UserID": reflect.TypeFor[uuid.UUID](), "Time": reflect.TypeFor[time.Time](), "Signed": reflect.TypeFor[[32]byte]()}
	for i := range a.NumField() {
		fa := a.Field(i)
		if fa.Name != signatureMembers[i].name || fa.Tag != "" {
			t.Errorf("field %d: audit.Signature has %s %q, signatureMembers %s", i, fa.Name, fa.Tag, signatureMembers[i].name)
		}
		if want, ok := types[fa.Name]; ok && fa.Type != want || !ok && fa.Type.Kind() != reflect.String {
			t.Errorf("field %s is a %s, which signedOf does not check it as", fa.Name, fa.Type)
		}
	}
}
