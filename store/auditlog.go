package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"slices"
	"sort"
	"sync"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/store/kv"
	"github.com/google/uuid"
)

// auditBatch is how many entries EachAuditEntry reads in one read
// transaction (a variable: tests make batches of a few entries).
var auditBatch = 8192

// EachAuditEntry calls fn with each audit entry, oldest first — with a
// non-empty entity reference (a UUID, lot, container, MRN, donor or user
// name) only that record's — reading auditBatch entries at a time, each
// batch in a read transaction of its own that ends before fn sees them: a
// download of a trail of millions holds neither all of them in memory nor
// a transaction open while a slow client reads (a transaction open keeps a
// server's stop from closing the file). The trail only grows, so the
// batches are the trail as it was at the first: entries appended meanwhile
// are left out, and each entry's value is the one it set (fillBatchValues). It ends with
// ctx's error once ctx is done (checked between batches: a stopping server
// cuts a long download), and with fn's error. The entries are those actor
// may read (audit.Shown): to a role that does not see account state the
// whole trail leaves out other people's account entries, and another
// person's account as the entity is refused (auditEntity).
func (db *DB) EachAuditEntry(ctx context.Context, actor, entity string, fn func(audit.Entry) error) error {
	// The entity's entries, or the whole trail's up to its last entry then.
	var seqs []uint64
	var last uint64
	var viewer audit.User
	err := db.viewContext(ctx, func(tx kv.Tx) error {
		var err error
		if viewer, err = auditViewer(tx, actor); err != nil {
			return err
		}
		if entity == "" {
			if k, _ := tx.Bucket(bAudit).Cursor().Last(); k != nil {
				last = btoi(k)
			}
			return nil
		}
		id, err := auditEntity(tx, viewer, entity)
		if err != nil {
			return err
		}
		for _, k := range entitySeqs(tx, id) {
			seqs = append(seqs, btoi(k))
		}
		return nil
	})
	if err != nil {
		return err
	}
	var es []audit.Entry
	for from, i := uint64(1), 0; ; {
		if err := ctx.Err(); err != nil {
			return err
		}
		err := db.viewContext(ctx, func(tx kv.Tx) error {
			b := tx.Bucket(bAudit)
			es = es[:0]
			if entity != "" {
				n := min(auditBatch, len(seqs)-i)
				for _, seq := range seqs[i : i+n] {
					e, err := audit.Decode(b.Get(itob(seq)))
					if err != nil {
						return err
					}
					es = append(es, e)
				}
				i += n
			} else {
				c := b.Cursor()
				for k, v := c.Seek(itob(from)); k != nil && btoi(k) <= last && len(es) < auditBatch; k, v = c.Next() {
					e, err := audit.Decode(v)
					if err != nil {
						return err
					}
					es = append(es, e)
				}
				if len(es) > 0 {
					from = es[len(es)-1].Seq + 1
				}
			}
			fillPrevHashes(b, es)
			return fillBatchValues(tx, es)
		})
		if err != nil || len(es) == 0 {
			return err
		}
		for _, e := range es {
			if !audit.Shown(viewer, e) {
				continue
			}
			if err := fn(e); err != nil {
				return err
			}
		}
	}
}

// auditViewer is actor, who reads the audit log: an existing, enabled user.
func auditViewer(tx kv.Tx, actor string) (audit.User, error) {
	u, err := userByName(tx, actor)
	if err != nil {
		return u, err
	}
	return u, audit.AuthorizeRead(u)
}

// auditEntity resolves the entity reference ref of an audit log listing
// for viewer: another person's account (or the entries of unknown names
// at a login, the nil UUID) is refused to a role that does not see account
// state, whose entries would tell it (audit.Shown).
func auditEntity(tx kv.Tx, viewer audit.User, ref string) (uuid.UUID, error) {
	id, err := resolveEntity(tx, ref)
	if err != nil || audit.SeesAccountState(viewer.Role) || id == viewer.ID {
		return id, err
	}
	if id == uuid.Nil || tx.Bucket(recordBuckets[kindUser]).Get(id[:]) != nil {
		return id, lot.FieldErrorf("entity", lot.EFORBIDDEN, "the audit entries of the account %s tell its state (logins, wrong passwords, locks), which only an admin or an auditor sees; user %s has role %s — your own account's entries are yours to read, and `user list` gives everyone the staff directory", ref, viewer.Name, viewer.Role)
	}
	return id, nil
}

// hiddenSeqs are the numbers of the entries of the trail viewer may not
// read (audit.Shown): none for a role that sees account state, else the
// entries about other people's accounts, found through the accounts'
// audit_entity keys (every entry on a user is keyed there under its id, a
// name no account has under the nil UUID) without reading an entry.
func hiddenSeqs(tx kv.Tx, viewer audit.User) (map[uint64]bool, error) {
	if audit.SeesAccountState(viewer.Role) {
		return nil, nil
	}
	ids := []uuid.UUID{uuid.Nil} // a login refused for an unknown name
	err := tx.Bucket(recordBuckets[kindUser]).ForEach(func(k, _ []byte) error {
		if id := uuid.UUID(k); id != viewer.ID {
			ids = append(ids, id)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	hidden := map[uint64]bool{}
	for _, id := range ids {
		for _, k := range entitySeqs(tx, id) {
			hidden[btoi(k)] = true
		}
	}
	return hidden, nil
}

// AuditTail returns the last n entries EachAuditEntry(actor, entity)
// gives, oldest first, and how many it gives in all. The whole trail's
// count is the sequence number of its last entry (entries are numbered
// from 1 without a gap, which `audit verify` checks), less the entries
// actor may not read (hiddenSeqs).
func (db *DB) AuditTail(actor, entity string, n int) ([]audit.Entry, int, error) {
	var es []audit.Entry
	total := 0
	err := db.view(func(tx kv.Tx) error {
		b := tx.Bucket(bAudit)
		viewer, err := auditViewer(tx, actor)
		if err != nil {
			return err
		}
		if entity != "" {
			id, err := auditEntity(tx, viewer, entity)
			if err != nil {
				return err
			}
			seqs := entitySeqs(tx, id)
			total = len(seqs)
			es, err = decodeEntries(tx, seqs[max(0, total-n):])
			return err
		}
		hidden, err := hiddenSeqs(tx, viewer)
		if err != nil {
			return err
		}
		var seqs [][]byte
		c := b.Cursor()
		k, _ := c.Last()
		if k != nil {
			total = int(btoi(k)) - len(hidden)
		}
		for ; k != nil && len(seqs) < n; k, _ = c.Prev() {
			if !hidden[btoi(k)] {
				seqs = append(seqs, k)
			}
		}
		slices.Reverse(seqs)
		es, err = decodeEntries(tx, seqs)
		return err
	})
	return es, total, err
}

// recordEntries returns the audit entries of the record with id, oldest
// first, found through audit_entity: a record's whole history.
func recordEntries(tx kv.Tx, id uuid.UUID) ([]audit.Entry, error) {
	return decodeEntries(tx, entitySeqs(tx, id))
}

// entitySeqs returns the keys of the audit entries of the record with id,
// oldest first, from its audit_entity rows.
func entitySeqs(tx kv.Tx, id uuid.UUID) [][]byte {
	var seqs [][]byte
	c := tx.Bucket(bAuditEntity).Cursor()
	for k, _ := c.Seek(id[:]); k != nil && bytes.HasPrefix(k, id[:]); k, _ = c.Next() {
		seqs = append(seqs, k[16:])
	}
	return seqs
}

// recordedSeq is the sequence of the first audit entry of record id, the
// one that wrote it; ok is false when the trail has none.
func recordedSeq(tx kv.Tx, id uuid.UUID) (uint64, bool) {
	k, _ := tx.Bucket(bAuditEntity).Cursor().Seek(id[:])
	if len(k) != len(id)+8 || !bytes.HasPrefix(k, id[:]) {
		return 0, false
	}
	return binary.BigEndian.Uint64(k[len(id):]), true
}

// decodeEntries returns the audit entries with the keys seqs, in their
// order, with the values and previous hashes they do not store.
func decodeEntries(tx kv.Tx, seqs [][]byte) ([]audit.Entry, error) {
	b := tx.Bucket(bAudit)
	es := make([]audit.Entry, 0, len(seqs))
	for _, k := range seqs {
		e, err := audit.Decode(b.Get(k))
		if err != nil {
			return nil, err
		}
		es = append(es, e)
	}
	fillValues(tx, es)
	fillPrevHashes(b, es)
	return es, nil
}

// fillPrevHashes sets the PrevHash of the entries es (in order) that do not
// store it (the linked layout, schema 12 on): the stored hash of the entry
// before, the one in es when it is there, else read from the audit bucket b.
// An entry whose predecessor is missing keeps a zero PrevHash; verify names
// the gap.
func fillPrevHashes(b kv.Bucket, es []audit.Entry) {
	for i := range es {
		e := &es[i]
		if e.Seq <= 1 || e.PrevHash != ([32]byte{}) {
			continue
		}
		if i > 0 && es[i-1].Seq == e.Seq-1 {
			e.PrevHash = es[i-1].Hash
		} else if v := b.Get(itob(e.Seq - 1)); v != nil {
			e.PrevHash, _ = audit.StoredHash(v)
		}
	}
}

// AuditCount returns the number of audit entries; tests use it to prove a
// refusal wrote nothing.
func (db *DB) AuditCount() (int, error) {
	n := 0
	err := db.view(func(tx kv.Tx) error { n = tx.Bucket(bAudit).KeyN(); return nil })
	return n, err
}

func resolveEntity(tx kv.Tx, ref string) (uuid.UUID, error) {
	if u, err := uuid.Parse(ref); err == nil {
		return u, nil
	}
	for _, index := range []string{"idx_lot_number", "idx_patient_mrn", "idx_donor_code", "idx_user_name", "idx_container_code"} {
		if id, ok := lookup(tx, index, ref); ok {
			return id, nil
		}
	}
	if l, err := lotByRef(tx, ref); err == nil {
		return l.ID, nil
	}
	if c, err := containerByRef(tx, ref); err == nil {
		return c.ID, nil
	}
	if ids := mrnFoldedIDs(tx, ref); len(ids) == 1 { // an MRN in another letter case, as patientByMRN reads it
		return ids[0], nil
	}
	return uuid.Nil, notFound("record", ref, "give a UUID, lot number, DIN, container code, MRN, donor id or user name")
}

// Verification is the result of `audit verify` (audit.Verification).
type Verification = audit.Verification

// recordFinding is a stored record that does not match its audit trail, as
// a hash job found it: set by no entry (seq 0), or differing from entry seq.
// verifyTx words it afterwards, since describing a record reads tx.
type recordFinding struct {
	kind string
	id   uuid.UUID
	seq  uint64
}

// alteredEntry is an entry whose hash is not the one recomputed from its
// bytes, as a hash job found it.
type alteredEntry struct {
	seq    uint64
	linked bool
}

// problem words it. A linked entry's hash covers the previous entry's hash
// too, so a mismatch is either: its content changed, or the entry before it
// was changed, removed or put in another place.
func (a alteredEntry) problem() string {
	if a.linked {
		return alteredLinked(a.seq)
	}
	return fmt.Sprintf("audit entry %d was altered: its content no longer matches its hash", a.seq)
}

func alteredLinked(seq uint64) string {
	return fmt.Sprintf("audit entry %d was altered, or does not follow entry %d: its content and the previous entry's hash no longer match its hash", seq, seq-1)
}

// hashItem is an entry for a hash job: its sequence number, its stored
// bytes, the stored hash of the entry before it, and whether its header
// says it sets a record's state.
type hashItem struct {
	seq   uint64
	val   []byte
	prev  [32]byte
	state bool
}

// hashBatch is how many entries or records one hash job takes: enough that
// queueing a job costs little next to it, few enough to spread the work.
const hashBatch = 256

// Verify recomputes the audit chain and checks that every stored record is
// exactly the value its latest audit entry set, that no audited record
// has vanished, and that every signature is bound to the record it is stored
// in (verifySignatures); on PostgreSQL, also that the columns written
// beside each record say what the record does (startColumnCheck). It reads the
// fixed headers of entries only and
// decodes no JSON except the few signed kinds of record, or to describe a
// problem.
func (db *DB) Verify() (Verification, error) { return db.VerifyContext(context.Background()) }

// VerifyContext is Verify for a request of a server: it ends with ctx's
// error once ctx is done (a stopping server cuts it).
func (db *DB) VerifyContext(ctx context.Context) (Verification, error) {
	var v Verification
	err := db.viewContext(ctx, func(tx kv.Tx) (err error) { v, err = verifyTxContext(ctx, tx); return err })
	return v, err
}

// verifyTx is Verify inside a transaction, so that a report can state the
// verdict on exactly the records it shows.
//
// This goroutine walks the chain in order — the links, the tree, each
// record's last entry — and then the records and the index buckets. The rest
// runs beside it: the hashing — each entry's hash recomputed from its bytes,
// each record's SHA-256 — in jobs on every core (startHashPool), and the
// checks that decode JSON, the indexes and the signatures, on a goroutine
// each (startChecks), fed as this one goes. Their problems are sorted with
// the rest, so the report is the same as if they ran in turn.
func verifyTx(tx kv.Tx) (Verification, error) { return verifyTxContext(context.Background(), tx) }

// verifyTxContext is verifyTx that ends with ctx's error once ctx is done,
// checked as the chain is walked (every 1,024 entries): the walk of a
// trail of millions is what keeps a report or a verification long.
func verifyTxContext(ctx context.Context, tx kv.Tx) (Verification, error) {
	var v Verification
	ic := newIndexCheck()
	is, sis := ic.scratch(), ic.scratch() // for the index check, and the infusions' in the signature check
	ir := startChecks(tx, ic.checks(is, kindInfusion))
	defer ir.stop() // the checks read tx's bytes: none may outlive verifyTx
	given := newGivenLists()
	sc, sigChecks := newSignatureCheck(ic.deriver(kindInfusion, sis), given)
	sr := startChecks(tx, sigChecks)
	defer sr.stop()
	feed := func() { ir.feed(); sr.feed() }
	hp := startHashPool()
	defer hp.close() // the jobs read tx's bytes: none may outlive verifyTx
	// The check of the engine's derived columns runs beside the walk
	// (verifycolumns.go).
	columns := startColumnCheck(tx)
	var changed map[uuid.UUID]bool // records whose columns differ, for ic.finish
	var found struct {
		sync.Mutex
		altered []alteredEntry // entries whose hash is not that of their content
		// mentions are the entries whose action is a database's own
		// (migrationMention), for verifyMigratedMark.
		mentions []uint64
		records  []recordFinding
	}
	b := tx.Bucket(bAudit)
	// latest holds each record's latest state (verifystate.go).
	latest := newStateTable()
	entities := newEntityPrint() // the audit_entity rows the entries need (verifyentity.go)
	err := func() error {
		c := b.Cursor()
		var prev [32]byte
		var want uint64 = 1
		linked := uint64(0) // the first entry of the linked or the framed layout
		framed := uint64(0) // the first entry of the framed layout
		tc := newTreeCheck(tx)
		// Each entry is hashed with the stored hash of the one before it in
		// the trail, which a linked entry's hash covers.
		batch := make([]hashItem, 0, hashBatch)
		hashEntries := func() {
			batch := batch
			hp.do(func() {
				for _, it := range batch {
					// A database's own action is an event, never a
					// record's state (lastMigration reads back events
					// only too): a state entry's body, most of a trail,
					// is not searched for one.
					var intact, mentions bool
					if it.state {
						intact = audit.Intact(it.val, it.prev)
					} else {
						intact, mentions = audit.IntactAction(it.val, it.prev, migrationMention)
					}
					if !intact || mentions {
						found.Lock()
						if !intact {
							found.altered = append(found.altered, alteredEntry{it.seq, audit.IsLinked(it.val)})
						}
						if mentions {
							found.mentions = append(found.mentions, it.seq)
						}
						found.Unlock()
					}
				}
			})
		}
		for k, val := c.First(); k != nil; k, val = c.Next() {
			if v.Entries&1023 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
				feed()
			}
			seq := btoi(k)
			h, err := audit.ParseHeader(val)
			if err != nil {
				v.Problems = append(v.Problems, fmt.Sprintf("audit entry %d: %v", seq, err))
				continue
			}
			if batch = append(batch, hashItem{seq, val, prev, h.State}); len(batch) == hashBatch {
				hashEntries()
				batch = make([]hashItem, 0, hashBatch)
			}
			if seq != want {
				v.Problems = append(v.Problems, fmt.Sprintf("audit entries %d–%d are missing: the trail has a gap", want, seq-1))
			}
			want = seq + 1
			switch {
			case h.Framed:
				// The link is part of the hash, which the jobs check.
				if framed == 0 {
					framed = seq
				}
				if linked == 0 {
					linked = seq
				}
			case h.Linked && framed != 0:
				v.Problems = append(v.Problems, fmt.Sprintf("audit entry %d is stored in the layout of schema 12, after entry %d in that of schema 14: celltrack did not write it", seq, framed))
			case h.Linked:
				if linked == 0 {
					linked = seq
				}
			case linked != 0:
				later := 12
				if linked == framed {
					later = 14
				}
				v.Problems = append(v.Problems, fmt.Sprintf("audit entry %d is stored in the layout of schema 11, after entry %d in that of schema %d: celltrack did not write it", seq, linked, later))
			case h.PrevHash != prev:
				v.Problems = append(v.Problems, fmt.Sprintf("audit entry %d does not follow entry %d: the chain is broken", seq, seq-1))
			}
			prev = h.Hash
			tc.add(seq, h.Hash)
			entities.add(h.ID, k)
			v.Entries++
			if h.State {
				latest.set(h.ID, seq, h.NewSHA)
			}
		}
		if len(batch) > 0 {
			hashEntries()
		}
		v.Head = prev
		if tp := tc.finish(); tp != nil {
			v.Problems = append(v.Problems, tp...)
		} else if th, err := treeHead(tx); err != nil {
			v.Problems = append(v.Problems, err.Error())
		} else {
			v.Tree = th
		}
		v.Problems = append(v.Problems, verifyCheckpointKeys(tx)...)
		v.Problems = append(v.Problems, verifyFacility(tx)...)
		v.Problems = append(v.Problems, verifyAgainstCheckpoint(tx, v.Entries)...)
		// latest is complete: from here on the hash jobs read it, and only
		// the exists flags change.
		latest.done()
		for kind, name := range recordBuckets {
			ids, vals := make([]uuid.UUID, 0, hashBatch), make([][]byte, 0, hashBatch)
			hashRecords := func() {
				ids, vals := ids, vals
				hp.do(func() {
					for j, val := range vals {
						id := ids[j]
						i := latest.find(id)
						if i < 0 {
							found.Lock()
							found.records = append(found.records, recordFinding{kind, id, 0})
							found.Unlock()
							continue
						}
						st := latest.state(i)
						if sha256.Sum256(val) != st.sha {
							found.Lock()
							found.records = append(found.records, recordFinding{kind, id, st.seq})
							found.Unlock()
						}
						latest.exists[i].Store(true)
					}
				})
			}
			err := tx.Bucket(name).ForEach(func(k, val []byte) error {
				if v.Records&1023 == 0 {
					feed()
				}
				v.Records++
				if ids, vals = append(ids, uuid.UUID(k)), append(vals, val); len(vals) == hashBatch {
					hashRecords()
					ids, vals = make([]uuid.UUID, 0, hashBatch), make([][]byte, 0, hashBatch)
				}
				return nil
			})
			if err != nil {
				return err
			}
			if len(vals) > 0 {
				hashRecords()
			}
		}
		return nil
	}()
	if err == nil {
		ic.walk(tx, feed)
		var ep []string
		if ep, err = verifyEntityRows(tx, entities); err == nil {
			v.Problems = append(v.Problems, ep...)
		}
	}
	if err == nil {
		var cp []string
		cp, changed, err = columns()
		v.Problems = append(v.Problems, cp...)
	}
	hp.wait()
	ir.wait()
	sr.wait()
	ic.merge(is)
	ic.merge(sis)
	if err != nil {
		return v, err
	}
	for _, a := range found.altered {
		v.Problems = append(v.Problems, a.problem())
	}
	if found.mentions == nil {
		found.mentions = []uint64{} // none: lastMigration reads nothing back
	}
	mp, err := verifyMigratedMark(tx, found.mentions)
	if err != nil {
		return v, err
	}
	v.Problems = append(v.Problems, mp...)
	for _, f := range found.records {
		if f.seq == 0 {
			v.Problems = append(v.Problems, fmt.Sprintf("%s %s is stored but has no audit entry: it was written outside celltrack", f.kind, describe(tx, f.kind, f.id)))
		} else {
			v.Problems = append(v.Problems, fmt.Sprintf("%s %s differs from the value its last audit entry (%d) recorded: it was changed outside celltrack", f.kind, describe(tx, f.kind, f.id), f.seq))
		}
	}
	for i := range latest.exists {
		if st := latest.state(i); !latest.exists[i].Load() {
			e, _ := audit.Decode(b.Get(itob(st.seq)))
			v.Problems = append(v.Problems, fmt.Sprintf("%s %s was set by audit entry %d but is no longer stored: it was deleted outside celltrack", e.Entity, st.id, st.seq))
		}
	}
	v.Problems = append(v.Problems, ic.finish(tx, changed)...)
	v.Problems = append(v.Problems, sc.finish(tx)...)
	v.Problems = append(v.Problems, given.finish()...)
	sort.Strings(v.Problems) // map order would make two runs print differently
	return v, nil
}

// describe names a record for a person: its lot number, code or MRN, and id.
func describe(tx kv.Tx, kind string, id uuid.UUID) string {
	var r struct {
		Number, Code, MRN, Name string
		DIN                     string
	}
	if _, err := get(tx, kind, id, &r); err == nil {
		for _, s := range []string{r.Number, r.Code, r.MRN, r.Name} {
			if s != "" {
				return fmt.Sprintf("%s (%s)", s, id)
			}
		}
	}
	return id.String()
}
