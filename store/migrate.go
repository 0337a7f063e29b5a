package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/store/kv"
	"github.com/google/uuid"
	"golang.org/x/mod/sumdb/tlog"
)

// Schema versions:
//
//	1  the first release
//	2  idx_event_patient and idx_event_infused (events that name a patient;
//	   infusions by start time); any bucket of the key schema may be missing
//	   from a version 1 file
//	3  reaction records version 2: a number in their infusion, corrections
//	   and voids. Nothing is rewritten (a version 1 reaction reads as one
//	   with no correction), but the bump makes a celltrack that knows only
//	   version 2 refuse the file instead of dropping the fields it does not
//	   know when it reads, and so showing a voided reaction as standing
//	4  sessions (issue 10): the sessions bucket, the settings record bucket
//	   and the database's identity in meta "db_id", made by the upgrade
//	5  audit_tree: the audit trail as a Merkle tree (tree.go), and
//	   checkpoint_keys, the verifier keys of signed checkpoints; the upgrade
//	   builds the tree of the existing entries in batches (buildTree) before
//	   the one transaction below, so a file of millions of entries is
//	   upgraded in bounded memory and an interrupted upgrade resumes
//	6  time zones (issue 12): the facility bucket (the facility's time
//	   zone), a site's own zone (sites "tz") and a course's treating site
//	   (schedules "site_id", "site"). An older celltrack would count every
//	   day in UTC and drop a site's zone when it rewrote the site, so it
//	   must refuse such a file. A file upgraded from before 6 has no
//	   facility record: its days stay counted in UTC, as they were, until an
//	   admin sets the zone (`celltrack site set-tz --facility`)
//	7  patient and donor records version 2 (corrections of master data, a
//	   patient's former MRNs), and idx_patient_mrn holds former MRNs too,
//	   reserved to their patient: an older celltrack would resolve a
//	   former MRN to its patient and fail `audit verify` on the extra
//	   index entries, so it must refuse the file. Nothing to convert: no
//	   record of an older file has a correction.
//	8  a leaner trail: audit entries store their JSON body compressed (zstd
//	   with a dictionary shipped in the binary, audit/entrybody.go); the
//	   hash still covers the uncompressed JSON, so old hashes, the tree and
//	   signed checkpoints are unchanged. The upgrade compresses the existing
//	   entries in batches (compressEntries) before the one transaction
//	   below, checking each one decompresses to its stored JSON, and an
//	   interrupted upgrade resumes. State entries written from then on
//	   are lean (audit.Entry.Lean: the SHA-256 of the value set, the value
//	   itself kept once, by the record or the next entry's prev; old
//	   entries keep theirs). Index buckets whose keys arrive in order
//	   are filled to 95 % from then on (appendIndexes); the pages an upgrade
//	   frees are reused by later writes, the file does not shrink. An older
//	   celltrack cannot read a compressed entry, so it must refuse the file
//	9  idx_patient_mrn_fold: every MRN, current or former, folded (case
//	   folding) + the patient's id, so that a registration finds an MRN
//	   differing from its own only in letter case without reading every MRN.
//	   The upgrade builds it from the patient records in its one
//	   transaction; an older celltrack would register a patient without the
//	   entry and fail `audit verify`, so it must refuse the file
//	10 idx_donor_code_fold, idx_lot_number_fold, idx_site_code_fold: every
//	   donor id, lot number and site id folded (case folding, foldKey) +
//	   the record's id, so that a new code differing from a registered one
//	   only in letter case is refused without reading every code. The
//	   upgrade builds them from the records in its one transaction. A
//	   file that already holds case variants keeps every record and an
//	   entry for each; the note lists them ("case_variants") and
//	   `celltrack upgrade` and `check` print each group for QA. An older
//	   celltrack would register a code without its entry and fail `audit
//	   verify`, so it must refuse the file
//	11 a leaner tree: audit_tree stores the nodes of level 6
//	   (treeStoredLevel) and above, ~1 hash in 32 entries instead of ~2 per
//	   entry; a lower node is recomputed from the at most 64 entries under it
//	   (tree.go, treeHashes). Every hash, root and signed checkpoint is the
//	   same. The upgrade removes the lower levels of a file's tree in its
//	   one transaction (pruneTree); on PostgreSQL, where audit_tree is
//	   append-only, they are kept and still checked by verify, and only new
//	   entries store less. An older celltrack would find the tree's lower
//	   hashes missing, so it must refuse the file
//	12 an entry header without the stored previous hash (the linked layout,
//	   audit/audit.go): entries written from then on store neither the
//	   previous entry's hash (it is that entry's own stored hash, and still
//	   part of the new entry's hash) nor the record id in their body (the
//	   header holds it). Existing entries are not rewritten and keep every
//	   hash; the upgrade checks, in its one transaction, that none of them
//	   reads as the new layout (linkedLookalikes), so the trail reads the
//	   same after it. An older celltrack cannot read a linked entry, so it
//	   must refuse the file
//
// An older file is upgraded only by an admin, who proves who they are:
// `celltrack upgrade` (OpenForUpgrade, Upgrade) or their `celltrack login`
// (OpenForLogin, Login). Every other Open of an older file, read-only or
// not, is refused before anything is written (errBehind). The upgrade
// (migrate) records itself in meta under "migration/" + the new version
// and in one audit entry database.upgrade by that admin, both in its last
// transaction.

// OpenForUpgrade opens the database at path for Upgrade: for writing, but
// with an older store schema left as it is until Upgrade has checked who
// asks. On PostgreSQL an engine schema (package pgkv) that is behind this
// binary's is opened for reading only: the users and sessions read the
// same through it, and Upgrade applies its migrations after the check
// (upgradeEngine). The []int is nil: no engine migration is applied here.
func OpenForUpgrade(path string, opts Options) (*DB, []int, error) {
	opts.keepSchema, opts.ReadOnly, opts.Create = true, false, false
	if IsPostgres(path) {
		return openPostgresForUpgrade(path, opts)
	}
	db, err := Open(path, opts)
	return db, nil, err
}

// OpenForLogin opens the database at path for Login: for writing, with an
// older store schema left as it is, so that Login upgrades it only for an
// admin who proves their password and refuses everyone else with nothing
// written. Unlike OpenForUpgrade it never applies PostgreSQL's engine
// migrations: those stay `celltrack upgrade`'s, run by the owner role.
func OpenForLogin(path string, opts Options) (*DB, error) {
	opts.keepSchema, opts.ReadOnly, opts.Create = true, false, false
	return Open(path, opts)
}

// Upgrade brings a database opened by OpenForUpgrade up to this
// celltrack's schema as actor, who must be allowed audit.DatabaseUpgrade
// (an admin): checked before anything is changed, so a refusal (EFORBIDDEN)
// leaves the database untouched; on PostgreSQL it then applies the engine
// migrations that are behind, named in its audit entry. It returns the
// schema version and the note of the upgrade to it ("" when there was
// none).
func (db *DB) Upgrade(actor string) (v int, note string, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer db.recoverDamage(&err)
	var u audit.User
	if err := db.view(func(tx kv.Tx) error {
		u, err = userByName(tx, actor)
		if err != nil {
			return err
		}
		return audit.Authorize(u, audit.DatabaseUpgrade)
	}); err != nil {
		return 0, "", err
	}
	if err := db.upgradeEngine(); err != nil {
		return 0, "", err
	}
	if err := db.migrate(u); err != nil {
		return 0, "", err
	}
	db.behind = 0
	if err := db.recordEngineUpgrade(u); err != nil {
		return 0, "", err
	}
	return db.Schema()
}

// Behind returns the schema version of a file an older celltrack wrote,
// opened by OpenForUpgrade or OpenForLogin and not yet upgraded; 0 when the
// database is up to date.
func (db *DB) Behind() int { return db.behind }

// upgradeAtLogin is Login on a file an older celltrack wrote (db.behind):
// it upgrades the file as name when name's password is right and name may
// database.upgrade (an admin whose account is neither disabled nor locked),
// and refuses everyone else with errBehind, nothing written. The password
// is checked read-only: recording a wrong one, or counting it towards the
// lock, would write to the older file, which only an admin's upgrade may
// do. So that the refusal does not tell a right password from a wrong one,
// nor an admin's name from anyone else's, every refusal is the same, costs
// one password check (an unknown name checks a dummy hash, as Login does)
// and waits FailedPasswordDelay, as a wrong password does on a current file.
func (db *DB) upgradeAtLogin(name, password string) error {
	var u audit.User
	found := false
	err := db.view(func(tx kv.Tx) error {
		if tx.Bucket([]byte("idx_user_name")) == nil || tx.Bucket(recordBuckets[kindUser]) == nil {
			return nil
		}
		id, ok := lookup(tx, "idx_user_name", name)
		if !ok {
			return nil
		}
		var r userRecord
		var err error
		found, err = get(tx, kindUser, id, &r)
		u = r.user()
		return err
	})
	if err != nil {
		return err
	}
	hash := dummyHash()
	if found {
		hash = u.Hash
	}
	ok := audit.CheckPassword(hash, password) && found
	if !ok || audit.CheckLogin(u, db.now()) != nil || audit.Authorize(u, audit.DatabaseUpgrade) != nil {
		time.Sleep(FailedPasswordDelay)
		var lacking []string
		db.view(func(tx kv.Tx) error {
			r, i := missingBuckets(tx)
			lacking = append(r, i...)
			return nil
		})
		return errBehind(db.path, db.behind, lacking, "Only an admin's login, with the right password, upgrades it: a wrong password, an unknown name and a user who may not upgrade all get this answer, and the attempt is not recorded (recording it would write to the older file).")
	}
	if err := db.migrate(u); err != nil {
		return err
	}
	db.behind = 0
	return nil
}

// schemaOf reads the schema version in meta; a value that is not a positive
// number was not written by celltrack.
func schemaOf(tx kv.Tx, path string) (int, error) {
	raw := tx.Bucket(bMeta).Get([]byte("schema"))
	v, err := strconv.Atoi(string(raw))
	if err != nil || v < 1 {
		return 0, lot.Errorf(lot.EINVALID, "%s has a garbled schema version %q in meta (not written by celltrack); restore the last good backup", path, raw)
	}
	return v, nil
}

// missingBuckets lists the key-schema buckets a file lacks. Every Open
// asks, so it looks the ~50 names up in the engine's list of buckets, one
// walk of bbolt's root, rather than opening each bucket, which cost every
// command ~0.1 ms (BenchmarkSchemaCheck; issue 10).
func missingBuckets(tx kv.Tx) (records []string, indexes []string) {
	has := func(b []byte) bool { return tx.Bucket(b) != nil }
	if l, ok := tx.(bucketLister); ok {
		names := l.BucketNames() // in name order
		has = func(b []byte) bool {
			_, found := slices.BinarySearch(names, string(b))
			return found
		}
	}
	for _, b := range recordBuckets {
		if !has(b) {
			records = append(records, string(b))
		}
	}
	for _, b := range append([][]byte{bAudit, bAuditEntity, bSessions}, indexBuckets...) {
		if !has(b) {
			indexes = append(indexes, string(b))
		}
	}
	return records, indexes
}

// needsMigration reports whether a file of schema v lacks anything.
func needsMigration(tx kv.Tx, v int) bool {
	r, i := missingBuckets(tx)
	return v < SchemaVersion || len(r)+len(i) > 0
}

// migrate brings an older file up to SchemaVersion in one transaction:
// missing record buckets are created empty (nothing can have been stored in
// a bucket that did not exist), the event indexes are rebuilt from the
// events, and any other missing index is created empty only when its records
// bucket is empty. It records what it did in meta "migration/<version>" and
// in one audit entry database.upgrade by actor (an admin, checked by the
// caller), both in that last transaction: the steps before it (buildTree,
// compressEntries) change no schema and resume when interrupted, so a file
// killed at any point is either at its old schema with no upgrade entry, or
// upgraded with exactly one.
func (db *DB) migrate(actor audit.User) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer db.recoverDamage(&err)
	// Look first: a write transaction commits a new meta page even when it
	// changes nothing, and a refused command must leave the file's bytes alone.
	// So the trail is checked for entries a later layout would misread
	// here, before any step writes.
	var needed bool
	checked := 0
	if err := db.engine.View(func(tx kv.Tx) error {
		v, err := schemaOf(tx, db.path)
		needed = err == nil && needsMigration(tx, v)
		if needed && v < 14 {
			checked, err = linkedLookalikes(tx, db.path, v)
		}
		return err
	}); err != nil || !needed {
		return err
	}
	treeAdded, err := db.buildTree(treeBatch)
	if err != nil {
		return err
	}
	compressed, err := db.compressEntries(treeBatch)
	if err != nil {
		return err
	}
	wrote := false
	err = db.engine.Update(func(tx kv.Tx) error {
		from, err := schemaOf(tx, db.path)
		if err != nil || !needsMigration(tx, from) {
			return err
		}
		records, indexes := missingBuckets(tx)
		for _, name := range records {
			if _, err := tx.CreateBucket([]byte(name)); err != nil {
				return fmt.Errorf("create bucket %s: %w", name, err)
			}
		}
		rebuildEvents, rebuildFold := false, false
		var rebuildFolds []string
		// indexSource names the record kind each index is derived from: an
		// index bucket missing from an older file is created empty only when
		// it has nothing to index, or rebuilt when a rebuilder exists (the
		// event indexes).
		for _, name := range indexes {
			kind, ok := indexSource[name]
			switch {
			case name == string(bSessions):
				// bookkeeping, empty until someone logs in
			case ok && kind == kindEvent:
				rebuildEvents = true
			case name == "idx_patient_mrn_fold":
				rebuildFold = true
			case isFoldIndex(name):
				rebuildFolds = append(rebuildFolds, name)
			case !ok || tx.Bucket(recordBuckets[kind]).KeyN() > 0:
				return lot.Errorf(lot.ECONFLICT, "%s lacks the bucket %s while its records exist; this celltrack cannot rebuild it — restore the last good backup and report it", db.path, name)
			}
			if _, err := tx.CreateBucket([]byte(name)); err != nil {
				return fmt.Errorf("create bucket %s: %w", name, err)
			}
		}
		events := 0
		if rebuildEvents {
			err := tx.Bucket(recordBuckets[kindEvent]).ForEach(func(k, v []byte) error {
				events++
				return writeIndexes(tx, kindEvent, uuid.UUID(k))
			})
			if err != nil {
				return err
			}
		}
		folded := 0
		if rebuildFold {
			if folded, err = rebuildIndex(tx, kindPatient, "idx_patient_mrn_fold"); err != nil {
				return err
			}
		}
		codesFolded := 0
		for _, name := range rebuildFolds {
			n, err := rebuildIndex(tx, indexSource[name], name)
			if err != nil {
				return err
			}
			codesFolded += n
		}
		variants, err := caseVariants(tx)
		if err != nil {
			return err
		}
		pruned := 0
		if from < 11 && !IsPostgres(db.path) {
			if pruned, err = pruneTree(tx); err != nil {
				return err
			}
		}
		var steps []string
		if from < 7 {
			steps = append(steps, "7: patient and donor records may carry corrections, idx_patient_mrn former MRNs; no record of the older file has either, nothing converted")
		}
		if from < 8 {
			steps = append(steps, "8: audit entry bodies stored compressed, every hash unchanged")
		}
		if from < 9 {
			steps = append(steps, "9: idx_patient_mrn_fold built from the patient records")
		}
		if from < 10 {
			steps = append(steps, fmt.Sprintf("10: idx_donor_code_fold, idx_lot_number_fold and idx_site_code_fold built from the records; %d group(s) of codes differing only in letter case kept, each listed in case_variants for QA", len(variants)))
		}
		if from < 11 {
			if IsPostgres(db.path) {
				steps = append(steps, "11: the audit tree stores the nodes of level 6 and above for new entries; the lower hashes of older entries stay in the append-only audit_tree table and are still checked")
			} else {
				steps = append(steps, fmt.Sprintf("11: the audit tree keeps the nodes of level 6 and above; %d lower hashes removed, each recomputed from the entries when needed", pruned))
			}
		}
		if from < 12 {
			steps = append(steps, fmt.Sprintf("12: audit entries written from now on store no previous hash and no id in their body; the %d existing entries are kept as they are, every hash unchanged", checked))
		}
		if from < 13 {
			steps = append(steps, "13: a schedule record (version 2) lists the infusions given on it, audited with each infusion; no record is rewritten: a course started before gets its list at its next infusion, from what the index then holds")
		}
		if from < 14 {
			steps = append(steps, fmt.Sprintf("14: audit entries written from now on are hashed over their compressed body as stored, which audit verify checks without decompressing it; the %d existing entries are kept as they are, every hash unchanged", checked))
		}
		meta := tx.Bucket(bMeta)
		if from < 4 && meta.Get(metaDBID) == nil {
			// Sessions are bound to the database's identity (issue 10).
			if err := meta.Put(metaDBID, []byte(db.NewID().String())); err != nil {
				return err
			}
		}
		fields := map[string]any{"from": from, "to": SchemaVersion, "at": db.now(),
			"created": append(records, indexes...), "events_reindexed": events, "steps": steps,
			"tree_entries": treeAdded, "tree_hashes_pruned": pruned, "entries_compressed": compressed, "codes_folded": codesFolded, "mrns_folded": folded}
		if len(variants) > 0 {
			var vs []string
			for _, v := range variants {
				vs = append(vs, v.String())
			}
			fields["case_variants"] = vs
		}
		if from < 6 {
			// Nothing to rewrite: no site has a zone and no schedule a
			// site, so every course goes on counting days in UTC.
			fields["facility_time_zone"] = "UTC, as every day was counted before version 6; an admin sets the facility's zone"
		}
		note, _ := json.Marshal(fields)
		if err := meta.Put([]byte("migration/"+strconv.Itoa(SchemaVersion)), note); err != nil {
			return err
		}
		if err := meta.Put([]byte("schema"), []byte(strconv.Itoa(SchemaVersion))); err != nil {
			return err
		}
		// Recorded on a database migrated to the other engine too (open):
		// its old copy must be upgraded to be read at all.
		reason := upgradeReason(from, records, indexes, steps)
		if db.engineUpgrade != "" {
			reason = db.engineUpgrade + "; then store " + reason
		}
		w := &writer{db: db, tx: tx, actor: actor, now: db.now(), open: true}
		wrote = true
		return w.event(kindUser, actor.ID, string(audit.DatabaseUpgrade), reason)
	})
	db.engineRecorded = db.engineRecorded || err == nil && wrote
	return err
}

// recordEngineUpgrade writes the audit entry database.upgrade by actor for
// the engine migrations Upgrade applied (upgradeEngine), when the store's own
// upgrade (migrate) did not name them: its schema was already current.
func (db *DB) recordEngineUpgrade(actor audit.User) error {
	if db.engineUpgrade == "" || db.engineRecorded {
		return nil
	}
	err := db.engine.Update(func(tx kv.Tx) error {
		w := &writer{db: db, tx: tx, actor: actor, now: db.now(), open: true}
		return w.event(kindUser, actor.ID, string(audit.DatabaseUpgrade), db.engineUpgrade+"; store schema already current")
	})
	if err == nil {
		db.engineRecorded = true
	}
	return err
}

// EngineUpgrade names the PostgreSQL engine migrations Upgrade applied,
// each with what it did ("" when none): what its audit entry records.
func (db *DB) EngineUpgrade() string { return db.engineUpgrade }

// upgradeReason is the reason of an upgrade's audit entry: the versions,
// then what each step did (the migration note's steps), or the buckets a
// file of this version lacked.
func upgradeReason(from int, records, indexes, steps []string) string {
	what := steps
	if created := append(append([]string(nil), records...), indexes...); len(created) > 0 {
		what = append([]string{"created " + strings.Join(created, ", ")}, steps...)
	}
	if len(what) == 0 {
		what = []string{"no change of layout"}
	}
	return fmt.Sprintf("schema %d → %d: %s", from, SchemaVersion, strings.Join(what, "; "))
}

// linkedLookalikes checks, before the upgrades to schemas 12 and 14, that no
// entry of the trail, written in the first layout, reads as the linked or
// the framed one (audit.Ambiguous: its newSHA would have to begin with 3, 4,
// 5 or 6 and the zstd magic, a chance of 2^-38 for each state entry), so
// that every entry is read after the upgrade as it was before. A trail of
// schema 12 or 13 (from) was checked for the linked layout by its upgrade,
// or written in it: only its entries that read as framed are hashed, so
// the upgrade to 14 decompresses nothing else. It returns how many it
// checked and refuses, naming the entry, when one does.
func linkedLookalikes(tx kv.Tx, path string, from int) (int, error) {
	n := 0
	c := tx.Bucket(bAudit).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if (from < 12 || audit.IsFramed(v)) && audit.Ambiguous(v) {
			schema := 12
			if audit.IsFramed(v) {
				schema = 14
			}
			return n, lot.Errorf(lot.ECONFLICT, "%s: audit entry %d would read as an entry of schema %d (the first bytes of the SHA-256 of the value it set are those that mark that layout), so this celltrack cannot upgrade the file without changing how the entry is read; keep the file at its version and report it", path, btoi(k), schema)
		}
		n++
	}
	return n, nil
}

// rebuildIndex writes the entries of the index bucket name, new and empty,
// from every record of kind (recordIndexes), and returns how many it wrote.
// It puts them after reading the records, not while a cursor walks them.
func rebuildIndex(tx kv.Tx, kind, name string) (int, error) {
	ix := indexOf[kind]
	var e indexEntries
	var r jsonFields
	var keys [][]byte
	err := tx.Bucket(recordBuckets[kind]).ForEach(func(k, v []byte) error {
		if err := e.derive(ix, &r, uuid.UUID(k), v); err != nil {
			return err
		}
		for _, en := range e.list {
			if en.bucket == name {
				keys = append(keys, append([]byte(nil), en.key...))
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	b := tx.Bucket([]byte(name))
	for _, k := range keys {
		if err := b.Put(k, nil); err != nil {
			return 0, fmt.Errorf("index %s: %w", name, err)
		}
	}
	return len(keys), nil
}

// pruneTree removes from audit_tree the hashes of the levels below
// treeStoredLevel (schema 11) and returns how many it removed. It rewrites
// the bucket — the stored nodes read first, the bucket deleted and made
// again — rather than deleting millions of keys one by one, so its pages
// are filled as an append fills them and the old ones are freed whole. The
// hashes kept are kept as stored: a tree changed before the upgrade still
// fails `audit verify`, which recomputes every node from the entries.
func pruneTree(tx kv.Tx) (int, error) {
	b := tx.Bucket(bAuditTree)
	if b == nil {
		return 0, nil
	}
	type pair struct{ k, v []byte }
	var keep []pair
	removed := 0
	err := b.ForEach(func(k, v []byte) error {
		if len(k) == 8 {
			if level, _ := tlog.SplitStoredHashIndex(int64(btoi(k))); level < treeStoredLevel {
				removed++
				return nil
			}
		}
		// a key of another length is not celltrack's: kept for verify to name
		keep = append(keep, pair{bytes.Clone(k), bytes.Clone(v)})
		return nil
	})
	if err != nil || removed == 0 {
		return 0, err
	}
	if err := tx.DeleteBucket(bAuditTree); err != nil {
		return 0, err
	}
	nb, err := tx.CreateBucket(bAuditTree)
	if err != nil {
		return 0, err
	}
	nb.SetFillPercent(appendFill)
	for _, p := range keep {
		if err := nb.Put(p.k, p.v); err != nil {
			return 0, err
		}
	}
	return removed, nil
}

// treeBatch is how many entries buildTree adds to the tree per transaction.
var treeBatch = 50_000

// compressEntries stores the JSON body of every entry written before schema 8
// compressed (audit.Compress), in transactions of batch entries each, and
// returns how many it compressed. The header, hash included, is kept as
// stored, so the chain, the tree and every signed checkpoint stay as they
// were, and an entry altered before the upgrade still fails `audit verify`.
// Running it again continues where an interrupted run stopped: a batch
// commits whole, and compressed entries are skipped.
func (db *DB) compressEntries(batch int) (done int64, err error) {
	next := itob(1)
	for next != nil {
		err := db.engine.Update(func(tx kv.Tx) error {
			b := tx.Bucket(bAudit)
			b.SetFillPercent(appendFill)
			type kv struct{ k, v []byte }
			var todo []kv
			c := b.Cursor()
			k, v := c.Seek(next)
			for ; k != nil && len(todo) < batch; k, v = c.Next() {
				z, err := audit.Compress(v)
				if z == nil && err == nil {
					continue // compressed already, or damaged: left for audit verify to report
				}
				if err != nil {
					return lot.Errorf(lot.ECONFLICT, "%s: audit entry %d cannot be compressed (%v); verify the audit trail with the previous celltrack, restore the last good backup and report it", db.path, btoi(k), err).Run("audit verify")
				}
				todo = append(todo, kv{append([]byte(nil), k...), z})
			}
			next = nil
			if k != nil {
				next = append([]byte(nil), k...)
			}
			// Put only after the walk: bbolt's cursor is not valid across a Put.
			for _, e := range todo {
				if err := b.Put(e.k, e.v); err != nil {
					return err
				}
			}
			done += int64(len(todo))
			return nil
		})
		if err != nil {
			return done, err
		}
	}
	return done, nil
}

// Schema returns the file's schema version and the meta note of the
// migration to that version ("" when the file was created at it).
func (db *DB) Schema() (v int, note string, err error) {
	err = db.view(func(tx kv.Tx) error {
		v, err = schemaOf(tx, db.path)
		note = string(tx.Bucket(bMeta).Get([]byte("migration/" + strconv.Itoa(v))))
		return err
	})
	return v, note, err
}
