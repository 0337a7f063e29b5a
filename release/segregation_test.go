package release

import (
	"testing"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/lot"
)

// TestCheckSegregation: the registrant may not release the lot under another
// login whose printed name differs only in spacing, width, case or Unicode
// form, punctuation or repeated spaces; a different person may.
func TestCheckSegregation(t *testing.T) {
	l := lot.Lot{Number: "LOT-A", CreatedBy: "liu"}
	registrant := audit.User{Name: "liu", FullName: "Liu Wei", Role: audit.Lab}
	for _, tc := range []struct {
		login, fullName string
		refused         bool
	}{
		{"liu", "Someone Else", true}, // the same login
		{"qa3", "Liu Wei", true},
		{"qa3", "liu wei", true},
		{"qa3", "Liu  Wei", true},
		{"qa3", " Liu Wei\t", true},
		{"qa3", "Liu\u00a0Wei", true},
		{"qa3", "Liu\u3000Wei", true},
		{"qa3", "Liu\u2009Wei", true},
		{"qa3", "Ｌｉｕ Ｗｅｉ", true},
		{"qa3", "Liu Wei.", true}, // issue 12: punctuation is not another person
		{"qa3", "Liu, Wei", true},
		{"qa3", "Liu-Wei", true},
		{"qa3", "Liu  Wei .", true},
		{"qa3", "Liu K. Wei", false}, // a middle initial tells them apart
		{"quinn", "Quinn Adebayo", false},
		{"qa3", "Liu Wen", false},
		{"qa3", "Wei Liu", false}, // reordered names are out of scope (README "Release")
	} {
		err := CheckSegregation(l, audit.User{Name: tc.login, FullName: tc.fullName, Role: audit.QA}, registrant)
		if tc.refused && lot.ErrorCode(err) != lot.EFORBIDDEN {
			t.Errorf("%s %q releasing Liu Wei's lot: %v; want EFORBIDDEN", tc.login, tc.fullName, err)
		}
		if !tc.refused && err != nil {
			t.Errorf("%s %q releasing Liu Wei's lot: %v; want allowed", tc.login, tc.fullName, err)
		}
	}
}
