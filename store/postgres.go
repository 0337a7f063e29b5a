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
	var ke *kv.Error
	switch {
	case errors.As(err, &se) && se.Have == 0:
		return lot.Errorf(lot.ENODB, "%s", err)
	case errors.As(err, &se):
		return lot.Errorf(lot.ECONFLICT, "%s", err)
	case errors.As(err, &ee):
		return lot.Errorf(lot.ECONFLICT, "%s", err)
	case errors.As(err, &ke) && ke.Busy:
		return lot.Errorf(lot.EBUSY, "database is busy: %v; try again, or raise --lock-timeout", err)
	}
	return lot.Errorf(lot.ENODB, "cannot open the database %s: %v; check --db or CELLTRACK_DB, that the server runs and that your role may connect (the password comes from PGPASSWORD or ~/.pgpass)", pgkv.Redact(url), err)
}

// MigrateEngine brings the engine schema of the database at path up to this
// binary's and says which migrations it applied: for a PostgreSQL URL the
// numbered migrations of package pgkv (Open refuses a database that lacks
// them); a file has none, its schema is the store's own (migrate.go).
func MigrateEngine(path string) ([]int, error) {
	if !pgkv.IsURL(path) {
		return nil, nil
	}
	applied, err := pgkv.Migrate(path, pgkv.Options{})
	if err != nil {
		return nil, postgresOpenError(path, err)
	}
	return applied, nil
}
