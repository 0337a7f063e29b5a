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
	stored, err := e.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(stored[headerLen:], zstdMagic) {
		t.Fatalf("body not compressed: % x", stored[headerLen:headerLen+8])
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
	old := encodeJSONBody(t, sampleEntry())
	for name, tc := range map[string]struct {
		b    []byte
		lean bool
		new  string
	}{"schema 8": {stored, true, ""}, "before schema 8": {old, false, string(e.New)}} {
		if !Intact(tc.b) {
			t.Fatalf("%s: not intact", name)
		}
		d, err := Decode(tc.b)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if d.Hash != [32]byte(tc.b) || d.PrevHash != e.PrevHash || string(d.New) != tc.new || string(d.Prev) != string(e.Prev) || !d.State || d.Lean != tc.lean || d.Seq != 7 {
			t.Fatalf("%s: decoded %+v", name, d)
		}
		h, err := ReadHeader(tc.b)
		if err != nil || h.Computed != h.Hash || h.NewSHA != e.NewSHA() || h.Lean != tc.lean || !h.State {
			t.Fatalf("%s: header %+v, %v", name, h, err)
		}
	}
	ev := &Entry{Seq: 8, User: "qa", Action: "report.printed", Entity: "lot", ID: e.ID}
	sb, _ := ev.Encode()
	if d, err := Decode(sb); err != nil || d.State || d.Lean || sb[112] != stateEvent {
		t.Fatalf("event entry: %+v, %v", d, err)
	}
}

func TestCompressKeepsTheHashOfAnOldEntry(t *testing.T) {
	old := encodeJSONBody(t, sampleEntry())
	z, err := Compress(old)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(z[:headerLen], old[:headerLen]) || !Intact(z) || len(z) >= len(old) {
		t.Fatalf("header kept %v, intact %v, %d → %d bytes", bytes.Equal(z[:headerLen], old[:headerLen]), Intact(z), len(old), len(z))
	}
	body, err := Body(z)
	if err != nil || !bytes.Equal(body, old[headerLen:]) {
		t.Fatalf("body %q, %v", body, err)
	}
	// An entry altered before the upgrade is compressed as it is, and stays altered.
	altered := bytes.Replace(old, []byte("quarantine"), []byte("released!!"), 1)
	za, err := Compress(altered)
	if err != nil || za == nil || Intact(za) {
		t.Fatalf("altered entry: %v, intact %v", err, Intact(za))
	}
	for name, b := range map[string][]byte{"compressed already": z, "body not JSON": append(old[:headerLen:headerLen], "garbage"...), "header only": old[:headerLen]} {
		if got, err := Compress(b); got != nil || err != nil {
			t.Errorf("%s: compressed to %d bytes, %v; want it left as stored", name, len(got), err)
		}
	}
}

func TestDamagedCompressedEntriesAreNotIntact(t *testing.T) {
	stored, err := sampleEntry().Encode()
	if err != nil {
		t.Fatal(err)
	}
	for name, damage := range map[string]func([]byte) []byte{
		"a bit of the frame":  func(b []byte) []byte { b[len(b)-3] ^= 1; return b },
		"a bit of the magic":  func(b []byte) []byte { b[headerLen+1] ^= 1; return b },
		"the frame cut":       func(b []byte) []byte { return b[:len(b)-5] },
		"the body removed":    func(b []byte) []byte { return b[:headerLen] },
		"a bit of the header": func(b []byte) []byte { b[70] ^= 1; return b },
	} {
		b := damage(append([]byte(nil), stored...))
		if Intact(b) {
			t.Errorf("%s: still intact", name)
		}
		if h, err := ReadHeader(b); err == nil && h.Computed == h.Hash {
			t.Errorf("%s: ReadHeader recomputed the stored hash", name)
		}
	}
}
