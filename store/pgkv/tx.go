package pgkv

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/celltrack/celltrack/store/kv"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// pageSize is how many pairs a cursor fetches at a time, in the direction it
// moves.
const pageSize = 128

// walkPage is how many pairs a cursor fetches at a time going up once it
// has fetched walkAfter pages up itself: a walk over much of a table (`audit
// verify`, a migration's checks, which read every pair) then costs one round
// trip per walkPage pairs, not per pageSize, while a short walk (a trace's,
// a bedside check's) reads no more than before. Not the generic table:
// on a table without statistics (a migration's, checked before and right
// after its COMMIT, before autovacuum has analyzed it) the planner takes
// "bucket = $1 AND k > $2" for ~0.5 % of a third of the rows and, when that
// is under walkPage, reads all of them with a bitmap scan and sorts them
// for each page: a 10k migration's verify spent 85 s of server time so.
// A table of its own has its key alone, estimated at a third of its rows.
const (
	walkPage  = 1024
	walkAfter = 2
)

// aroundN is how many pairs a Seek's page holds each side of the key.
const aroundN = 64

// Errors of bbolt's that store may meet in the same places.
var (
	ErrBucketExists   = errors.New("bucket already exists")
	ErrBucketNotFound = errors.New("bucket not found")
	ErrNameRequired   = errors.New("bucket name required")
	ErrKeyRequired    = errors.New("key required")
	ErrTxNotWritable  = errors.New("tx not writable")
)

// pgTx is what a transaction uses of its connection: pgx.Tx's methods,
// implemented by connTx.
type pgTx interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
	Commit(ctx context.Context) error
	Rollback(ctx context.Context) error
}

type tx struct {
	e   *Engine
	ctx context.Context
	// conn is the transaction on its connection; ptx is conn behind
	// awaitTx, for every use but a send of buffered writes, which may run
	// behind the transaction (behind.go): behind says it may, sending is
	// the send under way, sendErr the error of one that failed.
	conn    pgTx
	ptx     pgTx
	behind  bool
	sending *sendJob
	sendErr error
	write   bool

	gen        int64
	reg        map[string]bool // the buckets that exist; shared with the engine until changed
	regChanged bool
	buckets    map[string]*bucket
	// pending holds a write transaction's writes, by bucket, until they
	// are sent to the server together (buffer.go); pendingN counts them.
	pending  map[string]*pending
	pendingN int
	// flushes counts the times each bucket's table changed under this
	// transaction (its pending writes sent, the bucket deleted), so a
	// cursor knows when its prefetched page may be stale.
	flushes map[string]int
	// cache holds the values Get read from the server, by bucket (nil:
	// the key is absent), until the table changes.
	cache map[string]*getCache
	// above is what sends by COPY know of each bucket's table without a
	// look-up (copy.go); only sends, one at a time, use it.
	above map[string]*aboveFloor
}

// loadRegistry takes the registry from the engine's cache when it is of
// the generation t.gen (which attempt read as the transaction began), else
// reads it: a second query only after another process created or deleted a
// bucket.
//
// names is the registry when attempt read it with the generation (it does
// when the engine has none cached: a process's first transaction).
func (t *tx) loadRegistry(names []string, read bool) error {
	t.e.mu.RLock()
	gen, reg := t.e.gen, t.e.buckets
	t.e.mu.RUnlock()
	if gen == t.gen {
		t.reg = reg
		return nil
	}
	if !read {
		rows, err := t.ptx.Query(t.ctx, qBuckets)
		if err != nil {
			return t.e.wrap("read the bucket registry", err)
		}
		if names, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
			return t.e.wrap("read the bucket registry", err)
		}
	}
	t.reg = make(map[string]bool, len(names))
	for _, n := range names {
		t.reg[n] = true
	}
	t.e.mu.Lock()
	if t.gen > t.e.gen {
		t.e.gen, t.e.buckets = t.gen, t.reg
	}
	t.e.mu.Unlock()
	return nil
}

// on makes conn t's connection.
func (t *tx) on(conn pgTx) *tx {
	t.conn, t.ptx = conn, awaitTx{t}
	return t
}

// fail ends a read that cannot be answered: reads return no errors (package
// kv), so it panics with a *kv.Error that store recovers.
func (t *tx) fail(op string, err error) {
	panic(t.e.wrap(op, err))
}

func (t *tx) Writable() bool { return t.write }

func (t *tx) Bucket(name []byte) kv.Bucket {
	if b := t.buckets[string(name)]; b != nil {
		return b
	}
	if !t.reg[string(name)] {
		return nil
	}
	b := newBucket(t, string(name))
	t.buckets[string(name)] = b
	return b
}

func (t *tx) CreateBucket(name []byte) (kv.Bucket, error) {
	switch {
	case !t.write:
		return nil, ErrTxNotWritable
	case len(name) == 0:
		return nil, ErrNameRequired
	case t.reg[string(name)]:
		return nil, ErrBucketExists
	}
	if _, err := t.ptx.Exec(t.ctx, "INSERT INTO kv_buckets (name) VALUES ($1)", string(name)); err != nil {
		return nil, t.e.wrap("create bucket "+string(name), err)
	}
	if err := t.changeRegistry(string(name), true); err != nil {
		return nil, err
	}
	return t.Bucket(name), nil
}

func (t *tx) CreateBucketIfNotExists(name []byte) (kv.Bucket, error) {
	if b := t.Bucket(name); b != nil {
		return b, nil
	}
	return t.CreateBucket(name)
}

func (t *tx) DeleteBucket(name []byte) error {
	switch {
	case !t.write:
		return ErrTxNotWritable
	case !t.reg[string(name)]:
		return ErrBucketNotFound
	}
	b := newBucket(t, string(name))
	t.drop(string(name))
	// A derived bucket's view stays: its pairs are the lots' (derivedTables).
	if !b.tbl.derived {
		if _, err := t.ptx.Exec(t.ctx, b.q.deleteAll, t.e.with(b.q.deleteAll, b.args()...)...); err != nil {
			return t.e.wrap("delete bucket "+string(name), err)
		}
		t.sourceChanged(b.name)
	}
	if _, err := t.ptx.Exec(t.ctx, "DELETE FROM kv_buckets WHERE name = $1", string(name)); err != nil {
		return t.e.wrap("delete bucket "+string(name), err)
	}
	delete(t.buckets, string(name))
	return t.changeRegistry(string(name), false)
}

// changeRegistry records a created or deleted bucket: a new generation in
// the database, and a copy of the registry for this transaction (the
// engine's cache takes it at commit).
func (t *tx) changeRegistry(name string, exists bool) error {
	if err := t.ptx.QueryRow(t.ctx, "UPDATE kv_generation SET gen = gen + 1 RETURNING gen").Scan(&t.gen); err != nil {
		return t.e.wrap("update the bucket registry", err)
	}
	reg := make(map[string]bool, len(t.reg)+1)
	for n := range t.reg {
		reg[n] = true
	}
	if exists {
		reg[name] = true
	} else {
		delete(reg, name)
	}
	t.reg, t.regChanged = reg, true
	return nil
}

// queries are one table's statements. In the generic table the bucket name
// is parameter $1 and the others follow.
type queries struct {
	get, del, count, deleteAll string
	// first, last: a page from either end; after, before: a page beyond a
	// key (exclusive); upto: a page from a key (inclusive) down.
	first, last, after, before, upto string
	// walk: after, walkPage pairs.
	walk string
	// around: aroundN pairs from a key up and as many below it (a Seek).
	around string
	// putMany, delMany: many pairs in one statement (buffer.go); getMany:
	// the values of many keys.
	putMany, delMany, getMany string
	// has: which of many keys are there; maxKey: the largest key (copy.go).
	has, maxKey string
	// ahead: the pairs from a key on, for a Get's read-ahead.
	ahead string
}

// queryCache holds every table's statements by table name. It is built when
// the first bucket is opened, not at start-up: ~1,500 allocations and ~0.5 ms
// that every celltrack process paid, though most never reach PostgreSQL.
var queryCache = sync.OnceValue(func() map[string]*queries {
	m := map[string]*queries{}
	for _, t := range append([]table{generic}, tablesList()...) {
		m[t.name] = buildQueries(t)
	}
	return m
})

// tablesList is the tables of their own and the derived ones (views).
func tablesList() []table {
	var l []table
	for _, t := range tables() {
		l = append(l, t)
	}
	for _, t := range derivedTables {
		l = append(l, t)
	}
	return l
}

func buildQueries(t table) *queries {
	where, p := "", 1 // the WHERE prefix and the number of the first key parameter
	val := t.val
	if t.json {
		val = t.val + "::text"
	}
	if t == generic {
		where, p = "bucket = $1 AND ", 2
	}
	q := &queries{}
	q.get = fmt.Sprintf("SELECT %s FROM %s WHERE %sk = $%d", val, t.name, where, p)
	q.del = fmt.Sprintf("DELETE FROM %s WHERE %sk = $%d", t.name, where, p)
	all := ""
	if t == generic {
		all = " WHERE bucket = $1"
	}
	q.count = fmt.Sprintf("SELECT count(*) FROM %s%s", t.name, all)
	q.deleteAll = fmt.Sprintf("DELETE FROM %s%s", t.name, all)
	page := func(cond, order string, n int) string {
		w := ""
		switch {
		case cond != "":
			w = fmt.Sprintf(" WHERE %sk %s $%d", where, cond, p)
		case t == generic:
			w = " WHERE bucket = $1"
		}
		return fmt.Sprintf("SELECT k, %s FROM %s%s ORDER BY k %s LIMIT %d", val, t.name, w, order, n)
	}
	q.first, q.last = page("", "ASC", pageSize), page("", "DESC", pageSize)
	q.after, q.before, q.upto = page(">", "ASC", pageSize), page("<", "DESC", pageSize), page("<=", "DESC", pageSize)
	q.walk = page(">", "ASC", walkPage)
	q.around = fmt.Sprintf("(SELECT k, %[1]s FROM %[2]s WHERE %[3]sk >= $%[4]d ORDER BY k ASC LIMIT %[5]d) UNION ALL "+
		"(SELECT k, %[1]s FROM %[2]s WHERE %[3]sk < $%[4]d ORDER BY k DESC LIMIT %[5]d)", val, t.name, where, p, aroundN)
	buildManyQueries(t, q, where, p, val)
	return q
}
