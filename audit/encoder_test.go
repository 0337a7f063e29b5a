package audit

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// encoderSamples are entry bodies of several sizes: a short lot, a large
// record, a repetitive one and one whose best match lies 72 kB back, where
// the window decides which matches are allowed.
func encoderSamples() map[string][]byte {
	lotJSON := `{"seq":7,"time":"2026-12-03T04:05:06Z","user":"qa","action":"lot.create","entity":"lot","id":"0193a0b4-0000-7000-8000-000000000001","prev":{"V":1,"number":"LOT-0001","donor":"D-1","status":"received","viability":93.5},"reason":"","state":true}`
	var big strings.Builder
	big.WriteString(`{"seq":9,"user":"nina","action":"dose.administer","entity":"infusion","new":{"checks":[`)
	for i := range 900 {
		if i > 0 {
			big.WriteByte(',')
		}
		big.WriteString(`{"rule":"post-thaw viability","pass":true,"value":"` + strings.Repeat("7", i%13) + `","bag":"G12342600` + string(rune('0'+i%10)) + `05099"}`)
	}
	big.WriteString(`]}}`)
	// far: a block, 72 kB of noise, the block again — a match 72 kB back,
	// which a window of 64 kB could not take.
	noise := func(seed string, n int) string {
		var b strings.Builder
		for h := sha256.Sum256([]byte(seed)); b.Len() < n; h = sha256.Sum256(h[:]) {
			b.WriteString(hex.EncodeToString(h[:]))
		}
		return b.String()[:n]
	}
	block := noise("block", 4096)
	return map[string][]byte{
		"lot":        []byte(lotJSON),
		"large":      []byte(big.String()),
		"repetitive": []byte(`{"reason":"` + strings.Repeat("a", 70_000) + `"}`),
		"far":        []byte(`{"reason":"` + block + noise("between", 72_000) + block + `"}`),
	}
}

// TestEntryEncoderBytesAreStable pins the bytes the encoder stores for a
// given body. How the encoder is built (its level, window, memory and
// concurrency options, how the dictionary is loaded) may change for speed,
// but never what a frame holds: the sums below were taken from main's
// encoder at 1cedd8b (a window of 64 kB instead of 128 kB changes "far"),
// "lot" since its literals are coded with the dictionary's Huffman table
// (klauspost/compress 1.20.5; its old frame is oldLotFrame). A failure here
// means stored entries would differ from those written before; a new
// dictionary, level or literals' coding is a format change (entrybody.go),
// not a tuning.
func TestEntryEncoderBytesAreStable(t *testing.T) {
	want := map[string]string{
		"lot":        "4668015a5de46e48ebd5d29efd3f52d351738a35a1b5ca96b4d8d79c8f53eccf",
		"large":      "241400c234d99ed625e4a5dc3705045ec7de7110ec035831415475046ac8e0ee",
		"repetitive": "8d4318ee5026a272b5a0ce6aa1beb132fdef6a5e1993da6431b28704fcff45fd",
		"far":        "2a6d775a1b647ac76ec9cf60de4a96506dbcba7a75c097213bed4ca6a2a9d67f",
	}
	// PrepareEncoder first, and each body twice in the map's random order:
	// a frame does not depend on what the encoder encoded before it.
	PrepareEncoder()
	for name, body := range encoderSamples() {
		frame := compressBody(nil, body)
		sum := sha256.Sum256(frame)
		if got := hex.EncodeToString(sum[:]); got != want[name] {
			t.Errorf("%s (%d bytes → %d): frame sha256 %s, want %s", name, len(body), len(frame), got, want[name])
		}
		if again := compressBody(nil, body); string(again) != string(frame) {
			t.Errorf("%s: encoded twice, the frames differ", name)
		}
		back, err := decoder().DecodeAll(frame, nil)
		if err != nil || string(back) != string(body) {
			t.Errorf("%s: the frame does not decode to the body: %v", name, err)
		}
	}
}

// BenchmarkEncoderFirstEntry is what a write pays to compress its first
// entry in a fresh process: the dictionary, the encoder and one frame.
func BenchmarkEncoderFirstEntry(b *testing.B) {
	body := encoderSamples()["lot"]
	for b.Loop() {
		enc := newEntryEncoder()
		enc.EncodeAll(body, nil)
	}
}

// TestEntryDictsMatchTheirText: each dictionary the binary holds
// (entrydict_gen.go) is exactly its text of record, entrydict/N.zdict.b64,
// decoded, and every such text has its constant: a dictionary added or
// changed without `go generate ./audit` fails here.
func TestEntryDictsMatchTheirText(t *testing.T) {
	consts := map[string]string{"1": entryDict1}
	files, err := filepath.Glob("entrydict/*.zdict.b64")
	if err != nil || len(files) != len(consts) {
		t.Fatalf("dictionaries %v (%v), constants for %d: run go generate ./audit and name the new constant here", files, err, len(consts))
	}
	for _, f := range files {
		text, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := base64.StdEncoding.DecodeString(string(text))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		id := strings.TrimSuffix(filepath.Base(f), ".zdict.b64")
		if c, ok := consts[id]; !ok || c != string(raw) {
			t.Errorf("%s: the constant entryDict%s (%d bytes) is not its %d bytes decoded; run go generate ./audit", f, id, len(c), len(raw))
		}
	}
}

// oldLotFrame is the frame of encoderSamples' "lot" as written before
// klauspost/compress 1.20.5: its literals carry a Huffman table of their own.
const oldLotFrame = "28b52ffd2101f3cd030062440f16800702d0916d268b34fc9627cfb7ba1a97e4e3c7d088056a8a6151b129d741aa44510631d8d56e50acca9425fcf70bee0fdcff010a1f62064bc3a10417fcd84df039b8d78e4d2ed5451470ab04b10903a066ac508b6ce254123915860132ba40855b688e4d52c174500c7911514ba513182b1f5c93"

// literalsType is the literals block type of frame's first block — 0 raw,
// 1 RLE, 2 Huffman-coded with a table of its own, 3 with the table before,
// here the dictionary's — or -1 when that block holds no literals section
// (a raw or RLE block).
func literalsType(t *testing.T, frame []byte) int {
	t.Helper()
	fhd := frame[4]
	p := 5 + []int{0, 1, 2, 4}[fhd&3] // dictionary id
	if fhd&0x20 == 0 {
		p++ // window descriptor
	}
	switch fcs := fhd >> 6; {
	case fcs == 0 && fhd&0x20 != 0:
		p++
	case fcs > 0:
		p += 1 << fcs
	}
	if (frame[p]>>1)&3 != 2 {
		return -1
	}
	return int(frame[p+3] & 3)
}

// TestFramesReuseTheDictionarysLiteralTable: an entry body whose literals
// the dictionary's Huffman table codes about as well as a table of their own
// is written without one (entrybody.go), which the verify that decodes it
// then does not read; and a frame written before, with its own table, still
// decodes to its body.
func TestFramesReuseTheDictionarysLiteralTable(t *testing.T) {
	body := encoderSamples()["lot"]
	frame := compressBody(nil, body)
	if got := literalsType(t, frame); got != 3 {
		t.Errorf("the lot frame's literals are of type %d, want 3 (the dictionary's table)", got)
	}
	old, err := hex.DecodeString(oldLotFrame)
	if err != nil {
		t.Fatal(err)
	}
	if got := literalsType(t, old); got != 2 {
		t.Fatalf("the old lot frame's literals are of type %d, want 2 (a table of its own)", got)
	}
	if len(frame) >= len(old) {
		t.Errorf("the lot frame is %d bytes, the old one %d: reusing the table should cost fewer", len(frame), len(old))
	}
	for name, f := range map[string][]byte{"new": frame, "old": old} {
		if back, err := decoder().DecodeAll(f, nil); err != nil || string(back) != string(body) {
			t.Errorf("the %s lot frame does not decode to its body: %v", name, err)
		}
	}
}
