package release

import (
	"strings"
	"testing"

	"github.com/celltrack/celltrack/lot"
)

// TestCheckShown: a release form that showed another version of the
// specification than the one the release would be evaluated against is a
// conflict on spec_shown (review14 D); a malformed one names what to give;
// none asks for no check.
func TestCheckShown(t *testing.T) {
	sp := Spec{Name: "isct-uc-msc", Version: 2}
	for _, tc := range []struct {
		shown, code, want string
	}{
		{"", "", ""},
		{"isct-uc-msc@2", "", ""},
		{"isct-uc-msc@1", lot.ECONFLICT, "the form showed the lot evaluated against isct-uc-msc@1, but it would now be released against isct-uc-msc@2"},
		{"other@2", lot.ECONFLICT, "released against isct-uc-msc@2"},
		{"isct-uc-msc", lot.EINVALID, "names no version"},
		{"isct-uc-msc@x", lot.EINVALID, "NAME@VERSION (e.g. isct-uc-msc@2)"},
	} {
		err := CheckShown(tc.shown, sp)
		if lot.ErrorCode(err) != tc.code || tc.code != "" && (lot.ErrorField(err) != "spec_shown" || !strings.Contains(lot.ErrorMessage(err), tc.want)) {
			t.Errorf("CheckShown(%q) = %v (%s, field %q); want %q containing %q", tc.shown, err, lot.ErrorCode(err), lot.ErrorField(err), tc.code, tc.want)
		}
	}
}
