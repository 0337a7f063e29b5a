package web

import (
	"math"
	"regexp"
	"strconv"
	"testing"
)

// The colours of the stylesheet's :root meet WCAG 2.1 AA: text at least
// 4.5:1 against its background, input borders (a UI component) 3:1.
func TestColoursMeetWCAGAA(t *testing.T) {
	css, err := staticFS.ReadFile("static/style.css")
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"white": "#fff"}
	for _, m := range regexp.MustCompile(`--([a-z]+):\s*(#[0-9a-fA-F]{3,6})`).FindAllStringSubmatch(string(css), -1) {
		vars[m[1]] = m[2]
	}
	for _, tc := range []struct {
		fg, bg string
		min    float64
	}{
		{"ink", "paper", 4.5}, {"muted", "paper", 4.5}, {"accent", "paper", 4.5}, {"go", "paper", 4.5}, {"nogo", "paper", 4.5},
		{"white", "go", 4.5}, {"white", "nogo", 4.5}, {"line", "paper", 3},
	} {
		fg, bg := vars[tc.fg], vars[tc.bg]
		if fg == "" || bg == "" {
			t.Fatalf("style.css has no --%s or --%s", tc.fg, tc.bg)
		}
		if r := contrast(fg, bg); r < tc.min {
			t.Errorf("--%s %s on --%s %s: contrast %.2f, below %.1f", tc.fg, fg, tc.bg, bg, r, tc.min)
		}
	}
}

func contrast(a, b string) float64 {
	la, lb := luminance(a), luminance(b)
	return (math.Max(la, lb) + 0.05) / (math.Min(la, lb) + 0.05)
}

// luminance is the relative luminance of a #rgb or #rrggbb colour (WCAG 2.1).
func luminance(hex string) float64 {
	h := hex[1:]
	if len(h) == 3 {
		h = string([]byte{h[0], h[0], h[1], h[1], h[2], h[2]})
	}
	var l float64
	for i, w := range []float64{0.2126, 0.7152, 0.0722} {
		v, _ := strconv.ParseUint(h[2*i:2*i+2], 16, 8)
		c := float64(v) / 255
		if c <= 0.03928 {
			c /= 12.92
		} else {
			c = math.Pow((c+0.055)/1.055, 2.4)
		}
		l += w * c
	}
	return l
}
