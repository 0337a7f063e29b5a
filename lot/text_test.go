package lot

import (
	"strings"
	"testing"
)

// TestValidateTextRefusesInvisible: a required reason or name must be seen
// to be there. Each row is text pasted from a mail, a PDF or a chat, that
// shows as nothing or as something else.
func TestValidateTextRefusesInvisible(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		want       []string // substrings of the message
	}{
		{"zero width space alone", "\u200b", []string{"--reason", "U+200B ZERO WIDTH SPACE", "retype --reason"}},
		{"word joiner alone", "\u2060", []string{"U+2060 WORD JOINER"}},
		{"byte order mark alone", "\ufeff", []string{"U+FEFF", "byte order mark"}},
		{"zero width space inside a word", "sample\u200bmix-up", []string{"U+200B", "character 7"}},
		{"zero width joiner", "mix\u200dup", []string{"U+200D ZERO WIDTH JOINER"}},
		{"zero width non-joiner", "mix\u200cup", []string{"U+200C ZERO WIDTH NON-JOINER"}},
		{"right-to-left override", "pass\u202eliaf", []string{"U+202E RIGHT-TO-LEFT OVERRIDE"}},
		{"right-to-left isolate", "\u2067ok", []string{"U+2067"}},
		{"left-to-right mark", "ok\u200e", []string{"U+200E"}},
		{"soft hyphen", "trans\u00adcription", []string{"U+00AD SOFT HYPHEN"}},
		{"Mongolian vowel separator", "\u180e", []string{"U+180E"}},
		{"Hangul filler", "\u3164", []string{"U+3164 HANGUL FILLER"}},
		{"halfwidth Hangul filler", "\uffa0", []string{"U+FFA0", "invisible"}},
		{"combining grapheme joiner", "a\u034fb", []string{"U+034F", "invisible"}},
		{"tag character", "ok\U000E0041", []string{"U+E0041"}},
		{"C1 next line", "ok\u0085more", []string{"U+0085", "invisible"}},
		{"line separator", "one\u2028two", []string{"U+2028 LINE SEPARATOR"}},
		{"paragraph separator", "one\u2029two", []string{"U+2029 PARAGRAPH SEPARATOR"}},
		{"no-break spaces only", "\u00a0\u00a0", []string{"--reason is required"}},
		{"ideographic space only", "\u3000", []string{"--reason is required"}},
		{"en, em and narrow spaces only", "\u2002\u2003\u202f\u205f", []string{"--reason is required"}},
		{"Braille blank only", "\u2800", []string{"--reason is required", "no visible character"}},
		{"lone combining accent", " \u0301 ", []string{"--reason is required", "no visible character"}},
		{"escape", "a\x1bb", []string{"control characters"}},
		{"tab", "a\tb", []string{"control characters"}},
		{"not UTF-8", "a\xffb", []string{"not UTF-8"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateText("--reason", tc.text, true)
			if ErrorCode(err) != EINVALID {
				t.Fatalf("ValidateText(%q): %v; want EINVALID", tc.text, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("ValidateText(%q) = %q; want it to contain %q", tc.text, err, w)
				}
			}
		})
	}
	// Invisible characters are refused in optional text too: an optional
	// location can still carry a bidi override.
	if err := ValidateText("--location", "LN2\u202eA", false); ErrorCode(err) != EINVALID || !strings.Contains(err.Error(), "U+202E") {
		t.Errorf("optional --location with U+202E: %v", err)
	}
}

// TestValidateTextAcceptsRealText: the names and reasons of a real lab —
// accents, CJK, hyphens, apostrophes, typographic quotes and dashes, emoji,
// spaces of other widths between words — pass unchanged.
func TestValidateTextAcceptsRealText(t *testing.T) {
	for _, text := range []string{
		"sample mix-up",
		"José Álvarez-Núñez",
		"Jose\u0301 (decomposed accent)",
		"Zoë O'Brien",
		"Siobhán Ní Dhómhnaill",
		"Ærøskøbing Ø",
		"Łukasz Żółć",
		"Ἀθηνᾶ Παπαδοπούλου",
		"Дмитрий Шостакович",
		"刘伟",
		"劉 偉",
		"山田　太郎", // ideographic space between family and given name
		"김민준",
		"محمد",
		"אברהם",
		"नमस्ते",
		"Liu\u00a0Wei",
		"transcription error — CD90 was 97.1 ‘not’ 91.7",
		"≥ 95 % · 2.36×10^9 cells",
		"no growth ✓",
		"reaction 🤒 grade 1",
		"❤️ variation selector",
		"a", // one visible character is enough
	} {
		if err := ValidateText("--full-name", text, true); err != nil {
			t.Errorf("ValidateText(%q): %v", text, err)
		}
	}
	if err := ValidateText("--location", "", false); err != nil {
		t.Errorf("empty optional text: %v", err)
	}
}

// TestSameName: two printed names are the same person when they differ only
// in spacing, width, case or Unicode composition; reordered or different
// names are not (reordering is out of scope: "Wei Liu" may be another person).
func TestSameName(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		same bool
	}{
		{"Liu Wei", "Liu Wei", true},
		{"Liu Wei", "liu wei", true},
		{"Liu Wei", "LIU WEI", true},
		{"Liu Wei", "Liu  Wei", true},
		{"Liu Wei", " Liu Wei ", true},
		{"Liu Wei", "Liu\u00a0Wei", true},
		{"Liu Wei", "Liu\u3000Wei", true},
		{"Liu Wei", "Liu\u2002\u2003Wei", true},
		{"Liu Wei", "Liu\tWei", true},
		{"Liu Wei", "Ｌｉｕ Ｗｅｉ", true},                         // full-width letters from a CJK input method
		{"José Núñez", "Jose\u0301 Nu\u0301n\u0303ez", true}, // decomposed accents (macOS)
		{"Straße", "STRASSE", true},                          // full case folding
		{"Σωκράτης", "σωκράτης", true},
		{"Οδυσσεύς", "ΟΔΥΣΣΕΎΣ", true}, // final sigma
		{"刘伟", "刘伟", true},
		{"Nina Rossi", "Nina Rossi.", true}, // issue 12: the look-alike witness
		{"Nina Rossi", "Nina  Rossi.", true},
		{"Nina Rossi", "Nina. Rossi", true},
		{"Nina Rossi", "Nina.Rossi", true},
		{"Nina Rossi", "Nina,  Rossi", true},
		{"Nina Rossi", "'Nina Rossi'", true},
		{"Nina Rossi", "Nina Rossi*", true},
		{"Nina Rossi", "Nina·Rossi", true}, // a middle dot, as in transliterated names
		{"Nina Rossi", "Nina Rossi \u2014", true},
		{"Nina Rossi", "Nina Rossi\uff0e", true}, // a full-width full stop
		{"Anne-Marie Dubois", "Anne Marie Dubois", true},
		{"Anne-Marie Dubois", "AnneMarie Dubois", true},
		{"Sean O'Brien", "Sean OBrien", true},
		{"Nina Rossi RN", "Nin\u0430 Rossi RN", true},          // a Cyrillic а (review of issue 12)
		{"Alice Adams", "\u0410lice Adams", true},              // a Cyrillic А
		{"Omar Haddad", "\u039Fmar Haddad", true},              // a Greek Ο
		{"Pat Okafor", "P\u0430t \u041Ek\u0430f\u043Er", true}, // several at once
		{"Нина Петрова", "Нина Петрова", true},                 // Cyrillic names still compare
		{"Нина Петрова", "Нина Петров", false},
		{"Sean O'Brien", "Sean O Brien", true},
		{"Sean O\u2019Brien", "Sean O'Brien", true}, // a typographic apostrophe
		{"Liu Wei", "Wei Liu", false},
		{"Nina Rossi", "Nina Rossi 2", false},  // a digit is not punctuation
		{"Nina Rossi", "Nina R. Rossi", false}, // a middle initial tells them apart
		{"Liu Wei", "Liu W.", false},
		{"Liu Wei", "Liu Wen", false},
		{"Liu Wei", "LiuWei", false},
		{"José", "Jose", false}, // an accent is part of the name
		{"刘伟", "劉偉", false},     // simplified and traditional: not folded
	} {
		if got := SameName(tc.a, tc.b); got != tc.same {
			t.Errorf("SameName(%q, %q) = %v; want %v (folded %q and %q)", tc.a, tc.b, got, tc.same, FoldName(tc.a), FoldName(tc.b))
		}
	}
}

// TestMayBeSameName: the broader comparison of an admin's own name with an
// account the admin creates or changes (review 20, finding B; review 21,
// findings A and C) folds word order, titles, accents and Latin look-alikes
// read as typed, and lets other words through beside a family name and a
// given name (or its initial); it still tells apart names that differ in a
// letter of either, and a capital L or a small i from the stroke of I and l.
func TestMayBeSameName(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		same bool
	}{
		{"Alice Adams", "Alice Adams", true},
		{"Alice Adams", "ALICE  ADAMS", true},
		{"Alice Adams", "Adams, Alice", true}, // the roster's order
		{"Alice Adams", "Adams,Alice", true},
		{"Alice Adams", "ADAMS Alice", true},
		{"Alice Adams", "Dr Alice Adams", true},
		{"Alice Adams", "Dr. Alice Adams, M.D.", true},
		{"Alice Adams", "Adams, Alice, PhD", true},
		{"Alice Adams", "Alice Adams RN", true},
		{"Alice Adams", "Prof. Adams Alice MT(ASCP)", true},
		{"Alice Adams", "Alicé Adams", true},
		{"Alice Adams", "Alice Adarns", true}, // rn for m
		{"Alice Adams", "Al1ce Adams", true},  // 1 for i
		{"Alice Adams", "AIice Adams", true},  // capital I for l
		{"Alice Adams", "A|ice Adams", true},
		{"Alice Adams", "alice adams", true},
		{"Olga Owens", "0lga 0wens", true},
		{"Wendy Vance", "VVendy Vance", true},
		{"Ian Hill", "lan Hill", true}, // small l for capital I
		{"Ian Hill", "Hill, lan", true},
		{"Nina Rossi RN", "Rossi, Nina", true},        // the admin's own title is left out too
		{"Liu Wei", "Wei Liu", true},                  // could be one person: another admin decides
		{"Dr", "Dr", true},                            // a name that is all title is compared whole
		{"Cher", "CHER", true},                        // a name of one word
		{"Alice Adams (admin)", "Adams, Alice", true}, // the demo's admin
		// review 21, finding A: other words beside the two that match
		{"Alice Adams", "Alice M. Adams", true},
		{"Alice Adams", "A. Adams", true},
		{"Alice Adams", "Adams, A.", true},
		{"Alice Adams", "Alice Adams 2", true},
		{"Alice Adams", "Alice Adams (nights)", true},
		{"Alice Adams", "Alice B. Adams MD", true},
		{"Alice Adams", "Alice Adams II", true},
		{"Alice Adams", "Alice Adams Jr", true},
		{"Alice Adams", "Do Alice Adams", true},
		{"Alice Adams", "Mary Alice Adams", true},
		{"Alice M. Adams", "A. Adams", true}, // the admin's name has the extra word
		{"Alice Adams", "Alice Adam", false},
		{"Alice Adams", "Alicia Adams", false},
		{"Alice Adams", "Alice Brown", false},
		{"Alice Adams", "B. Adams", false},
		{"Alice Adams", "Adams Adams", false},
		{"Alice Adams", "A. A.", false},
		{"Alice Adams", "Dr", false},
		{"Alice Adams", "Alice", false},
		{"Alice Adams", "Adams", false},
		{"Alice Adams", "Alice, RN", false},
		// review 21, finding C: look-alikes are read as typed, then case
		{"Ian Hill", "Lan Hill", false}, // a capital L looks like no I
		{"Mark Ali", "Mark All", false}, // a small i looks like no l
		{"Eli Ross", "Ell Ross", false},
		{"Alice Adams", "ALICE ADAMS", true},
		{"ALICE ADAMS", "AIICE ADAMS", false}, // capitals: I and L do not blur
	} {
		if got := MayBeSameName(tc.a, tc.b); got != tc.same {
			t.Errorf("MayBeSameName(%q, %q) = %v; want %v (words %q and %q)", tc.a, tc.b, got, tc.same, nameWords(tc.a, false), nameWords(tc.b, false))
		}
		if got := MayBeSameName(tc.b, tc.a); got != tc.same {
			t.Errorf("MayBeSameName(%q, %q) = %v; want %v (not symmetric)", tc.b, tc.a, got, tc.same)
		}
	}
}
