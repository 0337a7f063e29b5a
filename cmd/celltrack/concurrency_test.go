package main

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/celltrack/celltrack/store"
)

// TestConcurrentUsers runs 16 processes at once, each making 50 writes in a
// row on one database file, while backups are taken: every write succeeds
// (each process waits for the lock within the default timeout), none is lost
// or stored twice, the audit chain has no gap, and every backup taken in the
// middle of it opens and verifies.
func TestConcurrentUsers(t *testing.T) {
	const procs, writes = 16, 50
	p := newProcDB(t)
	before := auditCount(t, p.db)
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, procs*writes)
	for w := 0; w < procs; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < writes; j++ {
				var errb bytes.Buffer
				cmd := p.command("", "--user", "nina", "patient", "weigh", "--kg", "62.5", "--at", concurrentAt(w, j), "MRN-1")
				cmd.Stderr = &errb
				if err := cmd.Run(); err != nil {
					errs <- fmt.Errorf("worker %d write %d: %v: %s", w, j, err, errb.String())
				}
			}
		}()
	}
	allDone, done := make(chan struct{}), make(chan struct{})
	go func() { wg.Wait(); close(allDone) }()
	var backups []string
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			out := filepath.Join(t.TempDir(), fmt.Sprintf("backup-%d.db", i))
			if err := p.command("", "--user", "alice", "backup", "--out", out).Run(); err != nil {
				errs <- fmt.Errorf("backup %d: %v", i, err)
			}
			backups = append(backups, out)
			select {
			case <-allDone:
				return
			case <-time.After(300 * time.Millisecond):
			}
		}
	}()
	wg.Wait()
	elapsed := time.Since(start)
	<-done
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	db, err := store.Open(p.db, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	v, err := db.Verify()
	if err != nil || !v.OK() {
		t.Fatalf("audit verify: %v %v", err, v.Problems)
	}
	if v.Entries != before+procs*writes {
		t.Errorf("audit trail has %d entries, want %d + %d", v.Entries, before, procs*writes)
	}
	ws, err := store.NewLotService(db).Weights("MRN-1")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, w := range ws {
		seen[w.MeasuredAt.UTC().Format(time.RFC3339)]++
	}
	for w := 0; w < procs; w++ {
		for j := 0; j < writes; j++ {
			if n := seen[concurrentAt(w, j)]; n != 1 {
				t.Errorf("worker %d write %d is stored %d times", w, j, n)
			}
		}
	}
	for _, b := range backups {
		// A backup is the same database (same identity and sessions) at
		// another path: alice's session file is renamed for it.
		copySessions(t, p.db, b)
		out := procDB{t: t, bin: p.bin, db: b}.must("", "--user", "alice", "check")
		if !strings.Contains(out, "check: OK") {
			t.Errorf("backup %s: %s", filepath.Base(b), out)
		}
	}
	// The lock is held for at most the time between two writes; README
	// ("Many users at once") quotes this figure.
	t.Logf("%d writes by %d processes in %s (%s per write), %d backups taken meanwhile",
		procs*writes, procs, elapsed.Round(time.Millisecond), (elapsed / (procs * writes)).Round(10*time.Microsecond), len(backups))
}

func concurrentAt(w, j int) string {
	return time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(w*1000+j) * time.Minute).Format(time.RFC3339)
}

func auditCount(t *testing.T, path string) int {
	t.Helper()
	n, err := countAudit(path)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
