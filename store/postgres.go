package store

import (
	"errors"

	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/store/kv"
	"github.com/celltrack/celltrack/store/pgkv"
)

// IsPostgres says whether path names a PostgreSQL database (a postgres:// or
// postgresql:// URL) rather than a file.
func IsPostgres(path string) bool { return pgkv.IsURL(path) }

// DisplayName is how messages name the database at path: a file's path, or
// a URL without its password.
func DisplayName(path string) string {
	if pgkv.IsURL(path) {
		return pgkv.Redact(path)
	}
	return path
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
	return onEngine(e, e.Describe(), opts)
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
		return lot.Errorf(lot.ENODB, "%s", err)
	case errors.As(err, &se):
		return lot.Errorf(lot.ECONFLICT, "%s", err)
	case errors.As(err, &ee), errors.As(err, &fe):
		return lot.Errorf(lot.ECONFLICT, "%s", err)
	case errors.As(err, &ke) && ke.Busy:
		return lot.Errorf(lot.EBUSY, "database is busy: %v; try again, or raise --lock-timeout", err)
	}
	return lot.Errorf(lot.ENODB, "cannot open the database %s: %v; check --db or CELLTRACK_DB, that the server runs and that your role may connect (the password comes from PGPASSWORD or ~/.pgpass)", pgkv.Redact(url), err)
}

// openPostgresForUpgrade is OpenForUpgrade on PostgreSQL: the engine's
// migrations first when its schema is behind, then the store on it.
func openPostgresForUpgrade(url string, opts Options) (*DB, []int, error) {
	popts := pgkv.Options{LockTimeout: opts.Timeout}
	e, err := pgkv.Open(url, popts)
	var applied []int
	if engineBehind(err) {
		if applied, err = pgkv.Migrate(url, popts); err == nil {
			e, err = pgkv.Open(url, popts)
		}
	}
	if err != nil {
		return nil, applied, postgresOpenError(url, err)
	}
	db, err := onEngine(e, e.Describe(), opts)
	return db, applied, err
}

// engineBehind says whether err is Open's refusal of a PostgreSQL database
// whose engine schema is older than this binary's (one `celltrack upgrade`
// brings up).
func engineBehind(err error) bool {
	var se *pgkv.SchemaError
	return errors.As(err, &se) && se.Have > 0 && se.Have < se.Want
}
