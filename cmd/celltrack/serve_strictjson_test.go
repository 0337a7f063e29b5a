package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/celltrack/celltrack/web"
)

// APIErrorJSON is the API's error object as a test reads it.
type APIErrorJSON = web.APIError

// A JSON body is read strictly: a key spelt with another case, a key given
// twice, a key the call does not take or a second value are refused with
// 400 naming the key, and nothing is written — encoding/json would have
// taken "MRN" for "mrn" and kept the last of two.
func TestServeStrictJSON(t *testing.T) {
	f := newWebFixture(t, false, "lab", "release", "custody", "bedside")
	c := f.client()
	if st, m := f.postJSON(c, "/api/v1/login", map[string]any{"user": "nina", "password": fixturePassword}); st != http.StatusOK {
		t.Fatalf("login: %d %v", st, m)
	}
	admin := `"password":"` + fixturePassword + `","witness":"omar","witness_password":"` + fixturePassword + `"`
	for _, tc := range []struct {
		name, path, body string
		want             []string
	}{
		{"duplicate mrn", "/api/v1/dose/administer", `{"mrn":"MRN-1001","mrn":"MRN-1002","containers":["G12342600000101"],` + admin + `}`,
			[]string{`key "mrn" appears more than once`, "send each key once"}},
		{"mrn by case", "/api/v1/dose/administer", `{"mrn":"MRN-1001","MRN":"MRN-1002","containers":["G12342600000101"],` + admin + `}`,
			[]string{`key "MRN" is not one this call takes`, `write "mrn"`}},
		{"only MRN", "/api/v1/dose/check", `{"MRN":"MRN-1001","containers":["G12342600000101"]}`,
			[]string{`key "MRN"`, `write "mrn"`}},
		{"witness by case", "/api/v1/dose/administer", `{"mrn":"MRN-1001","containers":["G12342600000101"],"password":"x","Witness":"omar","witness_password":"y"}`,
			[]string{`key "Witness"`, `write "witness"`}},
		{"duplicate password", "/api/v1/login", `{"user":"nina","password":"a","password":"` + fixturePassword + `"}`,
			[]string{`key "password" appears more than once`}},
		{"unknown key", "/api/v1/dose/check", `{"mrn":"MRN-1001","bags":["G12342600000101"]}`,
			[]string{`key "bags" is not one this call takes`, "openapi.json"}},
		{"two values", "/api/v1/dose/check", `{"mrn":"MRN-1001","containers":["G12342600000101"]} {}`,
			[]string{"the request body is not valid JSON"}},
		{"duplicate reaction grade", "/api/v1/dose/reaction", `{"infusion":"x","grade":1,"grade":5,"text":"fever"}`,
			[]string{`key "grade" appears more than once`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := f.auditCount()
			req, _ := http.NewRequest(http.MethodPost, f.srv.URL+tc.path, bytes.NewReader([]byte(tc.body)))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Origin", f.srv.URL)
			st, body := f.do(c, req)
			var e APIErrorJSON
			if err := json.Unmarshal([]byte(body), &e); err != nil || st != http.StatusBadRequest || e.Error.Code != "usage" || e.Error.Exit != 2 {
				t.Errorf("%s: %d, want 400 usage/exit 2:\n%s", tc.body, st, body)
			}
			mustContain(t, "refusal", e.Error.Message, append(tc.want, "nothing was done")...)
			if f.auditCount() != n {
				t.Errorf("%s wrote %d audit entries", tc.body, f.auditCount()-n)
			}
		})
	}
	// The right body still works, and the bag was not infused by any refusal.
	st, m := f.postJSON(c, "/api/v1/dose/check", map[string]any{"mrn": "MRN-1001", "containers": []string{"G12342600000101"}})
	if st != http.StatusOK || m["report"].(map[string]any)["go"] != true {
		t.Fatalf("check after the refusals: %d %v", st, m)
	}
}
