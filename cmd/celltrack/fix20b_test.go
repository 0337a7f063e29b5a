package main

import (
	"testing"
	"time"

	"github.com/celltrack/celltrack/lot"
)

// TestSettingDurationTooLarge (review 20, finding I): every way a number
// can be too large for a duration — a day count past 106751, one strconv
// cannot read (of either sign), an hour count time.ParseDuration refuses —
// is refused as out of range (exit 3) on the flag's field, with no value;
// what fits is read as typed, and what is not a duration stays a usage
// error.
func TestSettingDurationTooLarge(t *testing.T) {
	for _, v := range []string{"106752d", "213506d", "99999999999d", "99999999999999999999d", "-99999999999999999999d", "2562048h", "9999999999999999m", "1.5e9h"} {
		d, err := parseSettingDuration("idle", v)
		if v == "1.5e9h" { // not written as a duration at all
			if lot.ErrorCode(err) != lot.EUSAGE {
				t.Errorf("--idle %s: %v, %s; want not a duration", v, err, d)
			}
			continue
		}
		if lot.ErrorCode(err) != lot.EINVALID || lot.ErrorField(err) != "idle" || d != 0 {
			t.Errorf("--idle %s: %s, %v (field %q); want refused as too large on the field idle", v, d, err, lot.ErrorField(err))
		}
	}
	for v, want := range map[string]time.Duration{"106751d": 106751 * 24 * time.Hour, "90d": 90 * 24 * time.Hour, "+2d": 48 * time.Hour, "2562047h": 2562047 * time.Hour, "15m": 15 * time.Minute} {
		if d, err := parseSettingDuration("idle", v); err != nil || d != want {
			t.Errorf("--idle %s: %s, %v; want %s", v, d, err, want)
		}
	}
	for _, v := range []string{"5hh", "forever", "0d", "-3d", "1.5d", "d", "h"} {
		if _, err := parseSettingDuration("idle", v); lot.ErrorCode(err) != lot.EUSAGE {
			t.Errorf("--idle %s: %v; want not a duration (usage)", v, err)
		}
	}
}
