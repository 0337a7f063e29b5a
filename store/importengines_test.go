package store

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"testing"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/lot"
)

// TestImportSameOnBothEngines: an import large enough that PostgreSQL
// gets it as several sends behind the transaction, each by COPY with the
// record tables' columns computed in Go (store/pgkv: behind.go, copy.go,
// copyjson.go), writes there what it writes on a bbolt file — the same
// lots, and the same audit entries (one per lot, with the same values,
// times and reasons) — but for the ids each database draws, which are
// compared by where they first appear; and both trails verify.
func TestImportSameOnBothEngines(t *testing.T) {
	const n = 3_000 // ~21,000 writes: pgkv sends them in three goes (flushAt)
	uuidRE := regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	var got [2][]string
	for i, engine := range []string{"bbolt", "postgres"} {
		t.Setenv(envEngine, engine)
		db := newTestDB(t)
		before, err := db.AuditCount()
		if err != nil {
			t.Fatal(err)
		}
		ls, err := NewLotService(db).Import("liu", importRows("X", n, db.Now()))
		if err != nil || len(ls) != n {
			t.Fatalf("%s: import: %d lots, %v", engine, len(ls), err)
		}
		v, err := db.Verify()
		if err != nil || !v.OK() {
			t.Fatalf("%s: audit verify after the import: %v %v", engine, err, v.Problems)
		}
		var entries []audit.Entry
		if err := db.EachAuditEntry(context.Background(), "alice", "", func(e audit.Entry) error {
			entries = append(entries, e)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if len(entries) != before+n {
			t.Fatalf("%s: %d audit entries after the import of %d lots to %d, want one a lot", engine, len(entries), n, before)
		}
		lots, err := NewLotService(db).Lots(lot.LotFilter{})
		if err != nil {
			t.Fatal(err)
		}
		ids := map[string]string{}
		canon := func(s string) string {
			return uuidRE.ReplaceAllStringFunc(s, func(u string) string {
				if _, ok := ids[u]; !ok {
					ids[u] = "id#" + strconv.Itoa(len(ids))
				}
				return ids[u]
			})
		}
		for _, e := range entries[before:] {
			if e.Action != "lot.register" || len(e.New) == 0 {
				t.Fatalf("%s: entry %d is %s with %d bytes of record, want lot.register with the lot", engine, e.Seq, e.Action, len(e.New))
			}
			got[i] = append(got[i], canon(fmt.Sprintf("entry %d %s %s %s %s %s new %s prev %s reason %q",
				e.Seq, e.Time.UTC().Format("2006-01-02T15:04:05.999999999Z"), e.User, e.Action, e.Entity, e.ID, e.New, e.Prev, e.Reason)))
		}
		for _, l := range lots {
			got[i] = append(got[i], canon(fmt.Sprintf("lot %+v", l)))
		}
	}
	if len(got[0]) != len(got[1]) {
		t.Fatalf("bbolt %d entries and lots, PostgreSQL %d", len(got[0]), len(got[1]))
	}
	for j := range got[0] {
		if got[0][j] != got[1][j] {
			t.Fatalf("line %d differs:\nbbolt:      %s\nPostgreSQL: %s", j, got[0][j], got[1][j])
		}
	}
}
