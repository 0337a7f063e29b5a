package store

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/store/kv"
	"github.com/google/uuid"
)

// Entity kinds, as named in the audit trail.
const (
	kindUser      = "user"
	kindDonor     = "donor"
	kindPatient   = "patient"
	kindWeight    = "weight"
	kindLot       = "lot"
	kindContainer = "container"
	kindEvent     = "event"
	kindSettings  = "settings"
)

// writer is one write transaction on behalf of an authorised user. Every record
// change goes through put, which appends the audit entry in the same
// transaction, so a change and its audit entry commit or vanish together.
type writer struct {
	db    *DB
	tx    kv.Tx
	actor audit.User
	now   time.Time
	// donors remembers the donors this transaction has read, so that an
	// import of many lots from one donor decodes the donor once.
	donors map[string]lot.Donor
	// open says the database is known not to be migrated away
	// (migrated.go), or that this writer records only access and security
	// events (a login, a logout, a wrong password), which a migrated
	// database still records. A writer checks the mark before its first
	// entry otherwise.
	open bool
	// fin is the facility FIN nextDIN last held against the trail's and
	// found the same (finHeld): a DIN issued with the same meta value is
	// not checked again — an import issues thousands in one transaction,
	// and each check decodes init's entry.
	fin     string
	finHeld bool
}

// checkOpen refuses the write when the database was migrated away.
func (w *writer) checkOpen() error {
	if w.open {
		return nil
	}
	if err := refuseIfMigrated(w.tx); err != nil {
		return err
	}
	w.open = true
	return nil
}

// update runs fn in a write transaction as actor, after checking that actor
// exists, is enabled and may perform action. Any error rolls everything back.
func (db *DB) update(actor string, action audit.Action, fn func(w *writer) error) (err error) {
	defer db.recordReplaced(&err)
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer db.recoverDamage(&err)
	if db.bulk != nil {
		return db.asActor(db.bulk, actor, action, fn)
	}
	// What asActor reads first goes with BEGIN and the lock where that
	// saves a round trip (PostgreSQL: kv.ReadingWriter).
	first := db.actorReads(actor)
	if db.group && batchable[action] {
		return kv.BatchReading(db.engine, first, func(tx kv.Tx) error {
			// bbolt runs a batch on a goroutine of its own: a fault on
			// a damaged page there panics too, which bbolt turns into
			// this call's error and a re-run alone, on this goroutine,
			// where recoverDamage words it.
			debug.SetPanicOnFault(true)
			return db.asActor(tx, actor, action, fn)
		})
	}
	return kv.UpdateReading(db.engine, first, func(tx kv.Tx) error { return db.asActor(tx, actor, action, fn) })
}

// GroupCommit returns a handle on db whose non-signature writes of the
// actions in batchable share bbolt commits with the writes other goroutines
// make at the same time (bbolt's DB.Batch): the server's, where fifty
// people write at once and each commit costs two fsyncs. Each write still
// runs its own permission check, rules and audit entries, in its own
// function, one after the other inside the shared transaction, so the
// audit trail stays one chain; each call returns only after the commit that
// holds its write is on disk. A write that is refused rolls the shared
// transaction back: bbolt takes it out, commits the others without it (their
// functions run again) and runs it again alone, so it writes nothing and its
// own caller gets its refusal — the answer it would have had in some serial
// order. Writes of other actions commit alone, as on db. It sets bbolt's
// batch delay, shared by every handle: call it once, before serving.
func (db *DB) GroupCommit() *DB {
	if e, ok := db.engine.(interface{ SetMaxBatchDelay(time.Duration) }); ok {
		e.SetMaxBatchDelay(groupCommitDelay)
	}
	s := *db
	s.group = true
	return &s
}

// groupCommitDelay is how long the first write of a batch waits for others
// before its commit starts (bbolt's default is 10 ms). Writes that arrive
// while a commit is under way wait for it in any case and share the next
// one, so the delay only has to gather the writes of one burst; a lone
// write pays it whole (BENCHMARKS.md, run M).
const groupCommitDelay = 2 * time.Millisecond

// batchable are the actions whose writes share commits on a GroupCommit
// handle. bbolt may call a batched function more than once (again when
// another write of its batch is refused, and alone when it is refused
// itself), so each function below was read for what a re-run needs: it
// reads and writes only in its transaction and sets its results afresh on
// every run (no append to a caller's slice, no file written, no argument
// changed). An action that is not listed commits alone, the safe default
// for a new one. Left alone on purpose:
//   - signatures (release approve and reject, screening void, schedule
//     change, weight confirmation, administer, role grants, key rotation):
//     rare (a few per patient) and the most consequential records; the
//     administration re-runs the whole bedside check inside its
//     transaction, which would hold every other writer's acknowledgement,
//     and its NO-GO — an expected outcome — would make the whole batch run
//     twice. Alone, a signed record never depends on the re-run path;
//   - lot import (one transaction of thousands of lots, and all-or-nothing
//     by design), label printing (renders a file inside its transaction),
//     QC results and donor screening (collect re-quarantined lots across
//     the run), and the administrator's accounts, settings, zones, keys and
//     restore: rare, and not reviewed for re-runs.
var batchable = map[audit.Action]bool{
	audit.PatientWeigh: true, audit.PatientAdd: true, audit.PatientCorrect: true,
	audit.DonorAdd: true, audit.DonorCorrect: true, audit.LotRegister: true, audit.SiteAdd: true,
	audit.ContainerStore: true, audit.ContainerShip: true, audit.ContainerReceive: true,
	audit.ContainerThaw: true, audit.ContainerDispense: true, audit.ContainerDiscard: true,
	audit.ContainerReturn: true, audit.ContainerQuarantine: true,
	audit.LabelApply: true, audit.LabelVoid: true, audit.DoseReaction: true,
}

// actorReads is what asActor reads for actor before fn runs — the actor,
// the migration mark, the session — and what the write's chain append
// reads: the last page of the trail and of its tree, which the migration
// check (migratedByTrail) reads too (appendEntry, appendTree). Asked for
// together: one round trip on PostgreSQL, with BEGIN and the lock
// (kv.UpdateReading), nothing on bbolt. They are read after the write lock
// is granted, as where they are used, so the append stays serialised
// with every other writer's.
func (db *DB) actorReads(actor string) kv.Reads {
	keys := []kv.BucketKey{{Bucket: []byte("idx_user_name"), Key: []byte(actor)}, {Bucket: bMeta, Key: metaMigrated}}
	if db.creds != nil && db.creds.Token != "" {
		keys = append(keys, sessionKeys(*db.creds)...)
		// The session's user as Open's check found it (Start): the
		// record userByName and the session check read next, asked for
		// with the rest rather than in a round trip of its own.
		if st := db.started; st != nil && st.Checked && st.SessionErr == nil {
			keys = append(keys, kv.BucketKey{Bucket: recordBuckets[kindUser], Key: st.Session.User.ID[:]})
		}
	}
	return kv.Reads{Keys: keys, Ends: []kv.End{{Bucket: bAudit, Last: true}, {Bucket: bAuditTree, Last: true}}}
}

// asActor checks actor's permission for action and runs fn as actor in tx.
func (db *DB) asActor(tx kv.Tx, actor string, action audit.Action, fn func(w *writer) error) error {
	// Read already when update told the engine (kv.UpdateReading); a
	// bulk transaction's, or a Batch's on bbolt, are read here.
	kv.PrefetchReads(tx, db.actorReads(actor))
	u, err := userByName(tx, actor)
	if err != nil {
		return err
	}
	if err := audit.Authorize(u, action); err != nil {
		return err
	}
	// Checked before the command's own rules run: on a database migrated
	// away, its outcome (a bedside NO-GO, say) is no longer this
	// database's to give.
	if err := refuseIfMigrated(tx); err != nil {
		return err
	}
	if err := db.touchSession(tx, actor); err != nil {
		return err
	}
	return fn(&writer{db: db, tx: tx, actor: u, now: db.now(), open: true})
}

// view runs fn in a read-only transaction.
func (db *DB) view(fn func(tx kv.Tx) error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer db.recoverDamage(&err)
	if db.bulk != nil {
		return fn(db.bulk)
	}
	return db.engine.View(fn)
}

// viewContext is view for a read that may be long (a report, a download):
// once ctx is done the engine ends it (kv.Engine's ViewContext), and it
// returns an error that wraps ctx's (errors.Is context.Canceled).
func (db *DB) viewContext(ctx context.Context, fn func(tx kv.Tx) error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer db.recoverDamage(&err)
	if db.bulk != nil {
		return fn(db.bulk)
	}
	return db.engine.ViewContext(ctx, fn)
}

// put stores rec as the new value of record id of kind, and appends the audit
// entry with the previous value. reason is required by callers that correct or
// void; it is recorded whenever given.
func (w *writer) put(kind string, id uuid.UUID, action string, reason string, rec any) error {
	if err := w.checkOpen(); err != nil {
		return err
	}
	b := w.tx.Bucket(recordBuckets[kind])
	b.SetFillPercent(appendFill)
	val, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encode %s %s: %w", kind, id, err)
	}
	var prev json.RawMessage
	if old := b.Get(id[:]); old != nil {
		if bytes.Equal(old, val) {
			return nil // nothing changed; no entry
		}
		prev = append(json.RawMessage(nil), old...)
	}
	if err := b.Put(id[:], val); err != nil {
		return fmt.Errorf("put %s %s: %w", kind, id, err)
	}
	return w.append(&audit.Entry{
		Time: w.now, User: w.actor.Name, Action: action, Entity: kind, ID: id,
		Prev: prev, New: val, Reason: reason, State: true,
	})
}

// event appends an audit entry that records something that happened to a
// record without changing it (a refused password, a printed report).
func (w *writer) event(kind string, id uuid.UUID, action, reason string) error {
	if err := w.checkOpen(); err != nil {
		return err
	}
	return w.append(&audit.Entry{Time: w.now, User: w.actor.Name, Action: action, Entity: kind, ID: id, Reason: reason})
}

// append appends e (appendEntry) and notes it as the process's own, kept
// as its last committed entry once the transaction commits (ownhead.go).
func (w *writer) append(e *audit.Entry) error {
	if err := appendEntry(w.tx, w.db.rawEntries, e); err != nil {
		return err
	}
	if w.db.own != nil {
		w.db.own.note(w.tx, e.Seq, e.Hash)
	}
	return nil
}

// appendFill is the fill percent of buckets whose keys mostly arrive in
// order (audit sequence numbers, UUIDv7 record ids): bbolt's default of 50 %
// suits random inserts and leaves append-only pages half empty, which made a
// 100k-lot database twice the size and its import and verify slower.
const appendFill = 0.95

// encodeEntry is how appendEntry stores an entry: in the framed layout
// (schema 14). Upgrade tests set it to the layout of schema 11 or 13 to
// make a trail of that version.
var encodeEntry = (*audit.Entry).Encode

// appendEntry numbers e after the last entry, chains it to that entry's hash
// and stores it with its per-record index key and its hashes in the audit
// tree (tree.go); raw stores its body uncompressed (Options.OneShot).
func appendEntry(tx kv.Tx, raw bool, e *audit.Entry) error {
	b := tx.Bucket(bAudit)
	b.SetFillPercent(appendFill)
	if k, v := b.Cursor().Last(); k != nil {
		h, err := audit.StoredHash(v)
		if err != nil {
			return fmt.Errorf("read last audit entry: %w", err)
		}
		e.Seq = btoi(k) + 1
		e.PrevHash = h
	} else {
		e.Seq = 1
	}
	e.Time = e.Time.UTC()
	encode := encodeEntry
	if raw {
		encode = (*audit.Entry).EncodeRaw
	}
	enc, err := encode(e)
	if err != nil {
		return fmt.Errorf("encode audit entry: %w", err)
	}
	key := audit.SeqKey(e.Seq)
	if err := b.Put(key, enc); err != nil {
		return fmt.Errorf("append audit entry: %w", err)
	}
	if err := appendTree(tx, e.Seq, e.Hash); err != nil {
		return err
	}
	be := tx.Bucket(bAuditEntity)
	be.SetFillPercent(appendFill)
	return be.Put(append(e.ID[:len(e.ID):len(e.ID)], key...), nil)
}

// get decodes record id of kind into rec, returning false when it is absent.
func get(tx kv.Tx, kind string, id uuid.UUID, rec any) (bool, error) {
	v := tx.Bucket(recordBuckets[kind]).Get(id[:])
	if v == nil {
		return false, nil
	}
	if err := unmarshalRecord(v, rec); err != nil {
		return false, fmt.Errorf("decode %s %s: %w", kind, id, err)
	}
	return true, nil
}

// lookup returns the id stored under key in an index bucket.
func lookup(tx kv.Tx, index string, key string) (uuid.UUID, bool) {
	v := tx.Bucket([]byte(index)).Get([]byte(key))
	if len(v) != 16 {
		return uuid.Nil, false
	}
	return uuid.UUID(v), true
}

// children returns the ids that follow the 16-byte parent prefix in a
// composite index whose keys end in a 16-byte child id.
func children(tx kv.Tx, index string, parent uuid.UUID) []uuid.UUID {
	var ids []uuid.UUID
	c := tx.Bucket([]byte(index)).Cursor()
	for k, _ := c.Seek(parent[:]); k != nil && bytes.HasPrefix(k, parent[:]); k, _ = c.Next() {
		ids = append(ids, uuid.UUID(k[len(k)-16:]))
	}
	return ids
}

func btoi(b []byte) uint64 {
	var n uint64
	for _, c := range b {
		n = n<<8 | uint64(c)
	}
	return n
}

func itob(n uint64) []byte { return audit.SeqKey(n) }

// notFound is the ENOTFOUND refusal for an unknown reference.
func notFound(what, ref, hint string) *lot.Error {
	return lot.Errorf(lot.ENOTFOUND, "no %s %q; %s", what, ref, hint)
}

// childrenOf is children, the ids of records of kind that the caller reads
// next: the engine is told so (kv.Prefetch), so that on PostgreSQL they come
// in one round trip rather than one each.
func childrenOf(tx kv.Tx, index string, parent uuid.UUID, kind string) []uuid.UUID {
	ids := children(tx, index, parent)
	prefetch(tx, kind, ids)
	return ids
}

// prefetch tells the engine that the records of kind with these ids are
// read next (kv.Prefetch).
func prefetch(tx kv.Tx, kind string, ids []uuid.UUID) {
	if len(ids) < 2 {
		return
	}
	keys := make([][]byte, len(ids))
	for i := range ids {
		keys[i] = ids[i][:]
	}
	if b := tx.Bucket(recordBuckets[kind]); b != nil {
		kv.Prefetch(b, keys...)
	}
}

// childRecords decodes the records of kind listed under parent in a
// composite index, oldest first, and converts each to its domain type.
func childRecords[R, T any](tx kv.Tx, index string, parent uuid.UUID, kind string, conv func(R) T) ([]T, error) {
	var out []T
	for _, id := range childrenOf(tx, index, parent, kind) {
		var r R
		if _, err := get(tx, kind, id, &r); err != nil {
			return nil, err
		}
		out = append(out, conv(r))
	}
	return out, nil
}
