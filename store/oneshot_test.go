package store

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/lot"
)

// isRawFrame says whether stored entry b's body is a zstd frame of raw
// blocks holding its JSON as it is (audit.EncodeRaw): the entry ends with
// its JSON, after the linked header and at most 10 bytes of framing.
func isRawFrame(t *testing.T, b []byte) bool {
	t.Helper()
	body, err := audit.Body(b)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.HasSuffix(b, body) && len(b)-len(body) <= 32+16+32+1+10
}

// TestOneShotEntriesAreRawAndVerify: a handle opened OneShot stores its
// entries' bodies uncompressed (raw zstd frames), others compress them; a
// trail mixing both verifies and reads as one, and a byte of a raw entry's
// JSON changed is named by verify like any other. Runs on both engines.
func TestOneShotEntriesAreRawAndVerify(t *testing.T) {
	FailedPasswordDelay = 0
	path := testDBPath(t)
	now := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	open := func(o Options) *DB {
		t.Helper()
		o.Now = func() time.Time { return now }
		db, err := Open(path, o)
		if err != nil {
			t.Fatal(err)
		}
		return db
	}
	db := open(Options{Create: true})
	if _, err := db.Init("G1234", audit.User{Name: "alice", FullName: "Alice"}, testPassword); err != nil {
		t.Fatal(err)
	}
	initEntries := len(auditEntries(t, db))
	db.Close()

	db = open(Options{OneShot: true})
	addTestUser(t, db, audit.User{Name: "liu", FullName: "Liu", Role: audit.Lab})
	if _, err := NewLotService(db).AddDonor("liu", lot.Donor{Code: "D-1", Site: "ward", Delivered: now.AddDate(0, 0, -10), Consented: now.AddDate(0, 0, -20)}); err != nil {
		t.Fatal(err)
	}
	oneShotEntries := len(auditEntries(t, db))
	db.Close()

	db = open(Options{})
	defer db.Close()
	registerUC(t, db, "LOT-1")
	all := auditEntries(t, db)
	if initEntries == 0 || oneShotEntries <= initEntries || len(all) <= oneShotEntries {
		t.Fatalf("entries: %d after init, %d after the one-shot handle, %d in all", initEntries, oneShotEntries, len(all))
	}
	var firstRaw uint64
	for i, b := range all {
		raw := i >= initEntries && i < oneShotEntries
		if isRawFrame(t, b) != raw || !audit.IsLinked(b) {
			t.Errorf("entry %d: stored raw %v, want %v (linked %v)", i+1, !raw, raw, audit.IsLinked(b))
		}
		if raw && firstRaw == 0 {
			firstRaw = uint64(i + 1)
		}
	}
	verifyOK(t, db)
	if log, err := db.AuditLog("D-1"); err != nil || len(log) != 1 || log[0].User != "liu" || log[0].Action == "" {
		t.Fatalf("the donor's audit log from its raw entry: %+v, %v", log, err)
	}

	// The JSON of a raw entry changed in place, one byte, its length kept.
	b := entryBytes(t, db, firstRaw)
	i := bytes.LastIndex(b, []byte(`"alice"`))
	if i < 0 {
		i = bytes.LastIndex(b, []byte(`"liu"`))
	}
	if i < 0 {
		t.Fatalf("entry %d names neither alice nor liu: %q", firstRaw, b)
	}
	b[i+1] ^= 0x20
	rawSetEntry(t, db, firstRaw, b)
	if got := problemsOf(t, db); !strings.Contains(got, alteredLinked(firstRaw)) {
		t.Fatalf("verify does not name entry %d, its raw JSON changed; it says:\n%s", firstRaw, got)
	}
}
