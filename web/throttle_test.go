package web

import (
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/lot"
)

// fakeSessions answers logins with login and knows one session token per
// user in tokens.
type fakeSessions struct {
	login  func(name, password string) (LoginResult, error)
	tokens map[string]audit.User
}

func (f *fakeSessions) Login(name, password string) (LoginResult, error) {
	return f.login(name, password)
}
func (f *fakeSessions) LoginChange(name, password, np string) (LoginResult, error) {
	return f.login(name, password)
}
func (f *fakeSessions) Check(token string) (audit.User, string, error) {
	if u, ok := f.tokens[token]; ok {
		return u, "", nil
	}
	return audit.User{}, "", lot.Errorf(lot.ESESSION, "no such session")
}
func (f *fakeSessions) Logout(string) error { return nil }
func (f *fakeSessions) Info(token string) (audit.User, audit.Session, error) {
	u, _, err := f.Check(token)
	return u, audit.Session{}, err
}

func postLogin(s *Server, addr, name string) *httptest.ResponseRecorder {
	req := httptest.NewRequest("POST", "/api/v1/login", strings.NewReader(`{"user":"`+name+`","password":"whatever-it-is"}`))
	req.Header.Set("Origin", "http://example.com")
	req.RemoteAddr = addr + ":40000"
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	return rec
}

func errCode(t *testing.T, rec *httptest.ResponseRecorder) string {
	t.Helper()
	var e APIError
	if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil {
		t.Fatalf("answer %d is not the error object: %q", rec.Code, rec.Body)
	}
	return e.Error.Code
}

// TestPasswordGateCapsConcurrentChecks fires many logins at once: no more
// than PasswordChecks password checks ever run together (counted by the
// hook, which holds its check until the test lets it go), and every login
// that finds the slots taken is answered 503, with Retry-After and the
// error object, without its password being checked.
func TestPasswordGateCapsConcurrentChecks(t *testing.T) {
	const limit, n = 3, 12
	var inFlight, most, checks atomic.Int32
	entered := make(chan struct{}, n)
	release := make(chan struct{})
	s := New(Config{
		Log:               log.New(io.Discard, "", 0),
		PasswordChecks:    limit,
		PasswordCheckWait: 50 * time.Millisecond,
		OnPasswordCheck: func() func() {
			now := inFlight.Add(1)
			for m := most.Load(); now > m && !most.CompareAndSwap(m, now); m = most.Load() {
			}
			entered <- struct{}{}
			<-release
			return func() { inFlight.Add(-1) }
		},
		Sessions: &fakeSessions{login: func(name, _ string) (LoginResult, error) {
			checks.Add(1)
			return LoginResult{Token: "tok", User: audit.User{Name: name, Role: audit.Nurse}}, nil
		}},
	})
	results := make(chan *httptest.ResponseRecorder, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results <- postLogin(s, "192.0.2.7", "user"+string(rune('a'+i)))
		}()
	}
	// Every login past the cap is refused while the first ones hold their
	// slots: n-limit refusals arrive before anything is let go.
	for range n - limit {
		rec := <-results
		if rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("a login past the cap: %d %s; want 503", rec.Code, rec.Body)
		}
		if rec.Header().Get("Retry-After") == "" {
			t.Errorf("503 without Retry-After")
		}
		if c := errCode(t, rec); c != lot.EBUSY {
			t.Errorf("503 error code %q; want %q", c, lot.EBUSY)
		}
	}
	for range limit {
		<-entered
	}
	close(release)
	wg.Wait()
	close(results)
	ok := 0
	for rec := range results {
		if rec.Code != http.StatusOK {
			t.Errorf("a login inside the cap: %d %s", rec.Code, rec.Body)
		}
		ok++
	}
	if ok != limit || most.Load() != limit || checks.Load() != limit {
		t.Errorf("%d logins went through, %d checks ran, at most %d at once; want %d each", ok, checks.Load(), most.Load(), limit)
	}
}

// TestFailedLoginsRateLimited: failed logins for one name, then from one
// address, empty their bucket; the next is 429 without a password check,
// and a bucket refills with time. A login that succeeds takes nothing.
func TestFailedLoginsRateLimited(t *testing.T) {
	now := time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)
	var checks int
	s := New(Config{
		Log: log.New(io.Discard, "", 0),
		Now: func() time.Time { return now },
		Sessions: &fakeSessions{login: func(name, _ string) (LoginResult, error) {
			checks++
			if name == "nina" {
				return LoginResult{Token: "t", User: audit.User{Name: "nina", Role: audit.Nurse}}, nil
			}
			return LoginResult{}, lot.Errorf(lot.EAUTH, "wrong user name or password")
		}},
	})
	for i := range LoginFailuresPerName {
		if rec := postLogin(s, "192.0.2.1", "ghost"); rec.Code != http.StatusUnauthorized {
			t.Fatalf("failed login %d: %d %s", i+1, rec.Code, rec.Body)
		}
	}
	before := checks
	// The same name from another address, and in another case.
	rec := postLogin(s, "192.0.2.2", "GHOST")
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") == "" || errCode(t, rec) != lot.EAUTH {
		t.Fatalf("login after %d failures for one name: %d %v %s; want 429 with Retry-After, code auth", LoginFailuresPerName, rec.Code, rec.Header(), rec.Body)
	}
	if !strings.Contains(rec.Body.String(), `GHOST`) || checks != before {
		t.Errorf("429 must name the user name and check no password: %s (%d checks)", rec.Body, checks-before)
	}
	// Another name from the first address still gets its check, until
	// the address's bucket is empty.
	for i := LoginFailuresPerName; i < LoginFailuresPerAddress; i++ {
		if rec := postLogin(s, "192.0.2.1", "made-up-"+string(rune('a'+i))); rec.Code != http.StatusUnauthorized {
			t.Fatalf("failed login %d from one address: %d %s", i+1, rec.Code, rec.Body)
		}
	}
	before = checks
	rec = postLogin(s, "192.0.2.1", "nina")
	if rec.Code != http.StatusTooManyRequests || !strings.Contains(rec.Body.String(), "192.0.2.1") || checks != before {
		t.Fatalf("login after %d failures from one address: %d %s (%d checks); want 429 naming the address, no check", LoginFailuresPerAddress, rec.Code, rec.Body, checks-before)
	}
	if rec := postLogin(s, "192.0.2.9", "nina"); rec.Code != http.StatusOK {
		t.Fatalf("nina from another address: %d %s", rec.Code, rec.Body)
	}
	now = now.Add(LoginAddressEvery)
	if rec := postLogin(s, "192.0.2.1", "nina"); rec.Code != http.StatusOK {
		t.Fatalf("nina from the first address after %s: %d %s", LoginAddressEvery, rec.Code, rec.Body)
	}
	if rec := postLogin(s, "192.0.2.1", "nina"); rec.Code != http.StatusOK {
		t.Fatalf("a successful login took a token: %d %s", rec.Code, rec.Body)
	}
}

// readSpy is a request body that records whether anything read it.
type readSpy struct {
	r    io.Reader
	read atomic.Bool
}

func (b *readSpy) Read(p []byte) (int, error) { b.read.Store(true); return b.r.Read(p) }
func (b *readSpy) Close() error               { return nil }

type importLots struct {
	lot.Service
	got int
}

func (l *importLots) Import(actor string, rows []lot.ImportRow) ([]lot.Lot, error) {
	l.got = len(rows)
	return nil, nil
}

// TestImportAuthorizesBeforeReading: a lot import (up to MaxImportBytes of
// body) from a role that may not import is refused 403 before a byte of
// the body is read; the lab's is read.
func TestImportAuthorizesBeforeReading(t *testing.T) {
	lots := &importLots{}
	s := New(Config{
		Log:  log.New(io.Discard, "", 0),
		Lots: lots,
		Sessions: &fakeSessions{tokens: map[string]audit.User{
			"aud": {Name: "aaron", Role: audit.Auditor},
			"lab": {Name: "liu", Role: audit.Lab},
		}},
	})
	send := func(token string) (*httptest.ResponseRecorder, *readSpy) {
		body := &readSpy{r: strings.NewReader(`[{}]`)}
		req := httptest.NewRequest("POST", svcPrefix+"/lots/import", nil)
		req.Body = body
		req.ContentLength = 4
		req.Header.Set("Origin", "http://example.com")
		req.AddCookie(&http.Cookie{Name: s.cookieName(), Value: token})
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		return rec, body
	}
	rec, body := send("aud")
	if rec.Code != http.StatusForbidden || errCode(t, rec) != lot.EFORBIDDEN {
		t.Fatalf("auditor's import: %d %s; want 403 forbidden", rec.Code, rec.Body)
	}
	if body.read.Load() {
		t.Errorf("the auditor's import body was read before the 403")
	}
	rec, body = send("lab")
	if rec.Code != http.StatusOK || !body.read.Load() || lots.got != 1 {
		t.Fatalf("lab's import: %d %s (body read %v, rows %d)", rec.Code, rec.Body, body.read.Load(), lots.got)
	}
}
