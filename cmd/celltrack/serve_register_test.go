package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/store"
)

// The lab registers a donor and a nurse a patient on the registration
// page, as `donor add` and `patient add`: each bad value is refused naming
// it, with nothing written and the form kept; a duplicate is a conflict;
// a name with markup is shown as text.
func TestServeRegisterDonorAndPatient(t *testing.T) {
	f := newWebFixture(t, false, "lab")
	lab := f.client()
	f.login(lab, "liu")
	st, body := f.get(lab, "/register")
	if st != http.StatusOK || !strings.Contains(body, `id="donor-form"`) || strings.Contains(body, `id="patient-form"`) {
		t.Fatalf("the lab's registration page: %d\n%s", st, body)
	}
	n := f.auditCount()
	good := url.Values{"code": {"D-0002"}, "delivered": {"2026-11-01"}, "site": {"Maternity ward 5"}, "consented": {"2026-10-20"}}
	with := func(k, v string) url.Values {
		c := url.Values{}
		for key, vs := range good {
			c[key] = vs
		}
		c.Set(k, v)
		return c
	}
	for _, tc := range []struct {
		form   url.Values
		status int
		want   string
	}{
		{with("delivered", "2026-13-01"), http.StatusUnprocessableEntity, "2026-13-01"},
		{with("consented", ""), http.StatusUnprocessableEntity, "consented"},
		{with("code", "D 0002"), http.StatusUnprocessableEntity, "D 0002"},
		{with("code", "D-0001"), http.StatusConflict, "D-0001"},
		{with("code", "d-0001"), http.StatusConflict, "donor id d-0001 differs from the registered donor id D-0001 only in letter case"},
		{with("site", ""), http.StatusUnprocessableEntity, "site"},
	} {
		st, body := f.postPage(lab, "/register/donor", tc.form)
		if st != tc.status || !strings.Contains(body, tc.want) || !strings.Contains(body, "nothing was recorded") || f.auditCount() != n {
			t.Errorf("%v: %d (want %d), %d entries; want %q in\n%s", tc.form, st, tc.status, f.auditCount()-n, tc.want, body)
		}
		if st == tc.status && !strings.Contains(body, `value="Maternity ward 5"`) && tc.form.Get("site") != "" {
			t.Errorf("%v: the refused form lost what was typed", tc.form)
		}
	}
	st, body = f.postPage(lab, "/register/donor", good)
	if st != http.StatusOK || !strings.Contains(body, "Registered donor D-0002 (delivered 2026-11-01 at Maternity ward 5, consent 2026-10-20)") || f.auditCount() != n+1 {
		t.Fatalf("donor: %d, %d entries\n%s", st, f.auditCount()-n, body)
	}
	if d, err := store.NewLotService(f.db).Donor("D-0002"); err != nil || d.CreatedBy != "liu" {
		t.Errorf("donor D-0002 in the database: %+v, %v", d, err)
	}

	nurse := f.client()
	f.login(nurse, "nina")
	n = f.auditCount()
	const name = `Ana <script>alert(1)</script> Lima`
	p := url.Values{"mrn": {"MRN-3001"}, "name": {name}, "born": {"1979-05-02"}, "sex": {"Q"}}
	st, body = f.postPage(nurse, "/register/patient", p)
	if st != http.StatusUnprocessableEntity || !strings.Contains(body, `sex &#34;Q&#34; is not F, M or X`) || f.auditCount() != n {
		t.Errorf("sex Q: %d, %d entries\n%s", st, f.auditCount()-n, body)
	}
	if strings.Contains(body, "<script>") || !strings.Contains(body, `value="Ana &lt;script&gt;alert(1)&lt;/script&gt; Lima"`) {
		t.Errorf("the refused form does not keep the name as text:\n%s", body)
	}
	p.Set("sex", "F")
	st, body = f.postPage(nurse, "/register/patient", p)
	if st != http.StatusOK || !strings.Contains(body, "Registered patient MRN-3001 (Ana &lt;script&gt;alert(1)&lt;/script&gt; Lima, born 1979-05-02, sex F)") ||
		strings.Contains(body, "<script>") || f.auditCount() != n+1 {
		t.Errorf("patient: %d, %d entries\n%s", st, f.auditCount()-n, body)
	}
	n = f.auditCount()
	if st, body = f.postPage(nurse, "/register/patient", p); st != http.StatusConflict || !strings.Contains(body, "MRN-3001") || f.auditCount() != n {
		t.Errorf("the same MRN again: %d\n%s", st, body)
	}

	// The API, as the lab and the nurse.
	api := f.client()
	f.postJSON(api, "/api/v1/login", map[string]string{"user": "liu", "password": fixturePassword})
	st, d := f.postJSON(api, "/api/v1/donors", map[string]string{"code": "D-0003", "delivered": "2026-11-02", "site": "Ward 5", "consented": "2026-10-21"})
	if st != http.StatusCreated || d["code"] != "D-0003" || d["delivered"] != "2026-11-02" || d["created_by"] != "liu" || d["corrections"] == nil {
		t.Errorf("POST /api/v1/donors: %d %v", st, d)
	}
	n = f.auditCount()
	st, e := f.postJSON(api, "/api/v1/patients", map[string]string{"mrn": "MRN-3002", "name": "X", "born": "1990-01-01", "sex": "M"})
	if st != http.StatusForbidden || e["error"].(map[string]any)["exit"] != 3.0 || !strings.Contains(e["error"].(map[string]any)["message"].(string), "patient.add") || f.auditCount() != n {
		t.Errorf("the lab registering a patient: %d %v", st, e)
	}
	st, e = f.postJSON(api, "/api/v1/donors", map[string]string{"code": "D-0004", "delivered": "2026-11-02", "site": "Ward 5", "consented": "2026-10-21", "sex": "F"})
	if st != http.StatusBadRequest || !strings.Contains(e["error"].(map[string]any)["message"].(string), "sex") || f.auditCount() != n {
		t.Errorf("an unknown field: %d %v", st, e)
	}
	f.postJSON(api, "/api/v1/login", map[string]string{"user": "nina", "password": fixturePassword})
	st, pv := f.postJSON(api, "/api/v1/patients", map[string]string{"mrn": "MRN-3002", "name": "Rui Costa", "born": "1990-01-01", "sex": "M"})
	if st != http.StatusCreated || pv["mrn"] != "MRN-3002" || pv["name"] != "Rui Costa" || pv["sex"] != "M" || pv["created_by"] != "nina" {
		t.Errorf("POST /api/v1/patients: %d %v", st, pv)
	}
}

// The registration routes for every role, from the permission table: the
// page shows only the forms the role may use (and the menu offers it only
// to them); a POST by a role that may not gets 403 and writes nothing.
func TestServeRegisterEveryRole(t *testing.T) {
	f := newWebFixture(t, false, "lab")
	users := map[audit.Role]string{audit.Admin: "alice", audit.Lab: "liu", audit.QA: "quinn", audit.Physician: "pat", audit.Nurse: "nina", audit.Auditor: "aud"}
	for _, role := range audit.Roles {
		t.Run(string(role), func(t *testing.T) {
			c := f.client()
			f.login(c, users[role])
			n := f.auditCount()
			st, page := f.get(c, "/register")
			if st != http.StatusOK {
				t.Fatalf("GET /register: %d", st)
			}
			donor, patient := audit.Allowed(role, audit.DonorAdd), audit.Allowed(role, audit.PatientAdd)
			if strings.Contains(page, `id="donor-form"`) != donor || strings.Contains(page, `id="patient-form"`) != patient ||
				strings.Contains(page, `href="/register"`) != (donor || patient) {
				t.Errorf("%s: donor form %v (may %v), patient form %v (may %v)", role, strings.Contains(page, `id="donor-form"`), donor, strings.Contains(page, `id="patient-form"`), patient)
			}
			want := func(ok bool) int {
				if ok {
					return http.StatusUnprocessableEntity // past the role, to the bad date
				}
				return http.StatusForbidden
			}
			bad := url.Values{"code": {"D-0009"}, "mrn": {"MRN-9"}, "name": {"N"}, "site": {"S"}, "delivered": {"bad"}, "consented": {"bad"}, "born": {"bad"}, "sex": {"F"}}
			if st, _ := f.postPage(c, "/register/donor", bad); st != want(donor) {
				t.Errorf("POST /register/donor as %s: %d, want %d", role, st, want(donor))
			}
			if st, _ := f.postPage(c, "/register/patient", bad); st != want(patient) {
				t.Errorf("POST /register/patient as %s: %d, want %d", role, st, want(patient))
			}
			if st, _ := f.postJSON(c, "/api/v1/donors", map[string]string{"code": "D-0009", "delivered": "bad"}); st != want(donor) {
				t.Errorf("POST /api/v1/donors as %s: %d, want %d", role, st, want(donor))
			}
			if st, _ := f.postJSON(c, "/api/v1/patients", map[string]string{"mrn": "MRN-9", "born": "bad"}); st != want(patient) {
				t.Errorf("POST /api/v1/patients as %s: %d, want %d", role, st, want(patient))
			}
			if f.auditCount() != n {
				t.Errorf("%s's requests wrote %d audit entries", role, f.auditCount()-n)
			}
		})
	}
}
