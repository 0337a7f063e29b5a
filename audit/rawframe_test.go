package audit

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// TestRawFrameDecodesToItsBody decodes rawFrame's frames with klauspost's
// decoder — a plain one and the entries' own, which holds the dictionary —
// at the sizes where the frame header or the blocks change: the content
// size field's widths (1 byte below 256, 2 bytes to 65,791, then 4), and
// one, two and three blocks of at most 128 KiB.
func TestRawFrameDecodesToItsBody(t *testing.T) {
	plain, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	for _, n := range []int{0, 1, 255, 256, 65535, 65536, 256 + 65535, 256 + 65536, rawBlockMax - 1, rawBlockMax, rawBlockMax + 1, 2 * rawBlockMax, 300 << 10} {
		body := make([]byte, n)
		for h, i := sha256.Sum256([]byte(fmt.Sprint(n))), 0; i < n; i += 32 {
			copy(body[i:], h[:])
			h = sha256.Sum256(h[:])
		}
		head := []byte("head")
		frame := rawFrame(head, body)
		if !bytes.HasPrefix(frame, head) || !bytes.HasPrefix(frame[len(head):], zstdMagic) {
			t.Fatalf("%d bytes: the frame does not follow head with the zstd magic: % x", n, frame[:min(len(frame), 12)])
		}
		frame = frame[len(head):]
		// The framing: magic, descriptor, content size, 3 bytes a block.
		fcs := map[bool]int{true: 1, false: 2}[n < 256]
		if n >= 256+65536 {
			fcs = 4
		}
		if over, want := len(frame)-n, 4+1+fcs+3*max(1, (n+rawBlockMax-1)/rawBlockMax); over != want {
			t.Errorf("%d bytes: %d bytes of framing, want %d", n, over, want)
		}
		for name, dec := range map[string]*zstd.Decoder{"plain decoder": plain, "entries' decoder": decoder()} {
			got, err := dec.DecodeAll(frame, nil)
			if err != nil || !bytes.Equal(got, body) {
				t.Errorf("%d bytes, %s: decoded %d bytes, %v", n, name, len(got), err)
			}
		}
		var h zstd.Header
		if err := h.Decode(frame); err != nil || !h.SingleSegment || !h.HasFCS || h.FrameContentSize != uint64(n) || h.DictionaryID != 0 || h.HasCheckSum {
			t.Errorf("%d bytes: frame header %+v, %v", n, h, err)
		}
	}
}

// TestEncodeRawIsEncodeUncompressed: an entry encoded with a raw frame has
// the header and the JSON body that Encode gives it, and reads and checks
// the same; only its bytes after the magic differ, and with them its hash,
// which is over the frame as stored (the framed layout, schema 14).
func TestEncodeRawIsEncodeUncompressed(t *testing.T) {
	for _, e := range []func() *Entry{sampleEntry, func() *Entry {
		return &Entry{Seq: 8, User: "qa", Action: "report.printed", Entity: "lot", ID: sampleEntry().ID, PrevHash: [32]byte{4}}
	}} {
		ce, re := e(), e()
		compressed, err := ce.Encode()
		if err != nil {
			t.Fatal(err)
		}
		raw, err := re.EncodeRaw()
		if err != nil {
			t.Fatal(err)
		}
		if ce.Hash == re.Hash || re.Hash != [32]byte(raw) || ce.Lean != re.Lean || !bytes.Equal(raw[32:linkedHeaderLen], compressed[32:linkedHeaderLen]) || !IsFramed(raw) {
			t.Fatalf("%s: raw header % x, compressed % x", re.Action, raw[:linkedHeaderLen], compressed[:linkedHeaderLen])
		}
		cb, err1 := Body(compressed)
		rb, err2 := Body(raw)
		if err1 != nil || err2 != nil || !bytes.Equal(cb, rb) {
			t.Fatalf("%s: bodies differ: %s / %s (%v, %v)", re.Action, cb, rb, err1, err2)
		}
		if !bytes.Equal(raw[linkedHeaderLen+9:], rb) || len(raw) != linkedHeaderLen+9+len(rb) {
			t.Fatalf("%s: the raw frame does not hold the JSON as it is after 9 bytes", re.Action)
		}
		if !IsLinked(raw) || !Intact(raw, e().PrevHash) || Intact(raw, [32]byte{9}) {
			t.Fatalf("%s: the raw entry is not linked and intact with its previous hash only", re.Action)
		}
		d, err := Decode(raw)
		dc, _ := Decode(compressed)
		if err != nil || d.Hash != re.Hash || dc.Hash != ce.Hash || d.ID != dc.ID || d.Seq != dc.Seq || d.Action != dc.Action || string(d.Prev) != string(dc.Prev) || d.Lean != dc.Lean {
			t.Fatalf("%s: decoded %+v, want %+v (%v)", re.Action, d, dc, err)
		}
		// A byte of the JSON changed in the raw frame breaks the entry.
		bad := bytes.Clone(raw)
		bad[len(bad)-2] ^= 1
		if Intact(bad, e().PrevHash) {
			t.Fatalf("%s: a changed byte of the raw body goes unnoticed", re.Action)
		}
	}
}
