// Package store persists celltrack's domain. It implements the service
// interfaces declared by the domain packages, checks each write against the
// permission table, and appends the audit entry in the same transaction as
// the change. It holds these rules once, over the storage seam of package
// store/kv (ordered, transactional buckets); it never touches an engine's own
// types. The engine beneath is the embedded bbolt file of package
// store/boltkv, the only package that imports bbolt; what only a file has
// (the page check, the copy a backup writes, the group-commit delay) store
// reaches through small interfaces of its own (pageChecker, io.WriterTo) or
// by opening the file with boltkv.
//
// Key schema (every bucket at the root; ids are UUIDv7, 16 bytes, so keys sort
// by creation time; "+" is concatenation):
//
//	bucket             key                            value
//	meta               "schema"                       schema version, decimal
//	meta               "facility"                     ISBT 128 FIN
//	meta               "migration/" + version         JSON note of the upgrade to that version (store/migrate.go)
//	meta               "din/" + YY                    last DIN sequence issued that year, uint64 BE
//	meta               "db_id"                        the database's random identity, a UUIDv7 made at init (sessions are bound to it)
//	meta               "verified"                     checkpoint JSON: head seq + hash of the last passing `celltrack check` (checkpoint.go)
//	audit              seq uint64 BE                  audit.Entry, encoded (header + zstd-compressed JSON since schema 8, JSON before; lean state entries since 8; since 12 the linked layout: no previous hash, no id in the body; since 14 the framed layout: hashed over the frame as stored, not the JSON)
//	audit_entity       id + seq                       empty: the entries of one record
//	audit_tree         stored-hash index uint64 BE    32-byte hash: the trail as a Merkle tree, tlog stored-hash layout, the nodes of level 6 and above since schema 11 (tree.go)
//	checkpoint_keys    id                             checkpointKeyRecord JSON: a verifier key of signed checkpoints, active or retired (checkpointkeys.go)
//	users              id                             userRecord JSON
//	idx_user_name      name                           id
//	donors             id                             donorRecord JSON
//	idx_donor_code     code                           id
//	idx_donor_code_fold donor id folded (foldKey: each rune its smallest case-fold, + 0x00) + donor id   empty: a code's letter-case variants
//	patients           id                             patientRecord JSON
//	idx_patient_mrn    MRN (current or former)        id
//	idx_patient_mrn_fold MRN folded (each rune its smallest case-fold) + 0x00 + patient id   empty: an MRN's letter-case variants
//	weights            id                             weightRecord JSON
//	idx_weight_patient patient id + measured-at ns BE + id   empty
//	lots               id                             lotRecord JSON
//	idx_lot_number     lab lot number                 id
//	idx_lot_number_fold lot number folded (foldKey) + lot id   empty: a lot number's letter-case variants
//	idx_lot_din        DIN (13 chars)                 id
//	idx_lot_donor      donor id + lot id              empty
//	idx_lot_patient    source patient id + lot id     empty
//	containers         id                             containerRecord JSON
//	idx_container_code code (DIN + NN)                id
//	idx_container_lot  lot id + container id          empty
//	events             id                             eventRecord JSON (custody event)
//	idx_event_container container id + event id       empty
//	idx_event_lot      lot id + event id              empty
//	sites              id                             siteRecord JSON (the first one added is home)
//	idx_site_code      site code                      id
//	idx_site_code_fold site code folded (foldKey) + site id   empty: a site code's letter-case variants
//	facility           id                             facilityRecord JSON: the facility's time zone (one record; none in a file upgraded from before version 6: UTC)
//	labels             id                             labelRecord JSON (a container's printed/applied/voided label counts)
//	idx_label_container container id                  label id
//	specs              id                             specRecord JSON (release specification version)
//	idx_spec_name      name + "@" + version uint64 BE  id
//	results            id                             resultRecord JSON (QC result)
//	idx_result_lot     lot id + result id             empty
//	screenings         id                             screeningRecord JSON (donor infectious-disease screening)
//	idx_screening_donor donor id + screening id       empty
//	dispositions       id                             dispositionRecord JSON (QA decision with signatures)
//	idx_disposition_lot lot id + disposition id       empty
//	protocols          id                             protocolRecord JSON (spec in the protocol file format)
//	idx_protocol_name  name + 0x00 + version uint64 BE   id
//	schedules          id                             scheduleRecord JSON (one course; v2: infusions given)
//	idx_schedule_patient patient id + schedule id     empty
//	infusions          id                             infusionRecord JSON (signed administration)
//	idx_infusion_patient patient id + infusion id     empty
//	idx_infusion_container container id + infusion id  empty
//	reactions          id                             reactionRecord JSON (number in the infusion; corrected/void: who, when, why)
//	idx_reaction_infusion infusion id + reaction id   empty
//	weight_confirmations id                           weightConfirmRecord JSON (physician's signed confirmation)
//	idx_weight_confirm weight id                      confirmation id
//	idx_event_patient  patient id + event id          empty: events that name a patient (dispensed, infused)
//	idx_event_infused  at ns uint64 BE + event id     empty: `infused` events by infusion start (report handling --from/--to)
//	settings           database id                    settingsRecord JSON (facility session, lockout and password settings)
//	sessions           SHA-256 of the session token   sessionRecord JSON (user, times, revoked, touch key); not audited, never the token
//
// Buckets whose values are records (not indexes) are listed in recordBuckets;
// `audit verify` checks each of their values against the audit trail. The
// idx_ buckets are declared, with the entries each record has in them, in
// recordIndexes (indexdef.go); the services write and `audit verify` checks
// every index from that one definition.
package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/store/boltkv"
	"github.com/celltrack/celltrack/store/kv"
	"github.com/celltrack/celltrack/store/pgkv"
	"github.com/google/uuid"
)

// SchemaVersion is the version of the key schema above. A database written by
// a newer celltrack is refused rather than misread. Version 9: MRNs are
// indexed folded too, idx_patient_mrn_fold; version 10: donor ids, lot
// numbers and site ids too (store/migrate.go); version 13: a schedule record
// (version 2) lists the infusions given on it; version 14: audit entries are
// written in the framed layout, whose hash is over the stored frame, so
// `audit verify` decompresses no state entry (audit/audit.go).
const SchemaVersion = 14

var (
	bMeta        = []byte("meta")
	bAudit       = []byte("audit")
	bAuditEntity = []byte("audit_entity")
)

// recordBuckets maps each audited entity kind to its bucket.
var recordBuckets = map[string][]byte{
	kindUser:      []byte("users"),
	kindDonor:     []byte("donors"),
	kindPatient:   []byte("patients"),
	kindWeight:    []byte("weights"),
	kindLot:       []byte("lots"),
	kindContainer: []byte("containers"),
	kindEvent:     []byte("events"),
	kindSite:      []byte("sites"),
	kindFacility:  []byte("facility"),
	kindLabel:     []byte("labels"),
	// release (store/release.go)
	kindSpec:        []byte("specs"),
	kindResult:      []byte("results"),
	kindScreening:   []byte("screenings"),
	kindDisposition: []byte("dispositions"),

	kindProtocol:      []byte("protocols"),
	kindSchedule:      []byte("schedules"),
	kindInfusion:      []byte("infusions"),
	kindReaction:      []byte("reactions"),
	kindWeightConfirm: []byte("weight_confirmations"),
	// signed checkpoints (checkpointkeys.go)
	kindCheckpointKey: []byte("checkpoint_keys"),

	kindSettings: []byte("settings"),
}

// The index buckets are declared with the indexes of each kind of record,
// in recordIndexes (indexdef.go).

// DB is an open celltrack database.
type DB struct {
	// engine is the storage beneath: the bbolt file (boltkv) today.
	engine kv.Engine
	path   string
	// Now is the clock; tests and the demo replace it.
	Now func() time.Time
	// NewID returns a new UUIDv7.
	NewID func() uuid.UUID
	// bulk, while Bulk runs, is the one write transaction every service
	// call shares.
	bulk kv.Tx
	// creds, on a handle from WithSession, is the session every write
	// checks in its transaction.
	creds *Credentials
	// group, on a handle from GroupCommit, lets concurrent writes share
	// commits (tx.go).
	group bool
	// rawEntries, from Options.OneShot, stores audit entries uncompressed
	// (audit.EncodeRaw) instead of with the dictionary encoder.
	rawEntries bool
	// behind, on a handle opened with keepSchema (OpenForUpgrade,
	// OpenForLogin), is the schema version of a file an older celltrack
	// wrote, which only an admin upgrades (Upgrade, Login); 0 when the
	// file is up to date.
	behind int
	// engineUpgrade, on a PostgreSQL handle opened by OpenForUpgrade, says
	// which engine migrations its Upgrade applied ("PostgreSQL engine schema 2 → 5:
	// …"; "" when none), for the audit entry of the admin's Upgrade;
	// engineRecorded says that entry is written.
	engineUpgrade  string
	engineRecorded bool
	// engineFrom, on a PostgreSQL handle opened by OpenForUpgrade, is the
	// engine schema that is behind this binary's (0 when current): the
	// engine is open for reading only until Upgrade has checked who asks
	// and applied the migrations (upgradeEngine) with engineOpts.
	engineFrom int
	engineOpts pgkv.Options
	// started is what Open read for Options.Start.
	started *Started
	// own is the process's own last committed entry, and whether it found
	// the trail rolled back (ownhead.go); shared by every handle on the
	// engine. nil on a handle that never serves (a restore's).
	own *ownHeads
}

// Options says how to open a database.
type Options struct {
	ReadOnly bool
	// Create allows creating a missing file; only `celltrack init` sets it.
	Create bool
	// Timeout is how long to wait for another process's lock.
	Timeout time.Duration
	Now     func() time.Time
	// Zone is the facility's IANA time zone, for Create only ("": UTC).
	Zone string
	// Role is what the file is to the command, for the refusal of a
	// missing one: the database (field "db", which init makes), or a
	// KeptBackup (field "backup"), which nothing makes again — its
	// refusal must not offer to initialize a database under its name.
	Role FileRole
	// OneShot says the process writes an entry or two and exits (a
	// command at the command line): its audit entries' bodies are stored
	// as zstd frames of raw blocks (audit.EncodeRaw), and no encoder is
	// built, which costs such a process more than its write. A server,
	// an import, a bulk load or a migration writes many entries and
	// leaves it unset, for the dictionary's compression.
	OneShot bool
	// Start, when not nil, asks for what a command reads before its own
	// work, read in the transaction that checks the schema (Started).
	Start *Start
	// keepSchema opens for writing but leaves a schema an older
	// celltrack wrote as it is: OpenForUpgrade and OpenForLogin, so that
	// Upgrade and Login check who asks before anything is changed. Any
	// other writable open of an older file is refused (errBehind).
	keepSchema bool
}

// FileRole is what a file opened is to the command (Options.Role).
type FileRole int

const (
	// TheDatabase is the database the command works on (--db).
	TheDatabase FileRole = iota
	// KeptBackup is a backup `celltrack backup --out` wrote, opened to be
	// checked (`check --backup`).
	KeptBackup
)

// missing refuses a file of role r at path that is not there (ENODB), or
// that went away while it was opened: a database's refusal says whether a
// restore was interrupted there and offers init; a backup's says to check
// its name.
func (r FileRole) missing(path string, wentAway bool) error {
	switch {
	case r == KeptBackup:
		return lot.FieldErrorf("backup", lot.ENODB, "no backup at %s; check the path of the backup file (the file the backup wrote); nothing was written", path)
	case InterruptedRestore(path) != "":
		return lot.Errorf(lot.ENODB, "no database at %s: %s", path, InterruptedRestore(path)).Run("restore")
	case wentAway:
		return lot.FieldErrorf("db", lot.ENODB, "no database at %s (it went away while celltrack opened it); check the database path", path)
	}
	return lot.FieldErrorf("db", lot.ENODB, "no database at %s; check the database path, or initialize a new database there", path)
}

// prepareEncoder builds the audit entries' compressor on another core while
// a writable Open takes the lock and the command checks its session, instead
// of at its first entry: a write's wall time, not its CPU. A panic here (the
// embedded dictionary, a build error) is left to the first entry, where
// sync.OnceValue raises it again on the command's own goroutine.
func prepareEncoder() {
	defer func() { _ = recover() }()
	audit.PrepareEncoder()
}

// DefaultTimeout is how long a command waits for the database lock.
const DefaultTimeout = 10 * time.Second

// Open opens the database at path. A missing file is ENODB unless
// opts.Create, worded for opts.Role; a lock held past opts.Timeout is
// EBUSY; a database written by a newer schema is refused.
func Open(path string, opts Options) (*DB, error) {
	if !opts.ReadOnly && !opts.OneShot {
		go prepareEncoder()
	}
	if IsPostgres(path) {
		return openPostgres(path, opts)
	}
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist) && !opts.Create:
		return nil, opts.Role.missing(path, false)
	case err == nil && opts.Create:
		return nil, lot.Errorf(lot.ECONFLICT, "a file already exists at %s; init creates a new database and never overwrites one", path)
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("stat %s: %w", path, err)
	case err == nil && fi.IsDir():
		return nil, lot.Errorf(lot.EINVALID, "%s is a directory, not a celltrack database", path)
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	bdb, err := openBolt(path, &boltkv.Options{Timeout: opts.Timeout, ReadOnly: opts.ReadOnly, OpenFile: openFile(opts.Create)})
	switch {
	case errors.Is(err, boltkv.ErrTimeout):
		return nil, lot.FieldErrorf("lock-timeout", lot.EBUSY, "database is busy: another celltrack process held %s for more than %s; try again, or wait longer for the lock", path, opts.Timeout)
	case errors.Is(err, fs.ErrNotExist) && !opts.Create:
		return nil, opts.Role.missing(path, true)
	case errors.Is(err, fs.ErrExist) && opts.Create:
		return nil, lot.Errorf(lot.ECONFLICT, "a file already exists at %s; init creates a new database and never overwrites one", path)
	case errors.Is(err, errEmptyFile):
		return nil, lot.FieldErrorf("db", lot.EINVALID, "%s is an empty file, not a celltrack database; check the database path (only initializing a database makes one)", path)
	case err != nil:
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return onEngine(bdb, path, opts)
}

// onEngine is the database on an open engine, named path for people: its
// schema is checked (a new one, for init, is left empty). A file an older
// celltrack wrote is refused, read-only or not, unless opened for an
// admin to upgrade it (keepSchema): an upgrade is a controlled change, made
// by an authenticated admin and recorded in the audit trail (migrate), not
// a side effect of whoever opens the file first. The engine is closed when
// that fails.
func onEngine(e kv.Engine, path string, opts Options) (*DB, error) {
	own := &ownHeads{pending: map[kv.Tx]ownHead{}}
	db := &DB{engine: ownEngine{e, own}, own: own, path: path, Now: opts.Now, NewID: func() uuid.UUID { return uuid.Must(uuid.NewV7()) }, rawEntries: opts.OneShot}
	if db.Now == nil {
		db.Now = time.Now
	}
	if !opts.Create {
		// The schema is read once, in one read transaction, with what
		// the command reads before its own work (opts.Start): nothing
		// is written here.
		v, lacking, err := db.checkSchema(opts.Start, opts.keepSchema)
		switch {
		case err != nil:
		case lacking != nil && opts.keepSchema:
			db.behind = v
		case lacking != nil:
			err = errBehind(path, v, lacking, "")
		}
		if err != nil {
			e.Close()
			return nil, err
		}
	}
	return db, nil
}

// errEmptyFile is an existing file of no bytes, which bbolt would turn into
// an (empty, non-celltrack) database if opened for writing.
var errEmptyFile = errors.New("empty file")

// openFile is how bbolt opens the file. Only init may create one, and then
// only a new one (O_EXCL): bbolt asks for O_CREATE on every writable open, so
// a file that vanished between Open's check and bbolt's open would otherwise
// be made anew, empty, and a file that appeared would be taken over. Any
// other open refuses an empty file rather than let bbolt initialise it.
func openFile(create bool) func(string, int, os.FileMode) (*os.File, error) {
	return func(name string, flag int, perm os.FileMode) (*os.File, error) {
		if create {
			return os.OpenFile(name, flag|os.O_CREATE|os.O_EXCL, perm)
		}
		f, err := os.OpenFile(name, flag&^os.O_CREATE, perm)
		if err != nil {
			return nil, err
		}
		if fi, err := f.Stat(); err != nil || fi.Size() == 0 {
			f.Close()
			if err == nil {
				err = errEmptyFile
			}
			return nil, err
		}
		return f, nil
	}
}

// openBolt opens the bbolt file at path, and makes sure that the file it
// locked is the one path names once the lock is held. A restore renames the
// database aside and its verified copy into place while it holds the lock
// of both; a process that opened the path before then waited on the lock of
// the file renamed aside, and would otherwise read or write it — a write
// lost from the database. Such an open is closed and made again, on what
// the path names now (bounded by o.Timeout, as the waiting is). A file
// gone from the path is fs.ErrNotExist.
func openBolt(path string, o *boltkv.Options) (*boltkv.Engine, error) {
	deadline := time.Now().Add(o.Timeout)
	for {
		var opened *os.File
		oo := *o
		inner := o.OpenFile
		if inner == nil {
			inner = os.OpenFile
		}
		oo.OpenFile = func(name string, flag int, perm os.FileMode) (*os.File, error) {
			f, err := inner(name, flag, perm)
			if err == nil {
				opened = f
				if openHook != nil {
					openHook(name)
				}
			}
			return f, err
		}
		bdb, err := openBoltOnce(path, &oo)
		if err != nil || opened == nil {
			return bdb, err
		}
		fi, ferr := opened.Stat()
		pi, perr := os.Stat(path)
		if ferr == nil && perr == nil && os.SameFile(fi, pi) {
			return bdb, nil
		}
		bdb.Close()
		switch {
		case ferr != nil:
			return nil, fmt.Errorf("open %s: %w", path, ferr)
		case perr != nil:
			return nil, perr
		}
		reopened.Add(1)
		if oo.Timeout = time.Until(deadline); oo.Timeout <= 0 {
			return nil, boltkv.ErrTimeout
		}
	}
}

// openHook, when a test sets it, is called with the name of each file
// openBolt (or lockDamaged) opened, before the lock is taken.
var openHook func(name string)

// reopened counts the opens openBolt made again because the path had come
// to name another file while it waited for the lock (for tests).
var reopened atomic.Int64

// openBoltOnce opens the bbolt file; bbolt panics when a writer loads the
// freelist of a damaged file, which becomes a refusal like any other damage.
func openBoltOnce(path string, o *boltkv.Options) (bdb *boltkv.Engine, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer (&DB{path: path}).recoverDamage(&err)
	return boltkv.Open(path, o)
}

// Path returns the database file's path.
func (db *DB) Path() string { return db.path }

// Close closes the database.
func (db *DB) Close() error { return db.engine.Close() }

// checkSchema refuses a file that is not a celltrack database and one with
// a garbled or newer schema version; it returns the file's version v and,
// when the file needs an upgrade (see migrate.go), the buckets it lacks
// (empty, not nil, when it lacks none but is older). In the same
// transaction it reads what start asks for (db.started) unless the file is
// refused: one that needs an upgrade only when keepSchema lets it open,
// and then without the session.
func (db *DB) checkSchema(start *Start, keepSchema bool) (v int, lacking []string, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer db.recoverDamage(&err)
	err = db.engine.View(func(tx kv.Tx) error {
		meta := tx.Bucket(bMeta)
		if meta == nil {
			return lot.Errorf(lot.EINVALID, "%s is not a celltrack database (no meta bucket)", db.path)
		}
		kv.PrefetchReads(tx, startReads(start))
		v, err = schemaOf(tx, db.path)
		if err != nil {
			return err
		}
		if v > SchemaVersion {
			return lot.Errorf(lot.ECONFLICT, "%s has schema version %d, newer than this celltrack (%d); use a newer celltrack", db.path, v, SchemaVersion)
		}
		if needsMigration(tx, v) {
			r, i := missingBuckets(tx)
			lacking = append(append([]string{}, r...), i...)
		}
		if start != nil && (lacking == nil || keepSchema) {
			db.started = db.readStart(tx, start, lacking == nil)
		}
		return nil
	})
	return v, lacking, err
}

// errBehind is the refusal of a command on a file an older celltrack wrote
// (schema version v), or one of this version lacking buckets of the key
// schema (lacking): nothing was written, and only an admin upgrades it.
// more, when not "", says why this attempt in particular did not (a login).
func errBehind(path string, v int, lacking []string, more string) error {
	if more != "" {
		more = " " + more
	}
	const how = "An admin upgrades it, a controlled change recorded in the audit trail: log in as an admin, which upgrades the file, then logs in (or upgrade it alone); take a backup first — every record is kept"
	if v == SchemaVersion {
		return lot.Errorf(lot.ECONFLICT, "%s is at schema version %d but lacks %s of its key schema; nothing was done or written.%s %s, and an index that cannot be rebuilt is refused (then restore the last good backup)", path, v, strings.Join(lacking, ", "), more, how).Run("login NAME")
	}
	return lot.Errorf(lot.ECONFLICT, "%s is at schema version %d; this celltrack needs %d. An older celltrack wrote it, and nothing was done or written.%s %s", path, v, SchemaVersion, more, how).Run("login NAME")
}

func (db *DB) now() time.Time { return db.Now().UTC() }

// Facility returns the ISBT 128 facility number set at init.
func (db *DB) Facility() (string, error) {
	var fin string
	err := db.view(func(tx kv.Tx) error {
		fin = string(tx.Bucket(bMeta).Get([]byte("facility")))
		return nil
	})
	return fin, err
}

// pageChecker is a transaction of an engine whose storage has pages to
// check (boltkv's: bbolt's page-level consistency check).
type pageChecker interface{ Check() []error }

// checkPages returns every problem the engine's page check finds in tx's
// storage; an engine without pages has none to find.
func checkPages(tx kv.Tx) []error {
	if c, ok := tx.(pageChecker); ok {
		return c.Check()
	}
	return nil
}

// Check runs bbolt's page-level consistency check and returns every problem;
// a file too damaged to walk is one problem, not a crash.
func (db *DB) Check() (errs []error) {
	var damage error
	defer func() {
		if damage != nil {
			errs = append(errs, damage)
		}
	}()
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer db.recoverDamage(&damage) // recover must be called by the deferred function itself
	db.engine.View(func(tx kv.Tx) error {
		errs = append(errs, checkPages(tx)...)
		return nil
	})
	return errs
}
