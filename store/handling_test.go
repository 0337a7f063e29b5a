package store

import (
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// TestHandlingSelectsByStartAndProtocol: the period is [From, To) on the
// infusion start, read from idx_event_infused; a bag thawed 30 minutes
// before the start shows a 30-minute thaw-to-start time.
func TestHandlingSelectsByStartAndProtocol(t *testing.T) {
	db, d := bedside(t, "0.5")
	in, _, err := d.Administer(mustUser(t, db, "nina"), mustUser(t, db, "omar"), Administration{MRN: "MRN-1", Containers: []string{bag1}})
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		f    HandlingFilter
		want int
	}{
		"everything":          {HandlingFilter{}, 1},
		"from the start":      {HandlingFilter{From: in.Start}, 1},
		"to the start":        {HandlingFilter{To: in.Start}, 0},
		"one second after":    {HandlingFilter{From: in.Start.Add(time.Second)}, 0},
		"the day":             {HandlingFilter{From: in.Start.Add(-time.Hour), To: in.Start.Add(time.Hour)}, 1},
		"its protocol":        {HandlingFilter{Protocol: "sle-uc-d0d7"}, 1},
		"another protocol":    {HandlingFilter{Protocol: "sle-uc-single"}, 0},
		"protocol and period": {HandlingFilter{Protocol: "sle-uc-d0d7", To: in.Start}, 0},
	} {
		var n int
		err := db.view(func(tx *bolt.Tx) error {
			hs, err := handlingRows(tx, c.f)
			n = len(hs)
			if err == nil && n == 1 {
				if d, ok := hs[0].ThawToStart(); !ok || d != 30*time.Minute || hs[0].Infusion != in.ID || hs[0].Container != bag1 {
					t.Errorf("%s: %+v", name, hs[0])
				}
			}
			return err
		})
		if err != nil || n != c.want {
			t.Errorf("%s: %d rows (%v), want %d", name, n, err, c.want)
		}
	}
}
