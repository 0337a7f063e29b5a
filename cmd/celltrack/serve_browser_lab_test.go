package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// The lab's pages in a real browser, one happy path each, with the
// keyboard and a scanner's Enter: register a lot, split it, import a CSV
// file, scan a container's label barcode, store it, and print its label
// (the PDF download of `label print`). Each page is saved at tablet
// (768×1024) and phone (390×844) width for a person to look at, and the
// label PDF beside them.
func TestServeBrowserLabPages(t *testing.T) {
	f := newWebFixture(t, false, "lab", "custody")
	ctx := newBrowser(t)
	do := browserSteps(t, ctx)
	text := browserText[chromedp.CSS](t, ctx)
	// shots saves the page as it is at both sizes, then goes back to the
	// tablet.
	shots := func(name string) {
		t.Helper()
		do("phone size", chromedp.EmulateViewport(390, 844))
		saveScreenshot(t, ctx, "celltrack-"+name+"-390x844.png", true)
		do("tablet size", chromedp.EmulateViewport(768, 1024))
		saveScreenshot(t, ctx, "celltrack-"+name+"-768x1024.png", true)
	}
	downloads := t.TempDir()
	if _, err := chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: downloads}); err != nil {
		t.Fatalf("allow downloads: %v", err)
	}

	do("the page at 768×1024", chromedp.EmulateViewport(768, 1024))
	do("log in as the lab", logIn(f.srv.URL+"/", "liu", chromedp.WaitVisible(chromedp.ID("lots")))...)
	do("open the registration from the lot list",
		chromedp.Focus(chromedp.ID("register-lot")),
		chromedp.KeyEvent(kb.Enter),
		chromedp.WaitVisible(chromedp.ID("lot-form")),
		chromedp.SendKeys(chromedp.ID("number"), "LOT-UC-9"),
		chromedp.SetValue(chromedp.ID("source"), "uc"),
		chromedp.SendKeys(chromedp.ID("donor"), "D-0001"),
		chromedp.SendKeys(chromedp.ID("cells"), "1.2e9"),
		chromedp.SendKeys(chromedp.ID("viability"), "93.0"),
		chromedp.SendKeys(chromedp.ID("volume_ml"), "120"),
		chromedp.SendKeys(chromedp.ID("manufactured"), "2026-11-21"),
		chromedp.SendKeys(chromedp.ID("expires"), "2027-11-21"),
		chromedp.SendKeys(chromedp.ID("location"), "LN2-B rack 1"),
	)
	shots("lab-register-lot")
	do("register the lot",
		chromedp.SendKeys(chromedp.ID("expires"), kb.Enter),
		chromedp.WaitVisible(chromedp.ID("done")),
	)
	if done := text("#done"); !strings.Contains(done, "Registered lot LOT-UC-9 in quarantine; DIN G1234 26 000003") {
		t.Fatalf("after registering:\n%s", done)
	}
	do("split it into three bags",
		chromedp.SendKeys(chromedp.ID("containers-n"), "3"),
		chromedp.SendKeys(chromedp.ID("cells-each"), "1e8"),
		chromedp.SendKeys(chromedp.ID("volume-each"), "40"+kb.Enter),
		// The page before already says what was done (the registration):
		// wait for the container list, which only the split page has.
		chromedp.WaitVisible(chromedp.ID("containers")),
	)
	if done := text("#done"); !strings.Contains(done, "Split lot LOT-UC-9 into 3 container(s)") || !strings.Contains(done, "G12342600000303") {
		t.Fatalf("after splitting:\n%s", done)
	}
	shots("lab-lot-split")

	csv := filepath.Join(t.TempDir(), "lots.csv")
	os.WriteFile(csv, []byte("lot_number,source,donor,patient,cells,viability,volume_ml,manufactured,expires\n"+
		"LOT-I-1,uc,D-0001,,1e9,95,100,2026-11-01,2027-11-01\nLOT-I-2,uc,D-0001,,lots,95,100,2026-11-01,2027-11-01\n"), 0o644)
	do("import a file with a bad row",
		chromedp.Navigate(f.srv.URL+"/register/lot"),
		chromedp.WaitVisible(chromedp.ID("import-form")),
		chromedp.SetUploadFiles(chromedp.ID("csv"), []string{csv}),
		chromedp.Click(chromedp.CSS("#import-form button")),
		chromedp.WaitVisible(chromedp.ID("import-problems")),
	)
	if p := text("#import-problems"); !strings.Contains(p, "line 3: cells") {
		t.Fatalf("the bad row is not listed:\n%s", p)
	}
	shots("lab-import-refused")
	os.WriteFile(csv, []byte("lot_number,source,donor,patient,cells,viability,volume_ml,manufactured,expires\n"+
		"LOT-I-1,uc,D-0001,,1e9,95,100,2026-11-01,2027-11-01\nLOT-I-2,rfib,,MRN-2001,5e8,90,50,2026-11-02,2027-05-02\n"), 0o644)
	do("import the corrected file",
		chromedp.SetUploadFiles(chromedp.ID("csv"), []string{csv}),
		chromedp.Click(chromedp.CSS("#import-form button")),
		chromedp.WaitVisible(chromedp.ID("done")),
	)
	if done := text("#done"); !strings.Contains(done, "Imported 2 lot(s); all are in quarantine") {
		t.Fatalf("after importing:\n%s", done)
	}

	do("scan a bag's label barcode",
		chromedp.Focus(chromedp.CSS(`nav a[href="/containers"]`)),
		chromedp.KeyEvent(kb.Enter),
		chromedp.WaitVisible(chromedp.ID("code")),
	)
	shots("lab-containers-scan")
	do("open the bag",
		chromedp.SendKeys(chromedp.ID("code"), "=G12342600000301"+kb.Enter),
		chromedp.WaitVisible(chromedp.ID("store-form")),
	)
	do("store it",
		chromedp.SendKeys(chromedp.ID("store-location"), "LN2-B rack 1 pos 1"+kb.Enter),
		chromedp.WaitVisible(chromedp.ID("done")),
	)
	if done := text("#done"); !strings.Contains(done, "Container G12342600000301 is stored at site LAB; custodian liu") {
		t.Fatalf("after storing:\n%s", done)
	}
	if s := text("#c-state"); s != "STORED" {
		t.Errorf("state shown %q", s)
	}
	shots("lab-container")

	do("print its label", chromedp.Click(chromedp.CSS("#label-print-form button")))
	pdf := filepath.Join(downloads, "G12342600000301-label.pdf")
	var data []byte
	for i := 0; i < 100; i++ {
		if data, _ = os.ReadFile(pdf); bytes.HasSuffix(bytes.TrimSpace(data), []byte("%%EOF")) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !bytes.HasPrefix(data, []byte("%PDF-")) {
		t.Fatalf("no label PDF downloaded to %s", pdf)
	}
	out := filepath.Join(screenshotDir(), "celltrack-lab-label.pdf")
	if err := os.WriteFile(out, data, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("label: %s", out)
	do("the label is counted", chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("label-count")))
	if c := text("#label-count"); c != "Printed 1, applied 0, voided 0, unused 1." {
		t.Errorf("label count %q", c)
	}
}
