package main

import (
	"fmt"
	"regexp"
	"testing"

	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/store"
)

// crashBag is one bag of the released crash lot on its way to patient mrn:
// state is where the last acknowledged command (or the last check) left it;
// maybe is where a killed command may have moved it.
type crashBag struct {
	code, mrn    string
	state, maybe lot.ContainerState
	infused      bool // dose administer acknowledged
}

// crashBags is how many bags the released crash lot is split into, one per
// patient; once every bag is infused the custody and dosing writes stop and
// the foundation writes go on alone.
const crashBags = 24

// custodySteps is a bag's journey: the command that moves it on from each
// state, up to dispensing (dose administer is its own kind of write).
var custodySteps = map[lot.ContainerState]struct {
	to   lot.ContainerState
	args func(b *crashBag) []string
}{
	lot.Created: {lot.Stored, func(b *crashBag) []string {
		return []string{"--user", "liu", "container", "store", "--location", "LN2-A rack 1", b.code}
	}},
	lot.Stored: {lot.Shipped, func(b *crashBag) []string {
		return []string{"--user", "liu", "container", "ship", "--to", "CLINIC-A", "--courier", "BioCour 7", b.code}
	}},
	lot.Shipped: {lot.Received, func(b *crashBag) []string {
		return []string{"--user", "nina", "container", "receive", "--at", "CLINIC-A", "--excursion", "no", b.code}
	}},
	lot.Received: {lot.Thawed, func(b *crashBag) []string {
		return []string{"--user", "nina", "container", "thaw", "--viability", "91.0", "--viable-cells", "9.1e7", b.code}
	}},
	lot.Thawed: {lot.Dispensed, func(b *crashBag) []string {
		return []string{"--user", "nina", "container", "dispense", "--patient", b.mrn, b.code}
	}},
}

// custodyCrashOps move bags on and infuse them; they join crashOps.
func init() { crashOps = append(crashOps, custodyCrashOps...) }

var custodyCrashOps = []crashOp{
	{
		name: "custody move",
		args: func(l *crashLedger, i int) (string, []string, bool) {
			b := l.nextBag(i, func(b *crashBag) bool { _, ok := custodySteps[b.state]; return ok })
			if b == nil {
				return "", nil, false
			}
			return "", custodySteps[b.state].args(b), true
		},
		apply: func(l *crashLedger, i int, acked bool) {
			b := l.nextBag(i, func(b *crashBag) bool { _, ok := custodySteps[b.state]; return ok })
			if acked {
				b.state = custodySteps[b.state].to
			} else {
				b.maybe = custodySteps[b.state].to
			}
		},
	},
	{
		name: "dose administer",
		args: func(l *crashLedger, i int) (string, []string, bool) {
			b := l.nextBag(i, func(b *crashBag) bool { return b.state == lot.Dispensed })
			if b == nil {
				return "", nil, false
			}
			return procPassword + procPassword, []string{"--user", "nina", "dose", "administer", "--container", b.code,
				"--witness", "omar", "--password-stdin", b.mrn}, true
		},
		apply: func(l *crashLedger, i int, acked bool) {
			b := l.nextBag(i, func(b *crashBag) bool { return b.state == lot.Dispensed })
			if acked {
				b.state, b.infused = lot.Infused, true
			} else {
				b.maybe = lot.Infused
			}
		},
	},
}

// nextBag picks the bag a write moves: the first that is ready, so that
// bags go all the way to the patient one after another and every kind of
// move and infusion is reached early in a run.
func (l *crashLedger) nextBag(_ int, ready func(*crashBag) bool) *crashBag {
	for _, b := range l.bags {
		if ready(b) {
			return b
		}
	}
	return nil
}

var codeRE = regexp.MustCompile(`"code": "(G1234\d{10})"`)

// prepareCustody adds what custody moves and infusions need, without kills:
// the QA, physician and witness users, the lab and a clinic, a UC lot that
// passes isct-uc-msc, is released and split into crashBags bags, and one
// patient per bag, weighed and scheduled on sle-uc-d0d7 from today.
func prepareCustody(t *testing.T, p procDB, l *crashLedger) {
	prepareBags(t, p, l, crashBags)
}

// prepareBags is prepareCustody with n bags (and n patients).
func prepareBags(t *testing.T, p procDB, l *crashLedger, n int) {
	pw := procPassword
	p.must(firstPasswordStdin, "--user", "alice", "user", "add", "--role", "qa", "--password-stdin", "quinn")
	p.must(firstPasswordStdin, "--user", "alice", "user", "add", "--role", "physician", "--password-stdin", "pat")
	p.must(firstPasswordStdin, "--user", "alice", "user", "add", "--role", "nurse", "--password-stdin", "omar")
	for _, u := range []string{"quinn", "pat", "omar"} {
		p.must(firstPasswordStdin, "login", "--password-stdin", u)
	}
	p.must("", "--user", "liu", "site", "add", "--name", "Cell therapy lab", "LAB")
	p.must("", "--user", "liu", "site", "add", "--name", "Clinic A", "CLINIC-A")
	p.must("", "--user", "liu", "lot", "register", "--source", "uc", "--donor", "D-1", "--cells", "2.5e9", "--viability", "94.5",
		"--volume-ml", "1250", "--manufactured", dayFromNow(-5), "--expires", dayFromNow(360), "LOT-REL")
	p.must("", "--user", "liu", "donor", "screen", "--hiv", "negative", "--hbv", "negative", "--hcv", "negative",
		"--syphilis", "negative", "--htlv", "negative", "D-1")
	for _, r := range [][2]string{{"adherence", "pass"}, {"CD105", "98.2"}, {"CD73", "99.1"}, {"CD90", "97.5"}, {"CD45", "0.4"},
		{"CD34", "0.3"}, {"cd11b", "1.2"}, {"CD19", "0.2"}, {"HLA-DR", "1.0"}, {"trilineage", "pass"}, {"sterility", "no-growth"},
		{"mycoplasma", "negative"}, {"endotoxin", "0.12"}, {"viability", "94.5"}, {"viable-cells", "2.36e9"}} {
		p.must("", "--user", "liu", "release", "result", "--assay", r[0], "--value", r[1], "LOT-REL")
	}
	p.must(pw, "--user", "quinn", "release", "approve", "--spec", "isct-uc-msc", "--password-stdin", "LOT-REL")
	p.must("", "--user", "liu", "lot", "split", "--containers", fmt.Sprint(n), "--cells-each", "1e8", "--volume-ml-each", "50", "LOT-REL")
	ms := codeRE.FindAllStringSubmatch(p.must("", "--user", "alice", "--json", "container", "list", "LOT-REL"), -1)
	if len(ms) != n {
		t.Fatalf("container list LOT-REL shows %d bags, want %d", len(ms), n)
	}
	for k, m := range ms {
		mrn := fmt.Sprintf("MRN-C-%d", k)
		p.must("", "--user", "pat", "patient", "add", "--name", "Crash Patient", "--born", "1980-01-01", "--sex", "F", mrn)
		p.must("", "--user", "nina", "patient", "weigh", "--kg", "62.0", mrn)
		p.must("", "--user", "pat", "schedule", "create", "--protocol", "sle-uc-d0d7", "--start", dayFromNow(0), mrn)
		l.bags = append(l.bags, &crashBag{code: m[1], mrn: mrn, state: lot.Created})
	}
}

// checkCrashCustody checks every bag against the ledger: each is in the
// state its last acknowledged move left it or the one a killed move aimed
// for, its last custody event says the same, and an infusion is present
// exactly when its bag is infused. It then takes the state found as known.
func checkCrashCustody(t *testing.T, db *store.DB, l *crashLedger, when string) {
	t.Helper()
	cs, ds := store.NewCustodyService(db), store.NewDoseService(db)
	for _, b := range l.bags {
		c, evs, err := cs.History(b.code)
		if err != nil {
			t.Fatalf("%s: bag %s: %v", when, b.code, err)
		}
		if c.State != b.state && (b.maybe == "" || c.State != b.maybe) {
			t.Errorf("%s: bag %s is %s; it was %s and a killed move may have made it %q", when, b.code, c.State, b.state, b.maybe)
		}
		switch {
		case len(evs) == 0 && c.State != lot.Created:
			t.Errorf("%s: bag %s is %s without a custody event: a move is half-present", when, b.code, c.State)
		case len(evs) > 0 && evs[len(evs)-1].To != c.State:
			t.Errorf("%s: bag %s is %s but its last custody event moved it to %s: a move is half-present", when, b.code, c.State, evs[len(evs)-1].To)
		}
		ins, _, err := ds.Infusions(b.mrn)
		if err != nil {
			t.Fatalf("%s: infusions of %s: %v", when, b.mrn, err)
		}
		n := 0
		for _, in := range ins {
			for _, ic := range in.Containers {
				if ic.ContainerID != c.ID {
					t.Errorf("%s: %s's infusion %s names bag %s, which was never dispensed to them", when, b.mrn, in.ID, ic.Code)
				}
				n++
			}
		}
		switch {
		case n > 1:
			t.Errorf("%s: bag %s is in %d infusions", when, b.code, n)
		case (n == 1) != (c.State == lot.Infused):
			t.Errorf("%s: bag %s is %s with %d infusion(s): an infusion is half-present", when, b.code, c.State, n)
		case b.infused && n != 1:
			t.Errorf("%s: bag %s was infused (exit 0) but has no infusion", when, b.code)
		}
		b.state, b.maybe = c.State, ""
	}
}
