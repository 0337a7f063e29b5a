package main

import (
	"testing"
	"time"
)

// review20 finding I: `settings set` reads "Nd" by multiplying N days in
// int64 nanoseconds without a bound, so a number of days past 106,751 (292
// years) wraps around: `--password-max-age 213506d` (585 years — "never",
// in a hurry) is stored as 2 days 0 h 25 min and every password of the
// facility expires in two days; `--password-max-age 99999999999d` is refused
// naming "1734552h44m48.761856s", a value nobody typed. Expected: a day
// count too large for a duration is refused naming the value typed, as
// time.ParseDuration refuses "999999999999h".
func TestReview20SettingDaysDoNotWrapAround(t *testing.T) {
	for _, v := range []string{"213506d", "99999999999d"} {
		d, err := parseSettingDuration("password-max-age", v)
		if err == nil {
			t.Errorf("--password-max-age %s read as %s (%.2f days): the day count wrapped around", v, d, d.Hours()/24)
		}
		if err != nil && d != 0 {
			t.Errorf("--password-max-age %s: %v with %s", v, err, d)
		}
	}
	if _, err := time.ParseDuration("999999999999h"); err == nil {
		t.Fatal("setup: time.ParseDuration takes an overflowing hour count")
	}
}
