package audit

import (
	"bytes"
	"crypto/sha256"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// The body of a stored entry is its JSON (entries written before schema 8)
// or a zstd frame of that JSON (Encode since schema 8), told apart by the
// first byte: JSON starts with '{', a zstd frame with its magic number. The
// frames are compressed with a dictionary trained on audit entries
// (internal/auditdict), whose id each frame names. An entry of the first and
// the linked layouts is hashed over its canonical form — the header after
// the hash, then the JSON — so the two forms of one entry have the same
// hash, and an old entry compressed by the upgrade (Compress) keeps the hash
// the chain and the tree hold. An entry of the framed layout (schema 14) is
// hashed over its frame as stored (audit.go): checking it decompresses
// nothing, and its frame is never re-encoded.
//
// The dictionaries are part of the format: one that entries were written
// with is never changed or removed; a better one gets the next id, is
// embedded beside it and given to the decoder too (WithDecoderDicts takes
// several), and the encoder moves to it.
//
// A frame codes its literals with the dictionary's Huffman table when that
// costs fewer bytes than a table of its own (klauspost/compress 1.20.5 and
// later; 1.20.4 compared without the new table's own bytes, so nearly every
// frame with coded literals carried a ~22-byte table). Reading a frame's own
// table was most of what `audit verify` spent decompressing; a frame that
// reuses the dictionary's reads none. Frames written before keep their
// tables: the decoder reads both, and the hash, over the JSON, is the same.
// A framed entry's hash is over its frame: a frame written differently by
// another release of the encoder is another, equally valid, entry, and a
// stored one is never compressed again.

// The dictionaries are Go string constants in entrydict_gen.go, written by
// `go generate` from entrydict/N.zdict.b64 — the text internal/auditdict
// writes, which stays the record of each (TestEntryDictsMatchTheirText) —
// so that a process finds the bytes ready in its binary instead of decoding
// 50 kB of base64 before its first entry (~0.1 ms; issue 10).
//
//go:generate go run gen_entrydict.go

// dict1 is dictionary 1 as the slice the encoder and the decoder are given.
// A package-level []byte of a constant string is laid out by the compiler
// in the binary's data, so no process copies the 37 kB at run time: a
// copy made at the first entry was a 40 kB allocation on fresh heap pages
// for every write and every read of entries (issue 10).
var dict1 = []byte(entryDict1)

var zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}

// encoder and decoder are built on first use: loading the dictionary costs
// every process start nothing, and a write, which compresses one entry and
// reads none, builds no decoder.
var encoder = sync.OnceValue(newEntryEncoder)

// newEntryEncoder builds the encoder of entry bodies.
func newEntryEncoder() *zstd.Encoder {
	// The fastest level compresses entries with the dictionary within 2 % of
	// the default one (BENCHMARKS.md, run M), and one small encoder costs
	// a single write well under a millisecond to set up instead of several.
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderDict(dict1), zstd.WithEncoderCRC(false),
		zstd.WithSingleSegment(true), zstd.WithEncoderLevel(zstd.SpeedFastest),
		zstd.WithEncoderConcurrency(1), zstd.WithLowerEncoderMem(true), zstd.WithWindowSize(1<<17))
	if err != nil {
		panic("audit: entry dictionary 1: " + err.Error()) // embedded: a build error, not an input
	}
	return enc
}

var decoder = sync.OnceValue(func() *zstd.Decoder {
	// An entry body is at most a few records: 64 MiB bounds what a damaged
	// or hostile frame can make the decoder allocate.
	dec, err := zstd.NewReader(nil, zstd.WithDecoderDicts(dict1), zstd.WithDecoderMaxMemory(64<<20),
		zstd.WithDecoderConcurrency(0))
	if err != nil {
		panic("audit: entry dictionary 1: " + err.Error())
	}
	return dec
})

// PrepareEncoder builds the encoder and the tables of its dictionary, which
// the first entry of a process would otherwise build (~0.5 ms): a write
// command calls it on another goroutine while it opens the database and
// checks the session. Every frame is encoded from the same reset state, so
// what is stored does not depend on it (TestEntryEncoderBytesAreStable).
func PrepareEncoder() { encoder().EncodeAll([]byte("{}"), nil) }

// compressBody returns head followed by body compressed.
func compressBody(head, body []byte) []byte {
	enc := encoder()
	out := make([]byte, len(head), len(head)+len(body)/2+64)
	copy(out, head)
	return enc.EncodeAll(body, out)
}

// Body returns the JSON body of a stored entry, decompressed when stored
// compressed (a new slice) or b's own bytes when stored as JSON.
func Body(b []byte) ([]byte, error) {
	n := bodyStart(b)
	if n < 0 {
		return nil, errShort
	}
	return body(b[n:], nil)
}

// bodyStart is where the body of a stored entry starts, by its layout, or
// -1 when b is shorter than its header.
func bodyStart(b []byte) int {
	switch {
	case IsLinked(b):
		return linkedHeaderLen
	case len(b) >= headerLen:
		return headerLen
	}
	return -1
}

// body is Body with the stored body raw and a buffer to decompress into.
func body(raw, buf []byte) ([]byte, error) {
	if len(raw) > 0 && raw[0] == '{' {
		return raw, nil
	}
	if !bytes.HasPrefix(raw, zstdMagic) {
		return nil, errBody
	}
	out, err := decoder().DecodeAll(raw, buf[:0])
	if err != nil {
		return nil, auditError("audit entry body cannot be decompressed: " + err.Error())
	}
	return out, nil
}

// bodyBufs holds buffers for hashing compressed entries, so that a verify
// of millions of entries does not allocate a body for each.
var bodyBufs = sync.Pool{New: func() any { b := make([]byte, 0, 8<<10); return &b }}

// canonicalHash recomputes the hash of a stored entry over its canonical
// form; prev, the hash of the entry before, is part of it for a linked
// entry (audit.go).
func canonicalHash(b []byte, prev [32]byte) ([32]byte, error) {
	return canonicalHashLook(b, prev, nil)
}

// canonicalHashLook is canonicalHash that also shows the entry's JSON body
// to look, when not nil, before its buffer is reused.
func canonicalHashLook(b []byte, prev [32]byte, look func(body []byte)) ([32]byte, error) {
	n := bodyStart(b)
	if n < 0 {
		return [32]byte{}, errShort
	}
	return hashAt(b, n, prev, look)
}

// hashAt is canonicalHash of b read with its body at n: headerLen for the
// first layout, linkedHeaderLen for the linked and framed ones; look, when
// not nil, sees the JSON body. A framed entry's hash is over its stored
// bytes: its frame is decompressed only for look.
func hashAt(b []byte, n int, prev [32]byte, look func(body []byte)) ([32]byte, error) {
	raw := b[n:]
	if n == headerLen && len(raw) > 0 && raw[0] == '{' {
		if look != nil {
			look(raw)
		}
		return sha256.Sum256(b[32:]), nil
	}
	framed := n == linkedHeaderLen && IsFramed(b)
	if framed && look == nil {
		return framedHash(prev, b[32:]), nil
	}
	bp := bodyBufs.Get().(*[]byte)
	defer bodyBufs.Put(bp)
	body, err := body(raw, *bp)
	if err != nil {
		return [32]byte{}, err
	}
	*bp = body[:0]
	if look != nil {
		look(body)
	}
	if framed {
		return framedHash(prev, b[32:]), nil
	}
	h := sha256.New()
	if n == linkedHeaderLen {
		h.Write(prev[:])
	}
	h.Write(b[32:n])
	h.Write(body)
	var sum [32]byte
	h.Sum(sum[:0])
	return sum, nil
}

// Ambiguous reports whether b, an entry intact in the first layout, would
// read as a linked or a framed one (IsLinked): the upgrades to schemas 12
// and 14 refuse a trail holding one, since after them the entry would be
// read otherwise. An entry that reads so and is not intact in the first
// layout is not ambiguous: it was written in that layout, or was damaged,
// which verify names.
func Ambiguous(b []byte) bool {
	if !IsLinked(b) || len(b) < headerLen {
		return false
	}
	h, err := hashAt(b, headerLen, [32]byte{}, nil)
	return err == nil && h == [32]byte(b[:32])
}

// Compress returns the compressed form of an entry stored with a JSON body,
// the upgrade to schema 8, or nil for an entry it leaves as stored: one
// compressed already, or one whose body is not JSON (damaged: `audit verify`
// reports it as it is). The header, the hash with it, is kept as stored, and
// the compressed form is decompressed again and compared with the JSON before
// it is returned, so that what the hash covers cannot change: an entry
// altered before the upgrade stays exactly as detectable after it.
func Compress(b []byte) ([]byte, error) {
	if len(b) <= headerLen || b[headerLen] != '{' || IsLinked(b) {
		return nil, nil
	}
	raw := b[headerLen:]
	out := compressBody(b[:headerLen], raw)
	back, err := Body(out)
	if err != nil || !bytes.Equal(back, raw) {
		return nil, auditError("audit entry body does not survive compression unchanged")
	}
	return out, nil
}

const errBody = auditError("audit entry body is neither JSON nor a compressed body")
