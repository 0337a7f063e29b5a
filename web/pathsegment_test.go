package web

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestPathSegmentReachesTheRecordNamed (review finding 3): a name escaped
// with PathSegment arrives at the server's router as that one name — never
// cleaned into another account's path ("omar/../quinn" acting on quinn) or
// redirected away ("..") — for names stored before such names were refused.
func TestPathSegmentReachesTheRecordNamed(t *testing.T) {
	mux := http.NewServeMux()
	var got string
	mux.HandleFunc("POST /accounts/{name}/{action}", func(w http.ResponseWriter, r *http.Request) { got = r.PathValue("name") })
	for _, name := range []string{"omar", "omar/../quinn", "..", ".", "a//b", "LOT/2026/1", "x y", "%2e%2e"} {
		got = ""
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/accounts/"+PathSegment(name)+"/disable", nil))
		if rec.Code != http.StatusOK || got != name {
			t.Errorf("%q: answered %d acting on %q", name, rec.Code, got)
		}
	}
}
