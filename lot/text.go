package lot

import (
	"slices"
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
// beyond SameName: in any word order ("Adams, Alice" is Alice Adams),
// without titles and post-nominals ("Dr Alice Adams, MD" is Alice Adams;
// nameTitles), without accents ("Alicé" is Alice), and with the Latin
// look-alikes of UTS #39 that a font blurs read as one letter (1, I and
// l; 0 and o; rn and m; vv and w: "Al1ce Adarns" is Alice Adams).
//
// It is broader than SameName on purpose, and for one use: an admin
// creating or changing an account that may be the admin's own
// (store.notOwnLookalike). There a false match costs the admin asking
// another admin, and a miss lets the admin sign under a second login. It
// is not used where a match refuses a real person or a real witness
// (checkPrintedName, segregation of duties): "Wei Liu" and "Liu Wei", or
// "Carl" and "Cari", are different people there.
func MayBeSameName(a, b string) bool {
	if SameName(a, b) {
		return true
	}
	for _, drop := range []bool{false, true} {
		if ka := nameKey(a, drop); ka != "" && ka == nameKey(b, drop) {
			return true
		}
	}
	return false
}

// nameTitles are the titles and post-nominals MayBeSameName leaves out, as
// foldName and nameKey print them (case folded, dots and spaces dropped:
// "Ph.D." is phd). Generational suffixes (Jr, Sr, II) are kept: they name
// another person. So are the ones that are also common family names (Do,
// Ma, Pa). A role written into a printed name ("Alice Adams (admin)", as
// the demo does) is left out as a title is.
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

// nameKey is the form MayBeSameName compares: name folded (foldName, with
// punctuation dropped or read as spaces), accents removed, titles left
// out (unless that leaves nothing), each word's look-alike letters read as
// one, the words sorted.
func nameKey(s string, drop bool) string {
	s = strings.Map(func(r rune) rune {
		switch r {
		case '1', '|':
			return 'l'
		case '0':
			return 'o'
		}
		return r
	}, norm.NFKC.String(s))
	s = strings.Map(func(r rune) rune {
		if unicode.Is(unicode.Mn, r) {
			return -1
		}
		return r
	}, norm.NFD.String(foldName(s, drop)))
	words := strings.Fields(s)
	kept := slices.DeleteFunc(slices.Clone(words), func(w string) bool { return nameTitles[w] })
	if len(kept) == 0 {
		kept = words
	}
	for i, w := range kept {
		w = strings.ReplaceAll(w, "i", "l")
		w = strings.ReplaceAll(w, "rn", "m")
		kept[i] = strings.ReplaceAll(w, "vv", "w")
	}
	slices.Sort(kept)
	return strings.Join(kept, " ")
}
