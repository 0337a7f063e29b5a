package web

import (
	"testing"

	"github.com/celltrack/celltrack/lot"
)

// intParam reads every number of a request (?last=, ?version=, a path's
// reaction or infusion number): left out is 0; not a whole number, or below
// the lower bound when there is one, is a usage error naming the field and
// the value.
func TestIntParam(t *testing.T) {
	for _, c := range []struct {
		name, field, v string
		least          []int
		want           int
		refused        string
	}{
		{"left out", "last", "", []int{1}, 0, ""},
		{"a count", "last", "20", []int{1}, 20, ""},
		{"zero below the bound", "last", "0", []int{1}, 0, `last "0" is not a whole number of 1 or more`},
		{"a count that is not a number", "last", "ten", []int{1}, 0, `last "ten" is not a whole number of 1 or more`},
		{"a version", "version", "3", nil, 3, ""},
		{"no bound: the service says what a number means", "seq", "-1", nil, -1, ""},
		{"a path number that is not one", "seq", "1x", nil, 0, `seq "1x" is not a whole number`},
	} {
		t.Run(c.name, func(t *testing.T) {
			n, err := intParam(c.field, c.v, c.least...)
			if c.refused == "" {
				if err != nil || n != c.want {
					t.Fatalf("intParam(%q, %q) = %d, %v; want %d", c.field, c.v, n, err, c.want)
				}
				return
			}
			if lot.ErrorCode(err) != lot.EUSAGE || lot.ErrorField(err) != c.field || lot.ErrorMessage(err) != c.refused {
				t.Fatalf("intParam(%q, %q): %v (%s, field %q); want usage on %s: %s", c.field, c.v, err, lot.ErrorCode(err), lot.ErrorField(err), c.field, c.refused)
			}
		})
	}
}
