package pgkv

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// The schema's migrations: migrations/NNNN_name.sql, applied in order, each
// in its own transaction, each recorded in pgkv_migrations. A released
// migration is never edited; a change is a new file.
//
//go:embed migrations/*.sql
var migrationFS embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

func migrations() []migration {
	files, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		panic(err)
	}
	var ms []migration
	for _, f := range files {
		base := strings.TrimSuffix(strings.TrimPrefix(f, "migrations/"), ".sql")
		num, name, _ := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if err != nil {
			panic(fmt.Sprintf("pgkv: migration %s is not named NNNN_name.sql", f))
		}
		b, _ := migrationFS.ReadFile(f)
		ms = append(ms, migration{version: v, name: name, sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i, m := range ms {
		if m.version != i+1 {
			panic(fmt.Sprintf("pgkv: migration %d missing before %s", i+1, m.name))
		}
	}
	return ms
}

// LatestVersion is the schema version this binary writes and opens.
func LatestVersion() int { return len(migrations()) }

// migrationLock serialises schema changes between processes.
const migrationLock = int64(0x63656c6c6d696772) // "cellmigr"

// schemaVersion reads the applied schema version; 0 when the database has
// no celltrack schema.
func (e *Engine) schemaVersion(ctx context.Context) (int, error) {
	conn, err := e.pool.Acquire(ctx)
	if err != nil {
		return 0, e.wrap("read the schema version", err)
	}
	defer conn.Release()
	return e.schemaVersionOn(ctx, conn.Conn())
}

// schemaVersionOn is schemaVersion on conn, unprepared: a process reads it
// once, and preparing it would be a round trip of its own.
func (e *Engine) schemaVersionOn(ctx context.Context, conn *pgx.Conn) (int, error) {
	var v int
	err := conn.QueryRow(ctx, qVersion, pgx.QueryExecModeExec).Scan(&v)
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "42P01" { // undefined_table
		return 0, nil
	}
	if err != nil {
		return 0, e.wrap("read the schema version", err)
	}
	return v, nil
}

// Create makes the celltrack schema in the empty database at rawURL and
// returns it open. A database holding celltrack buckets is refused, so init
// never writes over a site's data; one whose current schema holds none (an
// init that failed after Create, or a schema a DBA made with Migrate's SQL)
// is taken as it is.
func Create(rawURL string, opts Options) (*Engine, error) {
	e, err := connect(rawURL, opts)
	if err != nil {
		return nil, err
	}
	ctx := context.Background()
	have, err := e.schemaVersion(ctx)
	if err != nil {
		e.pool.Close()
		return nil, err
	}
	if have == LatestVersion() {
		var used bool
		if err := e.pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM kv_buckets)").Scan(&used); err != nil {
			e.pool.Close()
			return nil, e.wrap("create", err)
		}
		if !used {
			return e, nil
		}
	}
	if have != 0 {
		e.pool.Close()
		return nil, &ExistsError{Desc: e.desc}
	}
	if _, err := e.migrate(ctx, true); err != nil {
		e.pool.Close()
		return nil, err
	}
	return e, nil
}

// ExistsError is a Create of a database that has a celltrack schema.
type ExistsError struct{ Desc string }

func (e *ExistsError) Error() string {
	return fmt.Sprintf("%s already has a celltrack schema; init creates a new database and never overwrites one", e.Desc)
}

// ForeignTablesError is a Create of a database that holds tables celltrack
// did not make.
type ForeignTablesError struct {
	Desc   string
	Tables []string
}

func (e *ForeignTablesError) Error() string {
	return fmt.Sprintf("%s already holds tables celltrack did not make (%s); init needs an empty database: use an empty one (CREATE DATABASE), nothing was changed", e.Desc, strings.Join(e.Tables, ", "))
}

// Migrate brings the schema of the database at rawURL up to this binary's
// and says which versions it applied (none when it was current). A newer
// schema is refused.
func Migrate(rawURL string, opts Options) (applied []int, err error) {
	e, err := connect(rawURL, opts)
	if err != nil {
		return nil, err
	}
	defer e.pool.Close()
	ctx := context.Background()
	have, err := e.schemaVersion(ctx)
	if err != nil {
		return nil, err
	}
	if have == 0 {
		return nil, &SchemaError{Desc: e.desc, Have: 0, Want: LatestVersion()}
	}
	return e.migrate(ctx, false)
}

// migrate applies the missing migrations under the migration lock. fresh
// says the database must have none yet (Create).
func (e *Engine) migrate(ctx context.Context, fresh bool) ([]int, error) {
	conn, err := e.pool.Acquire(ctx)
	if err != nil {
		return nil, e.wrap("migrate", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", migrationLock); err != nil {
		return nil, e.wrap("migrate", err)
	}
	defer conn.Exec(context.Background(), "SELECT pg_advisory_unlock($1)", migrationLock)
	var have int
	err = conn.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM pgkv_migrations").Scan(&have)
	if pe := (*pgconn.PgError)(nil); err != nil && !(errors.As(err, &pe) && pe.Code == "42P01") { // 42P01: no such table yet
		return nil, e.wrap("migrate", err)
	}
	ms := migrations()
	switch {
	case fresh && have != 0:
		return nil, &ExistsError{Desc: e.desc}
	case have > len(ms):
		return nil, &SchemaError{Desc: e.desc, Have: have, Want: len(ms)}
	}
	if fresh {
		// A table celltrack did not make would collide with the first
		// migration's, or sit among celltrack's: refused before anything
		// is written.
		rows, err := conn.Query(ctx, "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename <> 'pgkv_migrations' ORDER BY tablename")
		if err != nil {
			return nil, e.wrap("migrate", err)
		}
		foreign, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return nil, e.wrap("migrate", err)
		}
		if len(foreign) > 0 {
			return nil, &ForeignTablesError{Desc: e.desc, Tables: foreign}
		}
	}
	var applied []int
	for _, m := range ms[have:] {
		// The bookkeeping table is made in the migration's own
		// transaction: a migration that fails leaves nothing behind.
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS pgkv_migrations (
		version integer PRIMARY KEY,
		name text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "INSERT INTO pgkv_migrations (version, name) VALUES ($1, $2)", m.version, m.name)
			return err
		})
		if err != nil {
			return applied, e.wrap(fmt.Sprintf("apply migration %d (%s)", m.version, m.name), err)
		}
		applied = append(applied, m.version)
	}
	return applied, nil
}

// MigrationSummary is what schema migration version did, in the words of
// the first sentence of its SQL file's header ("-- celltrack on
// PostgreSQL, schema 3: the lot index buckets are read from …"), without
// the "schema N:" lead: for the audit entry of the upgrade that applied
// it. "" for a version this binary does not have.
func MigrationSummary(version int) string {
	sql := MigrationSQL(version)
	var words []string
	for _, line := range strings.Split(sql, "\n") {
		text, ok := strings.CutPrefix(strings.TrimSpace(line), "--")
		if !ok || strings.TrimSpace(text) == "" {
			break
		}
		words = append(words, strings.TrimSpace(text))
	}
	head := strings.Join(words, " ")
	if _, after, ok := strings.Cut(head, fmt.Sprintf("schema %d: ", version)); ok {
		head = after
	}
	if i := strings.Index(head, ". "); i >= 0 {
		head = head[:i]
	}
	return strings.TrimSuffix(head, ".")
}

// MigrationSQL is the SQL of schema migration version (1 is the first), as
// Create and Migrate apply it: for a DBA who reviews or applies the schema
// by hand, and for tests that make a database of an older schema.
func MigrationSQL(version int) string {
	ms := migrations()
	if version < 1 || version > len(ms) {
		return ""
	}
	return ms[version-1].sql
}
