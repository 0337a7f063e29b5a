package main

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/celltrack/celltrack/internal/pgtest"
	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/store"
	"github.com/celltrack/celltrack/web"
)

// forms12Servers is the guard10 fixture on one PostgreSQL database served
// by two servers, each with its own handle on the database, as two
// `celltrack serve` behind one address.
func forms12Servers(t *testing.T) (a, b *webFixture) {
	t.Helper()
	dbURL := pgtest.URL(t)
	a = newWebFixtureOn(t, dbURL, false, "lab", "release", "custody")
	return a, newWebFixtureAt(t, dbURL)
}

// forms12Browser is a browser logged in as user at f.
func forms12Browser(f *webFixture, user string) *http.Client {
	c := f.client()
	f.login(c, user)
	return c
}

// forms12Resent sends form, shown and sent once at server a, to server b:
// refused (409, the store's refusal of a form whose record has moved on,
// naming the change), nothing written to the one database.
func forms12Resent(t *testing.T, a, b *webFixture, c *http.Client, path string, form url.Values, change string) {
	t.Helper()
	before := a.auditHead()
	st, body := b.post(c, path, form)
	msg := review9Refusal(body)
	if st != http.StatusConflict || !strings.Contains(msg, "changed after this form was shown (the last change recorded: "+change) || !strings.Contains(msg, "nothing was done now") {
		t.Errorf("%s sent again to the other server: %d, refusal %q; want 409 naming %s", path, st, msg, change)
	}
	if after := a.auditHead(); after != before {
		t.Errorf("%s sent again to the other server wrote to the audit trail (%s → %s)", path, before, after)
	}
}

// forms12: the label, split and password forms carried their state in
// `shown`, checked under one server's lock, so a form sent again to the
// other of two servers on one PostgreSQL database (a second click behind a
// load balancer, the Back button after a failover) was judged by nothing:
// the print counted every label again, the split split again, the reset
// reset again, and the password change checked its old password, now
// wrong, against the account. They carry `seen` now, which the store
// checks in its writing transaction: each is refused at the other server
// (409) with nothing written, and the change counts no wrong password.
func TestForms12FormsResentToTheOtherServer(t *testing.T) {
	a, b := forms12Servers(t)
	labA, labB := forms12Browser(a, "liu"), forms12Browser(b, "liu")

	for _, tc := range []struct{ path, change string }{
		{"/lots/LOT-UC-1/labels", "label.print by liu"},
		{"/containers/G12342600000101/label-print", "label.print by liu"},
	} {
		form := guard10Form(t, a, labA, tc.path, nil)
		if st, body := a.post(labA, tc.path, form); st != http.StatusOK || !strings.HasPrefix(body, "%PDF-") {
			t.Fatalf("%s: %d\n%.300s", tc.path, st, body)
		}
		forms12Resent(t, a, b, labB, tc.path, form, tc.change)
	}
	// A double click whose two sends go one to each server, at once:
	// one prints, the other is refused (under one lock per server, both
	// could find the count unchanged and both print).
	const labels = "/lots/LOT-UC-1/labels"
	form := guard10Form(t, a, labA, labels, nil)
	n := a.auditCount()
	status := make([]int, 2)
	var wg sync.WaitGroup
	for i, srv := range []struct {
		f *webFixture
		c *http.Client
	}{{a, labA}, {b, labB}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			status[i], _ = srv.f.post(srv.c, labels, form)
		}()
	}
	wg.Wait()
	if status[0]+status[1] != http.StatusOK+http.StatusConflict {
		t.Errorf("the lot's print sent to both servers at once: %v, want one 200 and one 409", status)
	}
	if got := a.auditCount() - n; got != 4 {
		t.Errorf("the lot's print sent to both servers at once counted %d labels, want 4", got)
	}

	const bag = "/containers/G12342600000101"
	apply := guard10Form(t, a, labA, bag+"/label-apply", nil)
	if st, body := a.post(labA, bag+"/label-apply", apply); st != http.StatusOK || !strings.Contains(body, "printed 3, applied 1") {
		t.Fatalf("apply: %d\n%s", st, body)
	}
	forms12Resent(t, a, b, labB, bag+"/label-apply", apply, "label.apply by liu")
	void := guard10Form(t, a, labA, bag+"/label-void", url.Values{"reason": {"smudged"}})
	if st, body := a.post(labA, bag+"/label-void", void); st != http.StatusOK || !strings.Contains(body, "voided 1") {
		t.Fatalf("void: %d\n%s", st, body)
	}
	forms12Resent(t, a, b, labB, bag+"/label-void", void, "label.void by liu")

	const split = "/lots/LOT-UC-1/split"
	form = guard10Form(t, a, labA, split, url.Values{"containers": {"2"}, "cells_each": {"1e8"}})
	if st, body := a.post(labA, split, form); st != http.StatusOK || !strings.Contains(body, "into 2 container(s)") {
		t.Fatalf("split: %d\n%s", st, body)
	}
	forms12Resent(t, a, b, labB, split, form, "lot.split by liu")

	adminA, adminB := forms12Browser(a, "alice"), forms12Browser(b, "alice")
	const reset = "/accounts/nina/reset"
	form = guard10Form(t, a, adminA, reset, url.Values{"password": {"tulip-orbit-canyon-31"}, "repeat": {"tulip-orbit-canyon-31"}, "reason": {"forgot it"}})
	if st, body := a.post(adminA, reset, form); st != http.StatusOK {
		t.Fatalf("reset: %d\n%s", st, body)
	}
	forms12Resent(t, a, b, adminB, reset, form, "user.reset by alice")

	// liu's own change at a; the Back button and a resend at b, where liu
	// has logged in with the new password: its current password is the
	// old one, which is not checked.
	const newPassword = "harbor-lantern-moss-82"
	form = guard10Form(t, a, labA, "/password", url.Values{"password": {fixturePassword}, "new_password": {newPassword}, "repeat": {newPassword}})
	if st, body := a.post(labA, "/password", form); st != http.StatusOK || !strings.Contains(body, "The password of liu was changed") {
		t.Fatalf("change: %d\n%s", st, body)
	}
	again := b.client()
	if st, body := b.post(again, "/login", url.Values{"user": {"liu"}, "password": {newPassword}}); st != http.StatusOK || !strings.Contains(body, "Log out") {
		t.Fatalf("liu's login at the other server with the new password: %d\n%s", st, body)
	}
	for range 5 { // counted, these would lock liu out
		forms12Resent(t, a, b, again, "/password", form, "user.passwd by liu")
	}
	if u, err := a.db.User("liu"); err != nil || u.Failures != 0 {
		t.Errorf("liu after the resends: %d wrong passwords counted, %v", u.Failures, err)
	}
}

// forms12: the JSON API and the command line's client of a server may
// carry the same state (seen; Seen in the service API), refused at the
// other server as a page's resend: 409 on the field seen, nothing written,
// no password checked.
func TestForms12APIAndClientCarrySeenToTheOtherServer(t *testing.T) {
	a, b := forms12Servers(t)
	admin := forms12Browser(b, "alice")
	nina, err := a.db.User("nina")
	if err != nil {
		t.Fatal(err)
	}
	seen, err := a.db.Seen(nina.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.db.DisableUser("alice", "nina", "on leave", nil); err != nil {
		t.Fatal(err)
	}
	refusedOnSeen := func(what string, st int, m map[string]any, before string) {
		t.Helper()
		e, _ := m["error"].(map[string]any)
		if st != http.StatusConflict || e["field"] != "seen" {
			t.Errorf("%s: %d %v; want 409 on seen", what, st, m)
		}
		if a.auditHead() != before {
			t.Errorf("%s wrote to the audit trail", what)
		}
	}
	before := a.auditHead()
	st, m := b.postJSON(admin, "/api/v1/users/nina/reset", map[string]any{"one_time_password": "tulip-orbit-canyon-31", "reason": "forgot it", "seen": seen})
	refusedOnSeen("a reset made from the account as it was before the disable", st, m, before)

	u, _ := a.db.User("liu")
	seen, _ = a.db.Seen(u.ID)
	const newPassword = "harbor-lantern-moss-82"
	if _, err := a.db.ChangePassword("liu", fixturePassword, newPassword, nil); err != nil {
		t.Fatal(err)
	}
	liu := b.client()
	if st, body := b.post(liu, "/login", url.Values{"user": {"liu"}, "password": {newPassword}}); st != http.StatusOK || !strings.Contains(body, "Log out") {
		t.Fatalf("liu's login with the new password: %d\n%s", st, body)
	}
	before = a.auditHead()
	st, m = b.postJSON(liu, "/api/v1/password", map[string]any{"password": fixturePassword, "new_password": "quiet-meadow-falcon-47", "seen": seen})
	refusedOnSeen("a password change made from the account as it was before the last change", st, m, before)
	if u, _ := a.db.User("liu"); u.Failures != 0 {
		t.Errorf("the refused change counted %d wrong passwords", u.Failures)
	}

	// The service API through the command line's client, at b, with the
	// state read at a.
	cl, err := web.NewClient(b.srv.URL, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Login("liu", newPassword); err != nil {
		t.Fatal(err)
	}
	const bag = "G12342600000101"
	labels := web.NewRemoteLabels(guard11Caller{cl})
	c, err := store.NewLotService(a.db).Container(bag)
	if err != nil {
		t.Fatal(err)
	}
	at, err := a.db.Seen(c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := labels.Print("liu", bag, &at, func(lot.LabelSet) error { return nil }); err != nil {
		t.Fatalf("a print with the container's state: %v", err)
	}
	before = a.auditHead()
	_, err = labels.Print("liu", bag, &at, func(lot.LabelSet) error { t.Error("a refused print was rendered"); return nil })
	if lot.ErrorCode(err) != lot.ECONFLICT || lot.ErrorField(err) != "seen" || a.auditHead() != before {
		t.Errorf("a print sent again through the client: %v (%s, field %q); want a conflict on seen, nothing written", err, lot.ErrorCode(err), lot.ErrorField(err))
	}
	if _, err := labels.Apply("liu", bag, &at); lot.ErrorCode(err) != lot.ECONFLICT || lot.ErrorField(err) != "seen" || a.auditHead() != before {
		t.Errorf("an apply made from the labels as they were before the print: %v; want a conflict on seen, nothing written", err)
	}
	lt, err := store.NewLotService(a.db).Lot("LOT-UC-1")
	if err != nil {
		t.Fatal(err)
	}
	l, err := a.db.Seen(lt.ID)
	if err != nil {
		t.Fatal(err)
	}
	lots := web.NewRemoteLots(guard11Caller{cl})
	if _, err := lots.SplitLot("liu", lot.Split{Lot: "LOT-UC-1", Containers: 1, CellsEach: 100_000_000, Seen: &l}); err != nil {
		t.Fatalf("a split with the lot's state: %v", err)
	}
	before = a.auditHead()
	if _, err := lots.SplitLot("liu", lot.Split{Lot: "LOT-UC-1", Containers: 1, CellsEach: 100_000_000, Seen: &l}); lot.ErrorCode(err) != lot.ECONFLICT || lot.ErrorField(err) != "seen" || a.auditHead() != before {
		t.Errorf("a split sent again through the client: %v; want a conflict on seen, nothing written", err)
	}
}
