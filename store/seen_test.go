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
		es, _, err := db.AuditTail("alice", id.String(), 1)
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

// labelsSeenNow is what a page shows of the labels of lot ref (c nil: the
// lot page's, of the lot, its containers and their label records) or of
// container c (of it and its label record), read from the trails, as
// seenNow: it must be what DB.Seen gives the page for those records.
func labelsSeenNow(t *testing.T, db *DB, ref string, c *lot.Container) *uint64 {
	t.Helper()
	l, cs, ns, err := NewLabelService(db).Reconcile(ref)
	if err != nil {
		t.Fatal(err)
	}
	var ids []uuid.UUID
	if c == nil {
		ids = append(ids, l.ID)
	}
	for i := range cs {
		if c != nil && cs[i].ID != c.ID {
			continue
		}
		ids = append(ids, cs[i].ID)
		if ns[i].ID != uuid.Nil {
			ids = append(ids, ns[i].ID)
		}
	}
	seen := seenNow(t, db, ids...)
	if got, err := db.Seen(ids...); err != nil || got != *seen {
		t.Fatalf("Seen of the labels of %s = %d %v; their trails end at #%d", ref, got, err, *seen)
	}
	return seen
}

// accountSeenNow is the state of the account id as its forms carry it.
func accountSeenNow(t *testing.T, db *DB, id uuid.UUID) *uint64 {
	t.Helper()
	seen, err := db.Seen(id)
	if err != nil {
		t.Fatal(err)
	}
	return &seen
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

	t.Run("labels", func(t *testing.T) {
		ls := func(db *DB) *LabelService { return NewLabelService(db) }
		render := func(lot.LabelSet) error { return nil }
		// The lot page's print form: the lot, its containers and their
		// labels (none printed yet).
		lotForm := labelsSeenNow(t, db, "LOT-1", nil)
		if n := sendTwice(t, servers, func(db *DB) error { _, err := ls(db).Print("liu", "LOT-1", lotForm, render); return err }); n != 1 {
			t.Fatalf("the lot's print form sent to two servers at once printed %d times, want 1", n)
		}
		for _, s := range servers {
			before, _ := db.AuditCount()
			_, err := ls(s).Print("liu", "LOT-1", lotForm, func(lot.LabelSet) error { t.Fatal("a refused print rendered its labels"); return nil })
			refusedSeen(t, db, before, err, lot.ECONFLICT, "lot LOT-1 changed after this form was shown (the last change recorded: label.print by liu")
		}
		// The container page's print form, a reprint of c's label: one to
		// put on, one spare.
		cForm := labelsSeenNow(t, db, "LOT-1", &c)
		if n := sendTwice(t, servers, func(db *DB) error { _, err := ls(db).Print("liu", c.Code(), cForm, render); return err }); n != 1 {
			t.Fatalf("the container's print form sent to two servers at once printed %d times, want 1", n)
		}
		before, _ := db.AuditCount()
		_, err := ls(servers[1]).Print("liu", c.Code(), cForm, render)
		refusedSeen(t, db, before, err, lot.ECONFLICT, "container "+c.Code()+" changed after this form was shown (the last change recorded: label.print by liu")
		// The apply form, sent twice at once, puts one label on: the
		// spare is not recorded as put on too.
		apply := labelsSeenNow(t, db, "LOT-1", &c)
		if n := sendTwice(t, servers, func(db *DB) error { _, err := ls(db).Apply("liu", c.Code(), apply); return err }); n != 1 {
			t.Fatalf("the apply form sent to two servers at once recorded %d times, want 1", n)
		}
		for _, s := range servers {
			before, _ := db.AuditCount()
			_, err := ls(s).Apply("liu", c.Code(), apply)
			refusedSeen(t, db, before, err, lot.ECONFLICT, "container "+c.Code()+" changed after this form was shown (the last change recorded: label.apply by liu")
		}
		// The lot's print form from before is stale too: one of its labels
		// moved on.
		before, _ = db.AuditCount()
		_, err = ls(db).Print("liu", "LOT-1", lotForm, render)
		refusedSeen(t, db, before, err, lot.ECONFLICT, "lot LOT-1 changed after this form was shown (the last change recorded: label.apply by liu")
		void := labelsSeenNow(t, db, "LOT-1", &c)
		if _, err := ls(servers[1]).Void("liu", c.Code(), "smudged", void); err != nil {
			t.Fatal(err)
		}
		before, _ = db.AuditCount()
		_, err = ls(db).Void("liu", c.Code(), "smudged", void)
		refusedSeen(t, db, before, err, lot.ECONFLICT, "container "+c.Code()+" changed after this form was shown (the last change recorded: label.void by liu")
		_, _, ns, err := ls(db).Reconcile("LOT-1")
		if err != nil || ns[0].Printed != 2 || ns[0].Applied != 1 || ns[0].Voided != 1 {
			t.Fatalf("the labels of %s after the resends: %+v %v; want printed 2, applied 1, voided 1", c.Code(), ns, err)
		}
		// Without it (the command line): the labels' own rules.
		if _, err := ls(servers[1]).Print("liu", c.Code(), nil, render); err != nil {
			t.Fatalf("a print without a form's state: %v", err)
		}
	})

	t.Run("split", func(t *testing.T) {
		l, err := NewLotService(db).Lot("LOT-1")
		if err != nil {
			t.Fatal(err)
		}
		split := lot.Split{Lot: "LOT-1", Containers: 2, CellsEach: 100_000_000, Seen: seenNow(t, db, l.ID)}
		if got, err := db.Seen(l.ID); err != nil || got != *split.Seen {
			t.Fatalf("Seen of the lot = %d %v; its trail ends at #%d", got, err, *split.Seen)
		}
		if n := sendTwice(t, servers, func(db *DB) error { _, err := NewLotService(db).SplitLot("liu", split); return err }); n != 1 {
			t.Fatalf("the split form sent to two servers at once split %d times, want 1", n)
		}
		for _, s := range servers {
			before, _ := db.AuditCount()
			_, err := NewLotService(s).SplitLot("liu", split)
			refusedSeen(t, db, before, err, lot.ECONFLICT, "lot LOT-1 changed after this form was shown (the last change recorded: lot.split by liu")
		}
		if got, _ := NewLotService(db).Lot("LOT-1"); got.Containers != l.Containers+2 {
			t.Fatalf("LOT-1 has %d containers after the split and its resends, want %d", got.Containers, l.Containers+2)
		}
		// A custody move of a container is not the lot's: a further split
		// from the page as it is now is made.
		split.Seen = seenNow(t, db, l.ID)
		if _, err := NewCustodyService(db).Quarantine("liu", c.Code(), "label check"); err != nil {
			t.Fatal(err)
		}
		if _, err := NewLotService(servers[1]).SplitLot("liu", split); err != nil {
			t.Fatalf("a further split from the page as it is now: %v", err)
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

	t.Run("password", func(t *testing.T) {
		// An admin's reset, sent twice at once, resets once; sent again,
		// it is refused.
		nina, err := db.User("nina")
		if err != nil {
			t.Fatal(err)
		}
		// An account's state is its latest entry that changes it (not a
		// login): what the accounts page carries, db.Seen.
		reset := accountSeenNow(t, db, nina.ID)
		const oneTime = "tulip-orbit-canyon-31"
		if n := sendTwice(t, servers, func(db *DB) error {
			_, err := db.ResetPassword("alice", "nina", oneTime, "forgot it", reset)
			return err
		}); n != 1 {
			t.Fatalf("the reset form sent to two servers at once reset %d times, want 1", n)
		}
		for _, s := range servers {
			before, _ := db.AuditCount()
			_, err := s.ResetPassword("alice", "nina", oneTime, "forgot it", reset)
			refusedSeen(t, db, before, err, lot.ECONFLICT, "the account of nina changed after this form was shown (the last change recorded: user.reset by alice")
		}

		// liu's own change, sent twice at once, changes once; sent again
		// (its current password is the one replaced), it is refused before
		// the password is checked: nothing recorded or counted.
		liu, err := db.User("liu")
		if err != nil {
			t.Fatal(err)
		}
		change := accountSeenNow(t, db, liu.ID)
		const newPassword = "harbor-lantern-moss-82"
		if n := sendTwice(t, servers, func(db *DB) error { _, err := db.ChangePassword("liu", testPassword, newPassword, change); return err }); n != 1 {
			t.Fatalf("the password form sent to two servers at once changed it %d times, want 1", n)
		}
		for _, s := range servers {
			for range audit.MaxFailures { // counted, these would lock liu out
				before, _ := db.AuditCount()
				_, err := s.ChangePassword("liu", testPassword, newPassword, change)
				refusedSeen(t, db, before, err, lot.ECONFLICT, "the account of liu changed after this form was shown (the last change recorded: user.passwd by liu")
				if !strings.Contains(lot.ErrorMessage(err), "nothing was counted against liu") {
					t.Fatalf("the refusal does not say nothing was counted: %v", err)
				}
			}
		}
		if u, _ := db.User("liu"); u.Failures != 0 || u.Locked(db.Now()) {
			t.Fatalf("liu after the resends: %d wrong passwords counted, locked %v", u.Failures, u.Locked(db.Now()))
		}
		if _, _, err := servers[1].Login("liu", newPassword, nil); err != nil {
			t.Fatalf("liu's new password: %v", err)
		}
		// Without it (the command line): the old password is checked.
		if _, err := db.ChangePassword("liu", testPassword, "quiet-meadow-falcon-47", nil); lot.ErrorCode(err) != lot.EAUTH {
			t.Fatalf("a change without a form's state, with the old password: %v; want EAUTH", err)
		}
	})

	for _, s := range servers {
		if v, err := s.Verify(); err != nil || !v.OK() {
			t.Fatalf("audit verify: %v %v", err, v.Problems)
		}
	}
}
