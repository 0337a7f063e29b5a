package dose

import (
	"strings"
	"testing"
	"time"

	"github.com/celltrack/celltrack/lot"
	"github.com/google/uuid"
)

// TestCheckWeightConfirmation: a physician's confirmation is signed only
// for the latest weight, as named, when a bedside check needs it — its
// change since the weight it is measured from is over 10 % and nothing
// accepted it for dosing yet. Each refusal is ECONFLICT on "weight" and
// says why.
func TestCheckWeightConfirmation(t *testing.T) {
	now := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	weigh := func(g lot.Grams, hoursAgo int) lot.Weight {
		at := now.Add(-time.Duration(hoursAgo) * time.Hour)
		return lot.Weight{ID: uuid.New(), Grams: g, MeasuredAt: at, RecordedAt: at}
	}
	first, close, far := weigh(62_000, 48), weigh(64_000, 2), weigh(70_000, 1) // +3.2 %, +12.9 % from the first
	for _, tc := range []struct {
		name      string
		weights   []lot.Weight
		used      []lot.Weight
		confirmed []lot.Weight
		shown     lot.Grams
		want      string // "" signs
	}{
		{"a change over 10 %", []lot.Weight{first, far}, nil, nil, 70_000, ""},
		{"over 10 % from the weight an infusion was given on", []lot.Weight{first, close, far}, []lot.Weight{first}, nil, 70_000, ""},
		{"no weight", nil, nil, nil, 70_000, "has no weight to confirm"},
		{"another weight is the latest", []lot.Weight{first, far}, nil, nil, 64_000, "the latest weight of MRN-1 is now 70.0 kg"},
		{"within 10 %", []lot.Weight{first, close}, nil, nil, 64_000, "the weight 64.0 kg of MRN-1 measured 2026-11-25 07:00 UTC needs no confirmation: it is +3.2 % since 62.0 kg measured 2026-11-23 09:00 UTC (the first weight recorded), within 10 %"},
		{"the first weight", []lot.Weight{first}, nil, nil, 62_000, "it is the patient's first weight, so there is no change to confirm"},
		{"an infusion was given on it", []lot.Weight{first, far}, []lot.Weight{far}, nil, 70_000, "an earlier infusion was given on it"},
		{"already confirmed", []lot.Weight{first, far}, nil, []lot.Weight{far}, 70_000, "is already confirmed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := Facts{Now: now, Weights: tc.weights, UsedWeights: map[uuid.UUID]bool{}, ConfirmedWeights: map[uuid.UUID]bool{}}
			for _, w := range tc.used {
				f.UsedWeights[w.ID] = true
			}
			for _, w := range tc.confirmed {
				f.ConfirmedWeights[w.ID] = true
			}
			w, err := CheckWeightConfirmation(WeightShown{Grams: tc.shown}, f, "MRN-1")
			switch {
			case tc.want == "" && (err != nil || w.Grams != tc.shown):
				t.Fatalf("refused: %v (weight %s)", err, w.Grams)
			case tc.want != "" && (lot.ErrorCode(err) != lot.ECONFLICT || lot.ErrorField(err) != "weight" || !strings.Contains(lot.ErrorMessage(err), tc.want)):
				t.Fatalf("got %v (field %q), want ECONFLICT on weight containing %q", err, lot.ErrorField(err), tc.want)
			}
		})
	}
}
