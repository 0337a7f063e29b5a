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
// by the 16-byte id (one cache line of the table, then the state itself,
// which the caller reads anyway), and allocates nothing per record.
//
// The slot of an id is a seeded mix of both its halves, the seeds random
// per verify, so a file written to make ids collide cannot choose ids that
// do: it would slow verify, never change its verdict.
type stateTable struct {
	slots        []int32 // index+1 of a state; 0 is empty
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
	t.slots = make([]int32, n)
	t.mask = uint64(n - 1)
	for i := range t.n {
		t.slots[t.free(t.state(i).id)] = int32(i + 1)
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

func (t *stateTable) home(id uuid.UUID) uint64 {
	lo, hi := binary.LittleEndian.Uint64(id[:8]), binary.LittleEndian.Uint64(id[8:])
	return mix64(hi^t.seed2^mix64(lo^t.seed1)) & t.mask
}

// free returns the empty slot id would take; id must not be in the table.
func (t *stateTable) free(id uuid.UUID) uint64 {
	s := t.home(id)
	for t.slots[s] != 0 {
		s = (s + 1) & t.mask
	}
	return s
}

// find returns the index of id's state, or -1. Once the chain walk is done,
// any number of goroutines may call it at once.
func (t *stateTable) find(id uuid.UUID) int {
	for s := t.home(id); ; s = (s + 1) & t.mask {
		i := t.slots[s]
		if i == 0 {
			return -1
		}
		if t.state(int(i-1)).id == id {
			return int(i - 1)
		}
	}
}

// set records that entry seq set record id to a value of SHA-256 sha.
func (t *stateTable) set(id uuid.UUID, seq uint64, sha [32]byte) {
	s := t.home(id)
	for ; t.slots[s] != 0; s = (s + 1) & t.mask {
		if st := t.state(int(t.slots[s] - 1)); st.id == id {
			st.seq, st.sha = seq, sha
			return
		}
	}
	if t.n%stateChunk == 0 {
		t.chunks = append(t.chunks, make([]latestState, stateChunk))
	}
	*t.state(t.n) = latestState{id, seq, sha}
	t.n++
	t.slots[s] = int32(t.n)
	if t.n*2 > len(t.slots) { // at most half full, so that probes stay short
		t.grow(len(t.slots) * 2)
	}
}

// done ends the chain walk: from here on the table is read only, but for
// the exists flags.
func (t *stateTable) done() {
	t.exists = make([]atomic.Bool, t.n)
}
