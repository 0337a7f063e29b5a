// Package audit holds celltrack's regulated-record rules (21 CFR Part 11, EU
// GMP Annex 11): users and their roles, the permission table every write is
// checked against, password hashes, electronic signatures, and the hash-chained
// audit entry that every change appends. It belongs to none of lot, release or
// dose because all of them write through it. It does no I/O.
package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"time"

	"github.com/google/uuid"
)

// Entry is one line of the audit trail: who did what to which record, when and
// why, with the record's value before and after. Entries are never changed or
// removed; each one's Hash covers its content and the previous entry's Hash.
type Entry struct {
	Seq      uint64          `json:"seq"`
	Time     time.Time       `json:"time"`
	User     string          `json:"user"`
	Action   string          `json:"action"`
	Entity   string          `json:"entity"` // record kind: lot, container, user, …
	ID       uuid.UUID       `json:"id"`
	Prev     json.RawMessage `json:"prev,omitempty"`
	New      json.RawMessage `json:"new,omitempty"`
	Reason   string          `json:"reason,omitempty"`
	PrevHash [32]byte        `json:"-"`
	Hash     [32]byte        `json:"-"`
	// State is true when the entry sets the record's stored value (New); false
	// for an event that changes no record, such as a refused password.
	State bool `json:"-"`
	// Lean is true for a state entry that does not hold the value it set
	// (every state entry since schema 8): the value is stored once, as the
	// record's stored value while the entry is the record's last, then as
	// the Prev of the record's next state entry. The header's NewSHA binds
	// the value to the entry all the same. Decode leaves New empty; the
	// store fills it from there (store/auditlog.go, fillValues).
	Lean bool `json:"-"`
}

// NewSHA returns the SHA-256 of the record value the entry sets, or zero for
// an event entry.
func (e *Entry) NewSHA() [32]byte {
	if !e.State {
		return [32]byte{}
	}
	return sha256.Sum256(e.New)
}

// Header layouts of an encoded entry, in front of its body. Since schema 14
// (the framed layout):
//
//	hash[32] | id[16] | newSHA[32] | state[1] | body
//
// with state 5 for an event and 6 for a lean state entry (Entry.Lean), and a
// body, always a zstd frame (entrybody.go), of the entry's JSON without its
// id, which the header holds. The previous entry's hash is not stored: it is
// that entry's own stored hash, which the caller gives (LinkedIntact,
// ReadHeader). The hash covers the entry as stored, with the previous hash
// in front:
//
//	prevHash[32] | id[16] | newSHA[32] | state[1] | the zstd frame
//
// so that checking it decompresses nothing: `audit verify` spent about a
// quarter of its time decompressing the JSON that the hashes of the older
// layouts cover (issue 13). The frame's bytes are thereby fixed once
// written: nothing re-encodes a stored entry (a migration between engines,
// a backup, a restore and an upgrade copy it byte for byte), and a frame
// changed in any byte fails, even one that decompresses to the same JSON.
// The frame is still decompressed by what reads the entry (Decode), and
// verify reads the JSON of events only (IntactAction).
//
// Schemas 12 and 13 (the linked layout, kept as written) store the same
// header with state 3 for an event and 4 for a lean state entry, and hash the
// canonical form
//
//	prevHash[32] | id[16] | newSHA[32] | state[1] | JSON
//
// computed from the stored bytes with no JSON encoding: the header after
// the hash, the previous hash in front, the body decompressed after it.
//
// Before schema 12 (the first layout, kept as written):
//
//	hash[32] | prevHash[32] | id[16] | newSHA[32] | state[1] | body
//
// state is 0 for an event, 1 for a state entry whose body holds the value it
// set (before schema 8), 2 for a lean one; the hash covers everything after
// itself, with the body as JSON. Since schema 8 the body is stored as a zstd
// frame of the JSON; entries written before are stored as JSON and keep
// verifying as they are, and compressing one keeps its hash.
//
// The layouts are told apart by their bytes alone (IsLinked, IsFramed): a
// linked or framed entry has state 3 to 6 at offset 80 and the zstd magic
// right after it. An entry of the first layout has there the first bytes of
// its newSHA — zero for an event, a SHA-256 for a state entry — and the
// upgrades to schemas 12 and 14 check that none of a trail's reads as a
// later layout (store/migrate.go), so a trail reads the same after them as
// before. The linked layout's states (3, 4) and the framed one's (5, 6)
// differ, so no entry of one reads as the other.
const (
	headerLen       = 32 + 32 + 16 + 32 + 1
	linkedHeaderLen = 32 + 16 + 32 + 1
)

// Encode returns the entry's stored form, in the framed layout (schema 14),
// its body compressed, and sets e.Hash and e.Lean; e.PrevHash must be the
// stored hash of the entry before it (zero for the first). A state entry is
// stored lean: its header holds the SHA-256 of New, its body not New itself,
// which the record holds. The JSON body is canonical: encoding/json writes
// struct fields in declaration order and the record values are themselves
// produced by encoding/json; the hash, though, is of the frame as stored.
func (e *Entry) Encode() ([]byte, error) { return e.encode(compressBody) }

// encode is Encode with the body framed by frame (compressBody, rawFrame):
// the hash is of the frame it returns, as stored.
func (e *Entry) encode(frame func(head, body []byte) []byte) ([]byte, error) {
	head, body, err := e.linkedParts(stateFramedEvent, stateFramedLean)
	if err != nil {
		return nil, err
	}
	out := frame(head[:], body)
	e.Hash = framedHash(e.PrevHash, out[32:])
	copy(out, e.Hash[:])
	return out, nil
}

// EncodeSchema13 returns the entry's stored form in the linked layout, as
// schemas 12 and 13 wrote it, and sets e.Hash and e.Lean. celltrack writes
// no entry so since schema 14; tests make the trail of a version 13
// database with it, to upgrade.
func (e *Entry) EncodeSchema13() ([]byte, error) {
	head, body, err := e.linkedParts(stateLinkedEvent, stateLinkedLean)
	if err != nil {
		return nil, err
	}
	e.Hash = linkedHash(e.PrevHash, head[32:], body)
	copy(head[:], e.Hash[:])
	return compressBody(head[:], body), nil
}

// linkedParts returns the header of the linked and framed layouts, its
// hash not yet set, with the state byte event or lean, and the JSON body;
// it sets e.Lean.
func (e *Entry) linkedParts(event, lean byte) (head [linkedHeaderLen]byte, body []byte, err error) {
	sha := e.NewSHA()
	e.Lean = e.State
	b := linkedBody{Seq: e.Seq, Time: e.Time, User: e.User, Action: e.Action, Entity: e.Entity, Prev: e.Prev, Reason: e.Reason}
	if !e.Lean {
		b.New = e.New
	}
	if body, err = json.Marshal(&b); err != nil {
		return head, nil, err
	}
	copy(head[32:], e.ID[:])
	copy(head[48:], sha[:])
	head[80] = event
	if e.State {
		head[80] = lean
	}
	return head, body, nil
}

// EncodeSchema11 returns the entry's stored form in the first layout, as
// schemas 8 to 11 wrote it, and sets e.Hash and e.Lean. celltrack writes no
// entry so since schema 12; tests make the trail of a version 11 database
// with it, to upgrade.
func (e *Entry) EncodeSchema11() ([]byte, error) {
	sha := e.NewSHA()
	e.Lean = e.State
	stored := *e
	if e.Lean {
		stored.New = nil
	}
	body, err := json.Marshal(&stored)
	if err != nil {
		return nil, err
	}
	var head [headerLen]byte
	copy(head[32:], e.PrevHash[:])
	copy(head[64:], e.ID[:])
	copy(head[80:], sha[:])
	head[112] = stateByte(e.State, e.Lean)
	h := sha256.New()
	h.Write(head[32:])
	h.Write(body)
	h.Sum(e.Hash[:0])
	copy(head[:], e.Hash[:])
	return compressBody(head[:], body), nil
}

// linkedBody is the JSON body of a linked or framed entry: Entry's fields
// in its order, without the id (the header holds it).
type linkedBody struct {
	Seq    uint64          `json:"seq"`
	Time   time.Time       `json:"time"`
	User   string          `json:"user"`
	Action string          `json:"action"`
	Entity string          `json:"entity"`
	Prev   json.RawMessage `json:"prev,omitempty"`
	New    json.RawMessage `json:"new,omitempty"`
	Reason string          `json:"reason,omitempty"`
}

// linkedHash is the hash of a linked entry: of prev, the header after the
// hash (head), and the JSON body.
func linkedHash(prev [32]byte, head, body []byte) [32]byte {
	h := sha256.New()
	h.Write(prev[:])
	h.Write(head)
	h.Write(body)
	var sum [32]byte
	h.Sum(sum[:0])
	return sum
}

// framedHash is the hash of a framed entry: of prev and the stored bytes
// after the hash (the header's rest and the frame).
func framedHash(prev [32]byte, stored []byte) [32]byte { return linkedHash(prev, stored, nil) }

// IsLinked reports whether b is stored in the linked layout (schemas 12 and
// 13) or the framed one (schema 14 on): layouts whose hash needs the
// previous entry's hash to be recomputed.
func IsLinked(b []byte) bool {
	return len(b) >= linkedHeaderLen+len(zstdMagic) && b[80] >= stateLinkedEvent && b[80] <= stateFramedLean &&
		bytes.Equal(b[linkedHeaderLen:linkedHeaderLen+len(zstdMagic)], zstdMagic)
}

// IsFramed reports whether b is stored in the framed layout (schema 14 on),
// whose hash covers its frame as stored.
func IsFramed(b []byte) bool {
	return IsLinked(b) && b[80] >= stateFramedEvent
}

// leanState reports whether the state byte s of a linked or framed entry
// marks a lean state entry.
func leanState(s byte) bool { return s == stateLinkedLean || s == stateFramedLean }

// Decode parses a stored entry, of any layout and body form, without
// checking its hash. The PrevHash of a linked entry is not stored: Decode
// leaves it zero, for the caller that knows the entry before to fill.
func Decode(b []byte) (Entry, error) {
	var e Entry
	body, err := Body(b)
	if err != nil {
		return e, err
	}
	if err := json.Unmarshal(body, &e); err != nil {
		return e, err
	}
	copy(e.Hash[:], b)
	if IsLinked(b) {
		e.ID = uuid.UUID(b[32:48])
		e.State, e.Lean = leanState(b[80]), leanState(b[80])
		return e, nil
	}
	copy(e.PrevHash[:], b[32:])
	e.State, e.Lean = b[112] != 0, b[112] == stateLean
	return e, nil
}

// The header's state byte: in the first layout an event, a state entry
// holding its value (before schema 8), or a lean state entry; in the linked
// and the framed layouts an event or a lean state entry.
const (
	stateEvent       = 0
	stateFull        = 1
	stateLean        = 2
	stateLinkedEvent = 3
	stateLinkedLean  = 4
	stateFramedEvent = 5
	stateFramedLean  = 6
)

func stateByte(state, lean bool) byte {
	switch {
	case !state:
		return stateEvent
	case lean:
		return stateLean
	}
	return stateFull
}

// Header is the part of a stored entry that verification reads.
type Header struct {
	Hash, PrevHash, NewSHA [32]byte
	ID                     uuid.UUID
	State, Lean            bool     // as in Entry
	Computed               [32]byte // the hash recomputed from the stored bytes
	// Linked is true for an entry of the linked layout (schema 12 on) or
	// the framed one (schema 14 on): PrevHash is not stored (zero here),
	// and the link to the entry before is part of the hash, recomputed
	// with the previous hash given. Framed is true for the framed layout.
	Linked, Framed bool
}

// ReadHeader reads an entry's header and recomputes its hash from the stored
// bytes (the body decompressed, not decoded, in the older layouts; as
// stored in the framed one); an entry whose body cannot be read gets a zero
// Computed, which matches no hash. prev is the stored hash
// of the entry before (zero for the first): a linked entry's hash covers it,
// so a Computed equal to Hash checks the link too; an entry of the first
// layout holds its PrevHash and prev is not used.
func ReadHeader(b []byte, prev [32]byte) (Header, error) {
	h, err := ParseHeader(b)
	if err == nil {
		h.Computed, _ = canonicalHash(b, prev)
	}
	return h, err
}

// ParseHeader reads an entry's header as stored, leaving Computed zero: a
// caller that trusts Hash checks the entry with Intact, as `audit verify`
// does on another core while it walks the chain.
func ParseHeader(b []byte) (Header, error) {
	var h Header
	if IsLinked(b) {
		copy(h.Hash[:], b)
		copy(h.ID[:], b[32:])
		copy(h.NewSHA[:], b[48:])
		h.State, h.Lean, h.Linked, h.Framed = leanState(b[80]), leanState(b[80]), true, b[80] >= stateFramedEvent
		return h, nil
	}
	if len(b) < headerLen {
		return h, errShort
	}
	copy(h.Hash[:], b)
	copy(h.PrevHash[:], b[32:])
	copy(h.ID[:], b[64:])
	copy(h.NewSHA[:], b[80:])
	h.State, h.Lean = b[112] != 0, b[112] == stateLean
	return h, nil
}

// Intact reports whether a stored entry's hash is the one recomputed from
// its bytes and, for a linked entry, prev, the stored hash of the entry
// before (ReadHeader); false for an entry shorter than its header or whose
// body cannot be read.
func Intact(b []byte, prev [32]byte) bool {
	if len(b) < linkedHeaderLen {
		return false
	}
	h, err := canonicalHash(b, prev)
	return err == nil && h == [32]byte(b[:32])
}

// IntactAction is Intact that also reports whether the entry's action
// starts with prefix, read from the one decompression the hash of an older
// layout needs (a framed entry's frame is decompressed for it alone):
// `audit verify` finds so the few entries it must decode (a migration,
// say) without decoding the rest. The body is Entry's JSON, whose fields
// come in their declared order, so the first "action" key is the entry's
// own, in every layout (seq, time and user before it hold no unescaped
// quote); an entry whose body cannot be read is neither intact nor found.
// prev is as for Intact.
func IntactAction(b []byte, prev [32]byte, prefix []byte) (intact, found bool) {
	if len(b) < linkedHeaderLen {
		return false, false
	}
	h, err := canonicalHashLook(b, prev, func(body []byte) {
		if i := bytes.Index(body, actionKey); i >= 0 {
			found = bytes.HasPrefix(body[i+len(actionKey):], prefix)
		}
	})
	return err == nil && h == [32]byte(b[:32]), found
}

var actionKey = []byte(`"action":"`)

// StoredHash returns a stored entry's own hash without recomputing it: the
// next entry chains to it, and verification, not appending, checks it.
func StoredHash(b []byte) ([32]byte, error) {
	var h [32]byte
	if len(b) < linkedHeaderLen || !IsLinked(b) && len(b) < headerLen {
		return h, errShort
	}
	copy(h[:], b)
	return h, nil
}

type auditError string

func (e auditError) Error() string { return string(e) }

const errShort = auditError("audit entry shorter than its header")

// SeqKey is the big-endian key of sequence number n, so entries sort in order.
func SeqKey(n uint64) []byte {
	k := make([]byte, 8)
	binary.BigEndian.PutUint64(k, n)
	return k
}
