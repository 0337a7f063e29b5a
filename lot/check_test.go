package lot

import (
	"strings"
	"testing"
	"time"
)

// TestCheckNotFuture: up to ClockSkew (5 minutes) after now is accepted, a
// nanosecond more is refused, and the message names the field and the time.
func TestCheckNotFuture(t *testing.T) {
	now := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		at   time.Time
		want string
	}{
		{now.Add(-time.Hour), ""},
		{now, ""},
		{now.Add(5 * time.Minute), ""},
		{now.Add(5*time.Minute + time.Nanosecond), "--at 2026-11-25 09:05 UTC is in the future (now is 2026-11-25 09:00 UTC)"},
		{now.Add(24 * time.Hour), "--at 2026-11-26 09:00 UTC is in the future"},
	} {
		err := CheckNotFuture("--at", tc.at, now)
		if tc.want == "" && err != nil || tc.want != "" && (ErrorCode(err) != EINVALID || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: %v; want %q", tc.at, err, tc.want)
		}
	}
}

// TestCheckWeight: 1.0 kg and 300.0 kg are the plausible bounds, both
// included; the message names the field and the weight in kg.
func TestCheckWeight(t *testing.T) {
	for _, tc := range []struct {
		g    Grams
		want string
	}{
		{999, "--kg 0.999 kg is outside 1.0–300.0 kg"},
		{1_000, ""},
		{62_000, ""},
		{300_000, ""},
		{300_001, "--kg 300.001 kg is outside"},
		{620_000, "--kg 620.0 kg is outside 1.0–300.0 kg; re-weigh the patient"},
	} {
		err := CheckWeight("--kg", tc.g)
		if tc.want == "" && err != nil || tc.want != "" && (ErrorCode(err) != EINVALID || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%d g: %v; want %q", tc.g, err, tc.want)
		}
	}
}
