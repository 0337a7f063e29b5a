package store

import (
	"encoding/binary"
	"math/rand/v2"
	"sync/atomic"

	"github.com/google/uuid"
)

// stateTable holds, for `audit verify`, each audited record's latest state:
// the sequence number and record SHA-256 of the last entry that set it,
// found by the record's id. The chain walk adds to it for every entry that
// sets a state, the hash jobs look every stored record up in it, so it is
// on verify's hottest path: an open-addressing table of indexes into one
// list of states, probed linearly, costs about a third of a Go map keyed
// by the 16-byte id, and allocates nothing per record. Each slot also holds
// 32 bits of its id's hash, so that a probe reads a state only when those
// agree: mostly the state sought, which the caller reads anyway.
//
// The slot of an id is a seeded mix of both its halves, the seeds random
// per verify, so a file written to make ids collide cannot choose ids that
// do: it would slow verify, never change its verdict.
type stateTable struct {
	slots        []uint64 // hash>>32<<32 | index+1 of a state; 0 is empty
	mask         uint64
	seed1, seed2 uint64
	chunks       [][]latestState // the states in the order first set, stateChunk a chunk: never copied to grow
	n            int             // how many states
	exists       []atomic.Bool   // exists[i]: state i's record is stored; set by the hash jobs
}

const stateChunk = 1 << 12

// state returns state i.
func (t *stateTable) state(i int) *latestState { return &t.chunks[i/stateChunk][i%stateChunk] }

type latestState struct {
	id  uuid.UUID
	seq uint64
	sha [32]byte
}

func newStateTable() *stateTable {
	t := &stateTable{seed1: rand.Uint64(), seed2: rand.Uint64()}
	t.grow(1 << 12)
	return t
}

func (t *stateTable) grow(n int) {
	t.slots = make([]uint64, n)
	t.mask = uint64(n - 1)
	for i := range t.n {
		h := t.hash(t.state(i).id)
		s := h & t.mask
		for t.slots[s] != 0 {
			s = (s + 1) & t.mask
		}
		t.slots[s] = h&^0xffffffff | uint64(i+1)
	}
}

func mix64(x uint64) uint64 { // the finaliser of MurmurHash3: every bit of x moves every bit
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}

// hash is id's hash: its low bits place it, its high 32 bits are kept in
// its slot.
func (t *stateTable) hash(id uuid.UUID) uint64 {
	lo, hi := binary.LittleEndian.Uint64(id[:8]), binary.LittleEndian.Uint64(id[8:])
	return mix64(hi ^ t.seed2 ^ mix64(lo^t.seed1))
}

// find returns the index of id's state, or -1. Once the chain walk is done,
// any number of goroutines may call it at once.
func (t *stateTable) find(id uuid.UUID) int {
	h := t.hash(id)
	for s := h & t.mask; ; s = (s + 1) & t.mask {
		v := t.slots[s]
		if v == 0 {
			return -1
		}
		if i := int(uint32(v)) - 1; (v^h)>>32 == 0 && t.state(i).id == id {
			return i
		}
	}
}

// set records that entry seq set record id to a value of SHA-256 sha.
func (t *stateTable) set(id uuid.UUID, seq uint64, sha [32]byte) {
	h := t.hash(id)
	s := h & t.mask
	for ; t.slots[s] != 0; s = (s + 1) & t.mask {
		v := t.slots[s]
		if (v^h)>>32 != 0 {
			continue
		}
		if st := t.state(int(uint32(v)) - 1); st.id == id {
			st.seq, st.sha = seq, sha
			return
		}
	}
	if t.n%stateChunk == 0 {
		t.chunks = append(t.chunks, make([]latestState, stateChunk))
	}
	*t.state(t.n) = latestState{id, seq, sha}
	t.n++
	t.slots[s] = h&^0xffffffff | uint64(t.n)
	if t.n*2 > len(t.slots) { // at most half full, so that probes stay short
		t.grow(len(t.slots) * 2)
	}
}

// done ends the chain walk: from here on the table is read only, but for
// the exists flags.
func (t *stateTable) done() {
	t.exists = make([]atomic.Bool, t.n)
}
