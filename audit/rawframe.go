package audit

import "encoding/binary"

// A process that writes an entry or two and exits — a one-shot command at
// the command line — stores each body as a zstd frame of raw blocks: the
// body's bytes as they are, framed (RFC 8878, section 3.1.1). It is a zstd
// frame like any other — the same magic, read by the same decoder, hashed
// as stored like every frame of the framed layout (audit.go), and so never
// compressed afterwards — so the chain, the tree, verify and every reader
// are unchanged; what it saves is the encoder, whose
// dictionary tables (two 256 kB match tables) cost such a process more
// than everything else it writes (issue 10). It costs the compression: a
// body stored so is its JSON plus 9 bytes of framing (10 from
// 256 bytes of JSON on).

// rawBlockMax is the largest raw block: a block's content is at most
// Block_Maximum_Size, 128 KiB (RFC 8878, section 3.1.1.2.3).
const rawBlockMax = 128 << 10

// EncodeRaw is Encode with the body stored as a frame of raw blocks
// (rawFrame) instead of compressed: for a process that writes too few
// entries to pay for building the encoder.
func (e *Entry) EncodeRaw() ([]byte, error) { return e.encode(rawFrame) }

// rawFrame returns head followed by body as a single-segment zstd frame of
// raw blocks, without dictionary or checksum: the frame header names the
// content size (the decoder's window), and the blocks carry body as it is,
// the last one marked last. An empty body is one empty last block.
func rawFrame(head, body []byte) []byte {
	n := len(body)
	blocks := max(1, (n+rawBlockMax-1)/rawBlockMax)
	out := make([]byte, len(head), len(head)+len(zstdMagic)+1+8+3*blocks+n)
	copy(out, head)
	out = append(out, zstdMagic...)
	// Frame_Header_Descriptor: Single_Segment_flag (bit 5) and the
	// Frame_Content_Size_flag (bits 7–6) of the smallest field that holds
	// n: with a single segment, flag 0 is a 1-byte field, flag 1 a 2-byte
	// one holding n−256, flag 2 4 bytes, flag 3 8 bytes.
	const singleSegment = 1 << 5
	switch {
	case n < 256:
		out = append(out, singleSegment, byte(n))
	case n < 256+1<<16:
		out = append(out, 1<<6|singleSegment)
		out = binary.LittleEndian.AppendUint16(out, uint16(n-256))
	case uint64(n) < 1<<32:
		out = append(out, 2<<6|singleSegment)
		out = binary.LittleEndian.AppendUint32(out, uint32(n))
	default:
		out = append(out, 3<<6|singleSegment)
		out = binary.LittleEndian.AppendUint64(out, uint64(n))
	}
	for {
		size := min(n, rawBlockMax)
		// Block_Header, 3 bytes little-endian: Last_Block (bit 0),
		// Block_Type 0 = Raw (bits 1–2), Block_Size (bits 3–23).
		h := uint32(size) << 3
		if size == n {
			h |= 1
		}
		out = append(out, byte(h), byte(h>>8), byte(h>>16))
		out = append(out, body[:size]...)
		if h&1 != 0 {
			return out
		}
		body, n = body[size:], n-size
	}
}
