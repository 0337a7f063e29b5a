package store

import (
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"slices"

	"github.com/google/uuid"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/store/kv"
)

// Two checks of `audit verify` that no hash covers otherwise (review 8):
//
//   - audit_entity, the index through which `audit log --entity` and the
//     bedside's record check (checkIntact) find a record's latest entry, must
//     list every audit entry exactly once: a deleted row hides an entry (the
//     record then matches an older one), an extra row names an entry that is
//     not the record's;
//   - every infusion record naming a schedule whose record lists the
//     infusions given on it (version 2, schema 13) must be on that list, and
//     every infusion listed must be stored and name that schedule: the list
//     is what the bedside holds the indexes to, and a list put back to an
//     older value (with the audit_entity rows of its later entries deleted)
//     lets a second infusion of the same number be recorded.
//
// The trail holds only the SHA-256 of each value a state entry set, not the
// value, so that a schedule's list only grows from one of its entries to the
// next cannot be checked here; the second check finds what such a shrink
// leaves behind (an infusion its schedule no longer lists).

// entityPrint is a multiset fingerprint of audit_entity keys (id + seq): the
// count and the sum, mod 2^64, of each key's maphash under a seed random per
// verify, so that no file can be written to make two different sets agree.
// The chain walk adds each entry's key, entityRows each stored row; only
// when the two disagree are the rows compared one by one (entityDiff).
type entityPrint struct {
	seed maphash.Seed
	n    uint64
	sum  uint64
}

func newEntityPrint() *entityPrint { return &entityPrint{seed: maphash.MakeSeed()} }

// add adds the audit_entity key of entry seqKey (its 8-byte key in the audit
// bucket) of record id.
func (p *entityPrint) add(id uuid.UUID, seqKey []byte) {
	var k [24]byte
	copy(k[:16], id[:])
	copy(k[16:], seqKey)
	p.addKey(k[:])
}

func (p *entityPrint) addKey(k []byte) {
	p.n++
	p.sum += maphash.Bytes(p.seed, k)
}

// verifyEntityRows walks audit_entity and holds it to chain, the print of
// the entries the chain walk read.
func verifyEntityRows(tx kv.Tx, chain *entityPrint) ([]string, error) {
	rows := &entityPrint{seed: chain.seed}
	err := tx.Bucket(bAuditEntity).ForEach(func(k, _ []byte) error {
		rows.addKey(k)
		return nil
	})
	if err != nil || (rows.n == chain.n && rows.sum == chain.sum) {
		return nil, err
	}
	return entityDiff(tx)
}

// entityDiff names the audit entries audit_entity does not list and the rows
// it holds that are no entry's: run only when the prints disagree.
func entityDiff(tx kv.Tx) ([]string, error) {
	want := map[[24]byte]bool{}
	err := tx.Bucket(bAudit).ForEach(func(k, val []byte) error {
		h, err := audit.ParseHeader(val)
		if err != nil {
			return nil // named by the chain walk
		}
		var key [24]byte
		copy(key[:16], h.ID[:])
		copy(key[16:], k)
		want[key] = true
		return nil
	})
	if err != nil {
		return nil, err
	}
	const most = 20
	var extra []string
	err = tx.Bucket(bAuditEntity).ForEach(func(k, _ []byte) error {
		var key [24]byte
		if len(k) == len(key) {
			copy(key[:], k)
			if want[key] {
				delete(want, key)
				return nil
			}
		}
		extra = append(extra, fmt.Sprintf("%x", k))
		return nil
	})
	if err != nil {
		return nil, err
	}
	var ps []string
	var missing []uint64
	ids := map[uint64]uuid.UUID{}
	for key := range want {
		seq := binary.BigEndian.Uint64(key[16:])
		missing = append(missing, seq)
		ids[seq] = uuid.UUID(key[:16])
	}
	slices.Sort(missing)
	for i, seq := range missing {
		if i == most {
			ps = append(ps, fmt.Sprintf("audit_entity lacks the rows of %d more audit entries", len(missing)-most))
			break
		}
		ps = append(ps, fmt.Sprintf("audit_entity does not list audit entry %d (of %s): its row was deleted outside celltrack, which hides the entry from the record's audit history and the bedside's record check", seq, ids[seq]))
	}
	for i, k := range extra {
		if i == most {
			ps = append(ps, fmt.Sprintf("audit_entity holds %d more rows that are no audit entry's", len(extra)-most))
			break
		}
		ps = append(ps, fmt.Sprintf("audit_entity row %s is no audit entry's (record id + entry number): it was written outside celltrack", k))
	}
	return ps, nil
}

// givenLists holds each infusion record to the list of infusions given
// that its schedule records (version 2), and each listed infusion to its
// record. Schedules of version 1 (before schema 13) list none and are left
// alone. The records read are those the chain walk has hashed against their
// latest entries. It reads no record itself: the signature check, which
// parses every schedule and infusion anyway (newSignatureCheck), hands it
// each one as it parsed it, on its worker — the schedules first, since
// that check's list has them before the infusions — so that `audit verify`
// parses neither a second time.
type givenLists struct {
	lists    map[uuid.UUID]map[uuid.UUID]*listedInfusion // schedule → infusion → its number on the list
	problems []string
}

type listedInfusion struct {
	number int
	seen   bool
}

func newGivenLists() *givenLists {
	return &givenLists{lists: map[uuid.UUID]map[uuid.UUID]*listedInfusion{}}
}

// schedule reads the list of schedule id, f as parsed. f is a copy, so
// that a member it cannot read is no error of the caller's.
func (g *givenLists) schedule(id uuid.UUID, f jsonFields) {
	if f.err != nil || f.num("v") < 2 {
		return // a record that does not parse is named by the other checks
	}
	l := map[uuid.UUID]*listedInfusion{}
	for _, o := range f.objects("given") {
		l[o.id("infusion_id")] = &listedInfusion{number: o.num("infusion")}
	}
	g.lists[id] = l
}

// infusion holds infusion id, f as parsed (a copy, as for schedule), to
// its schedule's list; every schedule has been read before.
func (g *givenLists) infusion(id uuid.UUID, f jsonFields) {
	if f.err != nil {
		return
	}
	sched, number := f.id("schedule_id"), f.num("number")
	l, ok := g.lists[sched]
	if !ok {
		return
	}
	li := l[id]
	if li == nil {
		g.problems = append(g.problems, fmt.Sprintf("infusion %s (infusion %d) names schedule %s, whose audited list of infusions given does not list it: the schedule was put back to an older value outside celltrack, and a second infusion %d may be on record", id, number, sched, number))
		return
	}
	li.seen = true
	if li.number != number {
		g.problems = append(g.problems, fmt.Sprintf("schedule %s lists infusion %s as infusion %d, but the infusion record is infusion %d: one of them was changed outside celltrack", sched, id, li.number, number))
	}
}

// finish returns the problems found, with every listed infusion that no
// infusion record answered; call it after the worker is done.
func (g *givenLists) finish() []string {
	ps := g.problems
	for sched, l := range g.lists {
		for id, li := range l {
			if !li.seen {
				ps = append(ps, fmt.Sprintf("schedule %s lists infusion %s as infusion %d, but no stored infusion record of that schedule has that id: it was deleted or changed outside celltrack", sched, id, li.number))
			}
		}
	}
	return ps
}
