package lot

import (
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// Free text is read by people: on screen, on a certificate, in an audit
// trail. A character that shows nothing there — a zero-width space, a word
// joiner, a bidi override that reverses what follows, a byte order mark —
// makes a required reason look empty or a name look like another. Such
// characters are the Unicode format characters (category Cf), the C1
// controls, the line and paragraph separators, and the few letters Unicode
// itself says to ignore when displaying (Other_Default_Ignorable_Code_Point:
// the Hangul fillers, the combining grapheme joiner, …).

// invisibleNames names the invisible characters most often met in pasted
// text, so that the message says more than a code point.
var invisibleNames = map[rune]string{
	0x00AD: "SOFT HYPHEN",
	0x061C: "ARABIC LETTER MARK",
	0x180E: "MONGOLIAN VOWEL SEPARATOR",
	0x200B: "ZERO WIDTH SPACE",
	0x200C: "ZERO WIDTH NON-JOINER",
	0x200D: "ZERO WIDTH JOINER",
	0x200E: "LEFT-TO-RIGHT MARK",
	0x200F: "RIGHT-TO-LEFT MARK",
	0x2028: "LINE SEPARATOR",
	0x2029: "PARAGRAPH SEPARATOR",
	0x202A: "LEFT-TO-RIGHT EMBEDDING",
	0x202B: "RIGHT-TO-LEFT EMBEDDING",
	0x202C: "POP DIRECTIONAL FORMATTING",
	0x202D: "LEFT-TO-RIGHT OVERRIDE",
	0x202E: "RIGHT-TO-LEFT OVERRIDE",
	0x2060: "WORD JOINER",
	0x2066: "LEFT-TO-RIGHT ISOLATE",
	0x2067: "RIGHT-TO-LEFT ISOLATE",
	0x2068: "FIRST STRONG ISOLATE",
	0x2069: "POP DIRECTIONAL ISOLATE",
	0x3164: "HANGUL FILLER",
	0xFEFF: "ZERO WIDTH NO-BREAK SPACE (byte order mark)",
}

// invisible reports whether r shows nothing where it stands.
func invisible(r rune) bool {
	return unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp, unicode.Other_Default_Ignorable_Code_Point)
}

// visible reports whether r is a character a reader sees: a letter, digit,
// punctuation mark, symbol or spacing mark. Spaces of every width, lone
// combining marks and the Braille blank (U+2800, drawn as nothing) are not.
func visible(r rune) bool {
	return r != 0x2800 && unicode.In(r, unicode.L, unicode.N, unicode.P, unicode.S, unicode.Mc)
}

// checkInvisible refuses text holding an invisible character, naming the
// field, the character's code point and where it is.
func checkInvisible(field, s string) error {
	i := 0
	for _, r := range s {
		i++
		if !invisible(r) {
			continue
		}
		what := "an invisible control or format character"
		if name, ok := invisibleNames[r]; ok {
			what = name + ", an invisible character"
		}
		return Errorf(EINVALID, "%s %q contains U+%04X %s (character %d); retype %s without it rather than pasting it",
			field, s, r, what, i, field)
	}
	return nil
}

// hasVisible reports whether s has at least one visible character.
func hasVisible(s string) bool {
	return strings.IndexFunc(s, visible) >= 0
}

// FoldName is the form in which two printed names are compared to decide
// whether they name the same person: Unicode compatibility normalisation
// (NFKC, so a decomposed é equals é, a full-width Ｌ equals L and every
// width of space is a space), punctuation and symbols read as spaces
// ("Nina Rossi." is Nina Rossi, "Anne-Marie" is Anne Marie), every run of
// spaces as one space, no leading or trailing space, and case folded (upper
// then lower case, so Σ, σ and ς are one letter, and ß is ss), and Cyrillic
// and Greek letters that print like Latin ones read as those
// (latinLookalikes). It does not reorder names: "Wei Liu" and "Liu Wei"
// stay different.
//
// The case folding is written here rather than taken from
// golang.org/x/text/cases, whose language tables are initialised at every
// start of the binary (~0.1 ms) for the one rule NFKC and the standard
// library leave: ß, which has no single upper-case letter, folds to ss.
func FoldName(s string) string {
	return foldName(s, false)
}

// foldName folds s as FoldName does; drop drops punctuation and symbols
// instead of reading them as spaces.
func foldName(s string, drop bool) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case !unicode.IsPunct(r) && !unicode.IsSymbol(r):
			return r
		case drop:
			return -1
		}
		return ' '
	}, norm.NFKC.String(s))
	s = strings.Join(strings.FieldsFunc(s, unicode.IsSpace), " ")
	s = strings.ReplaceAll(strings.ToLower(strings.ToUpper(s)), "ß", "ss")
	return strings.Map(func(r rune) rune {
		if l, ok := latinLookalikes[r]; ok {
			return l
		}
		return r
	}, s)
}

// latinLookalikes maps the Cyrillic and Greek letters that print like a
// Latin letter (after case folding) to that letter, so that "Ninа Rossi"
// with a Cyrillic а folds as "nina rossi": on a signed record the two cannot
// be told apart. It is the part of Unicode's confusables (UTS #39) that
// matters for names typed on Latin keyboards; the full table also folds
// Latin sequences such as "rn" into "m", which would merge real names.
var latinLookalikes = map[rune]rune{
	// Cyrillic
	'а': 'a', 'в': 'b', 'е': 'e', 'ё': 'e', 'і': 'i', 'ї': 'i', 'ј': 'j', 'к': 'k',
	'м': 'm', 'н': 'h', 'о': 'o', 'р': 'p', 'с': 'c', 'т': 't', 'у': 'y', 'х': 'x', 'ѕ': 's',
	'һ': 'h', 'ԁ': 'd', 'ԛ': 'q', 'ԝ': 'w', 'ү': 'y',
	// Greek
	'α': 'a', 'β': 'b', 'ε': 'e', 'ζ': 'z', 'η': 'h', 'ι': 'i', 'κ': 'k', 'μ': 'm', 'ν': 'v',
	'ο': 'o', 'ρ': 'p', 'τ': 't', 'υ': 'u', 'χ': 'x',
}

// SameName reports whether printed names a and b are the same once folded
// (FoldName), or once folded with punctuation dropped rather than read as
// a space, so that "O'Brien" is OBrien as well as O Brien. Names that
// differ only in punctuation, symbols, spacing, width, case or Unicode
// composition look alike on a signed record, and segregation of duties
// and the witness check treat them as one person.
func SameName(a, b string) bool {
	return foldName(a, false) == foldName(b, false) || foldName(a, true) == foldName(b, true)
}

// MayBeSameName reports whether printed names a and b may name the same
// person once read the ways a signature block or a roster prints a name,
// beyond SameName. The rule: after folding (nameWords: punctuation, accents,
// titles and post-nominals, Cyrillic and Greek look-alikes, and the Latin
// look-alikes of UTS #39 that a font blurs — I, l, 1 and |; 0 and O; rn and
// m; vv and w — read on the name as typed, then case), a and b may be one
// person when two words of one match two words of the other, in any order,
// one of them in full (the family name) and the other in full or as its
// initial (the given name), whatever other words either has: middle names
// or initials, numbers, generational suffixes, notes in parentheses.
// "Adams, Alice", "Alice M. Adams", "A. Adams", "Alice Adams 2", "Alice
// Adams (nights)", "Alice B. Adams MD", "Alice Adams II", "Dr Alice Adarns"
// and "AIice Adams" may all be Alice Adams; "Alice", "Alicia Adams",
// "Alice Adam", "Lan Hill" for "Ian Hill" (a capital L looks like no I)
// are not. Names of one word match that word.
//
// It is broader than SameName on purpose, and for one use: an admin
// creating or changing an account that may be the admin's own
// (store.notOwnLookalike). There a false match costs the admin asking
// another admin, and a miss lets the admin sign under a second login. It
// is not used where a match refuses a real person or a real witness
// (checkPrintedName, segregation of duties): "Wei Liu" and "Liu Wei",
// "Alice Adams" and "Alice Adams Jr", are different people there.
func MayBeSameName(a, b string) bool {
	if SameName(a, b) {
		return true
	}
	for _, drop := range []bool{false, true} {
		if wordsMayMatch(nameWords(a, drop), nameWords(b, drop)) {
			return true
		}
	}
	return false
}

// wordsMayMatch is MayBeSameName's rule on folded words: one word each,
// matching; or two disjoint pairs of words, one pair matching in full and
// the other in full or as an initial.
func wordsMayMatch(a, b [][]rune) bool {
	if len(a) == 0 || len(b) == 0 {
		return false
	}
	if len(a) == 1 && len(b) == 1 {
		return wordMatch(a[0], b[0])
	}
	for i := range a {
		for j := range b {
			if !wordMatch(a[i], b[j]) {
				continue
			}
			for k := range a {
				for m := range b {
					if k != i && m != j && (wordMatch(a[k], b[m]) || initialOf(a[k], b[m]) || initialOf(b[m], a[k])) {
						return true
					}
				}
			}
		}
	}
	return false
}

// wordMatch reports whether folded words x and y read alike, letter by
// letter (runeMatch).
func wordMatch(x, y []rune) bool {
	if len(x) != len(y) {
		return false
	}
	for i := range x {
		if !runeMatch(x[i], y[i]) {
			return false
		}
	}
	return true
}

// initialOf reports whether folded word x is an initial of word y: a single
// letter reading as y's first.
func initialOf(x, y []rune) bool {
	return len(x) == 1 && len(y) > 1 && runeMatch(x[0], y[0])
}

// The letters a font blurs into one stroke, as nameWords marks them on the
// name as typed: a capital I, a small l, and 1 or | (which also blur with
// a small i). A capital I is also the letter i and a small l the letter l
// (case), but a capital L and a small i look like no I or l: so "AIice"
// may be "Alice" and "lan" may be "Ian", but "Lan" is not "Ian" and "Ali"
// is not "All". The relation is not transitive, so words are compared
// letter by letter (runeMatch), not folded to one key. The marks are
// private-use code points, which NFKC and case folding leave alone; a name
// typed with one of them (it prints as nothing or a box) has it read as a
// stroke, which can only refuse more.
const (
	strokeCapitalI = '\uE049' // I as typed: the letter i, or a stroke
	strokeSmallL   = '\uE06C' // l as typed: the letter l, or a stroke
	strokeOnly     = '\uE031' // 1 or | as typed: a stroke only
)

// runeMatch reports whether folded letters x and y read alike: the same
// letter once case is folded, both a stroke, or a 1 or | and a letter i
// ("Al1ce" is Alice).
func runeMatch(x, y rune) bool {
	stroke := func(r rune) bool { return r == strokeCapitalI || r == strokeSmallL || r == strokeOnly }
	return letterOf(x) == letterOf(y) || stroke(x) && stroke(y) ||
		x == strokeOnly && letterOf(y) == 'i' || y == strokeOnly && letterOf(x) == 'i'
}

// letterOf is the letter a folded rune is once case is folded: a marked
// capital I is i, a marked small l is l.
func letterOf(r rune) rune {
	switch r {
	case strokeCapitalI:
		return 'i'
	case strokeSmallL:
		return 'l'
	}
	return r
}

// nameTitles are the titles and post-nominals MayBeSameName leaves out, as
// nameWords prints them (case folded, dots and spaces dropped: "Ph.D." is
// phd). A role written into a printed name ("Alice Adams (admin)", as the
// demo does) is left out as a title is. Since any other word is allowed
// beside the two that match, leaving titles out matters where a title
// would be taken for a given name: "Dr Adams" and "Dr Alice Adams" share
// only the family name.
var nameTitles = map[string]bool{
	"dr": true, "doctor": true, "prof": true, "professor": true, "mr": true, "mrs": true, "ms": true,
	"miss": true, "mx": true, "sir": true, "dame": true, "rev": true, "sister": true, "nurse": true,
	"md": true, "phd": true, "dphil": true, "mbbs": true, "mbchb": true, "frcp": true, "frcs": true,
	"frcpath": true, "facp": true, "facs": true, "pharmd": true, "rph": true, "rn": true, "bsn": true,
	"msn": true, "aprn": true, "np": true, "lpn": true, "cna": true, "pac": true, "mt": true, "mls": true,
	"mlt": true, "cls": true, "ascp": true, "sbb": true, "mba": true, "mph": true, "msc": true,
	"bsc": true, "esq": true,
	// a role written into the printed name, as the demo's "Alice Adams (admin)"
	"admin": true, "administrator": true, "qa": true, "physician": true,
}

// nameWords is the form MayBeSameName compares: the look-alikes read on the
// name as typed (after NFKC) — a capital I, a small l, 1 and | marked as
// strokes (runeMatch), 0 read as o, rn as m, vv as w and VV as W — then
// folded as foldName folds (punctuation dropped or read as spaces, case
// folded, Cyrillic and Greek look-alikes read as Latin), accents removed,
// and titles left out (unless that leaves nothing).
func nameWords(s string, drop bool) [][]rune {
	s = strings.Map(func(r rune) rune {
		switch r {
		case 'I', 'І', 'Ι': // Latin, Cyrillic and Greek capital I
			return strokeCapitalI
		case 'l':
			return strokeSmallL
		case '1', '|':
			return strokeOnly
		case '0':
			return 'o'
		}
		return r
	}, norm.NFKC.String(s))
	s = strings.NewReplacer("rn", "m", "vv", "w", "VV", "W").Replace(s)
	s = strings.Map(func(r rune) rune {
		if unicode.Is(unicode.Mn, r) {
			return -1
		}
		return r
	}, norm.NFD.String(foldName(s, drop)))
	var words, kept [][]rune
	for _, w := range strings.Fields(s) {
		words = append(words, []rune(w))
		title := strings.Map(func(r rune) rune {
			if r == strokeOnly {
				return '1'
			}
			return letterOf(r)
		}, w)
		if !nameTitles[title] {
			kept = append(kept, []rune(w))
		}
	}
	if len(kept) == 0 {
		return words
	}
	return kept
}
