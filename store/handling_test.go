package store

import (
	"context"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/celltrack/celltrack/dose"
	"github.com/celltrack/celltrack/store/kv"
	"github.com/celltrack/celltrack/trace"
)

// TestHandlingSelectsByStartAndProtocol: the period is [From, To) on the
// infusion start, read from idx_event_infused; a bag thawed 30 minutes
// before the start shows a 30-minute thaw-to-start time.
func TestHandlingSelectsByStartAndProtocol(t *testing.T) {
	db, d := bedside(t, "0.5")
	in, _, err := d.Administer(mustUser(t, db, "nina"), mustUser(t, db, "omar"), dose.Administration{MRN: "MRN-1", Containers: []string{bag1}})
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		f    dose.HandlingFilter
		want int
	}{
		"everything":          {dose.HandlingFilter{}, 1},
		"from the start":      {dose.HandlingFilter{From: in.Start}, 1},
		"to the start":        {dose.HandlingFilter{To: in.Start}, 0},
		"one second after":    {dose.HandlingFilter{From: in.Start.Add(time.Second)}, 0},
		"the day":             {dose.HandlingFilter{From: in.Start.Add(-time.Hour), To: in.Start.Add(time.Hour)}, 1},
		"its protocol":        {dose.HandlingFilter{Protocol: "sle-uc-d0d7"}, 1},
		"another protocol":    {dose.HandlingFilter{Protocol: "sle-uc-single"}, 0},
		"protocol and period": {dose.HandlingFilter{Protocol: "sle-uc-d0d7", To: in.Start}, 0},
	} {
		var n int
		err := db.view(func(tx kv.Tx) error {
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

// TestHandlingRowsOfATwoBagInfusion: each container's row carries the cells
// that container gave, so the rows sum to the infusion; the infusion total
// is a column of its own.
func TestHandlingRowsOfATwoBagInfusion(t *testing.T) {
	db, d := bedside(t, "0.5")
	const bag3 = "G12342600000103"
	for _, b := range []string{bag2, bag3} {
		dispense(t, db, b, db.Now().Add(-time.Hour), 50_000_000, "MRN-1")
	}
	in, _, err := d.Administer(mustUser(t, db, "nina"), mustUser(t, db, "omar"), dose.Administration{MRN: "MRN-1", Containers: []string{bag2, bag3}})
	if err != nil {
		t.Fatal(err)
	}
	// 62.0 kg × 1×10^6/kg = 62000000 cells: all 50000000 of bag 02, 12000000 of bag 03.
	if in.Given != 62_000_000 || len(in.Containers) != 2 || in.Containers[0].Cells != 50_000_000 || in.Containers[1].Cells != 12_000_000 {
		t.Fatalf("infusion: given %d from %+v", in.Given, in.Containers)
	}
	err = db.view(func(tx kv.Tx) error {
		hs, err := handlingRows(tx, dose.HandlingFilter{})
		if err != nil {
			return err
		}
		if len(hs) != 2 || hs[0].Container != bag2 || hs[0].Cells != 50_000_000 || hs[1].Container != bag3 || hs[1].Cells != 12_000_000 {
			t.Fatalf("rows: %+v", hs)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	r, err := newTraces(db).Handling(context.Background(), "nina", dose.HandlingFilter{})
	if err != nil {
		t.Fatal(err)
	}
	given, total := slices.Index(trace.HandlingColumns, "cells_given"), slices.Index(trace.HandlingColumns, "infusion_cells_given")
	var sum int64
	for _, row := range r.Data.Rows {
		n, err := strconv.ParseInt(row[given], 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		sum += n
		if row[total] != "62000000" {
			t.Errorf("%s: infusion_cells_given %s, want 62000000", row[7], row[total])
		}
	}
	if sum != int64(in.Given) {
		t.Errorf("cells_given sums to %d over the bags of one infusion, want %d", sum, in.Given)
	}
}
