package store

import (
	"testing"

	"github.com/google/uuid"
)

// TestStateTable: the table verify keeps each record's latest state in
// finds every record set, with the state of its last entry, through its
// growth and collisions, and finds no record that was never set.
func TestStateTable(t *testing.T) {
	tab := newStateTable()
	want := map[uuid.UUID]uint64{}
	var ids []uuid.UUID
	for i := range 50_000 {
		id := uuid.Must(uuid.NewV7())
		if i%7 == 6 { // ids alike but for one byte, in either half
			id = ids[len(ids)-1]
			id[i%16] ^= 0x80
		}
		ids = append(ids, id)
	}
	seq := uint64(0)
	for round := range 3 {
		for i, id := range ids {
			if round > 0 && i%(round+2) != 0 {
				continue // a later entry for some records only
			}
			seq++
			tab.set(id, seq, [32]byte{byte(seq), byte(seq >> 8), byte(seq >> 16)})
			want[id] = seq
		}
	}
	tab.done()
	if tab.n != len(want) || len(tab.exists) != len(want) {
		t.Fatalf("%d states, %d flags for %d records", tab.n, len(tab.exists), len(want))
	}
	for id, s := range want {
		i := tab.find(id)
		if i < 0 {
			t.Fatalf("%s was set by %d but is not found", id, s)
		}
		if st := tab.state(i); st.id != id || st.seq != s || st.sha != [32]byte{byte(s), byte(s >> 8), byte(s >> 16)} {
			t.Fatalf("%s: state %s %d %x; want its entry %d", id, st.id, st.seq, st.sha[:3], s)
		}
	}
	for range 10_000 {
		if id := uuid.Must(uuid.NewV7()); tab.find(id) >= 0 {
			t.Fatalf("%s was never set but is found", id)
		}
	}
}
