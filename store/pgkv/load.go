package pgkv

import (
	"context"
	"fmt"
	"sort"

	"github.com/celltrack/celltrack/store/kv"
	"github.com/jackc/pgx/v5"
)

// This file is what `celltrack migrate` and a snapshot backup need of the
// engine beyond kv: the list of buckets, many pairs put in one statement,
// and a new database made and filled in one transaction.

// BucketNames lists the buckets that exist, in name order.
func (t *tx) BucketNames() []string {
	names := make([]string, 0, len(t.reg))
	for n := range t.reg {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// PutMany puts the pairs keys[i], values[i] into the bucket name, which
// must exist, in one statement instead of one round trip each: a migration
// copies millions of pairs. copyMin pairs or more go by COPY (copy.go),
// those COPY cannot take (a json record whose columns only the server
// computes, a trail key of the wrong length) and smaller calls by an INSERT
// from unnest of two arrays. The values go in byte for byte, as Put writes
// them. A key already there is an error (a unique violation, from either
// statement): it is meant for a bucket being filled, not for rewriting one,
// so no key needs looking up first as a flush's COPY does.
func (t *tx) PutMany(name []byte, keys, values [][]byte) error {
	switch {
	case !t.write:
		return ErrTxNotWritable
	case len(keys) != len(values):
		return fmt.Errorf("put many into %s: %d keys but %d values", name, len(keys), len(values))
	case !t.reg[string(name)]:
		return ErrBucketNotFound
	case len(keys) == 0:
		return nil
	}
	for _, k := range keys {
		if len(k) == 0 {
			return ErrKeyRequired
		}
	}
	b := newBucket(t, string(name))
	if b.tbl.derived {
		return nil // the lots rows, put with PutMany too, carry them (derivedTables)
	}
	// The bucket's buffered writes (buffer.go) go first, so that they and
	// these arrive in the order given; what the transaction had cached or
	// paged of the bucket is stale afterwards.
	if err := t.flush(b.name); err != nil {
		return err
	}
	delete(t.cache, b.name)
	t.flushes[b.name]++
	t.forgetAbove(b.name)
	t.sourceChanged(b.name)
	if copyable(b.tbl) && len(keys) >= copyMin {
		d := &copyData{}
		var restK, restV [][]byte
		for i, k := range keys {
			if !copyKeyOK(b.tbl, k) || !d.row(b.tbl, b.name, k, values[i]) {
				restK, restV = append(restK, k), append(restV, values[i])
			}
		}
		if err := d.send(t, b.tbl); err != nil {
			return t.e.wrap("put into "+b.name, err)
		}
		keys, values = restK, restV
		if len(keys) == 0 {
			return nil
		}
	}
	var (
		q    string
		args []any
	)
	switch {
	case b.tbl == generic:
		vs := make([][]byte, len(values))
		for i, v := range values {
			if v == nil {
				v = []byte{} // nil would be NULL
			}
			vs[i] = v
		}
		q = "INSERT INTO kv (bucket, k, v) SELECT $1, k, v FROM unnest($2::bytea[], $3::bytea[]) AS u(k, v)"
		args = []any{b.name, keys, vs}
	case b.tbl.json:
		// text to json keeps the text exactly (json, unlike jsonb, stores
		// it as given), which the audit hashes cover.
		vs := make([]string, len(values))
		for i, v := range values {
			vs[i] = string(v)
		}
		q = jsonInsert(b.tbl, false)
		args = []any{keys, vs}
	default:
		vs := make([][]byte, len(values))
		for i, v := range values {
			if v == nil {
				v = []byte{}
			}
			vs[i] = v
		}
		q = trailInsert(b.tbl, false)
		args = []any{keys, vs}
	}
	if _, err := t.ptx.Exec(t.ctx, q, args...); err != nil {
		return t.e.wrap("put into "+b.name, err)
	}
	return nil
}

// EmptyError is CreateFilled's refusal of a database that holds tables.
type EmptyError struct {
	Desc   string
	Tables []string
}

func (e *EmptyError) Error() string {
	some := e.Tables
	if len(some) > 5 {
		some = some[:5]
	}
	return fmt.Sprintf("%s is not empty: it has %d table(s) (%v); a new celltrack database is made only in an empty one — create one with `createdb`", e.Desc, len(e.Tables), some)
}

// CreateFilled makes the celltrack schema in the empty database at rawURL
// and fills it with fn, all in ONE transaction: the migrations' tables and
// everything fn writes commit together or not at all, so a failure half way
// — fn's error, a lost connection, a refused constraint — leaves the
// database as it was, with no table. A database with any table in its
// current schema is refused (*EmptyError) before anything is written.
// fn runs as the only writer of the new database (the migration lock and
// the writer lock are held) and at most once: nothing is retried.
func CreateFilled(rawURL string, opts Options, fn func(kv.Tx) error) error {
	e, err := connect(rawURL, opts)
	if err != nil {
		return err
	}
	defer e.pool.Close()
	ctx := context.Background()
	tables := func(q interface {
		Query(context.Context, string, ...any) (pgx.Rows, error)
	}) ([]string, error) {
		rows, err := q.Query(ctx, "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename")
		if err != nil {
			return nil, e.wrap("list the tables", err)
		}
		names, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return nil, e.wrap("list the tables", err)
		}
		return names, nil
	}
	if names, err := tables(e.pool); err != nil {
		return err
	} else if len(names) > 0 {
		return &EmptyError{Desc: e.desc, Tables: names}
	}
	ptx, err := e.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted, AccessMode: pgx.ReadWrite})
	if err != nil {
		return e.wrap("begin", err)
	}
	defer ptx.Rollback(context.Background())
	if _, err := ptx.Exec(ctx, "SELECT set_config('lock_timeout', $1, true), pg_advisory_xact_lock($2), pg_advisory_xact_lock($3)",
		fmt.Sprintf("%dms", e.lockWait.Milliseconds()), migrationLock, e.lockKey); err != nil {
		return e.wrap("lock the database", err)
	}
	// Again under the locks: another process may have made tables since.
	if names, err := tables(ptx); err != nil {
		return err
	} else if len(names) > 0 {
		return &EmptyError{Desc: e.desc, Tables: names}
	}
	if _, err := ptx.Exec(ctx, `CREATE TABLE pgkv_migrations (
		version integer PRIMARY KEY,
		name text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return e.wrap("create", err)
	}
	for _, m := range migrations() {
		if _, err := ptx.Exec(ctx, m.sql); err != nil {
			return e.wrap(fmt.Sprintf("apply migration %d (%s)", m.version, m.name), err)
		}
		if _, err := ptx.Exec(ctx, "INSERT INTO pgkv_migrations (version, name) VALUES ($1, $2)", m.version, m.name); err != nil {
			return e.wrap(fmt.Sprintf("apply migration %d (%s)", m.version, m.name), err)
		}
	}
	fks, err := dropForeignKeys(ctx, ptx)
	if err != nil {
		return e.wrap("set the foreign keys aside", err)
	}
	t := (&tx{e: e, ctx: ctx, write: true, buckets: map[string]*bucket{}, flushes: map[string]int{}}).on(ptx)
	if err := ptx.QueryRow(ctx, qGen).Scan(&t.gen); err != nil {
		return e.wrap("read the bucket registry", err)
	}
	rows, err := ptx.Query(ctx, qBuckets)
	if err != nil {
		return e.wrap("read the bucket registry", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return e.wrap("read the bucket registry", err)
	}
	t.reg = make(map[string]bool, len(names))
	for _, n := range names {
		t.reg[n] = true
	}
	if err := e.catch(func() error { return fn(t) }); err != nil {
		return err
	}
	// fn's buffered writes go out before COMMIT, as in attempt.
	if err := t.flushAll(); err != nil {
		return err
	}
	for _, fk := range fks {
		if _, err := ptx.Exec(ctx, fk); err != nil {
			return e.wrap("check the foreign keys at commit", err)
		}
	}
	if err := ptx.Commit(ctx); err != nil {
		return e.wrap("commit", err)
	}
	return nil
}

// dropForeignKeys drops the foreign keys of the tables the migrations
// just made, in CreateFilled's transaction, and returns the statements that
// add each again as it was (name and definition, deferrable and deferred).
// Deferred, a foreign key queues a check of each row written and runs them
// one by one at COMMIT, ~30 µs each: at a migration of the 100k harness
// database, ~5 million checks. Added again after the fill, each is checked
// once over its whole table by one query (an anti-join), as strictly: a row
// whose reference is missing fails the ADD with the same error (23503)
// COMMIT would have raised, and the transaction, schema and all, is rolled
// back. Nobody else can see the tables before the commit.
func dropForeignKeys(ctx context.Context, ptx pgx.Tx) ([]string, error) {
	rows, err := ptx.Query(ctx, `SELECT format('ALTER TABLE %s DROP CONSTRAINT %I', conrelid::regclass, conname),
		format('ALTER TABLE %s ADD CONSTRAINT %I %s', conrelid::regclass, conname, pg_get_constraintdef(oid))
		FROM pg_constraint WHERE contype = 'f' AND connamespace = current_schema()::regnamespace
		ORDER BY conrelid::regclass::text, conname`)
	if err != nil {
		return nil, err
	}
	var drops, adds []string
	var drop, add string
	if _, err := pgx.ForEachRow(rows, []any{&drop, &add}, func() error {
		drops, adds = append(drops, drop), append(adds, add)
		return nil
	}); err != nil {
		return nil, err
	}
	for _, d := range drops {
		if _, err := ptx.Exec(ctx, d); err != nil {
			return nil, err
		}
	}
	return adds, nil
}

// catch runs fn, turning a read's *kv.Error panic (package kv) into its
// error.
func (e *Engine) catch(fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if ke, ok := r.(*kv.Error); ok {
				err = ke
				return
			}
			panic(r)
		}
	}()
	return fn()
}
