package main

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// A forgotten password in a real browser, keyboard only: the admin resets
// it on the accounts page; the nurse logs in with the one-time password,
// sees only the change form, changes it and lands on the bedside page.
// Screenshots at 768×1024 of the accounts page with its reset forms and of
// the change form are saved, their paths logged.
func TestServeBrowserPasswordReset(t *testing.T) {
	f := newWebFixture(t, false, "lab", "release", "custody", "bedside")
	ctx := newBrowser(t)
	shot := func(name string) { t.Helper(); saveScreenshot(t, ctx, name, false) }
	do := browserSteps(t, ctx)
	do("the page at 768×1024", chromedp.EmulateViewport(768, 1024))
	do("log in as the admin", logIn(f.srv.URL+"/login", "alice", chromedp.WaitVisible(chromedp.CSS("nav")))...)
	err := chromedp.Do(ctx,
		chromedp.Navigate(f.srv.URL+"/accounts"),
		chromedp.WaitVisible(chromedp.ID("account-nina")),
		// The reset form is folded away under its summary: Enter opens it.
		chromedp.SendKeys(chromedp.CSS("#account-nina details.reset summary"), kb.Enter),
		chromedp.WaitVisible(chromedp.ID("reset-nina")),
	)
	if err != nil {
		t.Fatal(err)
	}
	shot("celltrack-accounts-reset-768x1024.png")
	err = chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.ID("pw-reset-nina"), "tulip-orbit-canyon-31"),
		chromedp.SendKeys(chromedp.ID("repeat-reset-nina"), "tulip-orbit-canyon-31"),
		chromedp.SendKeys(chromedp.ID("reason-reset-nina"), "forgot the password; identity checked in person"+kb.Enter),
		chromedp.WaitVisible(chromedp.ID("done")),
	)
	if err != nil {
		t.Fatal(err)
	}
	if done, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("done"))); err != nil || !strings.Contains(done, "Account nina: password reset") {
		t.Fatalf("after the reset: %q %v", done, err)
	}

	nurse := newBrowser(t)
	err = chromedp.Do(nurse,
		chromedp.EmulateViewport(768, 1024),
		chromedp.Navigate(f.srv.URL+"/login"),
		chromedp.WaitVisible(chromedp.ID("user")),
		chromedp.SendKeys(chromedp.ID("user"), "nina"),
		chromedp.SendKeys(chromedp.ID("password"), "tulip-orbit-canyon-31"+kb.Enter),
		chromedp.WaitVisible(chromedp.ID("must-change")),
	)
	if err != nil {
		t.Fatal(err)
	}
	saveScreenshot(t, nurse, "celltrack-password-must-change-768x1024.png", false)
	if nav, err := chromedp.Run(nurse, chromedp.Text(chromedp.CSS("header"))); err != nil || strings.Contains(nav, "Bedside") || strings.Contains(nav, "Log out") {
		t.Errorf("the change form offers more than the change: %q %v", nav, err)
	}
	err = chromedp.Do(nurse,
		chromedp.SendKeys(chromedp.ID("password"), "tulip-orbit-canyon-31"),
		chromedp.SendKeys(chromedp.ID("new_password"), "saffron-glacier-piano-8"),
		chromedp.SendKeys(chromedp.ID("repeat"), "saffron-glacier-piano-8"+kb.Enter),
		chromedp.WaitVisible(chromedp.ID("mrn")),
	)
	if err != nil {
		t.Fatal(err)
	}
	if e := f.lastEntry("nina"); e.Action != "login" || e.Reason != "password changed at login" {
		t.Errorf("the change at login: %+v", e)
	}
}
