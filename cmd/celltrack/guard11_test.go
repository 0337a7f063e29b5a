package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/web"
)

// guard11Caller is web.Client as the service interfaces' Caller, as the
// command line's server mode holds it.
type guard11Caller struct{ c *web.Client }

func (g guard11Caller) Call(method, path string, body any) ([]byte, map[string][]string, error) {
	data, h, _, err := g.c.Call(method, path, body)
	return data, h, err
}

// guard11Seen is the number of the last audit entry of the record ref, as
// a page carries it (the field "seen").
func guard11Seen(t *testing.T, f *webFixture, ref string) uint64 {
	t.Helper()
	es, _, err := f.db.AuditTail("alice", ref, 1)
	if err != nil || len(es) != 1 {
		t.Fatalf("the audit tail of %s: %v %v", ref, es, err)
	}
	return es[0].Seq
}

// guard11: the resend rule of the page forms is the store's, so the JSON
// API and the command line's client of a server can ask for it too: a
// request that carries the state its record was in (seen) records once,
// and the same request again is refused (409, field seen, naming the last
// change) with nothing written — before any password is checked.
func TestGuard11APIAndClientCarrySeen(t *testing.T) {
	f, admin := guard10As(t, "alice")

	// The JSON API, with the account's state as the page carries it (not
	// the trail's last entry: a login on it does not count, review14).
	nina, err := f.db.User("nina")
	if err != nil {
		t.Fatal(err)
	}
	seen, err := f.db.Seen(nina.ID)
	if err != nil {
		t.Fatal(err)
	}
	body := map[string]any{"reason": "on leave", "seen": seen}
	if st, m := f.postJSON(admin, "/api/v1/users/nina/disable", body); st != http.StatusOK {
		t.Fatalf("disable with the account's state: %d %v", st, m)
	}
	before := f.auditHead()
	st, m := f.postJSON(admin, "/api/v1/users/nina/enable", body)
	e, _ := m["error"].(map[string]any)
	if st != http.StatusConflict || e["field"] != "seen" || !strings.Contains(e["message"].(string), "the last change recorded: user.disable by alice") {
		t.Errorf("an enable made from the account as it was before the disable: %d %v; want 409 on seen naming the disable", st, m)
	}
	if f.auditHead() != before {
		t.Errorf("the refused enable wrote to the audit trail")
	}

	// The service API, through the command line's client.
	cl, err := web.NewClient(f.srv.URL, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Login("liu", fixturePassword); err != nil {
		t.Fatal(err)
	}
	// The client reads an account's state as the store does (liu's own
	// login just now does not count; review14).
	liu, _ := f.db.User("liu")
	want, _ := f.db.Seen(liu.ID)
	if got, err := web.NewRemoteUsers(guard11Caller{cl}, nil).Seen(liu.ID); err != nil || got != want {
		t.Errorf("the service API's Seen of liu's account: %d %v; the store's is #%d", got, err, want)
	}
	custody := web.NewRemoteCustody(guard11Caller{cl})
	const bag = "G12342600000101"
	at := guard11Seen(t, f, bag)
	move := lot.Move{To: lot.Quarantined, Reason: "sterility query", Seen: &at}
	if _, err := custody.Move("liu", bag, move); err != nil {
		t.Fatalf("a quarantine with the container's state: %v", err)
	}
	before = f.auditHead()
	move.To, move.Reason, move.Location = lot.Stored, "", "LN2-A rack 1"
	if _, err := custody.Move("liu", bag, move); lot.ErrorCode(err) != lot.ECONFLICT || lot.ErrorField(err) != "seen" {
		t.Errorf("a store made from the container as it was before the quarantine: %v (%s, field %q); want a conflict on seen", err, lot.ErrorCode(err), lot.ErrorField(err))
	}
	if f.auditHead() != before {
		t.Errorf("the refused move wrote to the audit trail")
	}
	if _, err := custody.Store("liu", bag, "LN2-A rack 1"); err != nil {
		t.Errorf("a move without a state (the command line's): %v", err)
	}

	// A rejection shown before the lot changed is refused before its
	// password: a wrong one is not counted.
	qa, err := web.NewClient(f.srv.URL, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := qa.Login("quinn", fixturePassword); err != nil {
		t.Fatal(err)
	}
	stale := guard11Seen(t, f, "LOT-UC-1") - 1
	before = f.auditHead()
	_, err = web.NewRemoteReleases(guard11Caller{qa}).Reject("quinn", "not-the-password-1", "LOT-UC-1", "mycoplasma positive", &stale)
	if lot.ErrorCode(err) != lot.ECONFLICT || lot.ErrorField(err) != "seen" {
		t.Errorf("a rejection made from the lot as it was: %v (%s, field %q); want a conflict on seen", err, lot.ErrorCode(err), lot.ErrorField(err))
	}
	if u, _ := f.db.User("quinn"); u.Failures != 0 || f.auditHead() != before {
		t.Errorf("the refused rejection counted %d wrong passwords or wrote to the audit trail", u.Failures)
	}
}
