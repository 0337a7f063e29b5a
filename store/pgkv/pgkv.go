// Package pgkv is the PostgreSQL engine beneath celltrack's store: kv.Engine
// over github.com/jackc/pgx/v5.
//
// Tables. Each record bucket has a table of its own (users, donors, lots,
// containers, events, …; migrations/0001_init.sql): the key in `k bytea`, the
// record in `record json` exactly as store wrote it (the audit hashes cover
// those bytes, which json keeps and jsonb would not), and the columns people
// query (id, codes, status, times), which the engine's INSERT writes from
// one jsonb parse of the record (tables.go; schema 1 generated them, at
// three times the server's work per row), or, for the many new rows of a
// bulk write sent by COPY, the engine computes in Go (copy.go,
// copyjson.go). The audit trail is
// in audit_entries, audit_entity and audit_tree, append-only by trigger.
// Every other bucket (meta, sessions, the idx_* indexes, and any bucket with
// no table of its own) lives in one table kv(bucket, k, v). kv_buckets lists
// the buckets that exist; Tx.Bucket answers from a cached copy, re-read only
// when kv_generation says another transaction changed it.
//
// The model is bbolt's (package kv):
//   - one writer at a time: Update takes a transaction-scoped advisory lock
//     first, in READ COMMITTED, so everything it reads after the lock is
//     granted is the latest committed state and no other celltrack writer
//     changes it until commit (a REPEATABLE READ snapshot would be taken
//     before the lock was granted, and miss the writer before);
//   - View runs in REPEATABLE READ READ ONLY: one snapshot;
//   - keys are bytea, which compares as memcmp, so ORDER BY k is the
//     bytewise order;
//   - serialization failures, deadlocks, a lock not granted within the
//     lock timeout and a connection lost before commit are retried a
//     bounded number of times (fn runs again), then reported as a
//     *kv.Error with Busy set — or Unavailable, when the database could
//     not be reached or the connection was lost. A connection lost during
//     COMMIT is never retried (the write may have landed): it is reported
//     Unavailable and InDoubt.
//
// The schema is versioned by numbered migrations embedded in the binary and
// applied only by Create (celltrack init) and Migrate (celltrack upgrade);
// Open refuses a database whose schema is behind or ahead of this binary.
//
// A URL's password appears in no message: Describe and every error show the
// URL without it. PGPASSWORD and ~/.pgpass work as for every libpq client.
package pgkv

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/celltrack/celltrack/store/kv"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// IsURL says whether s names a PostgreSQL database rather than a file: a
// postgres:// or postgresql:// URL, the scheme in any case (`Postgres://`,
// `POSTGRESQL://`), as URL schemes are case-insensitive (RFC 3986 §3.1) and
// documents and password managers capitalise them.
func IsURL(s string) bool {
	_, ok := schemeEnd(s)
	return ok
}

// schemeEnd is the length of s's postgres:// or postgresql:// prefix, in
// any case, and whether it has one.
func schemeEnd(s string) (int, bool) {
	for _, p := range []string{"postgres://", "postgresql://"} {
		if len(s) >= len(p) && strings.EqualFold(s[:len(p)], p) {
			return len(p), true
		}
	}
	return 0, false
}

// lowerScheme is rawURL with its scheme in lower case, which the driver
// needs to read it as a URL (pgx compares the prefix case-sensitively and
// would read `Postgres://…` as a list of key=value settings).
func lowerScheme(rawURL string) string {
	if n, ok := schemeEnd(rawURL); ok {
		return strings.ToLower(rawURL[:n]) + rawURL[n:]
	}
	return rawURL
}

// Options says how to open a database.
type Options struct {
	// LockTimeout is how long a write waits for another writer (and any
	// other lock) before the attempt counts as busy; 0 means 10 s.
	LockTimeout time.Duration
	// Retries is how many times a busy transaction is tried again before
	// Busy is reported; 0 means 5, negative means none.
	Retries int
	// ReadOnly opens for View only; Update is refused.
	ReadOnly bool
	// Behind lets Open open a database whose schema is older than this
	// binary's (not one without any), for View only: so that the users
	// and sessions, whose tables every schema has alike, are read before
	// Migrate is run for them.
	Behind bool
}

// Engine is an open PostgreSQL database. It implements kv.Engine.
type Engine struct {
	pool     *pgxpool.Pool
	desc     string
	secrets  []string
	lockKey  int64
	lockWait time.Duration
	retries  int
	readOnly bool

	// uses counts each statement's executions (execMode).
	uses sync.Map // SQL → *atomic.Int64

	mu      sync.RWMutex
	gen     int64           // the kv_generation the cache reflects; 0: none
	buckets map[string]bool // names in kv_buckets at gen

	// held is a connection whose read transaction fn is done with but
	// whose COMMIT has not been sent (hold): it goes first in the round
	// trip that begins the next transaction on it, or after heldFor.
	heldMu    sync.Mutex
	held      *pgxpool.Conn
	heldTimer *time.Timer
}

var _ kv.Engine = (*Engine)(nil)

// configHook, when set (by a test), sees every pool's configuration before
// the pool is made.
var configHook func(*pgxpool.Config)

// defaultConnectTimeout bounds a new connection when the URL gives no
// connect_timeout.
const defaultConnectTimeout = 5 * time.Second

// writerLock is the advisory lock key every celltrack writer of a database
// takes (advisory locks are per database, so one key serves all).
var writerLock = func() int64 {
	h := fnv.New64a()
	h.Write([]byte("celltrack writer"))
	return int64(h.Sum64())
}()

// Open connects to the database at rawURL and checks that its schema is
// exactly this binary's. It never creates or migrates anything.
func Open(rawURL string, opts Options) (*Engine, error) {
	e, err := dial(rawURL, opts)
	if err != nil {
		return nil, err
	}
	// No Ping first: the schema version is the first statement, and its
	// connection failing is reported as Ping's would be ("open …"). A
	// command is a process of its own, so this is one round trip less for
	// every command.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := e.pool.Acquire(ctx)
	if err != nil {
		e.pool.Close()
		return nil, e.wrap("open", err)
	}
	have, err := e.openRegistry(ctx, conn.Conn())
	conn.Release()
	if err != nil {
		e.pool.Close()
		return nil, err
	}
	want := LatestVersion()
	switch {
	case have == 0:
		e.pool.Close()
		return nil, &SchemaError{Desc: e.desc, Have: 0, Want: want}
	case have < want && opts.Behind:
		e.readOnly = true
	case have != want:
		e.pool.Close()
		return nil, &SchemaError{Desc: e.desc, Have: have, Want: want}
	}
	return e, nil
}

// openRegistry reads the schema version (schemaVersionOn) and, in the same
// round trip, the bucket registry and its generation, which the engine
// caches: the first transaction then begins with its first statement, as
// every later one does, instead of reading the registry in a round trip of
// its own. The three statements go before one Sync, so the server runs
// them in one implicit transaction: the registry is the one of that
// generation. When the schema is not this binary's the registry is not
// looked at (an older one may lack its tables): Open refuses it anyway.
func (e *Engine) openRegistry(ctx context.Context, conn *pgx.Conn) (int, error) {
	res, err := execRaw(ctx, conn.PgConn(), []rawStmt{{sql: qVersion}, {sql: qGen}, {sql: qBuckets}})
	var pe *pgconn.PgError
	switch {
	case len(res) == 0 && errors.As(err, &pe) && pe.Code == "42P01": // undefined_table
		return 0, nil
	case len(res) == 0:
		return 0, e.wrap("read the schema version", err)
	}
	var have int
	if len(res[0].rows) != 1 {
		return 0, e.wrap("read the schema version", fmt.Errorf("%d rows", len(res[0].rows)))
	}
	if err := scanRaw(res[0].rows[0], &have); err != nil {
		return 0, e.wrap("read the schema version", err)
	}
	if have != LatestVersion() {
		return have, nil
	}
	if err == nil && len(res[1].rows) != 1 {
		err = errors.New("kv_generation has no row")
	}
	if err != nil {
		return 0, e.wrap("read the bucket registry", err)
	}
	var gen int64
	if err := scanRaw(res[1].rows[0], &gen); err != nil {
		return 0, e.wrap("read the bucket registry", err)
	}
	names := make(map[string]bool, len(res[2].rows))
	for _, row := range res[2].rows {
		var n string
		if err := scanRaw(row, &n); err != nil {
			return 0, e.wrap("read the bucket registry", err)
		}
		names[n] = true
	}
	e.mu.Lock()
	e.gen, e.buckets = gen, names
	e.mu.Unlock()
	return have, nil
}

// SchemaError is an Open of a database whose schema is not this binary's.
type SchemaError struct {
	Desc       string
	Have, Want int
}

func (e *SchemaError) Error() string {
	switch {
	case e.Have == 0:
		return fmt.Sprintf("%s has no celltrack schema; an admin initialises it as a new celltrack database", e.Desc)
	case e.Have < e.Want:
		return fmt.Sprintf("%s has PostgreSQL schema %d, this celltrack needs %d; an admin upgrades it first", e.Desc, e.Have, e.Want)
	default:
		return fmt.Sprintf("%s has PostgreSQL schema %d, newer than this celltrack's %d; use a newer celltrack", e.Desc, e.Have, e.Want)
	}
}

// connect opens the pool, and a first connection to check that the
// database can be reached, without looking at the schema.
func connect(rawURL string, opts Options) (*Engine, error) {
	e, err := dial(rawURL, opts)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := e.pool.Ping(ctx); err != nil {
		e.pool.Close()
		return nil, e.wrap("open", err)
	}
	return e, nil
}

// dial makes the pool; it connects on the first use.
func dial(rawURL string, opts Options) (*Engine, error) {
	rawURL = lowerScheme(rawURL)
	desc, secrets := redactURL(rawURL)
	cfg, err := pgxpool.ParseConfig(rawURL)
	if err != nil {
		return nil, &redacted{fmt.Errorf("open %s: %w", desc, err), secrets}
	}
	if cfg.ConnConfig.Password != "" {
		secrets = appendSecret(secrets, cfg.ConnConfig.Password)
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		// Without connect_timeout in the URL a connection to a machine
		// that does not answer waits for the operating system's TCP
		// timeout (minutes), for each of a transaction's tries: a request
		// would hang instead of being told the database is unavailable.
		cfg.ConnConfig.ConnectTimeout = defaultConnectTimeout
	}
	cfg.ShouldPing = shouldPing
	if configHook != nil {
		configHook(cfg)
	}
	e := &Engine{desc: desc, secrets: secrets, lockKey: writerLock, lockWait: opts.LockTimeout,
		retries: opts.Retries, readOnly: opts.ReadOnly}
	if e.lockWait <= 0 {
		e.lockWait = 10 * time.Second
	}
	switch {
	case e.retries == 0:
		e.retries = 5
	case e.retries < 0:
		e.retries = 0
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, e.wrap("open", err)
	}
	e.pool = pool
	return e, nil
}

// Describe names the database: its URL without the password.
func (e *Engine) Describe() string { return e.desc }

// Close closes every connection. A held read transaction ends with its
// connection (the server rolls it back, which for a read is its COMMIT).
func (e *Engine) Close() error {
	if conn := e.takeHeld(); conn != nil {
		conn.Release()
	}
	e.pool.Close()
	return nil
}

// A read transaction's COMMIT is a round trip of its own that returns
// nothing a read needs: a REPEATABLE READ READ ONLY transaction has nothing
// to make durable and cannot fail to commit. A celltrack command runs a
// few read transactions one after the other (the schema, the facility, the
// session, then the command's own), so instead of waiting for each COMMIT
// the connection is held with its read transaction open (hold), and the
// next transaction sends that COMMIT in the round trip that begins it
// (acquire, attempt): one round trip less per read transaction. A held
// connection not taken within heldFor is committed and given back to the
// pool by a timer, so that a server at rest holds no snapshot open for
// longer (which would keep PostgreSQL's vacuum from removing dead rows).
var heldFor = time.Second

// commitHeld is the statement that ends a held read transaction.
const commitHeld = "COMMIT"

// acquire returns a connection for a transaction: the held one when there
// is one, with held set (its read transaction is still open), else one
// from the pool. A read's first attempt, which is tried again on a lost
// connection (retries), takes one from the pool without the ping (noPing);
// ping is set for a write and for a read's later attempts.
func (e *Engine) acquire(ctx context.Context, ping bool) (conn *pgxpool.Conn, held bool, err error) {
	if conn := e.takeHeld(); conn != nil {
		if !conn.Conn().IsClosed() {
			return conn, true, nil
		}
		conn.Release() // the pool drops a closed connection
	}
	if !ping && e.retries > 0 {
		ctx = context.WithValue(ctx, noPing{}, true)
	}
	conn, err = e.pool.Acquire(ctx)
	return conn, false, err
}

// noPing, in the context of a pool's Acquire, says that the connection is
// for a read that is tried again when its connection turns out lost.
//
// The pool pings a connection idle for over a second before handing it
// out (pgxpool's default): a round trip of its own, before the first of a
// request that comes after a pause — every request of a server used by
// people rather than a script. A read needs no such check: a connection
// the server closed meanwhile fails the read's first round trip, which
// sent nothing that changes anything, and the read is run again on another
// connection (retryable: a lost connection, as when the server restarted
// under a held one; the pool drops the dead one). That next attempt is
// pinged as before, so that after a restart pgxpool drops every dead idle
// connection (it tries up to MaxConns of them) rather than each costing
// one of the read's attempts. With no retries
// (Options.Retries < 0) the ping stays, so that a dead idle connection is
// not reported as the database unavailable. A write keeps pgxpool's
// default: issue 14 is about reads through a server, and a write's first
// round trip takes the writer lock.
type noPing struct{}

// shouldPing is the pool's ShouldPing: pgxpool's default (idle for over a
// second) but for a read's connection (noPing).
func shouldPing(ctx context.Context, p pgxpool.ShouldPingParams) bool {
	if ctx.Value(noPing{}) != nil {
		return false
	}
	return p.IdleDuration > time.Second
}

// takeHeld takes the held connection, if any.
func (e *Engine) takeHeld() *pgxpool.Conn {
	e.heldMu.Lock()
	defer e.heldMu.Unlock()
	conn := e.held
	e.held = nil
	return conn
}

// hold keeps conn, whose read transaction is done, for the next
// transaction; when a connection is held already, conn's transaction is
// committed and conn given back as without holding.
func (e *Engine) hold(conn *pgxpool.Conn) error {
	e.heldMu.Lock()
	if e.held == nil {
		e.held = conn
		if e.heldTimer == nil {
			e.heldTimer = time.AfterFunc(heldFor, e.endHeld)
		} else {
			e.heldTimer.Reset(heldFor)
		}
		e.heldMu.Unlock()
		return nil
	}
	e.heldMu.Unlock()
	return endRead(conn)
}

// endHeld commits the held read transaction, if any, and gives its
// connection back to the pool.
func (e *Engine) endHeld() {
	if conn := e.takeHeld(); conn != nil {
		endRead(conn)
	}
}

// endRead commits conn's read transaction and gives conn back to the pool
// (which drops it when COMMIT failed and left it in the transaction).
func endRead(conn *pgxpool.Conn) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := conn.Exec(ctx, commitHeld)
	conn.Release()
	return err
}

// Pool is the connection pool, for tests and tools that read the tables.
func (e *Engine) Pool() *pgxpool.Pool { return e.pool }

// View runs fn in a REPEATABLE READ READ ONLY transaction.
func (e *Engine) View(fn func(kv.Tx) error) error {
	return e.run(context.Background(), "view", false, nil, fn)
}

// ViewContext is View whose statements carry ctx (kv.Engine): once ctx is
// done, the next statement — a cursor's next page (at most walkPage rows
// on), a Get the transaction has not read yet — fails at once, and the
// transaction ends with ctx's error, not tried again. A ctx done already
// runs nothing.
func (e *Engine) ViewContext(ctx context.Context, fn func(kv.Tx) error) error {
	return e.run(ctx, "view", false, nil, fn)
}

// Update runs fn in a write transaction, serialised with every other
// celltrack writer of the database by an advisory lock.
func (e *Engine) Update(fn func(kv.Tx) error) error {
	if e.readOnly {
		return &kv.Error{Op: "update " + e.desc, Err: errors.New("the database was opened read-only")}
	}
	return e.run(context.Background(), "update", true, nil, fn)
}

// Batch is Update: PostgreSQL has no group commit to share.
func (e *Engine) Batch(fn func(kv.Tx) error) error { return e.Update(fn) }

var _ kv.ReadingWriter = (*Engine)(nil)

// UpdateReading is Update told what fn reads first: BEGIN, the lock, the
// registry's generation and those reads go in one round trip (with the
// registry cached: after a process's first transaction), one less than
// BEGIN alone and then the reads; fn runs once they are answered.
func (e *Engine) UpdateReading(first kv.Reads, fn func(kv.Tx) error) error {
	if e.readOnly {
		return e.Update(fn)
	}
	return e.run(context.Background(), "update", true, &first, fn)
}

// BatchReading is UpdateReading, as Batch is Update.
func (e *Engine) BatchReading(first kv.Reads, fn func(kv.Tx) error) error {
	return e.UpdateReading(first, fn)
}

// run runs fn in a transaction, again while the attempt fails for a reason
// that may pass (busy), at most e.retries more times. A read's *kv.Error
// panic that is not retried, or still fails on the last try, is raised
// again once the transaction is rolled back, as package kv says: store
// recovers it where the transaction began.
func (e *Engine) run(ctx context.Context, op string, write bool, first *kv.Reads, fn func(kv.Tx) error) error {
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return &kv.Error{Op: op + " " + e.desc, Err: err}
		}
		panicked, err := e.attempt(ctx, write, attempt > 0, first, fn)
		switch {
		case err == nil:
			return nil
		case ctx.Err() != nil:
			// The read was cut (ViewContext): whatever the statement
			// under way failed with, the cause is the context's.
			err = &kv.Error{Op: op + " " + e.desc, Err: ctx.Err()}
		case lockTimeout(err):
			// The lock wait was the whole timeout already: no more tries.
			err = &kv.Error{Busy: true, Op: op + " " + e.desc,
				Err: &busyCause{fmt.Sprintf("another writer held the database for more than %s", e.lockWait), err}}
		case errors.Is(err, errRegistryMoved) && attempt < e.retries+2:
			continue
		case retryable(err) && attempt < e.retries:
			// Back off with jitter so writers that collided do not collide again.
			time.Sleep(time.Duration(1+rand.IntN(10<<attempt)) * time.Millisecond)
			continue
		case retryable(err):
			// Others in the way (busy), or no database to talk to
			// (unavailable): either may pass, and the caller says which.
			var cause error = &busyCause{fmt.Sprintf("other writers or the server kept it from running; gave up after %d attempts", attempt+1), err}
			down := unavailable(err)
			if down {
				cause = &redacted{fmt.Errorf("gave up after %d attempts: %w", attempt+1, err), e.secrets}
			}
			err = &kv.Error{Busy: !down, Unavailable: down, Op: op + " " + e.desc, Err: cause}
		case inDoubt(err):
			err = &kv.Error{Unavailable: true, InDoubt: true, Op: op + " " + e.desc, Err: &redacted{err, e.secrets}}
		}
		if panicked {
			panic(err)
		}
		return err
	}
}

// attempt runs fn once. A *kv.Error panic from a read inside fn becomes the
// returned error, with panicked set (the transaction is rolled back); any
// other panic is passed on after the rollback.
func (e *Engine) attempt(ctx context.Context, write, again bool, first *kv.Reads, fn func(kv.Tx) error) (panicked bool, err error) {
	conn, held, err := e.acquire(ctx, write || again)
	if err != nil {
		return false, &beginError{e.wrap("begin", err)}
	}
	ptx := &connTx{conn: conn}
	// The held read transaction's COMMIT goes first in the round trip
	// that begins this one (hold).
	var pre []rawStmt
	if held {
		pre = []rawStmt{{sql: commitHeld}}
	}
	t := (&tx{e: e, ctx: ctx, write: write, behind: write, buckets: map[string]*bucket{}, flushes: map[string]int{}}).on(ptx)
	done := false
	defer func() {
		if done {
			return
		}
		t.ptx.Rollback(context.Background()) // after a send under way
		if r := recover(); r != nil {
			if ke, ok := r.(*kv.Error); ok {
				panicked, err = true, ke
				return
			}
			panic(r)
		}
	}()
	e.mu.RLock()
	cached := e.gen != 0
	gen, reg := e.gen, e.buckets
	e.mu.RUnlock()
	switch {
	case !write && cached:
		// A read with the registry cached begins with its first
		// statement (connTx.first): BEGIN, the generation and that
		// statement in one round trip. Tx.Bucket answers from the cache
		// meanwhile; when the generation read in the snapshot says the
		// registry changed since, the attempt is run again with it read
		// anew (errRegistryMoved).
		t.begunWith(pre, gen, reg, rawStmt{sql: beginRead})
	case first != nil && cached:
		// A write told what it reads first (UpdateReading) sends BEGIN,
		// the lock, the generation and those reads in one round trip,
		// and runs fn once they are answered: fn runs with the lock
		// held, as after begin. The server runs them in order, so the
		// reads are made after the lock is granted, each with a
		// snapshot of its own taken then (READ COMMITTED).
		t.begunWith(pre, gen, reg, rawStmt{sql: beginWrite}, e.lockStmt())
		if err := t.readFirst(*first); err != nil {
			return false, err
		}
	default:
		if err := e.begin(ctx, t, ptx, write, cached, pre); err != nil {
			return false, err
		}
		if first != nil {
			if err := t.readFirst(*first); err != nil {
				return false, err
			}
		}
	}
	if err := fn(t); err != nil {
		switch {
		case ptx.prelude != nil:
			// fn sent nothing: its answer rests on the cached registry
			// alone, which must still be the database's.
			done = true
			if cerr := ptx.Commit(ctx); errors.Is(cerr, errRegistryMoved) {
				return false, cerr
			}
		case !write:
			// A read refused by fn: nothing to roll back.
			done = true
			e.hold(ptx.take())
		}
		return false, err
	}
	done = true
	if !write {
		if ptx.prelude != nil {
			if err := ptx.Commit(ctx); err != nil {
				return false, e.wrap("end read", err)
			}
			return false, nil
		}
		if err := e.hold(ptx.take()); err != nil {
			return false, e.wrap("end read", err)
		}
		return false, nil
	}
	// The buffered writes go out first (buffer.go): an error here is a
	// statement's, before COMMIT, and rolls everything back.
	if err := t.flushAll(); err != nil {
		t.ptx.Rollback(context.Background())
		return false, err
	}
	if err := t.ptx.Commit(ctx); err != nil {
		return false, &commitError{e.wrap("commit", err)}
	}
	if t.regChanged {
		e.mu.Lock()
		if t.gen > e.gen {
			e.gen, e.buckets = t.gen, t.reg
		}
		e.mu.Unlock()
	}
	return false, nil
}

// begin sends BEGIN, for a write the lock, and the registry generation, in
// one round trip, unprepared (execRaw). The lock comes first; the
// generation is read by a statement whose snapshot is taken after the lock
// is granted. The registry too when none is cached (a process's first
// transaction), so that it costs no round trip of its own. A read
// transaction reads both in one snapshot; a write one after the lock, which
// every writer that changes the registry holds.
//
// pre goes first: the COMMIT of the connection's held read transaction.
func (e *Engine) begin(ctx context.Context, t *tx, ptx *connTx, write, cached bool, pre []rawStmt) error {
	stmts := append(pre, rawStmt{sql: beginRead})
	if write {
		stmts = append(pre, rawStmt{sql: beginWrite}, e.lockStmt())
	}
	genAt := len(stmts)
	stmts = append(stmts, rawStmt{sql: qGen})
	if !cached {
		stmts = append(stmts, rawStmt{sql: qBuckets})
	}
	res, err := execRaw(ctx, ptx.conn.Conn().PgConn(), stmts)
	if len(res) > len(pre) {
		ptx.open = true
	}
	if err == nil {
		if len(res[genAt].rows) != 1 {
			err = errors.New("kv_generation has no row")
		} else {
			err = scanRaw(res[genAt].rows[0], &t.gen)
		}
	}
	switch {
	case err == nil:
	case len(res) <= len(pre):
		return &beginError{e.wrap("begin", err)}
	case write && len(res) < genAt:
		return e.wrap("lock the database for writing", err)
	default:
		return e.wrap("read the bucket registry", err)
	}
	var names []string
	if !cached {
		for _, row := range res[genAt+1].rows {
			var n string
			if err := scanRaw(row, &n); err != nil {
				return e.wrap("read the bucket registry", err)
			}
			names = append(names, n)
		}
	}
	return t.loadRegistry(names, !cached)
}

// begunWith makes t begin with its first statement: begin (BEGIN, and
// what goes with it) after pre, then the registry's generation, checked to
// be gen, whose registry reg t answers from meanwhile (errRegistryMoved
// when it is not, and the engine's cached registry is dropped).
func (t *tx) begunWith(pre []rawStmt, gen int64, reg map[string]bool, begin ...rawStmt) {
	e, ptx := t.e, t.conn.(*connTx)
	t.gen, t.reg = gen, reg
	ptx.prelude = append(append(pre[:len(pre):len(pre)], begin...), rawStmt{sql: qGen})
	ptx.ended = len(pre)
	want := len(begin) + 1
	ptx.begun = func(res []rawResult) error {
		var g int64
		res = res[len(pre):]
		if len(res) != want || len(res[want-1].rows) != 1 {
			return fmt.Errorf("read the bucket registry's generation: %d results", len(res))
		}
		if err := scanRaw(res[want-1].rows[0], &g); err != nil {
			return fmt.Errorf("read the bucket registry's generation: %w", err)
		}
		if g != gen {
			e.mu.Lock()
			if e.gen == gen {
				e.gen, e.buckets = 0, nil
			}
			e.mu.Unlock()
			return errRegistryMoved
		}
		return nil
	}
}

// readFirst reads r (PrefetchReads) before a write's fn runs, with BEGIN
// and the lock when they have not gone (begunWith), or they alone when r
// leaves fewer than two reads to make: the transaction has begun when it
// returns nil. A read that fails is its error, not a panic.
func (t *tx) readFirst(r kv.Reads) (err error) {
	defer func() {
		if p := recover(); p != nil {
			ke, ok := p.(*kv.Error)
			if !ok {
				panic(p)
			}
			err = ke
		}
	}()
	t.PrefetchReads(r)
	if err := t.conn.(*connTx).beginNow(t.ctx); err != nil {
		return t.e.wrap("begin", err)
	}
	return nil
}

// lockStmt takes the lock every celltrack writer of the database holds
// until its transaction ends, waiting at most e.lockWait for it.
func (e *Engine) lockStmt() rawStmt {
	return rawStmt{sql: qLock, args: []any{fmt.Sprintf("%dms", e.lockWait.Milliseconds()), e.lockKey}}
}

// errRegistryMoved is a read transaction that answered Tx.Bucket from the
// engine's cached registry and then found, in its snapshot, that another
// transaction had created or deleted a bucket since: it runs again, with
// the registry read anew.
var errRegistryMoved = errors.New("the bucket registry changed since it was cached")

// busyCause is why a transaction was busy, in words for people; the
// driver's error (its SQLSTATE text) stays in the chain for errors.As but
// out of the message.
type busyCause struct {
	why string
	err error
}

func (b *busyCause) Error() string { return b.why }
func (b *busyCause) Unwrap() error { return b.err }

// beginError is a failure to start a transaction: nothing ran, so trying
// again is safe whatever the cause.
type beginError struct{ err error }

func (b *beginError) Error() string { return b.err.Error() }
func (b *beginError) Unwrap() error { return b.err }

// commitError is a failure of COMMIT itself. When the connection was lost
// the outcome is unknown, so it is never retried.
type commitError struct{ err error }

func (c *commitError) Error() string { return c.err.Error() }
func (c *commitError) Unwrap() error { return c.err }

// retryable says whether err is worth another attempt of the whole
// transaction: a serialization failure, a deadlock, a lock not granted in
// time, or a lost connection anywhere before COMMIT. A COMMIT that failed
// is retried only when the server answered that it rolled back (a
// serialization failure or deadlock found at commit); a connection lost or
// terminated during COMMIT leaves the outcome unknown (inDoubt), and doing
// the write again could record it twice.
func retryable(err error) bool {
	var ce *commitError
	if errors.As(err, &ce) {
		var pe *pgconn.PgError
		return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01")
	}
	var be *beginError
	if errors.As(err, &be) {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return busyCode(pe.Code) || downCode(pe.Code)
	}
	return connLost(err)
}

// inDoubt says whether err is a COMMIT whose outcome is unknown: the
// connection failed, or the server ended the session (a restart, an
// administrator's pg_terminate_backend), before it answered.
func inDoubt(err error) bool {
	var ce *commitError
	if !errors.As(err, &ce) || errors.Is(err, pgx.ErrTxCommitRollback) {
		return false // not a commit, or the server answered it rolled back: nothing was written
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Severity == "FATAL" || pe.Severity == "PANIC" || downCode(pe.Code)
	}
	return true
}

// unavailable says whether a retryable err is the database out of reach
// rather than other writers in the way: no connection could be made, or
// the one in use was lost or ended by the server.
func unavailable(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return downCode(pe.Code) || pe.Severity == "FATAL"
	}
	var be *beginError
	var cerr *pgconn.ConnectError
	return errors.As(err, &be) || errors.As(err, &cerr) || connLost(err)
}

// downCode says whether a SQLSTATE means the server is going, gone or not
// taking connections: class 08 (connection exception), operator
// intervention (a shutdown, a terminated backend), too many connections, a
// database not accepting connections (ALLOW_CONNECTIONS false, 55000 at
// connect).
func downCode(code string) bool {
	switch {
	case strings.HasPrefix(code, "08"), strings.HasPrefix(code, "57P"), code == "53300":
		return true
	}
	return false
}

func lockTimeout(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "55P03"
}

func busyCode(code string) bool {
	switch code {
	case "40001", // serialization_failure
		"40P01", // deadlock_detected
		"57P01", // admin_shutdown: the server is restarting
		"57P02", // crash_shutdown
		"57P03": // cannot_connect_now: starting up
		return true
	}
	return false
}

func connLost(err error) bool {
	var ne net.Error
	var oe *net.OpError
	return errors.As(err, &ne) || errors.As(err, &oe) || pgconn.SafeToRetry(err) ||
		strings.Contains(err.Error(), "conn closed") || strings.Contains(err.Error(), "unexpected EOF")
}

// wrap makes err an error of this engine, with the password removed from
// its text.
func (e *Engine) wrap(op string, err error) error {
	var ke *kv.Error
	if errors.As(err, &ke) {
		return err
	}
	return &kv.Error{Op: op + " " + e.desc, Err: &redacted{err, e.secrets}}
}

// redacted is an error whose text has the secrets replaced.
type redacted struct {
	err     error
	secrets []string
}

func (r *redacted) Error() string {
	s := r.err.Error()
	for _, p := range r.secrets {
		s = strings.ReplaceAll(s, p, "xxxxx")
	}
	return s
}
func (r *redacted) Unwrap() error { return r.err }

// redactURL returns the URL without its secrets (the password in the user
// info, and every parameter secretParam names: password=, sslpassword=, …)
// and the spellings of each to keep out of any message.
func redactURL(raw string) (string, []string) {
	var secrets []string
	// Whatever parses, the text between the user's ":" and "@" is secret.
	if _, rest, ok := strings.Cut(raw, "://"); ok {
		auth, _, _ := strings.Cut(rest, "/")
		if i := strings.LastIndex(auth, "@"); i >= 0 {
			if _, p, ok := strings.Cut(auth[:i], ":"); ok && p != "" {
				secrets = appendSecret(secrets, p)
				if q, err := url.PathUnescape(p); err == nil {
					secrets = appendSecret(secrets, q)
				}
			}
		}
	}
	u, err := url.Parse(raw)
	if err != nil {
		// Do not echo a URL we cannot take apart: it may hold a password.
		scheme, _, _ := strings.Cut(raw, "://")
		return scheme + "://(a URL celltrack cannot parse)", secrets
	}
	if p, ok := u.User.Password(); ok {
		secrets = appendSecret(secrets, p)
		u.User = url.User(u.User.Username())
	}
	q, dropped := u.Query(), false
	for name, values := range q {
		if !secretParam(name) {
			continue
		}
		for _, p := range values {
			if p != "" {
				secrets = appendSecret(secrets, p)
			}
		}
		q.Del(name)
		dropped = true
	}
	if dropped {
		u.RawQuery = q.Encode()
	}
	return u.String(), secrets
}

// secretParam reports whether the URL parameter name holds a secret:
// password, and any other whose name says password, secret or token —
// sslpassword, the passphrase of the client's TLS key, above all. A path
// to a file holding one (passfile, sslkey) is not itself secret and stays,
// so that the URL shown still connects.
func secretParam(name string) bool {
	n := strings.ToLower(name)
	return strings.HasSuffix(n, "password") || strings.HasSuffix(n, "passwd") || strings.Contains(n, "secret") || strings.Contains(n, "token")
}

func appendSecret(s []string, p string) []string {
	for _, v := range []string{p, url.QueryEscape(p), url.PathEscape(p)} {
		if v != "" {
			s = append(s, v)
		}
	}
	return s
}

// Redact returns the URL without its password, as Describe does, for
// messages about a database not (yet) open.
func Redact(rawURL string) string {
	d, _ := redactURL(rawURL)
	return d
}

// Cause is the short reason behind a failed transaction of this engine, for
// a message a person reads: the server's own message and SQLSTATE when it
// answered (`database "x" is not currently accepting connections, SQLSTATE
// 55000`), else the network's last word (`connection refused`, `unexpected
// EOF`). It never holds the URL or its password.
func Cause(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return fmt.Sprintf("%s, SQLSTATE %s", pe.Message, pe.Code)
	}
	var se *os.SyscallError
	if errors.As(err, &se) {
		return se.Err.Error()
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return oe.Err.Error()
	}
	for {
		u := errors.Unwrap(err)
		if u == nil {
			break
		}
		err = u
	}
	return err.Error()
}

// The statements every transaction runs.
const (
	beginRead  = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
	beginWrite = "BEGIN ISOLATION LEVEL READ COMMITTED READ WRITE"
	qGen       = "SELECT gen FROM kv_generation"
	qVersion   = "SELECT coalesce(max(version), 0) FROM pgkv_migrations"
	qBuckets   = "SELECT name FROM kv_buckets"
	qLock      = "SELECT set_config('lock_timeout', $1, true), pg_advisory_xact_lock($2)"
)

// execDirect is how many times a statement runs unprepared before it is
// prepared. pgx prepares a statement on a connection's first use of it (a
// round trip of its own) and then runs it by name; a celltrack command is a
// process of its own, with a new connection, that runs most statements
// a few times, so preparing them all would double its round trips. A
// statement run more often than this (a server's, a long walk's) is
// prepared and cached per connection as pgx does by default. Eight: a
// bedside check at 10k lots ran four statements three to eight times, and
// each prepare is a round trip, worth more on a loaded machine than the
// parse and plan of a one-table statement it saves.
const execDirect = 8

// with puts the execution mode of statement sql before args: unprepared
// for its first execDirect runs in this process, prepared after.
func (e *Engine) with(sql string, args ...any) []any {
	n, _ := e.uses.Load(sql)
	if n == nil {
		n, _ = e.uses.LoadOrStore(sql, new(atomic.Int64))
	}
	mode := pgx.QueryExecModeCacheStatement
	if n.(*atomic.Int64).Add(1) <= execDirect {
		mode = pgx.QueryExecModeExec
	}
	return append([]any{mode}, args...)
}

// connTx is a transaction on a connection of the pool begun by a batch of
// its own (attempt), which pgx.Tx cannot be: BEGIN goes in one round trip
// with the statements every transaction starts with, and for a read with
// its first statement.
type connTx struct {
	conn *pgxpool.Conn
	open bool // BEGIN succeeded and neither COMMIT nor ROLLBACK was sent
	// prelude is BEGIN and what goes with it, not sent yet: it goes with
	// the first statement (first); begun checks what it returned.
	prelude []rawStmt
	begun   func([]rawResult) error
	// ended is how many statements at the prelude's start end a held
	// read transaction (attempt): the transaction is open once more came
	// back.
	ended int
}

// take ends c's use of its connection, whose transaction is left open,
// and returns it (Engine.hold).
func (c *connTx) take() *pgxpool.Conn {
	conn := c.conn
	c.conn, c.open = nil, false
	return conn
}

// first sends the prelude and the statement sql in one round trip and
// returns the statement's rows, read.
func (c *connTx) first(ctx context.Context, sql string, args []any) (*memRows, error) {
	res, err := c.many(ctx, []rawStmt{{sql: sql, args: args}})
	if err != nil {
		return nil, err
	}
	return &memRows{res: res[0]}, nil
}

// beginNow sends the prelude, if it has not gone, by itself.
func (c *connTx) beginNow(ctx context.Context) error {
	if c.prelude == nil {
		return nil
	}
	res, err := execRaw(ctx, c.conn.Conn().PgConn(), c.prelude)
	c.prelude = nil
	if len(res) > c.ended {
		c.open = true
	}
	if err != nil {
		return err
	}
	return c.begun(res)
}

func (c *connTx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if err := c.beginNow(ctx); err != nil {
		return pgconn.CommandTag{}, err
	}
	return c.conn.Exec(ctx, sql, args...)
}

func (c *connTx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if c.prelude != nil {
		rows, err := c.first(ctx, sql, args)
		if !errors.Is(err, errRawArg) {
			if err != nil {
				return nil, err
			}
			return rows, nil
		}
		if err := c.beginNow(ctx); err != nil {
			return nil, err
		}
	}
	return c.conn.Query(ctx, sql, args...)
}

func (c *connTx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	if c.prelude != nil {
		rows, err := c.first(ctx, sql, args)
		if !errors.Is(err, errRawArg) {
			if err != nil {
				return errRow{err}
			}
			return memRow{rows: rows}
		}
		if err := c.beginNow(ctx); err != nil {
			return errRow{err}
		}
	}
	return c.conn.QueryRow(ctx, sql, args...)
}

func (c *connTx) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	if err := c.beginNow(ctx); err != nil {
		return errBatch{err}
	}
	return c.conn.SendBatch(ctx, b)
}

// errBatch is the results of a batch that could not be sent.
type errBatch struct{ err error }

func (b errBatch) Exec() (pgconn.CommandTag, error) { return pgconn.CommandTag{}, b.err }
func (b errBatch) Query() (pgx.Rows, error)         { return nil, b.err }
func (b errBatch) QueryRow() pgx.Row                { return errRow(b) }
func (b errBatch) Close() error                     { return b.err }
func (b errBatch) Tx() pgx.Tx                       { return nil }

// Commit ends the transaction and gives the connection back. A transaction
// that failed is rolled back by the server, which answers COMMIT with
// ROLLBACK: that is an error here, as in pgx.Tx.
func (c *connTx) Commit(ctx context.Context) error {
	if c.conn == nil {
		return errors.New("commit: the transaction has ended")
	}
	if c.prelude != nil {
		// Nothing was read but the cached registry (Tx.Bucket): the
		// transaction begins, checks its generation and ends in one
		// round trip.
		res, err := execRaw(ctx, c.conn.Conn().PgConn(), append(c.prelude, rawStmt{sql: "COMMIT"}))
		n := len(c.prelude)
		c.prelude = nil
		c.release()
		if len(res) < n {
			return err
		}
		if berr := c.begun(res[:n]); berr != nil {
			return berr
		}
		return err
	}
	tag, err := c.conn.Exec(ctx, "COMMIT")
	c.open = false
	c.release()
	if err != nil {
		return err
	}
	if tag.String() != "COMMIT" {
		return pgx.ErrTxCommitRollback
	}
	return nil
}

// Rollback ends the transaction, if it has not ended, and gives the
// connection back (the pool closes a connection left in a transaction).
func (c *connTx) Rollback(ctx context.Context) error {
	if c.conn == nil {
		return nil
	}
	var err error
	if c.open || c.conn.Conn().PgConn().TxStatus() != 'I' {
		_, err = c.conn.Exec(ctx, "ROLLBACK")
	}
	c.open = false
	c.release()
	return err
}

func (c *connTx) release() {
	if c.conn != nil {
		c.conn.Release()
		c.conn = nil
	}
}
