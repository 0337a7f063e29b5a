package store

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/store/kv"
	"github.com/celltrack/celltrack/store/pgkv"
)

// IsPostgres says whether path names a PostgreSQL database (a postgres:// or
// postgresql:// URL, the scheme in any case) rather than a file.
func IsPostgres(path string) bool { return pgkv.IsURL(path) }

// DisplayName is how messages name the database at path: a file's path, or
// a URL without its password — any URL (`scheme://user:password@…`), not
// only a PostgreSQL one, so that a misspelt scheme does not print the
// password it carries. Every message that names a database names it so.
func DisplayName(path string) string {
	if pgkv.IsURL(path) || hasScheme(path) {
		return pgkv.Redact(path)
	}
	return path
}

// CheckLocation refuses a database location given as flag (db, from, to)
// that is a URL but not a PostgreSQL one (`postgress://…`, `mysql://…`):
// taken for a file path it would be "no database at …", or a file made
// under a folder named after the scheme by init. The refusal names it
// without its password. A file whose path starts with letters and "://"
// is still reachable as ./PATH.
func CheckLocation(flag, path string) error {
	if !hasScheme(path) || pgkv.IsURL(path) {
		return nil
	}
	return lot.FieldErrorf(flag, lot.EUSAGE, "--%s %s is a URL but not a PostgreSQL one: a PostgreSQL database is named by a postgres:// or postgresql:// URL, a file by its path; correct the URL's scheme (a file whose path looks like a URL is written ./PATH); nothing was done",
		flag, DisplayName(path))
}

// hasScheme says whether s starts with a URL scheme and "://" (RFC 3986
// §3.1: a letter, then letters, digits, "+", "-" or ".").
func hasScheme(s string) bool {
	scheme, _, ok := strings.Cut(s, "://")
	if !ok || scheme == "" {
		return false
	}
	for i, r := range scheme {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case i > 0 && (r >= '0' && r <= '9' || r == '+' || r == '-' || r == '.'):
		default:
			return false
		}
	}
	return true
}

// openPostgres opens the PostgreSQL database at url: its engine schema must
// be this binary's (`celltrack init` makes it, `celltrack upgrade` brings it
// up), then the store's own schema is checked and migrated as for a file.
func openPostgres(url string, opts Options) (*DB, error) {
	popts := pgkv.Options{LockTimeout: opts.Timeout, ReadOnly: opts.ReadOnly}
	var (
		e   *pgkv.Engine
		err error
	)
	if opts.Create {
		e, err = pgkv.Create(url, popts)
	} else {
		e, err = pgkv.Open(url, popts)
	}
	if err != nil {
		return nil, postgresOpenError(url, err)
	}
	return onEngine(wordedEngine{e}, e.Describe(), opts)
}

// postgresOpenError words a failed open for the person at the keyboard,
// with the exit code of the file engine's equivalent.
func postgresOpenError(url string, err error) error {
	var se *pgkv.SchemaError
	var ee *pgkv.ExistsError
	var fe *pgkv.ForeignTablesError
	var ke *kv.Error
	switch {
	case errors.As(err, &se) && se.Have == 0:
		return lot.Errorf(lot.ENODB, "%s", err).Run("init")
	case errors.As(err, &se) && se.Have < se.Want:
		return lot.Errorf(lot.ECONFLICT, "%s", err).Run("upgrade")
	case errors.As(err, &se):
		return lot.Errorf(lot.ECONFLICT, "%s", err)
	case errors.As(err, &ee), errors.As(err, &fe):
		return lot.Errorf(lot.ECONFLICT, "%s", err)
	case errors.As(err, &ke) && ke.Busy:
		return lot.FieldErrorf("lock-timeout", lot.EBUSY, "database is busy: %v; try again, or wait longer for the lock", err)
	}
	return lot.FieldErrorf("db", lot.ENODB, "cannot open the database %s: %v; check the database URL, that the server runs and that your role may connect (the password comes from PGPASSWORD or ~/.pgpass)", pgkv.Redact(url), err)
}

// openPostgresForUpgrade is OpenForUpgrade on PostgreSQL. An engine whose
// schema is behind is opened for reading only (its users and sessions
// read as on the current schema); Upgrade applies its migrations once it
// has checked who asks (upgradeEngine).
func openPostgresForUpgrade(url string, opts Options) (*DB, []int, error) {
	popts := pgkv.Options{LockTimeout: opts.Timeout}
	e, err := pgkv.Open(url, popts)
	var se *pgkv.SchemaError
	from := 0
	if engineBehind(err) && errors.As(err, &se) {
		from = se.Have
		e, err = pgkv.Open(url, pgkv.Options{LockTimeout: opts.Timeout, ReadOnly: true, Behind: true})
	}
	if err != nil {
		return nil, nil, postgresOpenError(url, err)
	}
	db, err := onEngine(e, e.Describe(), opts)
	if err != nil {
		e.Close()
		return nil, nil, err
	}
	db.engineFrom, db.engineOpts = from, popts
	return db, nil, nil
}

// upgradeEngine applies the engine migrations of a database opened by
// OpenForUpgrade with its engine schema behind, and goes on on the engine
// they bring up: Upgrade's, after it has checked who asks. What it applied
// goes into the upgrade's audit entry (engineUpgrade).
func (db *DB) upgradeEngine() error {
	if db.engineFrom == 0 {
		return nil
	}
	applied, err := pgkv.Migrate(db.path, db.engineOpts)
	if err != nil {
		if len(applied) > 0 {
			return fmt.Errorf("%w (%s applied before it, recorded in the table pgkv_migrations only)", postgresOpenError(db.path, err), engineUpgradeReason(db.engineFrom, applied))
		}
		return postgresOpenError(db.path, err)
	}
	e, err := pgkv.Open(db.path, db.engineOpts)
	if err != nil {
		return postgresOpenError(db.path, err)
	}
	old := db.engine
	db.engine = ownEngine{e, db.own}
	old.Close()
	db.engineUpgrade = engineUpgradeReason(db.engineFrom, applied)
	db.engineFrom = 0
	return nil
}

// engineUpgradeReason names the engine migrations applied from schema
// from, each with what it did (pgkv.MigrationSummary): the reason, or its
// first part, of the upgrade's audit entry; "" when none was applied.
func engineUpgradeReason(from int, applied []int) string {
	if len(applied) == 0 {
		return ""
	}
	steps := make([]string, len(applied))
	for i, v := range applied {
		steps[i] = fmt.Sprintf("%d: %s", v, pgkv.MigrationSummary(v))
	}
	return fmt.Sprintf("PostgreSQL engine schema %d → %d: %s", from, applied[len(applied)-1], strings.Join(steps, "; "))
}

// engineBehind says whether err is Open's refusal of a PostgreSQL database
// whose engine schema is older than this binary's (one `celltrack upgrade`
// brings up).
func engineBehind(err error) bool {
	var se *pgkv.SchemaError
	return errors.As(err, &se) && se.Have > 0 && se.Have < se.Want
}

// wordedEngine is a PostgreSQL engine whose failed transactions are worded
// for the person at the keyboard: busy, unavailable (the database server
// restarting or out of reach) and in doubt (the connection lost during
// COMMIT) each get their code and a message saying what to do, instead of
// an internal error carrying the driver's text. The driver's text stays in
// the error's chain, for the server's log.
type wordedEngine struct{ *pgkv.Engine }

func (e wordedEngine) View(fn func(kv.Tx) error) error {
	return engineError(e.Describe(), e.Engine.View(fn))
}

func (e wordedEngine) ViewContext(ctx context.Context, fn func(kv.Tx) error) error {
	return engineError(e.Describe(), e.Engine.ViewContext(ctx, fn))
}

func (e wordedEngine) Update(fn func(kv.Tx) error) error {
	return engineError(e.Describe(), e.Engine.Update(fn))
}

func (e wordedEngine) UpdateReading(first kv.Reads, fn func(kv.Tx) error) error {
	return engineError(e.Describe(), e.Engine.UpdateReading(first, fn))
}

func (e wordedEngine) BatchReading(first kv.Reads, fn func(kv.Tx) error) error {
	return engineError(e.Describe(), e.Engine.BatchReading(first, fn))
}

func (e wordedEngine) Batch(fn func(kv.Tx) error) error {
	return engineError(e.Describe(), e.Engine.Batch(fn))
}

// engineError words an engine's *kv.Error that says why the transaction
// could not run (busy, unavailable, in doubt); any other error is returned
// as it is.
func engineError(name string, err error) error {
	var ke *kv.Error
	if !errors.As(err, &ke) {
		return err
	}
	var le *lot.Error
	if errors.As(err, &le) {
		return err // a refusal inside the transaction, already worded
	}
	var w *lot.Error
	switch {
	// The database's own words (a pg_hba.conf line, a role or host name)
	// stay out of the message, which a server shows to whoever asked:
	// they are in the chain behind it (wordedError), for the log.
	case ke.InDoubt:
		w = lot.Errorf(lot.EUNKNOWN, "the outcome of this write is unknown: the connection to %s was lost while it was being committed, so it may or may not have been recorded; look before doing it again (the record's history in the audit log)",
			name).Run("audit log")
	case ke.Unavailable:
		w = lot.Errorf(lot.EBUSY, "database is unavailable: %s cannot be reached; nothing was written — try again in a moment, and tell IT if it lasts",
			name)
	case ke.Busy:
		// The engine words why without the driver's text (its SQLSTATE).
		w = lot.FieldErrorf("lock-timeout", lot.EBUSY, "database is busy: %v; nothing was written — try again, or wait longer for the lock", ke)
	default:
		return err
	}
	return &wordedError{w, err}
}

// EngineCause is the database's own reason behind an unavailable database
// or a lost commit that engineError worded (`connection refused`, `database "x" is not currently accepting
// connections, SQLSTATE 55000`), "" for any other error: for the person at
// a command line on this machine, which a server's pages do not show.
func EngineCause(err error) string {
	var we *wordedError
	var ke *kv.Error
	if !errors.As(err, &we) || !errors.As(we.cause, &ke) || !ke.Unavailable {
		return "" // busy is worded in full already
	}
	return pgkv.Cause(we.cause)
}

// wordedError is a refusal (first in the chain, for the person) with the
// engine's error behind it (its text, for a log).
type wordedError struct {
	refusal *lot.Error
	cause   error
}

func (e *wordedError) Error() string   { return e.refusal.Message + " [" + e.cause.Error() + "]" }
func (e *wordedError) Unwrap() []error { return []error{e.refusal, e.cause} }
