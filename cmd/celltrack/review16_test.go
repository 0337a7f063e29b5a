package main

import (
	"bytes"
	"context"
	"errors"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/store/kv"
	"github.com/celltrack/celltrack/web"
)

// review16Sessions answers every session as the nurse nina's.
type review16Sessions struct{ web.Sessions }

func (review16Sessions) Check(string) (audit.User, string, error) {
	return audit.User{Name: "nina", FullName: "Nina", Role: audit.Nurse}, "", nil
}

// review16InDoubt is the shape of the store's worded engine error
// (store/postgres.go wordedError): the refusal shown, then the engine's
// cause, both in the chain (Unwrap() []error) for the log.
type review16InDoubt struct {
	refusal error
	cause   error
}

func (e *review16InDoubt) Error() string   { return e.refusal.Error() + " [" + e.cause.Error() + "]" }
func (e *review16InDoubt) Unwrap() []error { return []error{e.refusal, e.cause} }

// review16Lots is a PostgreSQL store whose commit of the patient lost its
// connection (ECONNRESET) after the client had given up and gone away.
type review16Lots struct {
	lot.Service
	cancel context.CancelFunc
}

func (l review16Lots) AddPatient(string, lot.Patient) (lot.Patient, error) {
	l.cancel() // the client closes the request while the commit is in flight
	cause := &kv.Error{Unavailable: true, InDoubt: true, Op: "commit", Err: &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}}
	return lot.Patient{}, &review16InDoubt{
		lot.Errorf(lot.EUNKNOWN, "the outcome of this write is unknown: the connection to db was lost while it was being committed, so it may or may not have been recorded; look before doing it again (the record's history in the audit log)"),
		cause}
}

// Review 16 B (tidy12): a write whose commit is in doubt — the PostgreSQL
// connection lost while committing, so the patient may well be recorded —
// is logged as the client's close, 499, "nothing was written", when its
// client had gone away meanwhile: Server.cancellation takes any
// *net.OpError in the chain, the database connection's as much as the
// client's. The administrator reading the log is told nothing was written
// and the in-doubt outcome is lost. Expected: the write's own error
// (EUNKNOWN, "the outcome of this write is unknown"), logged as such; a
// 499 only for an error that is the request's own (its context, or the
// answer's write to the client).
func TestReview16InDoubtWriteIsNotLoggedAsNothingWritten(t *testing.T) {
	var logged bytes.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := web.New(web.Config{
		Sessions: review16Sessions{},
		Lots:     review16Lots{cancel: cancel},
		Log:      log.New(&logged, "", 0),
	})
	body := `{"mrn":"MRN-77","name":"Mei Chen","born":"1980-01-02","sex":"F"}`
	r := httptest.NewRequest(http.MethodPost, "http://celltrack.test/api/v1/patients", strings.NewReader(body)).WithContext(ctx)
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Origin", "http://celltrack.test")
	r.AddCookie(&http.Cookie{Name: "celltrack_session", Value: "nina-session"})
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	if w.Code == web.StatusClientClosedRequest || strings.Contains(logged.String(), "nothing was written") || !strings.Contains(w.Body.String(), "outcome of this write is unknown") {
		t.Errorf("a patient whose commit is in doubt, its client gone: answered %d %s, logged %q; want the in-doubt outcome (EUNKNOWN, \"the outcome of this write is unknown\") answered and logged, never 499 \"nothing was written\"",
			w.Code, strings.TrimSpace(w.Body.String()), strings.TrimSpace(logged.String()))
	}
	if !errors.Is(ctx.Err(), context.Canceled) {
		t.Fatalf("the fixture did not close the request: %v", ctx.Err())
	}
}
