package main

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/store"
)

// crashOp is one kind of write the crash test runs and kills. start returns
// the command line for write number i; the ledger remembers what each
// acknowledged or killed write must have left behind, and check proves it.
// Custody moves and infusions are in crash_custody_test.go.
type crashOp struct {
	name  string
	args  func(l *crashLedger, i int) (stdin string, args []string, ok bool)
	apply func(l *crashLedger, i int, acked bool)
}

// crashLedger is what the test knows about the writes so far.
type crashLedger struct {
	dir       string
	lots      []string          // registered lot numbers whose command exited 0
	splits    map[string][2]int // lot → {acknowledged splits, killed splits}
	weighs    map[string]bool   // --at of each weighing → acknowledged
	imports   map[int]bool      // import number → acknowledged
	importLen int
	bags      []*crashBag // the released lot's bags, one per patient
}

var crashOps = []crashOp{
	{
		name: "lot register",
		args: func(l *crashLedger, i int) (string, []string, bool) {
			return "", []string{"--user", "liu", "lot", "register", "--source", "uc", "--donor", "D-1", "--cells", "2e9",
				"--viability", "94.5", "--volume-ml", "250", "--manufactured", dayFromNow(-5), "--expires", dayFromNow(360),
				fmt.Sprintf("LOT-C-%d", i)}, true
		},
		apply: func(l *crashLedger, i int, acked bool) {
			if acked {
				l.lots = append(l.lots, fmt.Sprintf("LOT-C-%d", i))
			}
		},
	},
	{
		name: "lot split",
		args: func(l *crashLedger, i int) (string, []string, bool) {
			if len(l.lots) == 0 {
				return "", nil, false
			}
			// A lot of 2×10^9 cells holds ten splits of 2×10^8; killed
			// splits may have landed, so count them too.
			n := l.lots[i%len(l.lots)]
			if sp := l.splits[n]; sp[0]+sp[1] >= 9 {
				return "", nil, false
			}
			return "", []string{"--user", "liu", "lot", "split", "--containers", "2", "--cells-each", "1e8", n}, true
		},
		apply: func(l *crashLedger, i int, acked bool) {
			n := l.lots[i%len(l.lots)]
			s := l.splits[n]
			if acked {
				s[0]++
			} else {
				s[1]++
			}
			l.splits[n] = s
		},
	},
	{
		name: "patient weigh",
		args: func(l *crashLedger, i int) (string, []string, bool) {
			return "", []string{"--user", "nina", "patient", "weigh", "--kg", "62.5", "--at", weighAt(i), "MRN-1"}, true
		},
		apply: func(l *crashLedger, i int, acked bool) { l.weighs[weighAt(i)] = l.weighs[weighAt(i)] || acked },
	},
	{
		name: "lot import",
		args: func(l *crashLedger, i int) (string, []string, bool) {
			var b strings.Builder
			b.WriteString("lot_number,source,donor,cells,viability,volume_ml,manufactured,expires\n")
			for j := 0; j < l.importLen; j++ {
				fmt.Fprintf(&b, "IMP-%d-%d,uc,D-1,2e9,94.5,250,%s,%s\n", i, j, dayFromNow(-5), dayFromNow(360))
			}
			path := filepath.Join(l.dir, fmt.Sprintf("import-%d.csv", i))
			if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
				panic(err)
			}
			return "", []string{"--user", "liu", "lot", "import", "--csv", path}, true
		},
		apply: func(l *crashLedger, i int, acked bool) { l.imports[i] = l.imports[i] || acked },
	},
}

func dayFromNow(d int) string { return time.Now().UTC().AddDate(0, 0, d).Format("2006-01-02") }

func weighAt(i int) string {
	return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Minute).Format(time.RFC3339)
}

// TestCrashSafety SIGKILLs the real binary at random moments during writes.
// After every kill the database opens, passes bbolt's page check and audit
// verify, holds every write whose command exited 0, and holds no write by
// half. CELLTRACK_CRASH_KILLS sets the number of kills (default 20).
func TestCrashSafety(t *testing.T) {
	runCrashSafety(t, newProcDB(t), 20)
}

// TestCrashSafetyOnPostgres is TestCrashSafety on PostgreSQL: a process
// killed in the middle of its transaction loses its connection, and the
// server rolls the transaction back and releases the writer's advisory
// lock with the session — the next write (the next command of the run)
// gets it at once; a kill that waited for the lock timeout would fail the
// run with exit 11. CELLTRACK_CRASH_KILLS sets the number of kills
// (default 12).
func TestCrashSafetyOnPostgres(t *testing.T) {
	runCrashSafety(t, newProcPG(t), 12)
}

// runCrashSafety kills writes on p's database until kills of them were
// killed (CELLTRACK_CRASH_KILLS overrides the number), checking the
// database after each.
func runCrashSafety(t *testing.T, p procDB, kills int) {
	if s := os.Getenv("CELLTRACK_CRASH_KILLS"); s != "" {
		var err error
		if kills, err = strconv.Atoi(s); err != nil {
			t.Fatalf("CELLTRACK_CRASH_KILLS=%q: %v", s, err)
		}
	}
	l := &crashLedger{dir: t.TempDir(), splits: map[string][2]int{}, weighs: map[string]bool{}, imports: map[int]bool{}, importLen: 25}
	prepareCustody(t, p, l)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 6))
	// typical remembers how long each kind of write took the last time it
	// was left alone, so that kills land anywhere from process start to
	// commit even as the database grows or the machine slows down.
	typical := map[string]time.Duration{}
	killed, killedOp := 0, map[string]int{}
	for i := 0; killed < kills; i++ {
		if i > 20*kills+50 {
			t.Fatalf("only %d kills landed in %d writes", killed, i)
		}
		op := crashOps[rng.IntN(len(crashOps))]
		stdin, args, ok := op.args(l, i)
		if !ok {
			continue
		}
		cmd := p.command(stdin, args...)
		var delay time.Duration
		if d := typical[op.name]; d > 0 && i%4 != 0 { // every 4th write of a kind runs unharmed
			delay = time.Duration(rng.Int64N(int64(d) * 5 / 4))
		}
		start := time.Now()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		var timer *time.Timer
		if delay > 0 {
			timer = time.AfterFunc(delay, func() { cmd.Process.Signal(syscall.SIGKILL) })
		}
		err := cmd.Wait()
		if timer != nil {
			timer.Stop()
		}
		took := time.Since(start)
		var ee *exec.ExitError
		switch {
		case err == nil:
			typical[op.name] = took
			op.apply(l, i, true)
		case errors.As(err, &ee) && ee.ProcessState.Sys().(syscall.WaitStatus).Signaled():
			killed++
			killedOp[op.name]++
			op.apply(l, i, false)
			if killed%50 == 0 {
				t.Logf("%d kills in %d writes", killed, i+1)
			}
		default:
			t.Fatalf("%s %s: %v", op.name, strings.Join(args, " "), err)
		}
		checkCrashLedger(t, p.db, l, fmt.Sprintf("after write %d (%s, %s)", i, op.name, map[bool]string{true: "killed", false: "completed"}[err != nil]))
		if t.Failed() {
			return
		}
	}
	infused := 0
	for _, b := range l.bags {
		if b.state == lot.Infused {
			infused++
		}
	}
	t.Logf("%d kills %v; %d lots acknowledged, %d weighings, %d imports, %d of %d bags infused", killed, killedOp, len(l.lots), len(l.weighs), len(l.imports), infused, len(l.bags))
}

// checkCrashLedger opens the database as the next user would and checks it
// against everything the ledger knows.
func checkCrashLedger(t *testing.T, path string, l *crashLedger, when string) {
	t.Helper()
	db, err := store.Open(path, store.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatalf("%s: the database does not open: %v", when, err)
	}
	defer db.Close()
	for _, err := range db.Check() {
		t.Errorf("%s: page check: %v", when, err)
	}
	if v, err := db.Verify(); err != nil || !v.OK() {
		t.Fatalf("%s: audit verify: %v %v", when, err, v.Problems)
	}
	s := store.NewLotService(db)
	all, err := s.Lots(lot.LotFilter{})
	if err != nil {
		t.Fatal(err)
	}
	byNumber := map[string]lot.Lot{}
	imported := map[int]int{}
	for _, x := range all {
		byNumber[x.Number] = x
		var n, j int
		if _, err := fmt.Sscanf(x.Number, "IMP-%d-%d", &n, &j); err == nil {
			imported[n]++
		}
		// Every index points back at the record.
		for _, ref := range []string{x.DIN.String(), x.Number} {
			if y, err := s.Lot(ref); err != nil || y.ID != x.ID {
				t.Errorf("%s: lot %s cannot be found by %s: %v", when, x.Number, ref, err)
			}
		}
		cs, err := s.Containers(x.ID.String())
		if err != nil {
			t.Fatal(err)
		}
		var cells lot.Cells
		for _, c := range cs {
			cells += c.Cells
			if y, err := s.Container(c.Code()); err != nil || y.ID != c.ID {
				t.Errorf("%s: container %s cannot be found by its code: %v", when, c.Code(), err)
			}
		}
		if len(cs) != x.Containers || cells != x.CellsSplit {
			t.Errorf("%s: lot %s says %d containers with %s cells, but has %d with %s: a split is half-present",
				when, x.Number, x.Containers, x.CellsSplit, len(cs), cells)
		}
		if sp, ok := l.splits[x.Number]; ok && (len(cs) < 2*sp[0] || len(cs) > 2*(sp[0]+sp[1])) {
			t.Errorf("%s: lot %s has %d containers after %d acknowledged and %d killed splits of 2", when, x.Number, len(cs), sp[0], sp[1])
		}
	}
	for _, n := range l.lots {
		if _, ok := byNumber[n]; !ok {
			t.Errorf("%s: lot %s was registered (exit 0) but is missing", when, n)
		}
	}
	for n, acked := range l.imports {
		if got := imported[n]; (acked && got != l.importLen) || (got != 0 && got != l.importLen) {
			t.Errorf("%s: import %d (acknowledged %t) left %d of %d lots", when, n, acked, got, l.importLen)
		}
	}
	checkCrashCustody(t, db, l, when)
	ws, err := s.Weights("MRN-1")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, w := range ws {
		seen[w.MeasuredAt.UTC().Format(time.RFC3339)]++
	}
	for at, acked := range l.weighs {
		if seen[at] > 1 || (acked && seen[at] != 1) {
			t.Errorf("%s: weighing at %s (acknowledged %t) is stored %d times", when, at, acked, seen[at])
		}
	}
}
