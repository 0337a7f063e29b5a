package main

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// left14a: the web app's display and form gaps left open by reviews 18 and
// 19, in a real browser at phone (360×740) and ward-PC (1280×900) width.
// The screenshots go to CELLTRACK_SCREENSHOTS, for a person to look at.
//
// The browser steps are serve_browser_test.go's (browserSteps, logIn,
// scanToGO), with the screen size set first.

var (
	l14Phone = [2]int64{360, 740}
	l14Ward  = [2]int64{1280, 900}
)

// l14Browser starts a browser; do runs steps (browserSteps).
func l14Browser(t *testing.T) (context.Context, func(step string, actions ...chromedp.Action[chromedp.Void])) {
	t.Helper()
	ctx := newBrowser(t)
	return ctx, browserSteps(t, ctx)
}

// l14Login logs user in (logIn) with the screen at size.
func l14Login(f *webFixture, do func(string, ...chromedp.Action[chromedp.Void]), user string, size [2]int64) {
	do("log in as "+user, append([]chromedp.Action[chromedp.Void]{chromedp.EmulateViewport(size[0], size[1])},
		logIn(f.srv.URL+"/login", user, chromedp.WaitVisible(chromedp.CSS("header.top .logout")))...)...)
}

// l14GO is nina's GO page for MRN-1001 and bag 01 (scanToGO), the screen
// at size.
func l14GO(f *webFixture, do func(string, ...chromedp.Action[chromedp.Void]), size [2]int64) {
	do("the GO page", append([]chromedp.Action[chromedp.Void]{chromedp.EmulateViewport(size[0], size[1])},
		scanToGO(f.srv.URL+"/login", "G12342600000101")...)...)
}

// l14Submit runs the steps that send a form (click) and waits for the page
// that answers it: a new document, not the old page's #main.
func l14Submit(do func(string, ...chromedp.Action[chromedp.Void]), step string, click chromedp.Action[chromedp.Void]) {
	do(step,
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := chromedp.Evaluate[bool](`document.body.setAttribute("data-l14-old", "1"), true`)(ctx, tg)
			return err
		}),
		click,
		chromedp.WaitVisible(chromedp.CSS("body:not([data-l14-old]) #main")))
}

// l14Shot saves the screen at each size as name-WxH.png (the whole page
// with full), in that order, leaving the browser at the last size.
func l14Shot(t *testing.T, ctx context.Context, name string, full bool, sizes ...[2]int64) {
	t.Helper()
	for _, s := range sizes {
		if err := chromedp.Do(ctx, chromedp.EmulateViewport(s[0], s[1])); err != nil {
			t.Fatal(err)
		}
		saveScreenshot(t, ctx, fmt.Sprintf("%s-%dx%d.png", name, s[0], s[1]), full)
	}
}

// The bedside's GO page, volume field: nina drew 33.0 mL, not the computed
// 34.1, types it and presses the Check button beside the field to see the
// dose for it before anyone signs (the passwords already typed). The
// answer must be the check for 33.0 mL, with 33.0 still in the field and
// the witness's name kept; nothing is recorded. (Review 18's
// fix made the field the sign form's, and the Check button then sent the
// check's volume: the typed value vanished without a word.)
func TestLeft14aBrowserCheckKeepsTheTypedVolume(t *testing.T) {
	f := newWebFixture(t, false, "lab", "release", "custody", "bedside")
	ctx, do := l14Browser(t)
	text := browserText[chromedp.CSS](t, ctx)
	l14GO(f, do, l14Phone)
	l14Shot(t, ctx, "bedside-go", true, l14Ward, l14Phone)
	do("type the passwords, the witness, and 33.0 mL in the volume field",
		chromedp.SendKeys(chromedp.ID("password"), fixturePassword),
		chromedp.SendKeys(chromedp.ID("witness"), "omar"),
		chromedp.SendKeys(chromedp.ID("witness_password"), fixturePassword),
		chromedp.Click(chromedp.CSS("details:has(#volume_ml) summary")),
		chromedp.WaitVisible(chromedp.ID("volume_ml")),
		chromedp.SendKeys(chromedp.ID("volume_ml"), "33.0"),
		chromedp.ScrollIntoView(chromedp.ID("volume_ml")),
	)
	l14Shot(t, ctx, "bedside-volume-typed", false, l14Ward, l14Phone)
	// The Check button of the card the field is in: the one a nurse
	// who has just typed there presses.
	label, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => {
		const card = document.getElementById("volume_ml").closest(".card");
		const b = [...card.querySelectorAll("button")].find(b => b.textContent.trim().startsWith("Check"));
		if (!b) return "";
		b.setAttribute("data-l14-check", "1");
		return b.textContent.trim();
	})()`))
	if err != nil || label == "" {
		t.Fatalf("no Check button in the volume field's card (%v)", err)
	}
	before := f.auditCount()
	l14Submit(do, "press "+label, chromedp.Click(chromedp.CSS("[data-l14-check]")))
	l14Shot(t, ctx, "bedside-volume-checked", true, l14Ward, l14Phone)
	if after := f.auditCount(); after != before {
		t.Errorf("pressing %s wrote %d audit entries", label, after-before)
	}
	if s := text(chromedp.CSS("#main")); strings.Contains(s, "Recorded") {
		t.Fatalf("pressing %s recorded the infusion:\n%s", label, s)
	}
	v, err := chromedp.Run(ctx, chromedp.Value(chromedp.ID("volume_ml")))
	if err != nil {
		t.Fatal(err)
	}
	if verdict := text(chromedp.CSS("#verdict")); v != "33.0" || !strings.Contains(verdict, "in 33.0 mL") {
		t.Errorf("after 33.0 mL was typed and %q pressed, the field says %q and the verdict:\n%s", label, v, verdict)
	}
	if signed := text(chromedp.CSS("#signed-dose")); !strings.Contains(signed, "in 33.0 mL") {
		t.Errorf("the sign form does not sign for 33.0 mL: %s", signed)
	}
	for id, want := range map[string]string{"witness": "omar", "password": "", "witness_password": ""} {
		if got, err := chromedp.Run(ctx, chromedp.Value(chromedp.ID(id))); err != nil || got != want {
			t.Errorf("after %s the field %s says %q (%v), want %q", label, id, got, err, want)
		}
	}
}

// The header at phone width: review 18 measured it 283 px of an 844 px
// screen (brand, seven menu links on three rows, the user's name, Log out).
// It must leave most of the first screen to the page, and still show who
// is logged in, Log out and every menu link, each a finger's size (48 px,
// as the README promises of every touch target).
func TestLeft14aBrowserHeaderCompactAtPhoneWidth(t *testing.T) {
	f := newWebFixture(t, false, "lab", "release", "custody", "bedside")
	ctx, do := l14Browser(t)
	for _, u := range []struct{ name, who string }{{"nina", "Nina"}, {"alice", "Alice"}} {
		l14Login(f, do, u.name, l14Phone)
		l14Shot(t, ctx, "header-"+u.name, false, l14Ward, l14Phone)
		got, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]any](`(() => {
			const W = document.documentElement.clientWidth, H = window.innerHeight;
			const on = el => { const r = el.getBoundingClientRect(); return r.width > 0 && r.left >= 0 && r.right <= W && r.top >= 0 && r.bottom <= H; };
			const small = [...document.querySelectorAll("header.top a, header.top button")]
				.filter(el => el.getBoundingClientRect().height < 48 || el.getBoundingClientRect().width < 48).map(el => el.textContent.trim());
			const off = [...document.querySelectorAll("header.top nav a, header.top .who, header.top .logout button")].filter(el => !on(el)).map(el => el.textContent.trim());
			return {height: document.querySelector("header.top").getBoundingClientRect().height,
				who: document.querySelector("header.top .who").textContent, small: small.join(", "), off: off.join(", ")};
		})()`))
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: header %v px of 740", u.name, got["height"])
		if h, _ := got["height"].(float64); h > 150 {
			t.Errorf("%s's header at 360×740 is %.0f px tall, more than 150", u.name, h)
		}
		if who, _ := got["who"].(string); !strings.Contains(who, u.who) || !strings.Contains(who, u.name) {
			t.Errorf("%s's header does not say who is logged in: %q", u.name, who)
		}
		if s, _ := got["off"].(string); s != "" {
			t.Errorf("%s's header at 360×740 has off the screen: %s", u.name, s)
		}
		if s, _ := got["small"].(string); s != "" {
			t.Errorf("%s's header at 360×740 has targets smaller than 48 px: %s", u.name, s)
		}
		do("log out", chromedp.Click(chromedp.CSS(".logout button")), chromedp.WaitVisible(chromedp.ID("user")))
	}
}

// l14Clipped lists what on the page at its width runs off the screen
// sideways: the page wider than the screen, or an element that reaches
// past its edge other than inside a box that scrolls sideways and is itself
// on the screen.
const l14Clipped = `(() => {
	const W = document.documentElement.clientWidth, out = [];
	if (document.documentElement.scrollWidth > W) out.push("the page is " + document.documentElement.scrollWidth + " px wide on a " + W + " px screen");
	const name = el => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") + (el.className && typeof el.className === "string" ? "." + el.className.trim().split(/\s+/).join(".") : "");
	for (const el of document.querySelectorAll("body *")) {
		if (el.closest(".skip")) continue; // off screen until focused, by design
		const r = el.getBoundingClientRect();
		if (r.width === 0 || r.height === 0 || (r.right <= W + 0.5 && r.left >= -0.5)) continue;
		let ok = false;
		for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
			const ox = getComputedStyle(p).overflowX;
			if (ox === "auto" || ox === "scroll") {
				const pr = p.getBoundingClientRect();
				ok = pr.right <= W + 0.5 && pr.left >= -0.5;
				break;
			}
		}
		if (!ok) out.push(name(el) + " [" + (el.textContent || "").trim().slice(0, 40) + "] reaches " + Math.round(r.right) + " px");
		if (out.length > 12) break;
	}
	return out.join("\n");
})()`

// The audit log at phone width: review 18 found its table cut off after
// the Action column, at the edge of a box that scrolls sideways without a
// sign that it does. Every column of an entry must be on the screen, each
// saying which column it is.
func TestLeft14aBrowserAuditLogAtPhoneWidth(t *testing.T) {
	f := newWebFixture(t, false, "lab", "release", "custody", "bedside")
	ctx, do := l14Browser(t)
	l14Login(f, do, "aud", l14Phone)
	for _, p := range []struct{ name, path string }{
		{"auditlog", "/reports/audit-log?entity=G12342600000101"},
		{"auditlog-values", "/reports/audit-log?entity=G12342600000101&values=true"},
	} {
		do("open "+p.path, chromedp.EmulateViewport(l14Phone[0], l14Phone[1]), chromedp.Navigate(f.srv.URL+p.path), chromedp.WaitVisible(chromedp.ID("report")),
			chromedp.ScrollIntoView(chromedp.CSS("#report table")))
		l14Shot(t, ctx, p.name, false, l14Ward, l14Phone)
		do("scroll to the table", chromedp.ScrollIntoView(chromedp.CSS("#report table")))
		saveScreenshot(t, ctx, p.name+"-table-360x740.png", false)
		clipped, err := chromedp.Run(ctx, chromedp.Evaluate[string](l14Clipped))
		if err != nil {
			t.Fatal(err)
		}
		if clipped != "" {
			t.Errorf("%s at 360 px runs off the screen:\n%s", p.path, clipped)
		}
		// Every column of the first entries is on the screen, without
		// scrolling sideways, and says which column it is.
		cells, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => {
			const W = document.documentElement.clientWidth, out = [];
			const cols = [...document.querySelectorAll("#report thead th")].map(th => th.textContent.trim());
			for (const tr of [...document.querySelectorAll("#report tbody tr:not(.values)")].slice(0, 3)) {
				[...tr.cells].forEach((td, i) => {
					if (td.textContent.trim() === "") return; // nothing to show
					const r = td.getBoundingClientRect();
					const says = (getComputedStyle(td, "::before").content || "") + " " + td.textContent;
					if (r.width === 0 || r.left < 0 || r.right > W + 0.5) out.push(cols[i] + " [" + td.textContent.trim() + "] at " + Math.round(r.left) + "–" + Math.round(r.right) + " px");
					else if (!says.includes(cols[i])) out.push(cols[i] + " [" + td.textContent.trim() + "] does not say it is the " + cols[i]);
				});
			}
			return out.join("\n");
		})()`))
		if err != nil {
			t.Fatal(err)
		}
		if cells != "" {
			t.Errorf("%s at 360 px: not every column is on the screen and named:\n%s", p.path, cells)
		}
	}
}

// The Recorded page after a signature names the patient beside the MRN
// and the bag, as the check page does, for the nurse to read back.
func TestLeft14aBrowserRecordedNamesThePatient(t *testing.T) {
	f := newWebFixture(t, false, "lab", "release", "custody", "bedside")
	ctx, do := l14Browser(t)
	text := browserText[chromedp.CSS](t, ctx)
	l14GO(f, do, l14Ward)
	do("sign",
		chromedp.SendKeys(chromedp.ID("password"), fixturePassword),
		chromedp.SendKeys(chromedp.ID("witness"), "omar"),
		chromedp.SendKeys(chromedp.ID("witness_password"), fixturePassword+kb.Enter),
		chromedp.WaitVisible(chromedp.ID("recorded")),
	)
	l14Shot(t, ctx, "recorded", false, l14Ward, l14Phone)
	head := text(chromedp.CSS("#recorded"))
	for _, want := range []string{"MRN-1001", "Mei Chen", "G12342600000101"} {
		if !strings.Contains(head, want) {
			t.Errorf("the Recorded page's heading section does not name %s:\n%s", want, head)
		}
	}
}

// Every page at phone width, as each role sees it: nothing runs off the
// screen sideways (review 18's sweep found the audit log's table; the
// header and the bedside changed since).
func TestLeft14aBrowserPagesAtPhoneWidth(t *testing.T) {
	f := newWebFixture(t, false, "lab", "release", "custody", "bedside")
	ctx, do := l14Browser(t)
	for _, u := range []struct {
		name  string
		pages []string
	}{
		{"nina", []string{"/bedside", "/trace?kind=patient&ref=MRN-1001", "/password", "/containers/G12342600000101"}},
		{"liu", []string{"/lots", "/lots/LOT-UC-1", "/containers", "/register", "/register/lot"}},
		{"alice", []string{"/accounts"}},
		{"aud", []string{"/reports", "/reports/handling", "/reports/access", "/reports/certificate?lot=LOT-UC-1", "/reports/audit-log", "/reports/audit-verify?run=true", "/trace?kind=lot&ref=LOT-UC-1"}},
	} {
		l14Login(f, do, u.name, l14Phone)
		for _, p := range u.pages {
			do("open "+p, chromedp.EmulateViewport(l14Ward[0], l14Ward[1]), chromedp.Navigate(f.srv.URL+p), chromedp.WaitVisible(chromedp.ID("main")))
			name := "sweep-" + u.name + strings.NewReplacer("/", "-", "?", "-", "&", "-", "=", "-").Replace(p)
			l14Shot(t, ctx, name, false, l14Ward)
			l14Shot(t, ctx, name, true, l14Phone)
			clipped, err := chromedp.Run(ctx, chromedp.Evaluate[string](l14Clipped))
			if err != nil {
				t.Fatal(err)
			}
			if clipped != "" {
				t.Errorf("%s as %s at 360 px runs off the screen:\n%s", p, u.name, clipped)
			}
			wide, err := chromedp.Run(ctx, chromedp.Evaluate[string](`[...document.querySelectorAll("main *")].filter(el => { const ox = getComputedStyle(el).overflowX; return (ox === "auto" || ox === "scroll") && el.scrollWidth > el.clientWidth + 1; }).map(el => el.tagName + "." + el.className + " " + el.clientWidth + "/" + el.scrollWidth + " [" + el.textContent.trim().slice(0, 60) + "]").join("\n")`))
			if err != nil {
				t.Fatal(err)
			}
			if wide != "" {
				t.Logf("%s as %s at 360 px scrolls sideways in:\n%s", p, u.name, wide)
			}
		}
		do("log out", chromedp.Click(chromedp.CSS(".logout button")), chromedp.WaitVisible(chromedp.ID("user")))
	}
}

// A table or report wider than its box at phone width (the lot page's
// three tables, the trace's, the certificate's text) scrolls sideways in
// its box, and must show it: with the content hidden, the box's right edge
// is shaded, its left edge (nothing to the left yet) is not.
func TestLeft14aBrowserWideBoxesShowTheyScroll(t *testing.T) {
	f := newWebFixture(t, false, "lab", "release", "custody", "bedside")
	ctx, do := l14Browser(t)
	l14Login(f, do, "aud", l14Phone)
	for _, p := range []string{"/lots/LOT-UC-1", "/trace?kind=lot&ref=LOT-UC-1", "/reports/certificate?lot=LOT-UC-1"} {
		do("open "+p, chromedp.EmulateViewport(l14Phone[0], l14Phone[1]), chromedp.Navigate(f.srv.URL+p), chromedp.WaitVisible(chromedp.ID("main")))
		n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`(() => {
			const boxes = [...document.querySelectorAll("main *")].filter(el => { const ox = getComputedStyle(el).overflowX; return (ox === "auto" || ox === "scroll") && el.scrollWidth > el.clientWidth + 1; });
			boxes.forEach((b, i) => b.setAttribute("data-l14-wide", i));
			return boxes.length;
		})()`))
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			t.Fatalf("%s at 360 px has no box wider than its content: this test no longer looks at anything", p)
		}
		do("scroll to the first", chromedp.ScrollIntoView(chromedp.CSS(`[data-l14-wide="0"]`)))
		saveScreenshot(t, ctx, "wide"+strings.NewReplacer("/", "-", "?", "-", "&", "-", "=", "-").Replace(p)+"-360x740.png", false)
		for i := range n {
			sel := fmt.Sprintf(`[data-l14-wide="%d"]`, i)
			do("scroll to "+sel, chromedp.ScrollIntoView(chromedp.CSS(sel)))
			if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => {
				const box = document.querySelector('`+sel+`');
				for (const c of box.children) c.style.visibility = "hidden";
				box.style.color = "transparent";
				return true;
			})()`)); err != nil {
				t.Fatal(err)
			}
			shot, err := chromedp.Run(ctx, chromedp.Screenshot(chromedp.CSS(sel)))
			if err != nil {
				t.Fatal(err)
			}
			left, right, err := l14EdgeShade(shot)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s box %d: darkest at the left edge %d, at the right edge %d (of 255)", p, i, left, right)
			if right > 200 {
				t.Errorf("%s at 360 px: box %d is wider inside than on the screen and its right edge is not shaded (darkest %d of 255)", p, i, right)
			}
			if left < 230 {
				t.Errorf("%s at 360 px: box %d is shaded on its left edge (darkest %d of 255) with nothing to its left", p, i, left)
			}
		}
	}
}

// l14EdgeShade is the darkest grey (0 black, 255 white) in the 3-pixel
// columns at the left and right edges of the PNG shot, over its middle
// half (away from the box's own borders and corners).
func l14EdgeShade(shot []byte) (left, right int, err error) {
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		return 0, 0, err
	}
	b := img.Bounds()
	darkest := func(x0, x1 int) int {
		min := 255
		for x := x0; x < x1; x++ {
			for y := b.Min.Y + b.Dy()/4; y < b.Max.Y-b.Dy()/4; y++ {
				r, g, bl, _ := img.At(x, y).RGBA()
				if v := int((r + g + bl) / 3 >> 8); v < min {
					min = v
				}
			}
		}
		return min
	}
	return darkest(b.Min.X+1, b.Min.X+4), darkest(b.Max.X-4, b.Max.X-1), nil
}
