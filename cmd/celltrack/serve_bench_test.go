package main

import (
	"bytes"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
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
	benchCheckAPI(b, db, "nina", fixturePassword, `{"mrn":"MRN-1001","containers":["G12342600000101"]}`)
}

// BenchmarkServeDoseCheckHarnessDB is BenchmarkServeDoseCheckAPI on a
// database the harness kept (BENCHMARKS.md, "Load on the server"): the
// check of MRN-CHECK's bag through the API in-process, for a profile of the
// server's side at 100k lots without the load generator's processes.
// Skipped unless CELLTRACK_BENCH_DB names the file and CELLTRACK_BENCH_BAG
// the bag; nina logs in with CELLTRACK_BENCH_PASSWORD (the harness's
// password). The login writes a session and its audit entry to the file.
//
//	CELLTRACK_BENCH_DB=…/db-100000.db CELLTRACK_BENCH_BAG=… CELLTRACK_BENCH_PASSWORD=… \
//	  go test ./cmd/celltrack -run '^$' -bench ServeDoseCheckHarnessDB -cpu 2 -cpuprofile cpu.out
func BenchmarkServeDoseCheckHarnessDB(b *testing.B) {
	path, bag, pw := os.Getenv("CELLTRACK_BENCH_DB"), os.Getenv("CELLTRACK_BENCH_BAG"), os.Getenv("CELLTRACK_BENCH_PASSWORD")
	if path == "" || bag == "" || pw == "" {
		b.Skip("CELLTRACK_BENCH_DB, CELLTRACK_BENCH_BAG and CELLTRACK_BENCH_PASSWORD are not set")
	}
	db, err := store.Open(path, store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	benchCheckAPI(b, db, "nina", pw, fmt.Sprintf(`{"mrn":"MRN-CHECK","containers":[%q]}`, bag))
}

// BenchmarkServeReactionHarnessDB is issue 11's non-signature write
// through the API in-process, for a profile of the server's side of the
// group commit: parallel clients sharing nina's session record reactions
// on the infusions of LOT-0000049's patients (P-0000049-000 …), each
// answered 201 after its commit, fifty at a time. It needs what
// BenchmarkServeDoseCheckHarnessDB needs but the bag, and it writes: give
// it a copy of the harness's file.
func BenchmarkServeReactionHarnessDB(b *testing.B) {
	path, pw := os.Getenv("CELLTRACK_BENCH_DB"), os.Getenv("CELLTRACK_BENCH_PASSWORD")
	if path == "" || pw == "" {
		b.Skip("CELLTRACK_BENCH_DB and CELLTRACK_BENCH_PASSWORD are not set")
	}
	db, err := store.Open(path, store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	var infusions []string
	for j := range 98 {
		ins, _, err := store.NewDoseService(db).Infusions(fmt.Sprintf("P-0000049-%03d", j))
		if err != nil {
			b.Fatal(err)
		}
		for _, in := range ins {
			infusions = append(infusions, in.ID.String())
		}
	}
	if len(infusions) == 0 {
		b.Fatal("no infusions of P-0000049-… to record reactions on")
	}
	// Fifty clients, as the harness's load, so that writes share commits
	// as they do there (RunParallel's default is one per core).
	b.SetParallelism(25)
	var n atomic.Int64
	benchAPI(b, db, "nina", pw, "/api/v1/dose/reaction", http.StatusCreated, func() string {
		i := n.Add(1)
		return fmt.Sprintf(`{"infusion":%q,"grade":1,"text":"bench: fever 38.%d °C"}`, infusions[int(i)%len(infusions)], i%10)
	})
}

// benchCheckAPI serves db over loopback, logs user in and sends body to
// POST /api/v1/dose/check from parallel clients sharing the session, each
// answer a GO (200).
func benchCheckAPI(b *testing.B, db *store.DB, user, password, body string) {
	benchAPI(b, db, user, password, "/api/v1/dose/check", http.StatusOK, func() string { return body })
}

// benchAPI serves db over loopback, logs user in and sends body() to path
// from parallel clients sharing the session, each answer want.
func benchAPI(b *testing.B, db *store.DB, user, password, path string, want int, body func() string) {
	srv := httptest.NewServer(webApp(db, false, log.New(&bytes.Buffer{}, "", 0)))
	defer srv.Close()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	post := func(to, data string) int {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+to, bytes.NewReader([]byte(data)))
		req.Header.Set("Origin", srv.URL)
		resp, err := c.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		// Read to the end, as the harness's clients do, so the connection
		// is kept alive and reused: a body closed unread closes it, and the
		// profile was of dialling and accepting.
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if st := post("/api/v1/login", fmt.Sprintf(`{"user":%q,"password":%q}`, user, password)); st != http.StatusOK {
		b.Fatalf("login: %d", st)
	}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if st := post(path, body()); st != want {
				b.Errorf("%s: %d", path, st)
				return
			}
		}
	})
}
