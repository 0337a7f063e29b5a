package main

import (
	"bytes"
	"log"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/celltrack/celltrack/store"
)

// BenchmarkServeDoseCheckAPI is the bedside check through the JSON API over
// loopback, from parallel clients sharing one session (the bedside fixture:
// a GO check of one bag). It is a figure for the README and a profile of
// the server's side, not a target; the load of issue 11 (100k lots, 50
// clients, as whole processes) is the harness's -load (BENCHMARKS.md).
func BenchmarkServeDoseCheckAPI(b *testing.B) {
	path := filepath.Join(b.TempDir(), "ct.db")
	now, _ := time.Parse(time.RFC3339, testNow)
	clock := func() time.Time { return now }
	for _, f := range []string{"lab", "release", "custody", "bedside"} {
		if err := runFixture(path, filepath.Join(filepath.Dir(path), "homes"), f, clock); err != nil {
			b.Fatal(err)
		}
	}
	db, err := store.Open(path, store.Options{Now: clock})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	srv := httptest.NewServer(webApp(db, false, log.New(&bytes.Buffer{}, "", 0)))
	defer srv.Close()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	post := func(path, body string) int {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+path, bytes.NewReader([]byte(body)))
		req.Header.Set("Origin", srv.URL)
		resp, err := c.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if st := post("/api/v1/login", `{"user":"nina","password":"`+fixturePassword+`"}`); st != http.StatusOK {
		b.Fatalf("login: %d", st)
	}
	body := `{"mrn":"MRN-1001","containers":["G12342600000101"]}`
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if st := post("/api/v1/dose/check", body); st != http.StatusOK {
				b.Errorf("check: %d", st)
				return
			}
		}
	})
}
