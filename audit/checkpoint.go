package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/tlog"
)

// The audit trail is also an RFC 6962 Merkle tree (golang.org/x/mod/sumdb/tlog):
// leaf n is the entry numbered n+1, and its record hash is
// tlog.RecordHash(the entry's 32-byte hash). The entry hash already covers the
// entry's content and the hash of the entry before it, so the tree commits to
// the whole trail; its root and size are the tree head a signed checkpoint
// states, and a consistency proof shows that a later tree extends an earlier
// one — which a chain of hashes alone cannot show to someone who kept only a
// head.

// LeafHash is the tree's record hash of an audit entry whose hash is h.
// It is tlog.RecordHash(h[:]), SHA-256(0x00 || h), hashed from the stack:
// tlog's allocates, and `audit verify` recomputes the leaf of every entry.
func LeafHash(h [32]byte) tlog.Hash {
	var b [1 + 32]byte // b[0] = 0x00
	copy(b[1:], h[:])
	return sha256.Sum256(b[:])
}

// Head is a tree head: how many entries the trail had and the Merkle root of
// those entries, as of a time, in one facility's database.
type Head struct {
	Facility string // ISBT 128 FIN of the database
	Size     int64
	Root     tlog.Hash
	Time     time.Time
}

// checkpointOrigin starts the first line of a checkpoint: it names what the
// note is about, so a checkpoint of one facility's trail is never read as
// another's.
const checkpointOrigin = "celltrack audit trail "

// FormatCheckpoint returns the text of a checkpoint note for h, in the
// C2SP tlog-checkpoint layout: the origin line, the tree size in decimal, the
// root hash in base64, then the time as an extension line.
//
//	celltrack audit trail W0000
//	306
//	3q2+7w…=
//	time 2026-11-25T09:00:00Z
func FormatCheckpoint(h Head) []byte {
	return fmt.Appendf(nil, "%s%s\n%d\n%s\ntime %s\n", checkpointOrigin, h.Facility, h.Size,
		base64.StdEncoding.EncodeToString(h.Root[:]), h.Time.UTC().Format(time.RFC3339))
}

// ParseCheckpoint parses the text of a checkpoint note (its signatures
// already removed by note.Open). Anything but exactly the lines
// FormatCheckpoint writes is refused, so one text has one meaning.
func ParseCheckpoint(text []byte) (Head, error) {
	var h Head
	lines := strings.Split(string(text), "\n")
	if len(lines) != 5 || lines[4] != "" || !bytes.HasSuffix(text, []byte("\n")) {
		return h, fmt.Errorf("not a celltrack checkpoint: want 4 lines (origin, size, root, time), got %d", len(lines)-1)
	}
	fin, ok := strings.CutPrefix(lines[0], checkpointOrigin)
	if !ok || fin == "" {
		return h, fmt.Errorf("not a celltrack checkpoint: the first line %q does not start with %q and a facility number", lines[0], checkpointOrigin)
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 || strconv.FormatInt(size, 10) != lines[1] {
		return h, fmt.Errorf("checkpoint tree size %q is not a whole number", lines[1])
	}
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != tlog.HashSize {
		return h, fmt.Errorf("checkpoint root %q is not a base64 SHA-256 hash", lines[2])
	}
	ts, ok := strings.CutPrefix(lines[3], "time ")
	t, err := time.Parse(time.RFC3339, ts)
	if !ok || err != nil {
		return h, fmt.Errorf("checkpoint time line %q is not \"time\" and an RFC 3339 time", lines[3])
	}
	return Head{Facility: fin, Size: size, Root: tlog.Hash(root), Time: t.UTC()}, nil
}

// String is the tree head as reports print it: "306 entries, root …".
func (h Head) String() string { return fmt.Sprintf("%d entries, root %s", h.Size, RootString(h.Root)) }

// ParseHead parses a tree head as reports print it ("306 entries, root
// …=") or in short ("306:…="): what an auditor types from a printed page.
func ParseHead(s string) (Head, error) {
	s = strings.TrimSpace(s)
	size, root, ok := strings.Cut(s, " entries, root ")
	if !ok {
		size, root, ok = strings.Cut(s, ":")
	}
	n, err := strconv.ParseInt(size, 10, 64)
	r, rerr := base64.StdEncoding.DecodeString(root)
	if !ok || err != nil || n < 1 || rerr != nil || len(r) != tlog.HashSize {
		return Head{}, fmt.Errorf("tree head %q is not \"N entries, root BASE64\" as reports print it, nor N:BASE64", s)
	}
	return Head{Size: n, Root: tlog.Hash(r)}, nil
}

// RootString is a tree root as a checkpoint and a report print it.
func RootString(h tlog.Hash) string { return base64.StdEncoding.EncodeToString(h[:]) }
