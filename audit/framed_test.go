package audit

import (
	"bytes"
	"crypto/sha256"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// TestFramedEntryIsHashedOverItsStoredFrame: an entry of schema 14 holds
// the header of the linked layout with states 5 and 6, and the JSON body of
// that layout; its hash is the SHA-256 of the previous hash and the stored
// bytes after the hash, frame included, so it is checked without
// decompressing anything, and any change of the frame fails it — even a
// frame that decompresses to the same JSON, which an entry of schema 13,
// hashed over the JSON, would let through.
func TestFramedEntryIsHashedOverItsStoredFrame(t *testing.T) {
	e := sampleEntry()
	framed, err := e.Encode()
	if err != nil {
		t.Fatal(err)
	}
	linked, err := sampleEntry().EncodeSchema13()
	if err != nil {
		t.Fatal(err)
	}
	prev := e.PrevHash
	byHand := sha256.Sum256(append(append([]byte(nil), prev[:]...), framed[32:]...))
	if framed[80] != stateFramedLean || [32]byte(framed) != byHand || e.Hash != byHand || !bytes.Equal(framed[32:80], linked[32:80]) {
		t.Fatalf("framed header % x: not the layout documented", framed[:linkedHeaderLen])
	}
	fb, err := Body(framed)
	lb, _ := Body(linked)
	if err != nil || !bytes.Equal(fb, lb) || !bytes.Equal(framed[linkedHeaderLen:], linked[linkedHeaderLen:]) {
		t.Fatalf("the framed body is not the linked one: %s %v", fb, err)
	}
	if !Intact(framed, prev) || Intact(framed, [32]byte{9}) {
		t.Fatal("a framed entry is not intact after its own entry, or intact after another")
	}

	// The same JSON compressed otherwise: at another level, with no
	// dictionary. Each is a valid frame of the same JSON.
	for name, opts := range map[string][]zstd.EOption{
		"best level":    {zstd.WithEncoderDict(dict1), zstd.WithEncoderLevel(zstd.SpeedBestCompression)},
		"no dictionary": {zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderCRC(true)},
	} {
		enc, err := zstd.NewWriter(nil, opts...)
		if err != nil {
			t.Fatal(err)
		}
		frame := enc.EncodeAll(fb, nil)
		if bytes.Equal(frame, framed[linkedHeaderLen:]) {
			t.Fatalf("%s: the same frame", name)
		}
		for layout, b := range map[string][]byte{"schema 14": framed, "schema 13": linked} {
			re := append(append([]byte(nil), b[:linkedHeaderLen]...), frame...)
			if back, err := Body(re); err != nil || !bytes.Equal(back, fb) {
				t.Fatalf("%s, %s: the frame does not decompress to the same JSON: %v", name, layout, err)
			}
			h, err := ReadHeader(re, prev)
			if err != nil {
				t.Fatal(err)
			}
			// Hashed over the JSON, the older layout cannot see it.
			if want := layout == "schema 13"; Intact(re, prev) != want || (h.Computed == h.Hash) != want {
				t.Errorf("%s, %s: intact %v, want %v", name, layout, Intact(re, prev), want)
			}
		}
	}
	// One byte flipped anywhere after the hash, in the header or the frame.
	for _, i := range []int{32, 80, linkedHeaderLen, linkedHeaderLen + 4, len(framed) / 2, len(framed) - 1} {
		b := bytes.Clone(framed)
		b[i] ^= 0x20
		if Intact(b, prev) {
			t.Errorf("byte %d flipped: still intact", i)
		}
		if intact, _ := IntactAction(b, prev, []byte("lot.")); intact {
			t.Errorf("byte %d flipped: intact for IntactAction", i)
		}
	}

	// Checking the hash reads the frame not at all: a frame that cannot be
	// decompressed, with its hash, is intact for Intact, which verify
	// calls on state entries, and not for IntactAction, which reads the
	// body of events and says it cannot.
	junk := append(append([]byte(nil), framed[:linkedHeaderLen]...), zstdMagic...)
	junk = append(junk, "not a zstd frame"...)
	h := framedHash(prev, junk[32:])
	copy(junk, h[:])
	if _, err := Body(junk); err == nil || !IsFramed(junk) {
		t.Fatal("the junk frame decompresses, or does not read as framed")
	}
	if !Intact(junk, prev) {
		t.Error("Intact read the frame of a framed entry")
	}
	if intact, found := IntactAction(junk, prev, []byte("lot.")); intact || found {
		t.Errorf("IntactAction: intact %v, found %v for a body that cannot be read", intact, found)
	}
}

// TestAmbiguousFramedLookalike: an entry of the first layout whose newSHA
// begins with a framed state byte and the zstd magic reads as framed; it
// is ambiguous when intact in the first layout (the upgrade to 14 refuses
// the trail), and an entry written framed is not.
func TestAmbiguousFramedLookalike(t *testing.T) {
	for _, state := range []byte{stateLinkedLean, stateFramedEvent, stateFramedLean} {
		b, err := sampleEntry().EncodeSchema11()
		if err != nil {
			t.Fatal(err)
		}
		json, err := Body(b)
		if err != nil {
			t.Fatal(err)
		}
		b[80] = state
		copy(b[81:], zstdMagic)
		h := sha256.Sum256(append(append([]byte(nil), b[32:headerLen]...), json...))
		copy(b, h[:])
		if !IsLinked(b) || IsFramed(b) != (state >= stateFramedEvent) || !Ambiguous(b) {
			t.Errorf("state %d: linked %v, framed %v, ambiguous %v", state, IsLinked(b), IsFramed(b), Ambiguous(b))
		}
		b[len(b)-1] ^= 1 // no longer intact in the first layout: not ambiguous
		if Ambiguous(b) {
			t.Errorf("state %d: an entry intact in no layout is ambiguous", state)
		}
	}
	for _, enc := range []func(*Entry) ([]byte, error){(*Entry).Encode, (*Entry).EncodeSchema13} {
		b, err := enc(sampleEntry())
		if err != nil || Ambiguous(b) {
			t.Errorf("an entry written linked or framed is ambiguous: %v", err)
		}
	}
}

// BenchmarkIntact is the hash check `audit verify` makes of each state
// entry, in the layout of schemas 12–13 (the frame decompressed, the JSON
// hashed) and in that of schema 14 (the frame hashed as stored).
func BenchmarkIntact(b *testing.B) {
	for name, enc := range map[string]func(*Entry) ([]byte, error){"schema13": (*Entry).EncodeSchema13, "schema14": (*Entry).Encode} {
		e := sampleEntry()
		stored, err := enc(e)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				if !Intact(stored, e.PrevHash) {
					b.Fatal("not intact")
				}
			}
		})
	}
}
