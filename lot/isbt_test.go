package lot

import "testing"

func TestCheckCharacter(t *testing.T) {
	for _, tc := range []struct {
		din  string
		want byte
	}{
		{"G123417654321", 'A'}, // ISBT 128 ST-001 Appendix A worked example
		{"A999914123456", CheckCharacter("A999914123456")},
	} {
		if got := CheckCharacter(tc.din); got != tc.want {
			t.Errorf("CheckCharacter(%s) = %c, want %c", tc.din, got, tc.want)
		}
	}
}
