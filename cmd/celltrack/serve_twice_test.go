package main

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// The same administration sent twice, on the bedside page (a double click,
// the form sent again with the browser's back button) and through the API
// (a script retrying): the second is NO-GO and says that this bag was
// already infused into this patient, when, by whom and as which infusion —
// not that the infusion is no longer due — and writes nothing.
func TestServeAdministerTwiceSaysWhatHappened(t *testing.T) {
	f := newWebFixture(t, false, "lab", "release", "custody", "bedside")
	c := f.client()
	f.login(c, "nina")
	_, page := f.post(c, "/bedside/check", url.Values{"mrn": {"MRN-1001"}, "scan": {"G12342600000101"}})
	form := signForm(t, page, fixturePassword)
	st, body := f.post(c, "/bedside/administer", form)
	if st != http.StatusOK || !strings.Contains(body, ">Recorded<") {
		t.Fatalf("first administration: %d\n%s", st, body)
	}
	id := regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`).FindString(body)
	if id == "" {
		t.Fatalf("no infusion id on the recorded page:\n%s", body)
	}
	want := "bag G12342600000101 was already infused into patient MRN-1001 at 2026-11-25 09:00 UTC by Nina Rossi (nina), witness omar, infusion " + id
	n := f.auditCount()
	st, body = f.post(c, "/bedside/administer", form)
	if st != http.StatusConflict {
		t.Errorf("second administration on the page: %d, want 409", st)
	}
	page = html.UnescapeString(body)
	mustContain(t, "the page sent twice", page, `id="already-infused"`, "Already given — do not infuse again.", want+"; do not infuse it again.", ">NO-GO<")
	// The explanation comes before the consequence (no infusion due).
	if i, j := strings.Index(page, "container not used"), strings.Index(page, "infusion due"); i < 0 || j < 0 || i > j {
		t.Errorf("the repeat is not the first failed check (%d, %d)", i, j)
	}
	if f.auditCount() != n {
		t.Errorf("the second administration wrote %d audit entries", f.auditCount()-n)
	}
	st, m := f.postJSON(c, "/api/v1/dose/administer", map[string]any{"mrn": "MRN-1001", "containers": []string{"G12342600000101"},
		"password": fixturePassword, "witness": "omar", "witness_password": fixturePassword,
		"shown": map[string]any{"weight_id": form.Get("shown_weight"), "volume_ml": form.Get("shown_ml"), "cells": form.Get("shown_cells")}})
	e, _ := m["error"].(map[string]any)
	rep, _ := m["report"].(map[string]any)
	if st != http.StatusConflict || e["code"] != "no_go" || e["exit"] != float64(4) || rep["already_infused"] != want+"; do not infuse it again" {
		t.Errorf("second administration through the API: %d %v", st, m)
	}
	if msg, _ := e["message"].(string); !strings.HasPrefix(msg, "NO-GO: "+want) {
		t.Errorf("the API's message does not start with what happened: %q", msg)
	}
	if f.auditCount() != n {
		t.Errorf("the API's second administration wrote %d audit entries", f.auditCount()-n)
	}
}
