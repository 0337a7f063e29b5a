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
// encoder at 1cedd8b (a window of 64 kB instead of 128 kB changes "far"). A failure here means stored entries would
// differ from those written before; a new dictionary or level is a format
// change (entrybody.go), not a tuning.
func TestEntryEncoderBytesAreStable(t *testing.T) {
	want := map[string]string{
		"lot":        "0aae41ed4166858fd4c3a43ef6258f8afafca95b3c9d258154151ba5cfefe261",
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
