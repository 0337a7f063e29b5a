package lot

import "testing"

// TestReview21MayBeSameNameFoldsCaseBeforeLookalikes (review 21, finding
// C): MayBeSameName reads look-alike letters after folding case, so a
// capital L (which looks like no I) and a dotted i (which looks like no l)
// count as look-alikes: "Lan Hill" may be "Ian Hill", "Eli Ross" may be
// "Ell Ross", "Mark Ali" may be "Mark All". The confusable pair is the
// capital I and the small l (and 1, |); a sole admin named Ian Hill cannot
// add the nurse Lan Hill, refused as "an account of their own".
func TestReview21MayBeSameNameFoldsCaseBeforeLookalikes(t *testing.T) {
	for _, c := range [][2]string{{"Ian Hill", "Lan Hill"}, {"Mark Ali", "Mark All"}, {"Eli Ross", "Ell Ross"}} {
		if MayBeSameName(c[0], c[1]) {
			t.Errorf("MayBeSameName(%q, %q) = true; a capital L or a dotted i looks like neither I nor l", c[0], c[1])
		}
	}
	// The look-alikes it is for still match.
	for _, c := range [][2]string{{"Ian Hill", "lan Hill"}, {"Alice Adams", "AIice Adams"}, {"Alice Adams", "Al1ce Adams"}} {
		if !MayBeSameName(c[0], c[1]) {
			t.Errorf("MayBeSameName(%q, %q) = false; want the look-alike read as one", c[0], c[1])
		}
	}
}
