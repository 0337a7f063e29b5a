package main

import (
	"bytes"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/celltrack/celltrack/audit"
)

// auditHead is the audit tree's size and root: a refusal leaves both as
// they were.
func (f *webFixture) auditHead() string {
	f.t.Helper()
	h, err := f.db.TreeHead()
	if err != nil {
		f.t.Fatal(err)
	}
	return fmt.Sprintf("%d/%x", h.Size, h.Root)
}

// refused posts a form that must be refused with status and a page naming
// every want, and checks that nothing was written.
func (f *webFixture) refused(c *http.Client, path string, form url.Values, status int, wants ...string) {
	f.t.Helper()
	before := f.auditHead()
	st, body := f.postPage(c, path, form)
	if st != status {
		f.t.Errorf("POST %s %v: %d, want %d\n%s", path, form, st, status, body)
	}
	mustContain(f.t, "refusal of POST "+path, body, append(wants, `id="error"`)...)
	if after := f.auditHead(); after != before {
		f.t.Errorf("refused POST %s %v wrote to the audit trail (%s → %s)", path, form, before, after)
	}
}

// upload sends a file as the page's import form does (multipart/form-data).
func (f *webFixture) upload(c *http.Client, path, field, name, content string) (int, string) {
	f.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, vs := range f.formFields(c, path) {
		for _, v := range vs {
			mw.WriteField(k, v)
		}
	}
	if name != "" {
		fw, _ := mw.CreateFormFile(field, name)
		io.WriteString(fw, content)
	}
	mw.Close()
	req, _ := http.NewRequest(http.MethodPost, f.srv.URL+path, &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Origin", f.srv.URL)
	return f.do(c, req)
}

// The lab registers a UC lot from a donor and an rFib lot for its source
// patient on /register/lot, as `lot register`: every refusal names the
// field and the value and writes nothing; a role that may not is refused
// before any value is read; the registered lot's page offers the split.
func TestServeLabRegisterLot(t *testing.T) {
	f := newWebFixture(t, false, "lab")
	lab, aud := f.client(), f.client()
	f.login(lab, "liu")
	f.login(aud, "aud")

	st, body := f.get(lab, "/register/lot")
	mustContain(t, "the lab's registration page", body, `id="lot-form"`, `id="import-form"`, `enctype="multipart/form-data"`, "lot_number,source,donor")
	if st != http.StatusOK {
		t.Fatalf("/register/lot: %d", st)
	}
	if _, body := f.get(lab, "/lots"); !strings.Contains(body, `href="/register/lot"`) {
		t.Errorf("the lot list offers the lab no registration:\n%s", body)
	}
	st, body = f.get(aud, "/register/lot")
	if st != http.StatusForbidden || strings.Contains(body, "lot-form") || strings.Contains(body, "import-form") {
		t.Errorf("the auditor's /register/lot: %d, want 403 without forms\n%s", st, body)
	}
	if _, body := f.get(aud, "/lots"); strings.Contains(body, "/register/lot") {
		t.Errorf("the lot list offers the auditor registration")
	}

	uc := url.Values{"number": {"LOT-UC-2"}, "source": {"uc"}, "donor": {"D-0001"}, "cells": {"2.5e9"}, "viability": {"94.5"},
		"volume_ml": {"250"}, "manufactured": {"2026-11-20"}, "expires": {"2027-11-20"}, "passage": {"4"}, "location": {"LN2-A rack 3"}}
	with := func(k, v string) url.Values {
		out := url.Values{}
		for key, vs := range uc {
			out[key] = vs
		}
		out.Set(k, v)
		return out
	}
	f.refused(aud, "/register/lot", uc, http.StatusForbidden, "role auditor", "lot.register")
	f.refused(lab, "/register/lot", with("cells", "lots"), http.StatusUnprocessableEntity, "cells", "lots")
	f.refused(lab, "/register/lot", with("viability", "120"), http.StatusUnprocessableEntity, "viability", "120")
	f.refused(lab, "/register/lot", with("passage", "four"), http.StatusUnprocessableEntity, `passage &#34;four&#34; is not a whole number`)
	f.refused(lab, "/register/lot", with("donor", "D-9999"), http.StatusNotFound, "D-9999")
	f.refused(lab, "/register/lot", with("number", "LOT-UC-1"), http.StatusConflict, "LOT-UC-1")
	// Another letter case is refused as `lot register` refuses it.
	f.refused(lab, "/register/lot", with("number", "Lot-Uc-1"), http.StatusConflict, "lot number Lot-Uc-1 differs from the registered lot number LOT-UC-1 only in letter case")
	f.refused(lab, "/register/lot", with("expires", "2026-11-01"), http.StatusUnprocessableEntity, "2026-11-01")
	// The refusals name the form's fields, not `lot register`'s flags, and
	// a date Go reads as "none" is answered as the value it is.
	f.refused(lab, "/register/lot", with("expires", "2040-11-20"), http.StatusUnprocessableEntity, "the expiry date 2040-11-20 is more than 10 years after the manufacture date 2026-11-20")
	f.refused(lab, "/register/lot", with("manufactured", "0001-01-01"), http.StatusUnprocessableEntity, `manufactured &#34;0001-01-01&#34; is not a plausible date`)
	for _, bad := range []url.Values{with("expires", "2040-11-20"), with("expires", "2026-11-01"), with("cryopreserved", "2026-11-01"), with("donor", "")} {
		if _, body := f.postPage(lab, "/register/lot", bad); strings.Contains(body, "--") {
			t.Errorf("a refusal on /register/lot names a command-line flag:\n%s", body)
		}
	}
	// A refused form keeps what was typed.
	if _, body := f.postPage(lab, "/register/lot", with("donor", "D-9999")); !strings.Contains(body, `value="D-9999"`) || !strings.Contains(body, `value="LN2-A rack 3"`) {
		t.Errorf("the refused form lost what was typed:\n%s", body)
	}

	n := f.auditCount()
	st, body = f.postPage(lab, "/register/lot", uc)
	if st != http.StatusOK {
		t.Fatalf("register LOT-UC-2: %d\n%s", st, body)
	}
	mustContain(t, "registered lot", body, `id="done"`, "Registered lot LOT-UC-2 in quarantine; DIN G1234 26 000003", "donor D-0001", `id="split-form"`, "QUARANTINE")
	if f.auditCount() != n+1 || f.lotStatus("LOT-UC-2") != "quarantine" {
		t.Errorf("registration wrote %d entries, lot %s", f.auditCount()-n, f.lotStatus("LOT-UC-2"))
	}
	rf := with("number", "LOT-RF-2")
	rf.Set("source", "rfib")
	rf.Del("donor")
	rf.Set("patient", "MRN-2001")
	st, body = f.postPage(lab, "/register/lot", rf)
	if st != http.StatusOK || !strings.Contains(body, "patient MRN-2001 (Hana Sato) — FOR AUTOLOGOUS USE ONLY") {
		t.Errorf("register LOT-RF-2: %d\n%s", st, body)
	}
	// The audit entry is the command line's.
	if e := f.lastEntry("LOT-UC-2"); e.Action != "lot.register" || e.User != "liu" {
		t.Errorf("last entry of LOT-UC-2: %s by %s, want lot.register by liu", e.Action, e.User)
	}
}

// The lab imports a CSV file on /register/lot as `lot import`: all or
// nothing, every bad row listed with its line number; the upload is not a
// form of another kind; the auditor may not.
func TestServeLabImport(t *testing.T) {
	f := newWebFixture(t, false, "lab")
	lab, aud := f.client(), f.client()
	f.login(lab, "liu")
	f.login(aud, "aud")
	head := "lot_number,source,donor,patient,cells,viability,volume_ml,manufactured,expires\n"
	good := head + "LOT-I-1,uc,D-0001,,1e9,95,100,2026-11-01,2027-11-01\nLOT-I-2,rfib,,MRN-2001,5e8,90,50,2026-11-02,2027-05-02\n"
	bad := head + "LOT-I-1,uc,D-0001,,1e9,95,100,2026-11-01,2027-11-01\nLOT-I-2,uc,D-0001,,many,95,100,2026-11-01,2027-11-01\nLOT-I-3,uc,D-9999,,1e9,95,100,2026-11-01,2027-11-01\n"

	before := f.auditHead()
	for _, tc := range []struct {
		name    string
		c       *http.Client
		file    string
		content string
		status  int
		wants   []string
	}{
		{"the auditor", aud, "lots.csv", good, http.StatusForbidden, []string{"lot.import"}},
		{"bad rows", lab, "lots.csv", bad, http.StatusUnprocessableEntity, []string{"import refused, nothing was written", `id="import-problems"`, "line 3: cells", "many"}},
		{"a row the store refuses", lab, "lots.csv", strings.Replace(good, "D-0001", "D-9999", 1), http.StatusUnprocessableEntity, []string{"line 2:", "D-9999"}},
		{"no file", lab, "", "", http.StatusBadRequest, []string{"no CSV file was sent"}},
		{"an empty file", lab, "lots.csv", "", http.StatusUnprocessableEntity, []string{"the import file is empty"}},
	} {
		st, body := f.upload(tc.c, "/register/import", "csv", tc.file, tc.content)
		if st != tc.status {
			t.Errorf("%s: %d, want %d\n%s", tc.name, st, tc.status, body)
		}
		mustContain(t, tc.name, body, tc.wants...)
	}
	if f.auditHead() != before {
		t.Fatalf("a refused import wrote to the audit trail")
	}
	// A form that is not an upload is refused, not read as an empty file.
	f.refused(lab, "/register/import", url.Values{"csv": {good}}, http.StatusBadRequest, "multipart/form-data")

	// A form is at most 64 KiB; an import file may be larger (the API's
	// limit for an import, 64 MiB).
	if st, body := f.postPage(lab, "/register/lot", url.Values{"location": {strings.Repeat("x", 70<<10)}}); st != http.StatusRequestEntityTooLarge {
		t.Errorf("a 70 KiB registration form: %d, want 413\n%.300s", st, body)
	}
	var big strings.Builder
	big.WriteString(head)
	for i := 1; big.Len() <= 70<<10; i++ {
		fmt.Fprintf(&big, "LOT-B-%04d,uc,D-0001,,1e9,95,100,2026-11-01,2027-11-01\n", i)
	}
	if st, body := f.upload(lab, "/register/import", "csv", "big.csv", big.String()); st != http.StatusOK || !strings.Contains(body, "LOT-B-0001") {
		t.Errorf("a %d-byte import: %d\n%.500s", big.Len(), st, body)
	}

	st, body := f.upload(lab, "/register/import", "csv", "lots.csv", good)
	if st != http.StatusOK {
		t.Fatalf("import: %d\n%s", st, body)
	}
	mustContain(t, "import", body, "Imported 2 lot(s); all are in quarantine", `href="/lots/LOT-I-1"`, `href="/lots/LOT-I-2"`)
	if f.lotStatus("LOT-I-2") != "quarantine" {
		t.Errorf("LOT-I-2 is %s", f.lotStatus("LOT-I-2"))
	}
}

// The lab splits a lot on its page, as `lot split`.
func TestServeLabSplit(t *testing.T) {
	f := newWebFixture(t, false, "lab")
	lab, qa := f.client(), f.client()
	f.login(lab, "liu")
	f.login(qa, "quinn")
	if _, body := f.get(qa, "/lots/LOT-UC-1"); strings.Contains(body, "split-form") || strings.Contains(body, "labels-form") {
		t.Errorf("QA is offered the lab's split or labels")
	}
	f.refused(qa, "/lots/LOT-UC-1/split", url.Values{"containers": {"2"}, "cells_each": {"1e8"}}, http.StatusForbidden, "lot.split")
	f.refused(lab, "/lots/LOT-UC-1/split", url.Values{"containers": {"two"}, "cells_each": {"1e8"}}, http.StatusUnprocessableEntity, "containers", "two")
	f.refused(lab, "/lots/LOT-UC-1/split", url.Values{"containers": {"2"}, "cells_each": {"2e9"}}, http.StatusUnprocessableEntity, "4.00×10^9", "2.10×10^9 cells left to split")
	f.refused(lab, "/lots/LOT-UC-1/split", url.Values{"containers": {"2"}, "cells_each": {"1e8"}, "volume_ml_each": {"0"}}, http.StatusUnprocessableEntity, "volume mL each 0")
	if _, body := f.postPage(lab, "/lots/LOT-UC-1/split", url.Values{"containers": {"2"}, "cells_each": {"2e9"}}); !strings.Contains(body, `value="2e9"`) {
		t.Errorf("the refused split lost what was typed")
	}
	n := f.auditCount()
	st, body := f.postPage(lab, "/lots/LOT-UC-1/split", url.Values{"containers": {"2"}, "cells_each": {"1e8"}, "volume_ml_each": {"50"}})
	if st != http.StatusOK {
		t.Fatalf("split: %d\n%s", st, body)
	}
	mustContain(t, "split", body, "Split lot LOT-UC-1 into 2 container(s)", "G12342600000105", "G12342600000106", `href="/containers/G12342600000106"`)
	if f.auditCount() == n {
		t.Errorf("split wrote nothing")
	}
	if e := f.lastEntry("G12342600000106"); e.Action != "lot.split" || e.User != "liu" {
		t.Errorf("last entry of the new container: %s by %s, want lot.split by liu", e.Action, e.User)
	}
}

// Custody on the container page, as `celltrack container …`: each role
// is offered only its moves that the state allows; a refusal names the
// field and value and writes nothing; a move is the command's audit entry.
func TestServeContainerCustody(t *testing.T) {
	f := newWebFixture(t, false, "lab", "custody")
	lab, nurse, aud := f.client(), f.client(), f.client()
	f.login(lab, "liu")
	f.login(nurse, "nina")
	f.login(aud, "aud")
	const bag = "/containers/G12342600000101"

	offered := func(c *http.Client, who string, want ...string) {
		t.Helper()
		st, body := f.get(c, bag)
		if st != http.StatusOK {
			t.Fatalf("%s's container page: %d\n%s", who, st, body)
		}
		got := []string{}
		for _, m := range []string{"store", "ship", "receive", "thaw", "dispense", "return", "quarantine", "discard"} {
			if strings.Contains(body, `id="`+m+`-form"`) {
				got = append(got, m)
			}
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s is offered %v, want %v", who, got, want)
		}
	}
	offered(lab, "the lab (stored)", "ship", "thaw", "quarantine", "discard")
	// At the home site the containers are the lab's: a nurse is offered
	// nothing there.
	offered(nurse, "the nurse (stored at the lab)", []string{}...)
	offered(aud, "the auditor", []string{}...)
	if _, body := f.get(aud, bag); !strings.Contains(body, "LN2-A rack 3 pos 1") || !strings.Contains(body, "Journey (2 step(s))") || strings.Contains(body, "label-print-form") {
		t.Errorf("the auditor's container page:\n%s", body)
	}
	if _, body := f.get(nurse, "/"); !strings.Contains(body, `href="/containers"`) {
		t.Errorf("the nurse has no Containers in the menu")
	}

	// Scanning: the printed code and the label's barcode data both find it.
	for _, code := range []string{"G12342600000101", "=G12342600000101"} {
		c := f.noRedirect()
		c.Jar = lab.Jar
		req, _ := http.NewRequest(http.MethodGet, f.srv.URL+"/containers?code="+url.QueryEscape(code), nil)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != bag {
			t.Errorf("scan %s: %d to %q", code, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	if st, body := f.get(lab, "/containers?code=G12342600000199"); st != http.StatusNotFound || !strings.Contains(body, "G12342600000199") || !strings.Contains(body, `id="scan-form"`) {
		t.Errorf("unknown code: %d\n%s", st, body)
	}

	// Refusals: the role first, then the values, the state, the rules.
	f.refused(nurse, bag+"/ship", url.Values{"site": {"CLINIC-A"}}, http.StatusForbidden, "container.ship")
	f.refused(aud, bag+"/thaw", url.Values{"viability": {"90"}, "viable_cells": {"9e7"}}, http.StatusForbidden, "container.thaw")
	f.refused(lab, bag+"/ship", url.Values{"site": {"LAB"}}, http.StatusUnprocessableEntity, "LAB")
	f.refused(lab, bag+"/ship", url.Values{"site": {"CLINIC-Z"}}, http.StatusNotFound, "CLINIC-Z")
	f.refused(lab, bag+"/receive", url.Values{"signer": {"liu"}, "site": {"LAB"}}, http.StatusConflict, "stored and cannot be received")
	f.refused(nurse, bag+"/thaw", url.Values{"signer": {"nina"}, "viability": {"91"}, "viable_cells": {"9e7"}}, http.StatusForbidden, "only at a clinic")
	f.refused(lab, bag+"/thaw", url.Values{"viability": {"120"}, "viable_cells": {"9e7"}}, http.StatusUnprocessableEntity, "viability", "120")
	// The rules' messages name the fields as the form labels them, not
	// as the command line's flags.
	f.refused(lab, bag+"/thaw", url.Values{"viability": {"12"}, "viable_cells": {"9e7"}}, http.StatusUnprocessableEntity,
		"the viable cells 9.00×10^7 are more than 10 % above container G123426000001 01&#39;s 1.00×10^8 cells × the viability 12.0 %")
	if _, body := f.postPage(lab, bag+"/thaw", url.Values{"viability": {"12"}, "viable_cells": {"9e7"}}); strings.Contains(body, "--") {
		t.Errorf("a refusal names a command-line flag:\n%s", body)
	}
	f.refused(lab, bag+"/thaw", url.Values{"viability": {"91"}, "viable_cells": {"9e7"}, "at": {"yesterday"}}, http.StatusUnprocessableEntity, "thawed at", "yesterday")
	f.refused(lab, bag+"/discard", url.Values{"reason": {" "}}, http.StatusUnprocessableEntity, "reason")
	f.refused(lab, bag+"/fly", url.Values{}, http.StatusNotFound, "fly")
	if _, body := f.postPage(lab, bag+"/ship", url.Values{"site": {"CLINIC-Z"}, "courier": {"BioCour #4471"}}); !strings.Contains(body, `value="BioCour #4471"`) {
		t.Errorf("the refused ship form lost what was typed")
	}

	// Ship, receive with an excursion: store and thaw are then not
	// offered, and a thaw posted anyway is refused.
	n := f.auditCount()
	st, body := f.postPage(lab, bag+"/ship", url.Values{"site": {"CLINIC-A"}, "courier": {"BioCour #4471"}, "condition": {"dry shipper"}})
	if st != http.StatusOK || !strings.Contains(body, "Container G12342600000101 is shipped at site CLINIC-A; custodian courier BioCour #4471") {
		t.Fatalf("ship: %d\n%s", st, body)
	}
	offered(nurse, "the nurse (shipped)", "receive")
	f.refused(nurse, bag+"/receive", url.Values{"site": {"CLINIC-B"}}, http.StatusConflict, "CLINIC-A", "CLINIC-B")
	f.refused(nurse, bag+"/receive", url.Values{"site": {"CLINIC-A"}, "excursion": {"maybe"}}, http.StatusUnprocessableEntity, `excursion &#34;maybe&#34; must be yes or no`)
	st, body = f.postPage(nurse, bag+"/receive", url.Values{"site": {"CLINIC-A"}, "excursion": {"yes"}})
	if st != http.StatusOK || !strings.Contains(body, "is received at site CLINIC-A; custodian nina") || !strings.Contains(body, `id="excursion"`) {
		t.Fatalf("receive: %d\n%s", st, body)
	}
	offered(nurse, "the nurse (received, excursion)", []string{}...)
	offered(lab, "the lab (received, excursion)", "quarantine", "discard")
	f.refused(nurse, bag+"/thaw", url.Values{"signer": {"nina"}, "viability": {"91"}, "viable_cells": {"9e7"}}, http.StatusConflict, "temperature excursion")
	st, body = f.postPage(lab, bag+"/quarantine", url.Values{"reason": {"logger out of range <script>alert(1)</script>"}})
	if st != http.StatusOK || !strings.Contains(body, "is quarantined") {
		t.Fatalf("quarantine: %d\n%s", st, body)
	}
	if f.auditCount() == n {
		t.Errorf("three moves wrote nothing")
	}
	if e := f.lastEntry("G12342600000101"); e.Action != "container.quarantine" || e.User != "liu" {
		t.Errorf("last entry: %s by %s, want container.quarantine by liu", e.Action, e.User)
	}
	_, body = f.get(aud, bag)
	mustContain(t, "journey", body, "Journey (5 step(s))", "courier BioCour #4471", "excursion yes", "reason: logger out of range &lt;script&gt;", "courier BioCour #4471 → nina", "nina → liu")
	if strings.Contains(body, "<script>") {
		t.Errorf("a reason's <script> is shown unescaped")
	}

	// The lab thaws another bag; the lot is not released, so dispensing
	// is refused with the rule's words.
	const bag2 = "/containers/G12342600000102"
	st, body = f.postPage(lab, bag2+"/thaw", url.Values{"viability": {"91.5"}, "viable_cells": {"9.1e7"}, "at": {"2026-11-25T09:00Z"}})
	if st != http.StatusOK || !strings.Contains(body, "is thawed") || !strings.Contains(body, "viability 91.5 %") {
		t.Fatalf("thaw: %d\n%s", st, body)
	}
	f.refused(lab, bag2+"/dispense", url.Values{"patient": {"MRN-1001"}}, http.StatusConflict, "not released")
}

// Labels from the lab's pages, as `label print`, `label apply` and `label
// void`: the PDF is the command's, each print is counted, and a refusal
// writes nothing.
func TestServeLabels(t *testing.T) {
	f := newWebFixture(t, false, "lab", "custody")
	lab, aud := f.client(), f.client()
	f.login(lab, "liu")
	f.login(aud, "aud")
	f.refused(aud, "/lots/LOT-UC-1/labels", url.Values{}, http.StatusForbidden, "label.print")
	f.refused(aud, "/containers/G12342600000101/label-apply", url.Values{}, http.StatusForbidden, "label.apply")
	f.refused(lab, "/containers/G12342600000101/label-apply", url.Values{"signer": {"liu"}}, http.StatusConflict, "no unused printed label")
	f.refused(lab, "/lots/LOT-NOPE/labels", url.Values{"signer": {"liu"}}, http.StatusNotFound, "LOT-NOPE")

	// Each label printed is one entry, on its container.
	print := func(path, file string, labels int) {
		t.Helper()
		n := f.auditCount()
		req, _ := http.NewRequest(http.MethodPost, f.srv.URL+path, strings.NewReader(f.formFields(lab, path).Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", f.srv.URL)
		resp, err := lab.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		pdf, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/pdf" || !bytes.HasPrefix(pdf, []byte("%PDF-")) ||
			resp.Header.Get("Content-Disposition") != `attachment; filename="`+file+`"` {
			t.Fatalf("print %s: %d %s %q\n%.300s", path, resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Content-Disposition"), pdf)
		}
		if f.auditCount() != n+labels {
			t.Errorf("print %s wrote %d entries, want %d", path, f.auditCount()-n, labels)
		}
	}
	print("/lots/LOT-UC-1/labels", "LOT-UC-1-labels.pdf", 4)
	_, body := f.get(lab, "/lots/LOT-UC-1")
	if strings.Count(body, "<td>1 / 0 / 0 / 1</td>") != 4 {
		t.Errorf("after printing, the lot page's counts:\n%s", body)
	}
	st, body := f.postPage(lab, "/containers/G12342600000101/label-apply", url.Values{})
	if st != http.StatusOK || !strings.Contains(body, "Label applied on container G12342600000101: printed 1, applied 1, voided 0, unused 0") {
		t.Errorf("apply: %d\n%s", st, body)
	}
	print("/containers/G12342600000101/label-print", "G12342600000101-label.pdf", 1)
	f.refused(lab, "/containers/G12342600000101/label-void", url.Values{"reason": {""}}, http.StatusUnprocessableEntity, "reason")
	st, body = f.postPage(lab, "/containers/G12342600000101/label-void", url.Values{"reason": {"smudged print"}})
	if st != http.StatusOK || !strings.Contains(body, "Label voided on container G12342600000101: printed 2, applied 1, voided 1, unused 0") {
		t.Errorf("void: %d\n%s", st, body)
	}
}

// Every lab route for every role, from the permission table: a role that
// may not is refused with 403 before any value is looked at; a role that
// may gets past the check to the unknown lot or container (404) or the bad
// value; nothing is written by anyone.
func TestServeLabEveryRouteEveryRole(t *testing.T) {
	f := newWebFixture(t, false, "lab", "custody")
	users := map[audit.Role]string{audit.Admin: "alice", audit.Lab: "liu", audit.QA: "quinn", audit.Physician: "pat", audit.Nurse: "nina", audit.Auditor: "aud"}
	const nope = "/containers/G12342600000199"
	type route struct {
		path   string
		action audit.Action
		form   url.Values
		past   int // the status of a role that may
	}
	routes := []route{
		{"/register/lot", audit.LotRegister, url.Values{"source": {"uc"}, "cells": {"lots"}}, http.StatusUnprocessableEntity},
		{"/register/import", audit.LotImport, url.Values{"csv": {"x"}}, http.StatusBadRequest},
		{"/lots/LOT-NOPE/split", audit.LotSplit, url.Values{"containers": {"1"}, "cells_each": {"1e8"}}, http.StatusNotFound},
		{"/lots/LOT-NOPE/labels", audit.LabelPrint, url.Values{}, http.StatusNotFound},
		{nope + "/label-print", audit.LabelPrint, url.Values{}, http.StatusNotFound},
		{nope + "/label-apply", audit.LabelApply, url.Values{}, http.StatusNotFound},
		{nope + "/label-void", audit.LabelVoid, url.Values{"reason": {"x"}}, http.StatusNotFound},
	}
	for _, m := range []struct {
		name   string
		action audit.Action
	}{{"store", audit.ContainerStore}, {"ship", audit.ContainerShip}, {"receive", audit.ContainerReceive}, {"thaw", audit.ContainerThaw},
		{"dispense", audit.ContainerDispense}, {"return", audit.ContainerReturn}, {"quarantine", audit.ContainerQuarantine}, {"discard", audit.ContainerDiscard}} {
		routes = append(routes, route{nope + "/" + m.name, m.action, url.Values{"location": {"x"}, "site": {"CLINIC-A"}, "viability": {"90"},
			"viable_cells": {"9e7"}, "patient": {"MRN-1001"}, "reason": {"x"}}, http.StatusNotFound})
	}
	for _, role := range audit.Roles {
		t.Run(string(role), func(t *testing.T) {
			c := f.client()
			f.login(c, users[role])
			head := f.auditHead()
			for _, rt := range routes {
				want := http.StatusForbidden
				if audit.Allowed(role, rt.action) {
					want = rt.past
				}
				// A form of the page, which names whom it was shown to
				// (the unknown lot's and container's pages show none).
				form := url.Values{"signer": {users[role]}}
				for k, v := range rt.form {
					form[k] = v
				}
				if st, body := f.post(c, rt.path, form); st != want {
					t.Errorf("POST %s as %s: %d, want %d\n%s", rt.path, role, st, want, body)
				}
			}
			// From another site, every POST is refused before it is read.
			for _, rt := range routes {
				req, _ := http.NewRequest(http.MethodPost, f.srv.URL+rt.path, strings.NewReader(rt.form.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.Header.Set("Origin", "https://evil.example")
				if st, _ := f.do(c, req); st != http.StatusForbidden {
					t.Errorf("POST %s from another site as %s: %d, want 403", rt.path, role, st)
				}
			}
			register := http.StatusForbidden
			if audit.Allowed(role, audit.LotRegister) {
				register = http.StatusOK
			}
			for path, want := range map[string]int{"/register/lot": register, "/containers": http.StatusOK,
				"/containers/G12342600000101": http.StatusOK, "/lots/LOT-UC-1": http.StatusOK} {
				if st, _ := f.get(c, path); st != want {
					t.Errorf("GET %s as %s: %d, want %d", path, role, st, want)
				}
			}
			if f.auditHead() != head {
				t.Errorf("%s's requests wrote to the audit trail", role)
			}
		})
	}
}
