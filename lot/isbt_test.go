package lot

import (
	"fmt"
	"strings"
	"testing"
)

// The expected check characters were computed independently of CheckCharacter
// (a Python one-off using the closed form of ISO/IEC 7064 MOD 37-2: the sum of
// value×2^position over the DIN and its check character is 1 mod 37), except
// the first, which is ICCBBA's published example.
func TestCheckCharacter(t *testing.T) {
	for _, tc := range []struct {
		din  string
		want byte
	}{
		{"G123417654321", 'A'}, // ISBT 128 ST-001 Appendix A worked example
		{"G123426000001", '4'},
		{"G123426000002", '2'},
		{"G123426000003", '0'},
		{"A999914123456", 'N'},
		{"W000012000001", '6'},
		{"Z999999999999", 'P'},
		{"B000100000001", 'P'},
	} {
		if got := CheckCharacter(tc.din); got != tc.want {
			t.Errorf("CheckCharacter(%s) = %c, want %c", tc.din, got, tc.want)
		}
	}
}

func TestParseDIN(t *testing.T) {
	want := DIN{FIN: "G1234", Year: 17, Seq: 654321}
	for _, in := range []string{
		"G123417654321",      // typed, no check character
		"G123417654321A",     // with check character
		"G1234 17 654321 A",  // eye-readable groups
		"g1234-17-654321-a",  // lower case, dashes
		"=G12341765432100",   // scanned: '=' + DIN + 2-character flag
		" =G1234 17 654321 ", // scanned with stray spaces
	} {
		got, err := ParseDIN(in)
		if err != nil || got != want {
			t.Errorf("ParseDIN(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
}

func TestParseDINRefusals(t *testing.T) {
	for _, tc := range []struct{ in, msg string }{
		{"", "has 0 characters"},
		{"G12341765432", "has 12 characters"},
		{"G123417654321AB", "has 15 characters"},
		{"G123417654321B", "check character B does not match; for G123417654321 it is A"},
		{"O123417654321", "are not a facility number"},
		{"12345 17 654321", "are not a facility number"},
		{"GA234 17 654321", "are not a facility number"},
		{"G1234 1X 654321", `8 digits (2 for the year, 6 for the sequence), found "1X654321"`},
		{"G1234 17 000000", "sequence number 000000 is never issued"},
	} {
		_, err := ParseDIN(tc.in)
		if err == nil || ErrorCode(err) != EINVALID || !strings.Contains(err.Error(), tc.msg) || !strings.Contains(err.Error(), "DIN") {
			t.Errorf("ParseDIN(%q) = %v; want EINVALID containing %q", tc.in, err, tc.msg)
		}
	}
}

func TestParseContainerCode(t *testing.T) {
	for _, tc := range []struct {
		in  string
		din string
		n   int
	}{
		{"G12342600000101", "G123426000001", 1},
		{"G1234260000014 01", "G123426000001", 1}, // with the DIN's check character
		{"=G123426000002-12", "G123426000002", 12},
		{"g123426000003 99", "G123426000003", 99},
	} {
		d, n, err := ParseContainerCode(tc.in)
		if err != nil || d.String() != tc.din || n != tc.n {
			t.Errorf("ParseContainerCode(%q) = %s, %d, %v; want %s, %d", tc.in, d, n, err, tc.din, tc.n)
		}
	}
	for _, tc := range []struct{ in, msg string }{
		{"G123426000001", "is not a container code"},
		{"G12342600000100", "container number \"00\" must be 01–99"},
		{"G1234260000010X", "container number \"0X\" must be 01–99"},
		{"G1234260000019 01", "check character 9 does not match"},
		{"O12342600000101", "not a facility number"},
	} {
		_, _, err := ParseContainerCode(tc.in)
		if err == nil || ErrorCode(err) != EINVALID || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("ParseContainerCode(%q) = %v; want EINVALID containing %q", tc.in, err, tc.msg)
		}
	}
}

func TestValidateFIN(t *testing.T) {
	for in, ok := range map[string]bool{"G1234": true, "A0000": true, "Z9999": true, "O1234": false, "g1234": false, "G123": false, "G12345": false, "GG234": false, "": false} {
		if err := ValidateFIN(in); (err == nil) != ok {
			t.Errorf("ValidateFIN(%q) = %v; want ok=%v", in, err, ok)
		}
	}
}

// TestCodesAsFmtWritesThem pins DIN.String and ContainerCode to the fmt
// verbs they replaced, for the values a code can hold and beyond.
func TestCodesAsFmtWritesThem(t *testing.T) {
	for _, fin := range []string{"G1234", "A9999", ""} {
		for _, year := range []int{0, 7, 26, 99, 100, -3} {
			for _, seq := range []int{0, 1, 42, 999999, 1000000, -15} {
				d := DIN{FIN: fin, Year: year, Seq: seq}
				if got, want := d.String(), fmt.Sprintf("%s%02d%06d", fin, year, seq); got != want {
					t.Errorf("DIN%+v.String() = %q, want %q", d, got, want)
				}
				for _, n := range []int{0, 1, 9, 10, 99, 100, -1} {
					if got, want := ContainerCode(d, n), fmt.Sprintf("%s%02d%06d%02d", fin, year, seq, n); got != want {
						t.Errorf("ContainerCode(%+v, %d) = %q, want %q", d, n, got, want)
					}
				}
			}
		}
	}
}
