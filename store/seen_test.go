package store

import (
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/release"
	"github.com/google/uuid"
)

// seenNow is what a page shows of the records ids now (audit.SeenField):
// the number of the latest audit entry about any of them.
func seenNow(t *testing.T, db *DB, ids ...uuid.UUID) *uint64 {
	t.Helper()
	var last uint64
	for _, id := range ids {
		es, _, err := db.AuditTail(id.String(), 1)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			last = max(last, e.Seq)
		}
	}
	return &last
}

// lotSeenNow is seenNow of a lot and its QC results, as the lot page
// shows it.
func lotSeenNow(t *testing.T, db *DB, ref string) *uint64 {
	t.Helper()
	l, err := NewLotService(db).Lot(ref)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := NewReleaseService(db).Results(ref)
	if err != nil {
		t.Fatal(err)
	}
	ids := []uuid.UUID{l.ID}
	for _, r := range rs {
		ids = append(ids, r.ID)
	}
	return seenNow(t, db, ids...)
}

// refusedSeen fails the test unless err is the refusal of a form that saw
// its record otherwise (code on field "seen", the message holding want)
// and db's audit trail still has before entries.
func refusedSeen(t *testing.T, db *DB, before int, err error, code, want string) {
	t.Helper()
	if lot.ErrorCode(err) != code || lot.ErrorField(err) != audit.SeenField || !strings.Contains(lot.ErrorMessage(err), want) {
		t.Fatalf("got %v (%s, field %q), want %s on %q containing %q", err, lot.ErrorCode(err), lot.ErrorField(err), code, audit.SeenField, want)
	}
	if after, _ := db.AuditCount(); after != before {
		t.Fatalf("the refusal wrote %d audit entries", after-before)
	}
}

// sendTwice sends one form from each of two servers at once and returns how
// many recorded; every other answer must be the form's refusal (ECONFLICT
// on "seen"), and leave the trail as the recorded one left it.
func sendTwice(t *testing.T, servers [2]*DB, send func(db *DB) error) int {
	t.Helper()
	before, _ := servers[0].AuditCount()
	start := make(chan struct{})
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i, db := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = send(db)
		}()
	}
	close(start)
	wg.Wait()
	recorded := 0
	for _, err := range errs {
		switch {
		case err == nil:
			recorded++
		case lot.ErrorCode(err) != lot.ECONFLICT || lot.ErrorField(err) != audit.SeenField:
			t.Fatalf("a send of the form: %v (%s, field %q), want it recorded or refused as sent again", err, lot.ErrorCode(err), lot.ErrorField(err))
		}
	}
	after, _ := servers[0].AuditCount()
	for _, err := range errs {
		if err == nil && after == before {
			t.Fatalf("a send recorded and wrote no audit entry")
		}
	}
	return recorded
}

// seenServers is a database with LOT-1 split into three containers at the
// home site, nina's account and quinn (QA), seen by two servers: on
// PostgreSQL two handles on the database (two `celltrack serve`), on bbolt
// two group-commit handles on the one file a single process may hold, whose
// writes share transactions.
func seenServers(t *testing.T) ([2]*DB, lot.Container) {
	t.Helper()
	db := newTestDB(t)
	registerUC(t, db, "LOT-1")
	cs, err := NewLotService(db).SplitLot("liu", lot.Split{Lot: "LOT-1", Containers: 3, CellsEach: 100_000_000})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewCustodyService(db).AddSite("liu", lot.Site{Code: "CLINIC-A", Name: "Clinic A"}); err != nil {
		t.Fatal(err)
	}
	addTestUser(t, db, audit.User{Name: "quinn", FullName: "Quinn", Role: audit.QA})
	other := db.GroupCommit()
	if os.Getenv(envEngine) == "postgres" {
		o, err := Open(db.Path(), Options{Now: db.Now})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { o.Close() })
		other = o
	}
	return [2]*DB{db.GroupCommit(), other}, cs[0]
}

// TestSeenFormRecordsOnceOnTwoServers is the page forms' resend rule held by
// the store (audit.SeenField): a form carries the number of its record's
// last audit entry, and the write is refused (409 "seen", naming the last
// change, nothing written) once the record has changed since — even when it
// has come round to the state the form was shown in. The same form sent at
// once to two servers records once; a form without it (the command line)
// is judged by the record's own rules alone. Run on bbolt, and on
// PostgreSQL with two handles on one database.
func TestSeenFormRecordsOnceOnTwoServers(t *testing.T) {
	for _, engine := range []string{"bbolt", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			if engine == "postgres" {
				t.Setenv(envEngine, "postgres")
			}
			servers, c := seenServers(t)
			seenFormRecordsOnce(t, servers, c)
		})
	}
}

func seenFormRecordsOnce(t *testing.T, servers [2]*DB, c lot.Container) {
	db := servers[0]
	custody := func(db *DB) *CustodyService { return NewCustodyService(db) }

	t.Run("custody", func(t *testing.T) {
		// The quarantine is released (store) from its page; the bag is
		// quarantined again; the release form sent again on either server
		// is refused, though the bag is back in the state it was shown in.
		if _, err := custody(db).Store("liu", c.Code(), "LN2-A rack 1"); err != nil {
			t.Fatal(err)
		}
		if _, err := custody(db).Quarantine("liu", c.Code(), "sterility query"); err != nil {
			t.Fatal(err)
		}
		release := lot.Move{To: lot.Stored, Location: "LN2-A rack 1", Seen: seenNow(t, db, c.ID)}
		if got, err := db.Seen(c.ID); err != nil || got != *release.Seen {
			t.Fatalf("Seen, which the pages carry, = %d %v; the container's trail ends at #%d", got, err, *release.Seen)
		}
		if n := sendTwice(t, servers, func(db *DB) error { _, err := custody(db).Move("liu", c.Code(), release); return err }); n != 1 {
			t.Fatalf("the release form sent to two servers at once recorded %d times, want 1", n)
		}
		if _, err := custody(db).Quarantine("liu", c.Code(), "second investigation"); err != nil {
			t.Fatal(err)
		}
		for _, s := range servers {
			before, _ := db.AuditCount()
			_, err := custody(s).Move("liu", c.Code(), release)
			refusedSeen(t, db, before, err, lot.ECONFLICT, "container "+c.Code()+" changed after this form was shown (the last change recorded: container.quarantine by liu at 2026-11-25 09:00 UTC")
		}
		if got, _ := NewLotService(db).Container(c.Code()); got.State != lot.Quarantined {
			t.Fatalf("the bag after the resends is %s, want quarantined", got.State)
		}
		// A number past the container's last entry is no entry of it.
		before, _ := db.AuditCount()
		beyond := *seenNow(t, db, c.ID) + 1
		_, err := custody(db).Move("liu", c.Code(), lot.Move{To: lot.Stored, Location: "LN2-A rack 1", Seen: &beyond})
		refusedSeen(t, db, before, err, lot.EINVALID, "but its last entry is")
		// Without it (the command line): the container's own rules.
		if _, err := custody(servers[1]).Store("liu", c.Code(), "LN2-A rack 1"); err != nil {
			t.Fatalf("a move without a form's state: %v", err)
		}
	})

	t.Run("account", func(t *testing.T) {
		us := func(db *DB) audit.Users { return db }
		nina, err := db.User("nina")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.DisableUser("alice", "nina", "on leave", nil); err != nil {
			t.Fatal(err)
		}
		enable := seenNow(t, db, nina.ID)
		if n := sendTwice(t, servers, func(db *DB) error {
			_, err := us(db).EnableUser("alice", "nina", "back from leave", enable)
			return err
		}); n != 1 {
			t.Fatalf("the enable form sent to two servers at once recorded %d times, want 1", n)
		}
		if _, err := db.DisableUser("alice", "nina", "badge lost", nil); err != nil {
			t.Fatal(err)
		}
		for _, s := range servers {
			before, _ := db.AuditCount()
			_, err := us(s).EnableUser("alice", "nina", "back from leave", enable)
			refusedSeen(t, db, before, err, lot.ECONFLICT, "the account of nina changed after this form was shown (the last change recorded: user.disable by alice")
		}
		if u, _ := db.User("nina"); !u.Disabled {
			t.Fatal("the account of the lost badge was enabled by a form sent again")
		}
		before, _ := db.AuditCount()
		_, err = db.UnlockUser("alice", "nina", "checked", enable)
		refusedSeen(t, db, before, err, lot.ECONFLICT, "the account of nina changed")

		// A wrong password and a login change nothing the accounts page
		// decides on: the account's state does not move with them (review14),
		// so the admin's disable form from before them is made.
		if _, err := db.EnableUser("alice", "nina", "found the badge", nil); err != nil {
			t.Fatal(err)
		}
		form, err := db.Seen(nina.ID)
		if err != nil || form != *seenNow(t, db, nina.ID) {
			t.Fatalf("Seen after the enable = %d %v; the account's trail ends at #%d", form, err, *seenNow(t, db, nina.ID))
		}
		if _, _, err := db.Login("nina", "not-ninas-password", nil); lot.ErrorCode(err) != lot.EAUTH {
			t.Fatalf("a wrong password: %v", err)
		}
		if _, _, err := servers[1].Login("nina", testPassword, nil); err != nil {
			t.Fatal(err)
		}
		if *seenNow(t, db, nina.ID) == form {
			t.Fatal("the wrong password and the login wrote no entry on the account")
		}
		for _, s := range servers {
			if got, err := s.Seen(nina.ID); err != nil || got != form {
				t.Fatalf("Seen after a wrong password and a login = %d %v; want #%d, the enable", got, err, form)
			}
		}
		if _, err := db.DisableUser("alice", "nina", "badge stolen", &form); err != nil {
			t.Fatalf("the disable form shown before nina's login and a wrong password: %v", err)
		}
		// A lock moves it: the unlock form from before the lock is refused.
		if _, err := db.EnableUser("alice", "nina", "new badge", nil); err != nil {
			t.Fatal(err)
		}
		form, _ = db.Seen(nina.ID)
		for i := 0; i < audit.MaxFailures; i++ {
			db.Login("nina", "not-ninas-password", nil)
		}
		before, _ = db.AuditCount()
		_, err = db.UnlockUser("alice", "nina", "checked", &form)
		refusedSeen(t, db, before, err, lot.ECONFLICT, "the last change recorded: user.locked by nina")
		// A wrong password while locked does not move it again.
		form, _ = db.Seen(nina.ID)
		db.Login("nina", "not-ninas-password", nil)
		if _, err := db.UnlockUser("alice", "nina", "identity checked", &form); err != nil {
			t.Fatalf("the unlock form shown before a guess while locked: %v", err)
		}
	})

	t.Run("lot", func(t *testing.T) {
		rs := func(db *DB) *ReleaseService { return NewReleaseService(db) }
		// A result form sent twice at once records one result.
		seen := lotSeenNow(t, db, "LOT-1")
		if n := sendTwice(t, servers, func(db *DB) error {
			_, _, err := rs(db).RecordResult("liu", "LOT-1", release.Entry{Assay: "CD14", Value: "1", Seen: seen}, 0, "")
			return err
		}); n != 1 {
			t.Fatalf("the result form sent to two servers at once recorded %d times, want 1", n)
		}
		// Voided, the result's form sent again is still refused: the
		// lot's state names the result's void.
		results, err := rs(db).Results("LOT-1")
		if err != nil || len(results) != 1 {
			t.Fatalf("results: %+v %v", results, err)
		}
		if _, _, err := rs(db).VoidResult("liu", "LOT-1", results[0].Seq, "sample mix-up"); err != nil {
			t.Fatal(err)
		}
		for _, s := range servers {
			before, _ := db.AuditCount()
			_, _, err := rs(s).RecordResult("liu", "LOT-1", release.Entry{Assay: "CD14", Value: "1", Seen: seen}, 0, "")
			refusedSeen(t, db, before, err, lot.ECONFLICT, "lot LOT-1 changed after this form was shown (the last change recorded: release.result.void of result #1 (CD14) by liu")
		}
		// A decision shown before a change is refused before any password:
		// a wrong one is neither checked nor counted.
		stale := seen
		for _, s := range servers {
			before, _ := db.AuditCount()
			_, err := rs(s).Approve(release.Approval{Lot: "LOT-1", QA: "quinn", Password: "not-quinns-password", Seen: stale})
			refusedSeen(t, db, before, err, lot.ECONFLICT, "lot LOT-1 changed after this form was shown")
			_, err = rs(s).Reject("quinn", "not-quinns-password", "LOT-1", "mycoplasma", stale)
			refusedSeen(t, db, before, err, lot.ECONFLICT, "Nothing was signed")
		}
		if u, _ := db.User("quinn"); u.Failures != 0 {
			t.Fatalf("quinn has %d wrong passwords counted by refused resends", u.Failures)
		}
		// The rejection form, sent twice at once, signs once.
		now := lotSeenNow(t, db, "LOT-1")
		if n := sendTwice(t, servers, func(db *DB) error {
			_, err := rs(db).Reject("quinn", testPassword, "LOT-1", "mycoplasma positive", now)
			return err
		}); n != 1 {
			t.Fatalf("the rejection form sent to two servers at once signed %d times, want 1", n)
		}
	})

	for _, s := range servers {
		if v, err := s.Verify(); err != nil || !v.OK() {
			t.Fatalf("audit verify: %v %v", err, v.Problems)
		}
	}
}
