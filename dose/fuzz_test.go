package dose

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/celltrack/celltrack/lot"
)

// FuzzParseProtocol runs its seed corpus (the built-in protocols in the file
// format, the README's examples and broken files; more in testdata/fuzz) as an
// ordinary test; `go test ./dose -run '^$' -fuzz FuzzParseProtocol -fuzztime
// 1m` explores. Whatever it accepts validates and survives a round trip
// through the file format unchanged.
func FuzzParseProtocol(f *testing.F) {
	for _, p := range Builtins() {
		data, _ := json.Marshal(p.File())
		f.Add(data)
	}
	for _, s := range []string{
		`{"format": 1, "name": "ss-uc-bands", "title": "Sjögren's: UC-MSC by weight band", "source": "issue 4 example bands",
		 "product": "uc", "basis": "bands",
		 "bands": [{"up_to_kg": "60", "cells": "5e7"}, {"up_to_kg": "80", "cells": "7e7"}, {"cells": "9e7"}],
		 "phases": [{"count": 1, "interval_days": 0}], "window_days": 1, "follow_actual": false,
		 "tolerance_minus_pct": "10", "tolerance_plus_pct": "10", "max_weight_age_days": 7,
		 "max_thaw_minutes": 240, "infusion_minutes": 60, "endotoxin_eu_per_kg_per_h": "5"}`,
		`{"format": 1, "name": "bad", "title": "bad", "source": "none", "product": "uc", "basis": "per_kg",
		 "phases": [{"count": 1, "interval_days": 0}], "window_days": 1, "tolerance_minus_pct": "10", "tolerance_plus_pct": "10",
		 "max_weight_age_days": 7, "max_thaw_minutes": 240, "infusion_minutes": 60, "endotoxin_eu_per_kg_per_h": "5"}`,
		`{"format": 2}`, `{"format": 1, "colour": "red"}`, `[1, 2]`, `null`, ``, `{"format": 1, "phases": [{"count": -1}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParseProtocol(data)
		if err != nil {
			if lot.ErrorCode(err) != lot.EINVALID {
				t.Fatalf("ParseProtocol(%q): error %v is not EINVALID", data, err)
			}
			return
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("ParseProtocol(%q) accepted a protocol that does not validate: %v", data, err)
		}
		out, err := json.Marshal(p.File())
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseProtocol(out)
		if err != nil {
			t.Fatalf("ParseProtocol(%q) = %+v, but its file form %s does not read back: %v", data, p, out, err)
		}
		if !reflect.DeepEqual(back, p) {
			t.Fatalf("ParseProtocol(%q): the round trip through %s changed the protocol:\n got %+v\nwant %+v", data, out, back, p)
		}
	})
}
