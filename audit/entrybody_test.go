package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// encodeJSONBody is how entries were stored before schema 8: the header
// followed by the JSON body, hashed as stored.
func encodeJSONBody(t *testing.T, e *Entry) []byte {
	t.Helper()
	body, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, headerLen+len(body))
	copy(buf[32:], e.PrevHash[:])
	copy(buf[64:], e.ID[:])
	sha := e.NewSHA()
	copy(buf[80:], sha[:])
	if e.State {
		buf[112] = 1
	}
	copy(buf[headerLen:], body)
	e.Hash = sha256.Sum256(buf[32:])
	copy(buf, e.Hash[:])
	return buf
}

func sampleEntry() *Entry {
	rec := `{"V":1,"number":"LOT-0001","donor":"D-1","status":"quarantine","viability":93.5}`
	return &Entry{Seq: 7, Time: time.Date(2026, 12, 3, 4, 5, 6, 0, time.UTC), User: "qa", Action: "lot.create",
		Entity: "lot", ID: uuid.MustParse("0193a0b4-0000-7000-8000-000000000001"), PrevHash: [32]byte{1, 2, 3},
		Prev: json.RawMessage(strings.Replace(rec, "quarantine", "received", 1)), New: json.RawMessage(rec), Reason: "", State: true}
}

func TestEncodedEntryIsLeanCompressedAndHashedOverItsJSON(t *testing.T) {
	e := sampleEntry()
	stored, err := e.EncodeSchema11()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(stored[headerLen:], zstdMagic) || IsLinked(stored) {
		t.Fatalf("body not compressed, or read as linked: % x", stored[headerLen:headerLen+8])
	}
	// The canonical form: the header after the hash, state 2 (lean), and
	// the JSON without the value set, which the header's NewSHA binds.
	lean := *sampleEntry()
	lean.New = nil
	body, _ := json.Marshal(&lean)
	canon := append(append([]byte(nil), stored[32:headerLen]...), body...)
	if stored[112] != stateLean || [32]byte(stored) != sha256.Sum256(canon) || !e.Lean {
		t.Fatalf("state byte %d, lean %v: the hash is not that of the lean JSON form", stored[112], e.Lean)
	}
	if [32]byte(stored[80:]) != sha256.Sum256(sampleEntry().New) {
		t.Fatal("the header does not hold the SHA-256 of the value set")
	}
	linked, err := sampleEntry().EncodeSchema13()
	if err != nil {
		t.Fatal(err)
	}
	framed, err := sampleEntry().Encode()
	if err != nil {
		t.Fatal(err)
	}
	old := encodeJSONBody(t, sampleEntry())
	for name, tc := range map[string]struct {
		b            []byte
		lean, linked bool
		new          string
	}{"schema 14": {framed, true, true, ""}, "schema 12": {linked, true, true, ""}, "schema 8": {stored, true, false, ""}, "before schema 8": {old, false, false, string(e.New)}} {
		// Only the linked layout needs the previous hash; a wrong one
		// breaks it and no other.
		if !Intact(tc.b, e.PrevHash) || Intact(tc.b, [32]byte{9}) != !tc.linked || IsLinked(tc.b) != tc.linked {
			t.Fatalf("%s: not intact, or intact with another previous hash", name)
		}
		d, err := Decode(tc.b)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		wantPrev := e.PrevHash
		if tc.linked {
			wantPrev = [32]byte{} // not stored: the caller fills it
		}
		if d.Hash != [32]byte(tc.b) || d.PrevHash != wantPrev || d.ID != e.ID || string(d.New) != tc.new || string(d.Prev) != string(e.Prev) || !d.State || d.Lean != tc.lean || d.Seq != 7 || !d.Time.Equal(e.Time) || d.User != "qa" || d.Action != e.Action || d.Entity != "lot" {
			t.Fatalf("%s: decoded %+v", name, d)
		}
		h, err := ReadHeader(tc.b, e.PrevHash)
		if err != nil || h.Computed != h.Hash || h.NewSHA != e.NewSHA() || h.Lean != tc.lean || !h.State || h.ID != e.ID || h.Linked != tc.linked || h.Framed != (name == "schema 14") || IsFramed(tc.b) != h.Framed {
			t.Fatalf("%s: header %+v, %v", name, h, err)
		}
	}
	// The linked layout: no previous hash stored, the id in the header
	// only, and the hash over the previous hash, the header after the
	// hash and the JSON, computed here by hand.
	if bytes.Contains(linked, e.PrevHash[:]) {
		t.Fatal("the previous hash is stored")
	}
	lb, err := Body(linked)
	if err != nil || bytes.Contains(lb, []byte(e.ID.String())) || bytes.Contains(lb, []byte(`"id"`)) {
		t.Fatalf("the linked body holds the id: %s %v", lb, err)
	}
	lcanon := append(append(append([]byte(nil), e.PrevHash[:]...), linked[32:linkedHeaderLen]...), lb...)
	if linked[80] != stateLinkedLean || [32]byte(linked) != sha256.Sum256(lcanon) || [16]byte(linked[32:]) != e.ID || [32]byte(linked[48:]) != e.NewSHA() {
		t.Fatalf("linked header % x: not the layout documented", linked[:linkedHeaderLen])
	}
	if len(stored)-len(linked) < 32+20 {
		t.Fatalf("the linked entry is %d bytes, the schema 11 one %d: expected ≥ 52 bytes less", len(linked), len(stored))
	}
	ev := &Entry{Seq: 8, User: "qa", Action: "report.printed", Entity: "lot", ID: e.ID}
	sb, _ := ev.EncodeSchema11()
	if d, err := Decode(sb); err != nil || d.State || d.Lean || sb[112] != stateEvent {
		t.Fatalf("event entry: %+v, %v", d, err)
	}
	ev = &Entry{Seq: 8, User: "qa", Action: "report.printed", Entity: "lot", ID: e.ID, PrevHash: e.Hash}
	lev, _ := ev.EncodeSchema13()
	if d, err := Decode(lev); err != nil || d.State || d.Lean || lev[80] != stateLinkedEvent || d.ID != e.ID || !Intact(lev, e.Hash) || Intact(lev, [32]byte{}) {
		t.Fatalf("linked event entry: %+v, %v", d, err)
	}
	fev, _ := ev.Encode()
	if d, err := Decode(fev); err != nil || d.State || d.Lean || fev[80] != stateFramedEvent || d.ID != e.ID || !Intact(fev, e.Hash) || Intact(fev, [32]byte{}) {
		t.Fatalf("framed event entry: %+v, %v", d, err)
	}
}

func TestCompressKeepsTheHashOfAnOldEntry(t *testing.T) {
	old := encodeJSONBody(t, sampleEntry())
	z, err := Compress(old)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(z[:headerLen], old[:headerLen]) || !Intact(z, [32]byte{}) || len(z) >= len(old) {
		t.Fatalf("header kept %v, intact %v, %d → %d bytes", bytes.Equal(z[:headerLen], old[:headerLen]), Intact(z, [32]byte{}), len(old), len(z))
	}
	body, err := Body(z)
	if err != nil || !bytes.Equal(body, old[headerLen:]) {
		t.Fatalf("body %q, %v", body, err)
	}
	// An entry altered before the upgrade is compressed as it is, and stays altered.
	altered := bytes.Replace(old, []byte("quarantine"), []byte("released!!"), 1)
	za, err := Compress(altered)
	if err != nil || za == nil || Intact(za, [32]byte{}) {
		t.Fatalf("altered entry: %v, intact %v", err, Intact(za, [32]byte{}))
	}
	for name, b := range map[string][]byte{"compressed already": z, "body not JSON": append(old[:headerLen:headerLen], "garbage"...), "header only": old[:headerLen]} {
		if got, err := Compress(b); got != nil || err != nil {
			t.Errorf("%s: compressed to %d bytes, %v; want it left as stored", name, len(got), err)
		}
	}
}

func TestDamagedCompressedEntriesAreNotIntact(t *testing.T) {
	prev := sampleEntry().PrevHash
	linked, err := sampleEntry().Encode()
	if err != nil {
		t.Fatal(err)
	}
	old, err := sampleEntry().EncodeSchema11()
	if err != nil {
		t.Fatal(err)
	}
	for layout, stored := range map[string][]byte{"linked": linked, "schema 11": old} {
		n := bodyStart(stored)
		for name, damage := range map[string]func([]byte) []byte{
			"a bit of the frame":  func(b []byte) []byte { b[len(b)-3] ^= 1; return b },
			"a bit of the magic":  func(b []byte) []byte { b[n+1] ^= 1; return b },
			"the frame cut":       func(b []byte) []byte { return b[:len(b)-5] },
			"the body removed":    func(b []byte) []byte { return b[:n] },
			"a bit of the header": func(b []byte) []byte { b[70] ^= 1; return b },
			"the state byte":      func(b []byte) []byte { b[n-1] ^= 7; return b },
			"a bit of the id":     func(b []byte) []byte { b[n-40] ^= 1; return b },
		} {
			b := damage(append([]byte(nil), stored...))
			if Intact(b, prev) {
				t.Errorf("%s, %s: still intact", layout, name)
			}
			if h, err := ReadHeader(b, prev); err == nil && h.Computed == h.Hash {
				t.Errorf("%s, %s: ReadHeader recomputed the stored hash", layout, name)
			}
		}
	}
}
