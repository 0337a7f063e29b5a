package lot

import (
	"fmt"
	"strconv"
	"strings"
)

// ISBT 128 identifiers (ICCBBA ST-001). A Donation Identification Number
// (DIN) is 13 characters: the 5-character Facility Identification Number
// (FIN), a 2-digit year and a 6-digit sequence. Printed labels add a check
// character computed with ISO/IEC 7064 MOD 37-2 (ST-001 Appendix A); barcodes
// carry "=" + DIN + a 2-character flag.

const mod37Alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ*"

// CheckCharacter returns the ISO/IEC 7064 MOD 37-2 check character of s, which
// must contain only digits and upper-case letters.
func CheckCharacter(s string) byte {
	sum := 0
	for i := 0; i < len(s); i++ {
		sum = ((sum + strings.IndexByte(mod37Alphabet, s[i])) * 2) % 37
	}
	return mod37Alphabet[(38-sum)%37]
}

// ValidateFIN checks an ISBT 128 Facility Identification Number: a letter
// other than O, then four digits (ST-001 §2.4.1), e.g. G1234.
func ValidateFIN(fin string) error {
	if len(fin) != 5 || fin[0] < 'A' || fin[0] > 'Z' || fin[0] == 'O' || strings.Trim(fin[1:], "0123456789") != "" {
		return Errorf(EINVALID, "facility %q is not an ISBT 128 Facility Identification Number: it is 5 characters, a capital letter other than O then 4 digits, e.g. G1234", fin)
	}
	return nil
}

// DIN is an ISBT 128 Donation Identification Number.
type DIN struct {
	FIN  string
	Year int // two digits, 0–99
	Seq  int // 1–999999
}

// String returns the 13-character DIN without its check character.
func (d DIN) String() string { return string(d.appendTo(make([]byte, 0, 13))) }

// appendTo appends the DIN as String writes it: the same as
// fmt's "%s%02d%06d", without fmt's reflection, since traces and the
// bedside write a code per event they show.
func (d DIN) appendTo(b []byte) []byte {
	b = append(b, d.FIN...)
	return appendZeroPadded(appendZeroPadded(b, d.Year, 2), d.Seq, 6)
}

// appendZeroPadded appends n in decimal, zero-padded to width digits, as
// fmt's "%0<width>d" does (a negative number keeps its sign first).
func appendZeroPadded(b []byte, n, width int) []byte {
	var buf [20]byte
	digits := strconv.AppendInt(buf[:0], int64(n), 10)
	if n < 0 {
		b = append(b, '-')
		digits = digits[1:]
		width--
	}
	for i := len(digits); i < width; i++ {
		b = append(b, '0')
	}
	return append(b, digits...)
}

// Check returns the DIN's check character.
func (d DIN) Check() byte { return CheckCharacter(d.String()) }

// EyeReadable returns the DIN as printed under a barcode, in its groups, with
// the check character last: "G1234 26 000001 4". Labels box the last character.
func (d DIN) EyeReadable() string {
	return fmt.Sprintf("%s %02d %06d %c", d.FIN, d.Year, d.Seq, d.Check())
}

// spacesAndDashes drops the spaces and dashes people type in codes; made
// once (a Replacer builds its tables on first use, and is safe for
// concurrent use), not on every code parsed.
var spacesAndDashes = strings.NewReplacer(" ", "", "-", "")

// ParseDIN reads a DIN as typed from a label or scanned from a barcode: spaces
// and dashes are ignored, a leading "=" (the barcode's data identifier) and a
// trailing 2-digit flag after a 13-character DIN from a barcode are accepted,
// and a 14th character is taken as the check character and verified. The
// message says exactly which part is wrong.
func ParseDIN(s string) (DIN, error) {
	raw := s
	s = strings.ToUpper(spacesAndDashes.Replace(strings.TrimSpace(s)))
	scanned := strings.HasPrefix(s, "=")
	s = strings.TrimPrefix(s, "=")
	if scanned && len(s) == 15 {
		s = s[:13] // drop the barcode's flag characters
	}
	var check byte
	switch len(s) {
	case 13:
	case 14:
		check, s = s[13], s[:13]
	default:
		return DIN{}, Errorf(EINVALID, "DIN %q has %d characters; a DIN is 13 (e.g. G1234 26 000001) plus an optional check character", raw, len(s))
	}
	if err := ValidateFIN(s[:5]); err != nil {
		return DIN{}, Errorf(EINVALID, "DIN %q: its first 5 characters %q are not a facility number (a capital letter other than O, then 4 digits)", raw, s[:5])
	}
	if strings.Trim(s[5:], "0123456789") != "" {
		return DIN{}, Errorf(EINVALID, "DIN %q: after the facility %s it must have 8 digits (2 for the year, 6 for the sequence), found %q", raw, s[:5], s[5:])
	}
	d := DIN{FIN: s[:5]}
	fmt.Sscanf(s[5:7], "%d", &d.Year)
	fmt.Sscanf(s[7:], "%d", &d.Seq)
	if d.Seq == 0 {
		return DIN{}, Errorf(EINVALID, "DIN %q: sequence number 000000 is never issued", raw)
	}
	if check != 0 && check != d.Check() {
		return DIN{}, Errorf(EINVALID, "DIN %q: check character %c does not match; for %s it is %c — re-read or re-scan the label", raw, check, d, d.Check())
	}
	return d, nil
}
