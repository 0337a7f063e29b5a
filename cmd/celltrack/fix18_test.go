package main

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// Fix 18 (review 18, finding E): the GO page's volume field is the sign
// form's, and a signature sent with a volume other than the one the check
// showed is refused — nothing written — with the check for the volume
// typed shown in its place; signing that records the volume typed.
func TestFix18SignWithAVolumeOtherThanTheCheckedIsRefusedThenChecked(t *testing.T) {
	f := newWebFixture(t, false, "lab", "release", "custody", "bedside")
	c := f.client()
	f.login(c, "nina")
	body := review18GO(t, f, c)
	if m := regexp.MustCompile(`<input id="volume_ml" [^>]*>`).FindString(body); !strings.Contains(m, `form="administer-form"`) {
		t.Errorf("the GO page's volume field is not the sign form's: %s", m)
	}
	sign := signForm(t, body, fixturePassword)
	sign.Set("volume_ml", "33.0")
	before := f.auditCount()
	st, body := f.post(c, "/bedside/administer", sign)
	if st != http.StatusConflict || strings.Contains(body, `id="recorded"`) {
		t.Fatalf("a signature with 33.0 mL typed on a check of 34.1 mL: %d, want 409\n%s", st, r18main(body))
	}
	if after := f.auditCount(); after != before {
		t.Fatalf("the refused signature wrote %d audit entries", after-before)
	}
	if msg := r18error(body); !strings.Contains(msg, "volume field says 33.0 mL") || !strings.Contains(msg, "34.1 mL") || !strings.Contains(msg, "nothing was signed") {
		t.Errorf("the refusal does not name the volume typed and the one shown: %q", msg)
	}
	if !strings.Contains(body, "Give 6.006×10^7 cells in 33.0 mL") || !strings.Contains(body, `id="administer-form"`) {
		t.Fatalf("the refused page does not show the check for 33.0 mL with its sign form:\n%s", r18visible(body))
	}
	again := signForm(t, body, fixturePassword)
	again.Set("volume_ml", "33.0")
	if st, body := f.post(c, "/bedside/administer", again); st != http.StatusOK || !strings.Contains(r18visible(body), "in 33.0 mL") {
		t.Fatalf("signing the check for 33.0 mL: %d\n%s", st, r18visible(body))
	}
}

// Fix 18 (review 18, finding A): the patient's own wristband scanned into
// the bag field is said to be the wristband of this check's patient, not a
// bag, and the page shows no verdict under it.
func TestFix18OwnWristbandScannedAsBag(t *testing.T) {
	f := newWebFixture(t, false, "lab", "release", "custody", "bedside")
	c := f.client()
	f.login(c, "nina")
	review18GO(t, f, c)
	before := f.auditCount()
	st, body := f.post(c, "/bedside/check", url.Values{"mrn": {"MRN-1001"}, "bag": {"G12342600000101"}, "scan": {"MRN-1001"}})
	if st != http.StatusUnprocessableEntity {
		t.Fatalf("the patient's wristband scanned as a bag: %d, want 422", st)
	}
	if msg := r18error(body); !strings.Contains(msg, "MRN-1001 is the wristband of Mei Chen, the patient of this check, not a bag") {
		t.Errorf("the refusal does not say it is this patient's wristband: %q", msg)
	}
	if strings.Contains(body, `id="verdict"`) || strings.Contains(body, `id="administer-form"`) {
		t.Errorf("a verdict or sign form is shown under the refused scan")
	}
	if !strings.Contains(body, `<input type="hidden" name="bag" value="G12342600000101">`) {
		t.Errorf("the bag in hand is gone after the refused scan")
	}
	if after := f.auditCount(); after != before {
		t.Errorf("the refused scan wrote %d audit entries", after-before)
	}
}

// Fix 18 (review 18, finding G): a refused password reset names the
// account it was for and comes back open on that account's row, the
// reason kept and the passwords not; a refused disable keeps its reason.
func TestFix18AccountRefusalNamesTheAccountAndStaysOpen(t *testing.T) {
	f := newWebFixture(t, false, "lab", "release", "custody", "bedside")
	c := f.client()
	f.login(c, "alice")
	before := f.auditCount()
	_, body := f.postPage(c, "/accounts/pat/reset", url.Values{"password": {"quartz-lantern-ember-44"}, "repeat": {"quartz-lantern-ember-45"}, "reason": {"ticket 4411"}})
	if msg := r18error(body); !strings.HasPrefix(msg, "Refused: reset of pat: ") {
		t.Errorf("the refused reset does not name the account: %q", msg)
	}
	if !regexp.MustCompile(`<details class="reset" open><summary>Reset password…</summary>\s*<form method="post" action="/accounts/pat/reset"`).MatchString(body) {
		t.Errorf("pat's reset form is not open after its refusal")
	}
	if regexp.MustCompile(`<details class="reset" open><summary>Reset password…</summary>\s*<form method="post" action="/accounts/(omar|nina)/`).MatchString(body) {
		t.Errorf("another account's reset form is open after pat's refusal")
	}
	if strings.Contains(body, "quartz-lantern-ember-4") {
		t.Errorf("the refused page echoes the passwords typed")
	}
	_, body = f.postPage(c, "/accounts/omar/disable", url.Values{"reason": {"badge lost"}, "seen": {"not-a-number"}})
	if m := regexp.MustCompile(`<input id="reason-disable-omar"[^>]*>`).FindString(body); !strings.Contains(m, `value="badge lost"`) {
		t.Errorf("the refused disable lost its reason: %s (%s)", m, r18error(body))
	}
	if after := f.auditCount(); after != before {
		t.Errorf("the refused account actions wrote %d audit entries", after-before)
	}
}
