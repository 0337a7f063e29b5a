package store

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/celltrack/celltrack/store/kv"
	"golang.org/x/mod/sumdb/note"
)

// TestFailedBackupReportsItsMarkedSize is review13's finding F: a backup of
// a database that fails verification is copied and then marked, and the
// mark may grow the file (from PostgreSQL, 65536 bytes became 131072); the
// size reported, and printed by `backup`, is the file's as it is left, on
// either engine, and for a file an older celltrack wrote.
func TestFailedBackupReportsItsMarkedSize(t *testing.T) {
	for _, engine := range []string{"file", "postgres", "older file"} {
		t.Run(engine, func(t *testing.T) {
			t.Setenv(envEngine, strings.TrimPrefix(engine, "older "))
			db := newTestDB(t)
			for i := range 40 {
				registerUC(t, db, fmt.Sprintf("LOT-%02d", i))
			}
			// Records edited outside celltrack: verify fails, once for
			// each, and the mark lists every problem — more than the
			// copy has room for.
			if err := db.engine.Update(func(tx kv.Tx) error {
				b := tx.Bucket(recordBuckets[kindLot])
				var edited [][2][]byte
				c := b.Cursor()
				for k, v := c.First(); k != nil; k, v = c.Next() {
					edited = append(edited, [2][]byte{append([]byte(nil), k...), []byte(strings.Replace(string(v), "LOT-", "LOT-Z", 1))})
				}
				for _, e := range edited {
					if err := b.Put(e[0], e[1]); err != nil {
						return err
					}
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(t.TempDir(), "snap.db")
			backup := db.VerifiedBackup
			if engine == "older file" { // written by an older celltrack: its copy is upgraded to verify it
				olderFile(t, db)
				o := openAsIs(t, db.Path(), db.Now)
				backup = func(out string, _ note.Signer) (BackupReport, error) {
					return o.VerifiedBackupOfOlder(out, "alice", testPassword)
				}
			}
			rep, err := backup(out, nil)
			if err != nil || len(rep.Problems) == 0 {
				t.Fatalf("backup of a tampered database: %v, problems %v", err, rep.Problems)
			}
			fi, err := os.Stat(out)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Bytes != fi.Size() {
				t.Errorf("the marked backup is %d bytes; the report says %d", fi.Size(), rep.Bytes)
			}
		})
	}
}
