package web

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/celltrack/celltrack/lot"
)

// Review finding: a refused body named Go types ("cannot unmarshal JSON
// number into Go web.LoginRequest", "lot.Tenths"); a body past the limit
// always said 65536 bytes (the import's is 64 MiB) and never which value.
// Refusals are worded by the field, in JSON's words.
func TestDecodeRefusalsNameFieldsNotGoTypes(t *testing.T) {
	type withTenths struct {
		Volume lot.Tenths `json:"volume"`
		Rows   []struct {
			Name string `json:"name"`
		} `json:"rows"`
	}
	for _, tc := range []struct {
		body  string
		limit int64
		v     any
		want  []string
	}{
		{`{"user":5,"password":"x"}`, MaxBodyBytes, &LoginRequest{}, []string{`the value of "user" is a number; it must be a string`}},
		{`[1]`, MaxBodyBytes, &LoginRequest{}, []string{"the request body is a list; it must be an object"}},
		{`{"volume":"abc"}`, MaxBodyBytes, &withTenths{}, []string{`the value of "volume" is a string; it must be a whole number`}},
		{`{"volume":1.25}`, MaxBodyBytes, &withTenths{}, []string{`the value of "volume" is a number 1.25; it must be a whole number`}},
		{`{"rows":[{"name":7}]}`, MaxBodyBytes, &withTenths{}, []string{`the value of "name" (in /rows/0)`}},
		{`{"user":"a","password":"x"`, MaxBodyBytes, &LoginRequest{}, []string{"not valid JSON"}},
		{`{"user":"` + strings.Repeat("a", 1<<20) + `"}`, MaxBodyBytes, &LoginRequest{}, []string{"64 KiB (65536 bytes)", `inside the value of "user"`}},
		{`{"rows":[{"name":"b"},{"name":"` + strings.Repeat("a", 2<<20) + `"}]}`, 1 << 20, &withTenths{}, []string{"1 MiB (1048576 bytes)", `inside the value of "name" (in /rows/1)`}},
	} {
		r := httptest.NewRequest("POST", "/", strings.NewReader(tc.body))
		r.Body = http.MaxBytesReader(httptest.NewRecorder(), r.Body, tc.limit)
		err := decode(r, tc.v)
		if err == nil {
			t.Errorf("%.40s: accepted", tc.body)
			continue
		}
		msg := lot.ErrorMessage(err)
		for _, w := range tc.want {
			if !strings.Contains(msg, w) {
				t.Errorf("%.40s: %q; want it to say %q", tc.body, msg, w)
			}
		}
		for _, bad := range []string{"Go ", "web.", "lot.", "json:", "jsontext:"} {
			if strings.Contains(msg, bad) {
				t.Errorf("%.40s: %q names %q", tc.body, msg, bad)
			}
		}
	}
}
