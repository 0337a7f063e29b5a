package pgkv

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/celltrack/celltrack/store/kv"
	"github.com/jackc/pgx/v5"
)

// pageSize is how many pairs a cursor fetches at a time, in the direction it
// moves.
const pageSize = 128

// Errors of bbolt's that store may meet in the same places.
var (
	ErrBucketExists   = errors.New("bucket already exists")
	ErrBucketNotFound = errors.New("bucket not found")
	ErrNameRequired   = errors.New("bucket name required")
	ErrKeyRequired    = errors.New("key required")
	ErrTxNotWritable  = errors.New("tx not writable")
)

type tx struct {
	e     *Engine
	ctx   context.Context
	ptx   pgx.Tx
	write bool

	gen        int64
	reg        map[string]bool // the buckets that exist; shared with the engine until changed
	regChanged bool
	buckets    map[string]*bucket
	// writes counts the writes to each bucket, so a cursor knows when its
	// prefetched page may be stale.
	writes map[string]int
}

// loadRegistry reads the registry generation and, when the engine's cache
// is older, the registry itself: one small query per transaction, and a
// second only after another process created or deleted a bucket.
func (t *tx) loadRegistry() error {
	if err := t.ptx.QueryRow(t.ctx, "SELECT gen FROM kv_generation").Scan(&t.gen); err != nil {
		return t.e.wrap("read the bucket registry", err)
	}
	t.e.mu.RLock()
	gen, reg := t.e.gen, t.e.buckets
	t.e.mu.RUnlock()
	if gen == t.gen {
		t.reg = reg
		return nil
	}
	rows, err := t.ptx.Query(t.ctx, "SELECT name FROM kv_buckets")
	if err != nil {
		return t.e.wrap("read the bucket registry", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return t.e.wrap("read the bucket registry", err)
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
	if _, err := t.ptx.Exec(t.ctx, b.q.deleteAll, b.args()...); err != nil {
		return t.e.wrap("delete bucket "+string(name), err)
	}
	if _, err := t.ptx.Exec(t.ctx, "DELETE FROM kv_buckets WHERE name = $1", string(name)); err != nil {
		return t.e.wrap("delete bucket "+string(name), err)
	}
	delete(t.buckets, string(name))
	t.writes[string(name)]++
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
	get, put, del, count, deleteAll string
	// first, last: a page from either end; after, before, from: a page
	// beyond a key (exclusive) or from one (inclusive).
	first, last, after, before, from string
}

var queryCache = map[string]*queries{}

func init() {
	for _, t := range append([]table{generic}, tablesList()...) {
		queryCache[t.name] = buildQueries(t)
	}
}

func tablesList() []table {
	var l []table
	for _, t := range tables {
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
	switch {
	case t == generic:
		q.put = "INSERT INTO kv (bucket, k, v) VALUES ($1, $2, $3) ON CONFLICT (bucket, k) DO UPDATE SET v = excluded.v"
	case t.json:
		q.put = fmt.Sprintf("INSERT INTO %[1]s (k, %[2]s) VALUES ($1, $2::text::json) ON CONFLICT (k) DO UPDATE SET %[2]s = excluded.%[2]s", t.name, t.val)
	case appendOnly[t.name]:
		// No UPDATE at all (the role the sites use has no UPDATE privilege
		// on these tables, which ON CONFLICT DO UPDATE would need): a key
		// already there is compared instead (bucket.Put).
		q.put = fmt.Sprintf("INSERT INTO %s (k, %s) VALUES ($1, $2) ON CONFLICT (k) DO NOTHING", t.name, t.val)
	default:
		q.put = fmt.Sprintf("INSERT INTO %[1]s (k, %[2]s) VALUES ($1, $2) ON CONFLICT (k) DO UPDATE SET %[2]s = excluded.%[2]s", t.name, t.val)
	}
	q.del = fmt.Sprintf("DELETE FROM %s WHERE %sk = $%d", t.name, where, p)
	all := ""
	if t == generic {
		all = " WHERE bucket = $1"
	}
	q.count = fmt.Sprintf("SELECT count(*) FROM %s%s", t.name, all)
	q.deleteAll = fmt.Sprintf("DELETE FROM %s%s", t.name, all)
	page := func(cond, order string) string {
		w := ""
		switch {
		case cond != "":
			w = fmt.Sprintf(" WHERE %sk %s $%d", where, cond, p)
		case t == generic:
			w = " WHERE bucket = $1"
		}
		return fmt.Sprintf("SELECT k, %s FROM %s%s ORDER BY k %s LIMIT %d", val, t.name, w, order, pageSize)
	}
	q.first, q.last = page("", "ASC"), page("", "DESC")
	q.after, q.before, q.from = page(">", "ASC"), page("<", "DESC"), page(">=", "ASC")
	return q
}

type bucket struct {
	t    *tx
	name string
	tbl  table
	q    *queries
}

func newBucket(t *tx, name string) *bucket {
	tbl := tableFor(name)
	return &bucket{t: t, name: name, tbl: tbl, q: queryCache[tbl.name]}
}

// args puts the bucket name first for the generic table.
func (b *bucket) args(rest ...any) []any {
	if b.tbl == generic {
		return append([]any{b.name}, rest...)
	}
	return rest
}

func (b *bucket) Get(key []byte) []byte {
	var v []byte
	err := b.t.ptx.QueryRow(b.t.ctx, b.q.get, b.args(key)...).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		b.t.fail("get from "+b.name, err)
	}
	if v == nil {
		v = []byte{} // present but empty: not nil, as bbolt
	}
	return v
}

func (b *bucket) Put(key, value []byte) error {
	switch {
	case !b.t.write:
		return ErrTxNotWritable
	case len(key) == 0:
		return ErrKeyRequired
	}
	var v any = value
	if value == nil {
		v = []byte{} // nil would be NULL
	}
	if b.tbl.json {
		v = string(value)
	}
	b.t.writes[b.name]++
	tag, err := b.t.ptx.Exec(b.t.ctx, b.q.put, b.args(key, v)...)
	if err != nil {
		return b.t.e.wrap("put into "+b.name, err)
	}
	if appendOnly[b.tbl.name] && tag.RowsAffected() == 0 {
		// The key is there: the same bytes again change nothing; others
		// would rewrite the trail, which no one may.
		var old []byte
		if err := b.t.ptx.QueryRow(b.t.ctx, b.q.get, key).Scan(&old); err != nil {
			return b.t.e.wrap("put into "+b.name, err)
		}
		if !bytes.Equal(old, value) {
			return b.t.e.wrap("put into "+b.name, fmt.Errorf("%s is append-only: key %x holds a value already, which is never rewritten", b.tbl.name, key))
		}
	}
	return nil
}

func (b *bucket) Delete(key []byte) error {
	if !b.t.write {
		return ErrTxNotWritable
	}
	b.t.writes[b.name]++
	if _, err := b.t.ptx.Exec(b.t.ctx, b.q.del, b.args(key)...); err != nil {
		return b.t.e.wrap("delete from "+b.name, err)
	}
	return nil
}

func (b *bucket) KeyN() int {
	var n int
	if err := b.t.ptx.QueryRow(b.t.ctx, b.q.count, b.args()...).Scan(&n); err != nil {
		b.t.fail("count "+b.name, err)
	}
	return n
}

// SetFillPercent is a bbolt page hint; PostgreSQL has nothing to do with it.
func (b *bucket) SetFillPercent(float64) {}

func (b *bucket) ForEach(fn func(k, v []byte) error) error {
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if err := fn(k, v); err != nil {
			return err
		}
	}
	return nil
}

func (b *bucket) Cursor() kv.Cursor { return &cursor{b: b} }

type pair struct{ k, v []byte }

// cursor walks a bucket a page at a time. The page holds pairs in the
// direction of the last fetch; a write to the bucket through the same
// transaction makes it stale, and the next move fetches again from the
// current key.
type cursor struct {
	b     *bucket
	page  []pair
	i     int  // the current pair in page; -1: none
	desc  bool // page runs in descending key order
	full  bool // page is all that is left in its direction
	stamp int  // b.t.writes[b.name] when page was fetched
}

func (c *cursor) fetch(query string, desc bool, key []byte) (k, v []byte) {
	args := c.b.args()
	if key != nil {
		args = c.b.args(key)
	}
	rows, err := c.b.t.ptx.Query(c.b.t.ctx, query, args...)
	if err != nil {
		c.b.t.fail("read "+c.b.name, err)
	}
	page := c.page[:0]
	for rows.Next() {
		var p pair
		if err := rows.Scan(&p.k, &p.v); err != nil {
			rows.Close()
			c.b.t.fail("read "+c.b.name, err)
		}
		if p.v == nil {
			p.v = []byte{}
		}
		page = append(page, p)
	}
	if err := rows.Err(); err != nil {
		c.b.t.fail("read "+c.b.name, err)
	}
	c.page, c.desc, c.full, c.stamp = page, desc, len(page) < pageSize, c.b.t.writes[c.b.name]
	if len(page) == 0 {
		c.i = -1
		return nil, nil
	}
	c.i = 0
	return page[0].k, page[0].v
}

func (c *cursor) current() []byte {
	if c.i < 0 || c.i >= len(c.page) {
		return nil
	}
	return c.page[c.i].k
}

func (c *cursor) fresh() bool { return c.stamp == c.b.t.writes[c.b.name] }

func (c *cursor) First() (k, v []byte) { return c.fetch(c.b.q.first, false, nil) }
func (c *cursor) Last() (k, v []byte)  { return c.fetch(c.b.q.last, true, nil) }

func (c *cursor) Seek(seek []byte) (k, v []byte) {
	if seek == nil {
		seek = []byte{}
	}
	return c.fetch(c.b.q.from, false, seek)
}

func (c *cursor) Next() (k, v []byte) { return c.step(false) }
func (c *cursor) Prev() (k, v []byte) { return c.step(true) }

// step moves one pair in direction desc: within the page when it is fresh
// and runs that way, else by fetching the next page beyond the current key.
func (c *cursor) step(desc bool) (k, v []byte) {
	cur := c.current()
	if cur == nil {
		return nil, nil
	}
	if c.fresh() && c.desc == desc {
		if c.i+1 < len(c.page) {
			c.i++
			return c.page[c.i].k, c.page[c.i].v
		}
		if c.full {
			c.i = -1
			return nil, nil
		}
	}
	cur = bytes.Clone(cur)
	if desc {
		return c.fetch(c.b.q.before, true, cur)
	}
	return c.fetch(c.b.q.after, false, cur)
}

// Delete removes the pair the cursor is on; the next move goes on from its
// key.
func (c *cursor) Delete() error {
	cur := c.current()
	if cur == nil {
		return errors.New("cursor is not on a key")
	}
	return c.b.Delete(cur)
}
