package store

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/store/boltkv"
	"github.com/celltrack/celltrack/store/kv"
)

// commits is the number of write transactions committed so far: bbolt
// numbers each one.
func commits(t *testing.T, db *DB) int {
	t.Helper()
	var id int
	if err := db.engine.View(func(tx kv.Tx) error { id = tx.(boltkv.Tx).ID(); return nil }); err != nil {
		t.Fatal(err)
	}
	return id
}

// TestGroupCommitManyWriters writes through a GroupCommit handle from many
// goroutines at once, mixing writes that succeed with writes refused inside
// the transaction (an unknown MRN, a weight time in the future, a role that
// may not weigh) and registrations that race for one MRN. Every write that
// was acknowledged is there exactly once, every refusal reached its own
// caller and wrote nothing, exactly one registration of the raced MRN won,
// the trail verifies as one chain, and the writes shared commits.
func TestGroupCommitManyWriters(t *testing.T) {
	db := newTestDB(t)
	now := db.Now()
	g := db.GroupCommit()
	lots := NewLotService(g)
	const patients, writers, each = 5, 24, 12
	for p := range patients {
		if _, err := lots.AddPatient("nina", lot.Patient{MRN: fmt.Sprintf("P-%d", p), Name: "Test", Born: now.AddDate(-30, 0, 0), Sex: "F"}); err != nil {
			t.Fatal(err)
		}
	}
	entriesBefore, _ := db.AuditCount()
	commitsBefore := commits(t, db)

	type outcome struct {
		what string
		err  error
	}
	var mu sync.Mutex
	var outcomes []outcome
	record := func(what string, err error) {
		mu.Lock()
		outcomes = append(outcomes, outcome{what, err})
		mu.Unlock()
	}
	start := make(chan struct{})
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for k := range each {
				// grams name the writer and the write: 40.000 kg + w·100 + k g.
				grams := lot.Grams(40_000 + w*100 + k)
				mrn := fmt.Sprintf("P-%d", (w+k)%patients)
				switch k % 4 {
				case 1: // unknown patient: refused inside the transaction
					_, err := lots.Weigh("nina", fmt.Sprintf("NOPE-%d-%d", w, k), grams, time.Time{})
					record(fmt.Sprintf("unknown NOPE-%d-%d", w, k), err)
				case 2: // weighed in the future: refused inside the transaction
					_, err := lots.Weigh("nina", mrn, grams, now.Add(time.Hour))
					record(fmt.Sprintf("future %d", grams), err)
				case 3: // the lab may not weigh a patient
					_, err := lots.Weigh("liu", mrn, grams, time.Time{})
					record(fmt.Sprintf("forbidden %d", grams), err)
				default:
					_, err := lots.Weigh("nina", mrn, grams, time.Time{})
					record(fmt.Sprintf("weigh %s %d", mrn, grams), err)
				}
			}
			// Every writer registers the same new patient: one wins.
			_, err := lots.AddPatient("nina", lot.Patient{MRN: "RACE-1", Name: "Race", Born: now.AddDate(-30, 0, 0), Sex: "M"})
			record("race", err)
		}()
	}
	close(start)
	wg.Wait()

	written, raceWins := 0, 0
	want := map[string]map[lot.Grams]bool{}
	for _, o := range outcomes {
		kind, arg, _ := strings.Cut(o.what, " ")
		switch kind {
		case "weigh":
			if o.err != nil {
				t.Errorf("%s: %v", o.what, o.err)
				continue
			}
			mrn, g, _ := strings.Cut(arg, " ")
			if want[mrn] == nil {
				want[mrn] = map[lot.Grams]bool{}
			}
			var grams int
			fmt.Sscan(g, &grams)
			want[mrn][lot.Grams(grams)] = true
			written++
		case "unknown":
			// The refusal names this caller's MRN, not another writer's.
			if lot.ErrorCode(o.err) != lot.ENOTFOUND || !strings.Contains(lot.ErrorMessage(o.err), arg) {
				t.Errorf("%s: got %v, want ENOTFOUND naming %s", o.what, o.err, arg)
			}
		case "future":
			if lot.ErrorCode(o.err) != lot.EINVALID || !strings.Contains(lot.ErrorMessage(o.err), "the time weighed") || lot.ErrorField(o.err) != "at" {
				t.Errorf("%s: got %v, want EINVALID naming the time weighed, field at", o.what, o.err)
			}
		case "forbidden":
			if lot.ErrorCode(o.err) != lot.EFORBIDDEN || !strings.Contains(lot.ErrorMessage(o.err), "liu") {
				t.Errorf("%s: got %v, want EFORBIDDEN naming liu", o.what, o.err)
			}
		case "race":
			switch {
			case o.err == nil:
				raceWins++
				written++
			case lot.ErrorCode(o.err) != lot.ECONFLICT:
				t.Errorf("race: got %v, want ECONFLICT", o.err)
			}
		}
	}
	if raceWins != 1 {
		t.Errorf("%d registrations of RACE-1 succeeded, want exactly 1", raceWins)
	}
	for p := range patients {
		mrn := fmt.Sprintf("P-%d", p)
		ws, err := NewLotService(db).Weights(mrn)
		if err != nil {
			t.Fatal(err)
		}
		got := map[lot.Grams]int{}
		for _, w := range ws {
			got[w.Grams]++
		}
		for g, n := range got {
			if n != 1 || !want[mrn][g] {
				t.Errorf("%s: weight %d stored %d times; acknowledged: %v", mrn, g, n, want[mrn][g])
			}
		}
		if len(got) != len(want[mrn]) {
			t.Errorf("%s: %d weights stored, %d acknowledged", mrn, len(got), len(want[mrn]))
		}
	}
	// One audit entry per acknowledged write, none for a refusal.
	if after, _ := db.AuditCount(); after-entriesBefore != written {
		t.Errorf("audit grew by %d entries for %d acknowledged writes", after-entriesBefore, written)
	}
	if v, err := db.Verify(); err != nil || !v.OK() {
		t.Fatalf("audit verify after concurrent writes: %v %v", err, v.Problems)
	}
	n := commits(t, db) - commitsBefore
	t.Logf("%d writes acknowledged (%d refused) in %d commits", written, len(outcomes)-written, n)
	if n >= written {
		t.Errorf("%d writes took %d commits: none shared a commit", written, n)
	}
}

// TestGroupCommitLeavesSignaturesAlone: a handle from GroupCommit batches
// only the actions reviewed for bbolt's re-runs; no signature is among them.
func TestGroupCommitLeavesSignaturesAlone(t *testing.T) {
	for _, a := range []audit.Action{audit.DoseAdminister, audit.ReleaseApprove, audit.ReleaseReject, audit.DonorScreenVoid,
		audit.ScheduleChange, audit.WeightConfirm, audit.UserRole, audit.AuditKeyRotate, audit.LotImport, audit.LabelPrint} {
		if batchable[a] {
			t.Errorf("%s is batched; it must commit alone (tx.go, batchable)", a)
		}
	}
	for a := range batchable {
		if _, ok := audit.Permissions[a]; !ok {
			t.Errorf("batchable names %q, which is no action", a)
		}
	}
}
