package audit

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// The body of a stored entry is its JSON (entries written before schema 8)
// or a zstd frame of that JSON (Encode since schema 8), told apart by the
// first byte: JSON starts with '{', a zstd frame with its magic number. The
// frames are compressed with a dictionary trained on audit entries
// (internal/auditdict), whose id each frame names. An entry is hashed over
// its canonical form — the header after the hash, then the JSON — so the
// two forms of one entry have the same hash, and an old entry compressed by
// the upgrade (Compress) keeps the hash the chain and the tree hold.
//
// The dictionaries are part of the format: one that entries were written
// with is never changed or removed; a better one gets the next id, is
// embedded beside it and given to the decoder too (WithDecoderDicts takes
// several), and the encoder moves to it.

// entryDict1b64 is dictionary 1, in base64 so that the repository holds
// text only (a binary file there is build output unless shown otherwise).
//
//go:embed entrydict/1.zdict.b64
var entryDict1b64 string

// entryDict1 decodes dictionary 1 on first use. The decoder skips the line
// breaks itself, so the text is not copied without them first.
var entryDict1 = sync.OnceValue(func() []byte {
	d, err := base64.StdEncoding.DecodeString(entryDict1b64)
	if err != nil {
		panic("audit: entry dictionary 1: " + err.Error()) // embedded: a build error, not an input
	}
	return d
})

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
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderDict(entryDict1()), zstd.WithEncoderCRC(false),
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
	dec, err := zstd.NewReader(nil, zstd.WithDecoderDicts(entryDict1()), zstd.WithDecoderMaxMemory(64<<20),
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
	if len(b) < headerLen {
		return nil, errShort
	}
	return body(b, nil)
}

// body is Body with a buffer to decompress into.
func body(b, buf []byte) ([]byte, error) {
	raw := b[headerLen:]
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

// canonicalHash recomputes the hash of a stored entry of at least headerLen
// bytes over its canonical form.
func canonicalHash(b []byte) ([32]byte, error) {
	return canonicalHashLook(b, nil)
}

// canonicalHashLook is canonicalHash that also shows the entry's JSON body
// to look, when not nil, before its buffer is reused.
func canonicalHashLook(b []byte, look func(body []byte)) ([32]byte, error) {
	raw := b[headerLen:]
	if len(raw) > 0 && raw[0] == '{' {
		if look != nil {
			look(raw)
		}
		return sha256.Sum256(b[32:]), nil
	}
	bp := bodyBufs.Get().(*[]byte)
	defer bodyBufs.Put(bp)
	body, err := body(b, *bp)
	if err != nil {
		return [32]byte{}, err
	}
	*bp = body[:0]
	if look != nil {
		look(body)
	}
	h := sha256.New()
	h.Write(b[32:headerLen])
	h.Write(body)
	var sum [32]byte
	h.Sum(sum[:0])
	return sum, nil
}

// Compress returns the compressed form of an entry stored with a JSON body,
// the upgrade to schema 8, or nil for an entry it leaves as stored: one
// compressed already, or one whose body is not JSON (damaged: `audit verify`
// reports it as it is). The header, the hash with it, is kept as stored, and
// the compressed form is decompressed again and compared with the JSON before
// it is returned, so that what the hash covers cannot change: an entry
// altered before the upgrade stays exactly as detectable after it.
func Compress(b []byte) ([]byte, error) {
	if len(b) <= headerLen || b[headerLen] != '{' {
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
