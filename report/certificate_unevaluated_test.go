package report

import (
	"strings"
	"testing"

	"github.com/celltrack/celltrack/release"
)

// A rejection recorded without an evaluation says so on the certificate.
func TestCertificateShowsUnevaluatedRejection(t *testing.T) {
	c := certSample()
	d := release.Disposition{Lot: c.Lot.Number, Decision: release.Rejected, Reason: "mycoplasma positive", At: c.Generated, By: "quinn",
		Unevaluated: "evaluation unavailable: no specification \"isct-uc-msc\""}
	c.Dispositions = append(c.Dispositions, d)
	var b strings.Builder
	if err := CertificateText(&b, c); err != nil {
		t.Fatal(err)
	}
	if text := strings.Join(strings.Fields(b.String()), " "); !strings.Contains(text, "REJECTED by quinn — mycoplasma positive (evaluation unavailable: no specification") {
		t.Errorf("certificate does not say the rejection has no evaluation:\n%s", b.String())
	}
}
