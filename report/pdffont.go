package report

import (
	_ "embed"
	"encoding/binary"
	"fmt"
	"strings"
	"sync"

	"codeberg.org/go-pdf/fpdf"
)

// The PDFs' font — trace reports, certificates, labels: DejaVu Sans (Debian
// fonts-dejavu-core; licence in fonts/LICENSE), embedded so that names in
// Latin Extended, Greek or Cyrillic print as written. The core PDF fonts
// (cp1252) could not: they turned 'Łucja Wąsowska' into '?ucja W?sowska'.
// fpdf embeds only the glyphs a document uses.
//
// Labels also print the eye-readable DIN in DejaVu Sans Mono Bold: its zero
// is dotted and its I has serifs, so a check character 0 is not read as O,
// nor 1 as I — DejaVu Sans draws both pairs alike.
var (
	//go:embed fonts/DejaVuSans.ttf
	dejaVuSans []byte
	//go:embed fonts/DejaVuSans-Bold.ttf
	dejaVuSansBold []byte
	//go:embed fonts/DejaVuSansMono-Bold.ttf
	dejaVuSansMonoBold []byte
)

// pdfFont is the family name DejaVu Sans is registered under; pdfMonoFont
// that of DejaVu Sans Mono (bold only).
const (
	pdfFont     = "DejaVu"
	pdfMonoFont = "DejaVuMono"
)

// addPDFFonts registers the embedded faces with f.
func addPDFFonts(f *fpdf.Fpdf) {
	f.AddUTF8FontFromBytes(pdfFont, "", dejaVuSans)
	f.AddUTF8FontFromBytes(pdfFont, "B", dejaVuSansBold)
}

// pdfGlyphs is the set of characters both embedded faces can draw, read
// once from their cmap tables.
var pdfGlyphs = sync.OnceValue(func() func(rune) bool {
	regular, bold := cmapRunes(dejaVuSans), cmapRunes(dejaVuSansBold)
	return func(r rune) bool { return regular[r] && bold[r] }
})

// pdfMonoGlyphs is the set of characters DejaVu Sans Mono Bold can draw.
var pdfMonoGlyphs = sync.OnceValue(func() func(rune) bool {
	mono := cmapRunes(dejaVuSansMonoBold)
	return func(r rune) bool { return mono[r] }
})

// pdfMissing is how a character the font lacks is printed: its code point,
// visibly, never a bare "?" that reads as part of the value.
func pdfMissing(r rune) string { return fmt.Sprintf("[U+%04X]", r) }

// pdfClean returns s as the PDF can draw it, every character the font lacks
// replaced by pdfMissing, and whether any was.
func pdfClean(s string) (string, bool) {
	has := pdfGlyphs()
	lost := false
	var b strings.Builder
	for _, r := range s {
		if r < 0x20 || has(r) {
			b.WriteRune(r)
			continue
		}
		b.WriteString(pdfMissing(r))
		lost = true
	}
	return b.String(), lost
}

// cmapRunes reads the characters of the Basic Multilingual Plane a TrueType
// font maps to a glyph, from its (3,1) or (0,3) format 4 cmap subtable —
// the table fpdf itself draws with, which knows no character beyond the
// BMP. A font it cannot read maps nothing, so every character is then
// printed as its code point rather than risked.
func cmapRunes(ttf []byte) map[rune]bool {
	runes := map[rune]bool{}
	u16 := func(o int) int {
		if o < 0 || o+2 > len(ttf) {
			return 0
		}
		return int(binary.BigEndian.Uint16(ttf[o:]))
	}
	u32 := func(o int) int {
		if o < 0 || o+4 > len(ttf) {
			return 0
		}
		return int(binary.BigEndian.Uint32(ttf[o:]))
	}
	cmap := -1
	for i := range u16(4) {
		rec := 12 + 16*i
		if rec+16 <= len(ttf) && string(ttf[rec:rec+4]) == "cmap" {
			cmap = u32(rec + 8)
		}
	}
	if cmap < 0 {
		return runes
	}
	sub := -1
	for i := range u16(cmap + 2) {
		rec := cmap + 4 + 8*i
		platform, encoding := u16(rec), u16(rec+2)
		if (platform == 3 && encoding == 1) || (platform == 0 && encoding == 3) {
			if o := cmap + u32(rec+4); u16(o) == 4 {
				sub = o
				break
			}
		}
	}
	if sub < 0 {
		return runes
	}
	segs := u16(sub+6) / 2
	ends, starts := sub+14, sub+16+2*segs
	deltas, ranges := starts+2*segs, starts+4*segs
	for s := range segs {
		end, start := u16(ends+2*s), u16(starts+2*s)
		delta, rangeOff := u16(deltas+2*s), u16(ranges+2*s)
		for c := start; c <= end && c != 0xFFFF; c++ {
			glyph := 0
			if rangeOff == 0 {
				glyph = (c + delta) & 0xFFFF
			} else if g := u16(ranges + 2*s + rangeOff + 2*(c-start)); g != 0 {
				glyph = (g + delta) & 0xFFFF
			}
			if glyph != 0 {
				runes[rune(c)] = true
			}
		}
	}
	return runes
}
