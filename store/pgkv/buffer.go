package pgkv

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/celltrack/celltrack/store/kv"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Writes are buffered. A write transaction's Puts and Deletes are kept in
// memory, by bucket, and sent to the server together — one multi-row
// statement per table and kind, in chunks, or a COPY for many new pairs
// (copy.go) — before COMMIT, before a bucket is counted, and whenever more
// than flushAt are waiting. A transaction
// reads its own writes from the buffer: Get looks there first, and a cursor
// merges the buffer with the table's pages. So a transaction that writes
// many pairs (an import of 100,000 lots writes ~600,000) costs a few round
// trips per 10,000 pairs instead of one per pair, and no rule of store's
// changes: it sees exactly what it would see had every write gone out at
// once. Nothing else sees the writes before COMMIT in either case.
//
// Values Get reads from the server are cached for the rest of the
// transaction (a write transaction holds the writer lock, a read one reads
// a snapshot: nothing changes them underneath), so a record read twice is
// one round trip.
//
// A write the server refuses (a constraint, the append-only trigger) is
// reported by the statement that sends it: by Update, from the commit,
// rather than by the Put. Every constraint of the schema is deferred to the
// commit already, so that changes only for the append-only tables.

// flushAt is how many buffered writes a transaction holds before it sends
// them: enough for a bulk import to go out in large statements (a COPY
// of a thousand rows or more per table), few enough that the server
// starts on them early. An import's sends go behind it (behind.go): the server
// takes each while celltrack makes the next, and what is left for the
// commit to wait on is the last — ~1,400 lots' worth, not up to the
// ~7,000 that 50,000 writes were (issue 14).
var flushAt = 10_000

// chunk is how many pairs one statement carries.
const chunk = 5_000

// op is one buffered write: a value, or a deletion.
type op struct {
	v   []byte
	del bool
}

// pending is one bucket's buffered writes: the latest op of each key, and
// the keys in order (they mostly arrive in order: audit sequence numbers,
// UUIDv7 ids).
type pending struct {
	keys [][]byte
	ops  map[string]op
}

// set records o as the latest op of k and reports whether k is new to the
// buffer (a key written again is still one pair to send).
func (p *pending) set(k []byte, o op) (added bool) {
	n := len(p.ops)
	p.ops[string(k)] = o // one hash of k: the map grew if k is new
	if len(p.ops) == n {
		return false
	}
	if n := len(p.keys); n == 0 || bytes.Compare(p.keys[n-1], k) < 0 {
		p.keys = append(p.keys, k)
	} else {
		i, _ := slices.BinarySearchFunc(p.keys, k, bytes.Compare)
		p.keys = slices.Insert(p.keys, i, k)
	}
	return true
}

func (p *pending) lookup(k []byte) (op, bool) {
	if p == nil {
		return op{}, false
	}
	o, ok := p.ops[string(k)]
	return o, ok
}

// near returns the buffered key nearest k in direction desc: the first key
// > k (≥ k unless strict), or the last key < k (≤ k). A nil k is the end
// the direction starts from.
func (p *pending) near(k []byte, desc, strict bool) ([]byte, op, bool) {
	if p == nil || len(p.keys) == 0 {
		return nil, op{}, false
	}
	var i int
	switch {
	case k == nil && !desc:
		i = 0
	case k == nil:
		i = len(p.keys) - 1
	case !desc:
		j, found := slices.BinarySearchFunc(p.keys, k, bytes.Compare)
		if found && strict {
			j++
		}
		i = j
	default:
		j, found := slices.BinarySearchFunc(p.keys, k, bytes.Compare)
		if found && !strict {
			i = j
		} else {
			i = j - 1
		}
	}
	if i < 0 || i >= len(p.keys) {
		return nil, op{}, false
	}
	return p.keys[i], p.ops[string(p.keys[i])], true
}

// buildManyQueries adds the multi-row statements of table t to q. Keys and
// values go as arrays, unnested by the server.
func buildManyQueries(t table, q *queries, where string, p int, val string) {
	q.delMany = fmt.Sprintf("DELETE FROM %s WHERE %sk = ANY($%d::bytea[])", t.name, where, p)
	q.getMany = fmt.Sprintf("SELECT k, %s FROM %s WHERE %sk = ANY($%d::bytea[])", val, t.name, where, p)
	q.has = fmt.Sprintf("SELECT k FROM %s WHERE %sk = ANY($%d::bytea[])", t.name, where, p)
	all := ""
	if t == generic {
		all = " WHERE bucket = $1"
	}
	q.maxKey = fmt.Sprintf("SELECT k FROM %s%s ORDER BY k DESC LIMIT 1", t.name, all) // no max(bytea)
	q.ahead = fmt.Sprintf("SELECT k, %s FROM %s WHERE %sk >= $%d ORDER BY k LIMIT %d", val, t.name, where, p, readAheadN)
	switch {
	case t == generic:
		q.putMany = "INSERT INTO kv (bucket, k, v) SELECT $1, u.k, u.v FROM unnest($2::bytea[], $3::bytea[]) AS u(k, v) " +
			"ON CONFLICT (bucket, k) DO UPDATE SET v = excluded.v"
	case t.json:
		q.putMany = jsonInsert(t, true)
	case appendOnly[t.name]:
		// No UPDATE (bucket.Put): the keys already there come back
		// missing from RETURNING and are compared instead.
		q.putMany = trailInsert(t, true)
	default:
		q.putMany = fmt.Sprintf("INSERT INTO %[1]s (k, %[2]s) SELECT u.k, u.v FROM unnest($1::bytea[], $2::bytea[]) AS u(k, v) "+
			"ON CONFLICT (k) DO UPDATE SET %[2]s = excluded.%[2]s", t.name, t.val)
	}
}

// buffer records a write of bucket name, sending every buffered write when
// there are more than flushAt: on a goroutine of its own when the
// transaction may (behind.go), else before it returns.
func (t *tx) buffer(name string, k []byte, o op) error {
	p := t.pending[name]
	if p == nil {
		if t.pending == nil {
			t.pending = map[string]*pending{}
		}
		p = &pending{ops: map[string]op{}}
		t.pending[name] = p
	}
	if p.set(k, o) {
		t.pendingN++ // counts keys, as flush and drop subtract them
	}
	if t.pendingN > flushAt {
		if t.behind {
			return t.sendBehind()
		}
		return t.flushAll()
	}
	return nil
}

// drop forgets bucket name's buffered writes and cached values (the bucket
// is being deleted).
func (t *tx) drop(name string) {
	if p := t.pending[name]; p != nil {
		t.pendingN -= len(p.keys)
		delete(t.pending, name)
	}
	delete(t.cache, name)
	t.flushes[name]++
}

// pendingNames is the buckets with buffered writes, in name order.
func (t *tx) pendingNames() []string {
	names := make([]string, 0, len(t.pending))
	for n := range t.pending {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// flushAll sends every bucket's buffered writes, in bucket-name order, in
// one pipelined batch (flush).
func (t *tx) flushAll() error { return t.flush(t.pendingNames()...) }

// flush sends the buffered writes of the buckets named: for each, the
// deletions, then the values, in statements of at most chunk pairs, all
// queued in one pgx batch (pipelined: one round trip for them all, and,
// unless the batch goes unprepared (rawBatch), one more to prepare those
// this connection has not run). A bucket with
// copyMin values or more sends those its table does not hold by COPY
// instead, after the batch (copy.go).
func (t *tx) flush(names ...string) error {
	s := t.take(withSource(names)...)
	if err := t.await(); err != nil {
		return err
	}
	return s.run()
}

// send is the statements of a flush, taken from the buffer (take) and not
// sent yet. run touches nothing of the transaction but its connection
// (t.conn), so that it may run while the transaction goes on (behind.go).
type send struct {
	t      *tx
	what   string
	batch  *pgx.Batch
	checks []*appendCheck
	cands  []*copyCandidate
	// taken is the buffered writes sent, by bucket: while the send runs
	// behind, Get answers from them (behind.go).
	taken map[string]*pending
}

// take moves the buffered writes of the buckets named into a send, and
// keeps what the transaction knows of their tables true of them with the
// send in (written).
func (t *tx) take(names ...string) *send {
	s := &send{t: t, what: "write " + strings.Join(names, ", "), batch: &pgx.Batch{}, taken: map[string]*pending{}}
	for _, name := range names {
		p := t.pending[name]
		if p == nil {
			continue
		}
		s.taken[name] = p
		delete(t.pending, name)
		t.pendingN -= len(p.keys)
		t.flushes[name]++
		t.written(name, p)
		b := newBucket(t, name)
		if b.tbl.derived {
			continue // the lots rows carry the pairs (derivedTables)
		}
		var dels, putKeys [][]byte
		var putVals [][]byte
		for _, k := range p.keys {
			o := p.ops[string(k)]
			if o.del {
				dels = append(dels, k)
				continue
			}
			putKeys = append(putKeys, k)
			putVals = append(putVals, o.v)
		}
		for from := 0; from < len(dels); from += chunk {
			s.batch.Queue(b.q.delMany, b.args(dels[from:min(from+chunk, len(dels))])...).Exec(func(pgconn.CommandTag) error { return nil })
		}
		if copyable(b.tbl) && len(putKeys) >= copyMin {
			s.cands = append(s.cands, &copyCandidate{b: b, ks: putKeys, vs: putVals})
			continue
		}
		s.checks = b.queueChunks(s.batch, s.checks, putKeys, putVals)
	}
	// After the deletions: the largest key of each bucket that may go by
	// COPY (copy.go).
	for _, c := range s.cands {
		c.queueMax(s.batch)
	}
	return s
}

// withSource is names with the table the derived buckets among them are
// read from: their pairs show in their views once its rows are sent.
func withSource(names []string) []string {
	for _, n := range names {
		if tableFor(n).derived && !slices.Contains(names, derivedFrom) {
			return append(slices.Clip(names), derivedFrom)
		}
	}
	return names
}

// sourceChanged forgets what the transaction read of the derived buckets:
// their table changed other than by a send that carried their pairs
// (PutMany, DeleteBucket).
func (t *tx) sourceChanged(name string) {
	if name != derivedFrom {
		return
	}
	for d := range derivedTables {
		delete(t.cache, d)
		t.flushes[d]++
	}
}

// run sends s.
func (s *send) run() error {
	if err := s.t.sendBatch(s.what, s.batch, s.checks); err != nil {
		return err
	}
	if len(s.cands) > 0 {
		if err := s.t.copyPuts(s.what, s.cands); err != nil {
			return err
		}
	}
	for name, p := range s.taken {
		s.t.wrote(name, p)
	}
	return nil
}

// written keeps what the transaction knows of bucket name's table without
// asking true of it once p, taken from the buffer, is sent: a value Get
// read of a key p writes becomes p's; a key p writes inside a span read
// ahead is no longer known absent (sent); a cursor page that none of p's
// keys falls in holds; and the page at the table's end, when a cursor
// fetched one, takes in p's last pairs (carry). Every other page is stale
// (the stamp moves on). Dropping all of it instead would make the next
// read of the bucket wait for the send.
func (t *tx) written(name string, p *pending) {
	c := t.cache[name]
	if c == nil {
		return
	}
	for _, k := range p.keys {
		if _, ok := c.vals[string(k)]; ok {
			if o := p.ops[string(k)]; o.del {
				c.vals[string(k)] = nil
			} else {
				c.vals[string(k)] = o.v
			}
		}
	}
	if len(c.spans) > 0 {
		if c.sentN += len(p.keys); c.sentN > maxSent {
			c.spans, c.sent, c.sentN = nil, nil, 0
		} else {
			c.sent = append(c.sent, p.keys)
		}
	}
	c.seeks = nil // of the table before the send
	stamp := t.flushes[name]
	var pages []page
	var end *page
	for i := range c.pages {
		pg := &c.pages[i]
		switch {
		case pg.stamp != stamp-1:
		case pg.hi == nil:
			end = pg // the latest
		case !touches(p.keys, pg):
			pg.stamp = stamp
			pages = append(pages, *pg)
		}
	}
	if end != nil {
		if pg, ok := carry(end, p, stamp); ok {
			pages = append(pages, pg)
		}
	}
	c.pages = pages
}

// touches says whether one of keys (in order) is in pg's span of keys, its
// ends included either way.
func touches(keys [][]byte, pg *page) bool {
	i := 0
	if pg.lo != nil {
		i = sort.Search(len(keys), func(i int) bool { return bytes.Compare(keys[i], pg.lo) >= 0 })
	}
	return i < len(keys) && (pg.hi == nil || bytes.Compare(keys[i], pg.hi) <= 0)
}

// maxSent bounds the keys a bucket's cache holds as sent; past it the spans
// go, and a key not in vals is asked for.
const maxSent = 1 << 20

// carryN is how many pairs a page carried past a send keeps: enough for
// the audit tree's hashes of the entries appended since the send began.
const carryN = 1024

// carry is the page at the table's end once p is in it, from pg, the page
// at its end before: p's last carryN keys merged into pg's pairs from the
// first of them on — from pg's first pair when those are all of p's keys —
// its last carryN pairs kept. ok is false when pg does not cover that
// first key (nothing of the table between is known).
//
// A send of a few keys keeps the pairs before them: the audit tree's
// (~one key in 32 entries, ~40 a send of an import) — a node completed
// reads its left sibling, written sends ago, and a page cut at the last
// send's first key sent that Seek to the server, to wait there for the
// send under way (issue 14: two or three waits in a 10k import).
func carry(pg *page, p *pending, stamp int) (page, bool) {
	ks := p.keys
	whole := len(ks) <= carryN
	if !whole {
		ks = ks[len(ks)-carryN:]
	}
	lo := ks[0]
	if pg.lo != nil {
		if c := bytes.Compare(lo, pg.lo); c < 0 || c == 0 && !pg.loIn {
			return page{}, false
		}
	}
	out := page{lo: lo, loIn: true, stamp: stamp}
	i := 0
	if whole {
		out.lo, out.loIn = pg.lo, pg.loIn // every key of p is merged: pg's pairs before them stand
	} else {
		i = sort.Search(len(pg.pairs), func(i int) bool { return bytes.Compare(pg.pairs[i].k, lo) >= 0 })
	}
	pairs := make([]pair, 0, len(pg.pairs)-i+len(ks))
	for j := 0; i < len(pg.pairs) || j < len(ks); {
		if j == len(ks) || i < len(pg.pairs) && bytes.Compare(pg.pairs[i].k, ks[j]) < 0 {
			pairs = append(pairs, pg.pairs[i])
			i++
			continue
		}
		if i < len(pg.pairs) && bytes.Equal(pg.pairs[i].k, ks[j]) {
			i++ // the buffered write wins
		}
		if o := p.ops[string(ks[j])]; !o.del {
			pairs = append(pairs, pair{ks[j], o.v})
		}
		j++
	}
	if len(pairs) > carryN {
		pairs = pairs[len(pairs)-carryN:]
		out.lo, out.loIn = pairs[0].k, true
	}
	out.pairs = pairs
	return out, true
}

// queueChunks queues the statements that write pairs ks, vs of b, chunk
// pairs each, and returns checks with those of the append-only ones added.
func (b *bucket) queueChunks(batch *pgx.Batch, checks []*appendCheck, ks, vs [][]byte) []*appendCheck {
	for from := 0; from < len(ks); from += chunk {
		to := min(from+chunk, len(ks))
		if c := b.queuePuts(batch, ks[from:to], vs[from:to]); c != nil {
			checks = append(checks, c)
		}
	}
	return checks
}

// sendBatch sends batch, if it holds anything, in one round trip, then
// runs the append-only checks of its writes: on the connection itself, as
// part of a send (which may run behind, behind.go).
func (t *tx) sendBatch(what string, batch *pgx.Batch, checks []*appendCheck) error {
	if batch.Len() == 0 {
		return nil
	}
	if sent, err := t.rawBatch(batch); err != nil {
		return t.e.wrap(what, err)
	} else if !sent {
		if err := t.conn.SendBatch(t.ctx, batch).Close(); err != nil {
			return t.e.wrap(what, err)
		}
	}
	for _, c := range checks {
		if err := c.check(); err != nil {
			return err
		}
	}
	return nil
}

// queuePuts queues the statement that writes pairs. In an append-only
// table a key already there must hold the same bytes: the returned check
// compares them once the batch has run.
func (b *bucket) queuePuts(batch *pgx.Batch, ks, vs [][]byte) *appendCheck {
	var vals any = vs
	if b.tbl.json {
		texts := make([]string, len(vs))
		for i, v := range vs {
			texts[i] = string(v)
		}
		vals = texts
	}
	if !appendOnly[b.tbl.name] {
		batch.Queue(b.q.putMany, b.args(ks, vals)...).Exec(func(pgconn.CommandTag) error { return nil })
		return nil
	}
	c := &appendCheck{b: b, ks: ks, vs: vs}
	batch.Queue(b.q.putMany, ks, vals).Query(func(rows pgx.Rows) error {
		var err error
		c.inserted, err = pgx.CollectRows(rows, pgx.RowTo[[]byte])
		return err
	})
	return c
}

// appendCheck is the comparison of pairs written to an append-only table
// with what its keys already held.
type appendCheck struct {
	b        *bucket
	ks, vs   [][]byte
	inserted [][]byte
}

func (c *appendCheck) check() error {
	b := c.b
	if len(c.inserted) == len(c.ks) {
		return nil
	}
	// Some keys were there: the same bytes again change nothing; others
	// would rewrite the trail, which no one may.
	want := make(map[string][]byte, len(c.ks))
	for i, k := range c.ks {
		want[string(k)] = c.vs[i]
	}
	for _, k := range c.inserted {
		delete(want, string(k))
	}
	there := make([][]byte, 0, len(want))
	for k := range want {
		there = append(there, []byte(k))
	}
	rows, err := b.t.conn.Query(b.t.ctx, b.q.getMany, b.t.e.with(b.q.getMany, there)...)
	if err != nil {
		return b.t.e.wrap("put into "+b.name, err)
	}
	defer rows.Close()
	for rows.Next() {
		var k, old []byte
		if err := rows.Scan(&k, &old); err != nil {
			return b.t.e.wrap("put into "+b.name, err)
		}
		if !bytes.Equal(old, want[string(k)]) {
			return b.t.e.wrap("put into "+b.name, fmt.Errorf("%s is append-only: key %x holds a value already, which is never rewritten", b.tbl.name, k))
		}
	}
	if err := rows.Err(); err != nil {
		return b.t.e.wrap("put into "+b.name, err)
	}
	return nil
}

// maxPages is how many cursor pages a transaction keeps of each bucket.
const maxPages = 16

// pagesOf is the pages cursors fetched of bucket name in this transaction,
// the latest last.
func (t *tx) pagesOf(name string) *[]page {
	c := t.cacheOf(name)
	return &c.pages
}

// keepPage keeps pg, fetched of bucket name while its table was as stamp
// says, for the cursors of this transaction; the oldest page goes when
// maxPages are kept.
func (t *tx) keepPage(name string, stamp int, pg page) {
	pg.stamp = stamp
	pages := t.pagesOf(name)
	if len(*pages) == maxPages {
		*pages = (*pages)[1:]
	}
	*pages = append(*pages, pg)
}

func (t *tx) cacheOf(name string) *getCache {
	c := t.cache[name]
	if c == nil {
		if t.cache == nil {
			t.cache = map[string]*getCache{}
		}
		c = &getCache{vals: map[string][]byte{}}
		t.cache[name] = c
	}
	return c
}

type bucket struct {
	t    *tx
	name string
	tbl  table
	q    *queries
}

func newBucket(t *tx, name string) *bucket {
	tbl := tableFor(name)
	return &bucket{t: t, name: name, tbl: tbl, q: queryCache()[tbl.name]}
}

// args puts the bucket name first for the generic table.
func (b *bucket) args(rest ...any) []any {
	if b.tbl == generic {
		return append([]any{b.name}, rest...)
	}
	return rest
}

func (b *bucket) Get(key []byte) []byte {
	if o, ok := b.t.pending[b.name].lookup(key); ok {
		if o.del {
			return nil
		}
		return o.v
	}
	if j := b.t.sending; j != nil {
		if o, ok := j.taken[b.name].lookup(key); ok {
			if o.del {
				return nil
			}
			return o.v
		}
	}
	c := b.t.cacheOf(b.name)
	if v, ok := c.vals[string(key)]; ok {
		return v
	}
	if c.knowsAbsent(key) {
		return nil
	}
	if p, ok := fromPages(c.pages, b.t.flushes[b.name], key); ok {
		return p
	}
	if p, found, known := c.seekAnswer(b.t.flushes[b.name], key, false, false); known {
		if found && bytes.Equal(p.k, key) {
			return p.v
		}
		return nil
	}
	if c.misses++; c.misses > 1 {
		return b.readAhead(c, key)
	}
	var v []byte
	err := b.t.queryRow(b.q.get, b.t.e.with(b.q.get, b.args(key)...)).Scan(&v)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		v = nil
	case err != nil:
		b.t.fail("get from "+b.name, err)
	case v == nil:
		v = []byte{} // present but empty: not nil, as bbolt
	}
	c.vals[string(key)] = v
	return v
}

// fromPages answers a Get of key from a cursor page of this transaction
// that covers it (of the table as it is: stamp): its value, or nil when
// the page shows it absent.
func fromPages(pages []page, stamp int, key []byte) ([]byte, bool) {
	for i := len(pages) - 1; i >= 0; i-- {
		pg := &pages[i]
		if pg.stamp != stamp {
			continue
		}
		if p, found, known := pg.answer(key, false, false); known {
			if found && bytes.Equal(p.k, key) {
				return p.v, true
			}
			return nil, true
		}
	}
	return nil, false
}

// readAhead answers a Get of key that the cache cannot with the pairs from
// key on, readAheadN of them, all cached: records made together have
// neighbouring keys (UUIDv7 ids, audit sequence numbers, index keys with a
// common prefix), and a transaction that reads one of them mostly reads
// the next ones too — a trace reads a lot's bags, each bag's events, each
// event's audit entries in key order; an import looks up lot numbers and
// new ids in ascending order. The keys between key and the last pair read
// (to the table's end when fewer came back) are known absent from then on.
func (b *bucket) readAhead(c *getCache, key []byte) []byte {
	rows, err := b.t.query(b.q.ahead, b.t.e.with(b.q.ahead, b.args(key)...))
	if err != nil {
		b.t.fail("get from "+b.name, err)
	}
	var last []byte
	n := 0
	for rows.Next() {
		var k, v []byte
		if err := rows.Scan(&k, &v); err != nil {
			rows.Close()
			b.t.fail("get from "+b.name, err)
		}
		if v == nil {
			v = []byte{}
		}
		if _, ok := c.vals[string(k)]; !ok {
			c.vals[string(k)] = v
		}
		last, n = k, n+1
	}
	if err := rows.Err(); err != nil {
		b.t.fail("get from "+b.name, err)
	}
	if n < readAheadN {
		last = nil // to the end
	}
	c.addSpan(bytes.Clone(key), last)
	v, ok := c.vals[string(key)]
	if !ok {
		return nil
	}
	return v
}

// readAheadN is how many pairs a read-ahead fetches.
const readAheadN = 32

// getCache is what a transaction's Gets read of one bucket: values by key
// (nil: absent), and spans of keys read ahead, inside which a key not in
// vals is absent. The server's table changes under a transaction only
// through the transaction's own sends, which written keeps it true of.
type getCache struct {
	pages  []page    // cursor pages (cursor.table)
	seeks  []seekRun // pages PrefetchSeeks read (seekahead.go)
	vals   map[string][]byte
	spans  []span
	misses int
	// sent is the keys of the sends since the spans were read (each
	// send's in order): inside a span they are not known absent
	// (written); sentN counts them.
	sent  [][][]byte
	sentN int
}

// span is the keys from lo to hi inclusive; a nil hi runs to the end.
type span struct{ lo, hi []byte }

// maxSpans bounds the spans kept; the oldest go first.
const maxSpans = 256

func (c *getCache) addSpan(lo, hi []byte) {
	if len(c.spans) == maxSpans {
		c.spans = c.spans[1:]
	}
	c.spans = append(c.spans, span{lo, hi})
}

// knowsAbsent says whether key k is known absent from the table: inside a
// span read ahead, and not written since by a send.
func (c *getCache) knowsAbsent(k []byte) bool {
	if !c.spanned(k) {
		return false
	}
	for _, ks := range c.sent {
		// Mostly a key past every one sent (an import's next lot).
		if bytes.Compare(k, ks[len(ks)-1]) > 0 || bytes.Compare(k, ks[0]) < 0 {
			continue
		}
		if _, found := slices.BinarySearchFunc(ks, k, bytes.Compare); found {
			return false
		}
	}
	return true
}

func (c *getCache) spanned(k []byte) bool {
	for i := len(c.spans) - 1; i >= 0; i-- {
		s := c.spans[i]
		if bytes.Compare(k, s.lo) >= 0 && (s.hi == nil || bytes.Compare(k, s.hi) <= 0) {
			return true
		}
	}
	return false
}

func (b *bucket) Put(key, value []byte) error {
	switch {
	case !b.t.write:
		return ErrTxNotWritable
	case len(key) == 0:
		return ErrKeyRequired
	}
	if appendOnly[b.tbl.name] {
		// Written earlier in this transaction: the same rule as for a
		// key in the table (putMany).
		if o, ok := b.t.pending[b.name].lookup(key); ok && !o.del && !bytes.Equal(o.v, value) {
			return b.t.e.wrap("put into "+b.name, fmt.Errorf("%s is append-only: key %x holds a value already, which is never rewritten", b.tbl.name, key))
		}
	}
	// Copies: the buffer outlives the caller's use of its slices.
	v := make([]byte, len(value)) // never nil: nil would be NULL, and Get returns it
	copy(v, value)
	return b.t.buffer(b.name, bytes.Clone(key), op{v: v})
}

func (b *bucket) Delete(key []byte) error {
	if !b.t.write {
		return ErrTxNotWritable
	}
	return b.t.buffer(b.name, bytes.Clone(key), op{del: true})
}

func (b *bucket) KeyN() int {
	if b.t.pending[b.name] != nil {
		if err := b.t.flush(b.name); err != nil {
			panic(err)
		}
	}
	var n int
	if err := b.t.queryRow(b.q.count, b.t.e.with(b.q.count, b.args()...)).Scan(&n); err != nil {
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

// cursor walks a bucket in key order: the table's pairs, fetched a page at
// a time in the direction of the move, merged with the transaction's
// buffered writes (a buffered value replaces the table's, a buffered
// deletion hides it). Each move starts from the current key, so writes
// between moves are seen.
type cursor struct {
	b   *bucket
	cur []byte // the current key; nil: none
	// up counts the pages this cursor fetched going up in a row, from
	// First or a Next (fetch).
	up int
}

// page is a run of the table's pairs as one query returned them, in
// ascending order, with the keys it covers: every key of the table between
// lo and hi (each included when loIn, hiIn; nil: no bound on that side) is
// in pairs. A page fetched going up covers from the key it started at to its
// last pair (to the end when the query ran out), one fetched going down the
// same way round, and a Seek's page (around) both sides of the key sought.
// Pages hold until the bucket's table changes (stamp).
type page struct {
	pairs      []pair
	lo, hi     []byte
	loIn, hiIn bool
	stamp      int
}

// answer finds the table's pair nearest k in direction desc (see
// pending.near) in the page; known says whether the page can tell.
func (pg *page) answer(k []byte, desc, strict bool) (p pair, found, known bool) {
	if !desc {
		// All keys from k up must be covered, as far as the answer.
		switch {
		case pg.lo == nil:
		case k == nil:
			return pair{}, false, false
		default:
			if c := bytes.Compare(k, pg.lo); c < 0 || c == 0 && !pg.loIn && !strict {
				return pair{}, false, false
			}
		}
		i := 0
		if k != nil {
			i = sort.Search(len(pg.pairs), func(i int) bool {
				c := bytes.Compare(pg.pairs[i].k, k)
				return c > 0 || c == 0 && !strict
			})
		}
		if i < len(pg.pairs) {
			return pg.pairs[i], true, true
		}
		return pair{}, false, pg.hi == nil
	}
	switch {
	case pg.hi == nil:
	case k == nil:
		return pair{}, false, false
	default:
		if c := bytes.Compare(k, pg.hi); c > 0 || c == 0 && !pg.hiIn && !strict {
			return pair{}, false, false
		}
	}
	j := len(pg.pairs) - 1
	if k != nil {
		j = sort.Search(len(pg.pairs), func(i int) bool {
			c := bytes.Compare(pg.pairs[i].k, k)
			return c > 0 || c == 0 && strict
		}) - 1
	}
	if j >= 0 {
		return pg.pairs[j], true, true
	}
	return pair{}, false, pg.lo == nil
}

// table returns the table's pair nearest k in direction desc (see
// pending.near): from a page of the bucket fetched earlier in this
// transaction by any cursor (store makes a new cursor for each walk: the
// audit chain's Last for each entry appended, a Seek and Prevs for each
// record a trace verifies) when one can tell, else from a new page.
func (c *cursor) table(k []byte, desc, strict bool) (pair, bool) {
	stamp := c.b.t.flushes[c.b.name]
	if !desc && !strict && k != nil {
		// A Seek to a key Get has read (store seeks each record it
		// verifies against its audit entries, after reading it): that
		// pair is the answer.
		if v := c.b.t.cacheOf(c.b.name).vals[string(k)]; v != nil {
			return pair{bytes.Clone(k), v}, true
		}
	}
	pages := c.b.t.pagesOf(c.b.name)
	for i := len(*pages) - 1; i >= 0; i-- {
		pg := &(*pages)[i]
		if pg.stamp != stamp {
			continue
		}
		if p, found, known := pg.answer(k, desc, strict); known {
			return p, found
		}
	}
	if p, found, known := c.b.t.cacheOf(c.b.name).seekAnswer(stamp, k, desc, strict); known {
		return p, found
	}
	pg := c.fetch(k, desc, strict)
	c.b.t.keepPage(c.b.name, stamp, pg)
	p, found, known := pg.answer(k, desc, strict)
	if !known {
		// A page fetched for k always answers for k.
		c.b.t.fail("read "+c.b.name, fmt.Errorf("a page fetched for key %x does not cover it", k))
	}
	return p, found
}

// fetch reads the page the move from k needs: pageSize pairs in its
// direction (walkPage going up, once the cursor has fetched walkAfter pages
// up in a row: a long walk), or for a Seek (up from k, k included) aroundN pairs
// each side of k, so that the Prev that often follows a Seek is answered too.
func (c *cursor) fetch(k []byte, desc, strict bool) page {
	var q string
	n := pageSize
	up := c.up
	c.up = 0 // a move that does not go on up starts again
	switch {
	case k == nil && !desc:
		q = c.b.q.first
		c.up = 1
	case k == nil:
		q = c.b.q.last
	case !desc && strict && up >= walkAfter && c.b.tbl != generic:
		q, n = c.b.q.walk, walkPage
		c.up = up
	case !desc && strict:
		q = c.b.q.after
		c.up = up + 1
	case !desc:
		q = c.b.q.around
	case strict:
		q = c.b.q.before
	default:
		q = c.b.q.upto
	}
	args := c.b.args()
	if k != nil {
		args = c.b.args(k)
	}
	rows, err := c.b.t.query(q, c.b.t.e.with(q, args...))
	if err != nil {
		c.b.t.fail("read "+c.b.name, err)
	}
	pairs := make([]pair, 0, n)
	for rows.Next() {
		var p pair
		if err := rows.Scan(&p.k, &p.v); err != nil {
			rows.Close()
			c.b.t.fail("read "+c.b.name, err)
		}
		if p.v == nil {
			p.v = []byte{}
		}
		pairs = append(pairs, p)
	}
	if err := rows.Err(); err != nil {
		c.b.t.fail("read "+c.b.name, err)
	}
	if q == c.b.q.around {
		sort.Slice(pairs, func(i, j int) bool { return bytes.Compare(pairs[i].k, pairs[j].k) < 0 })
		pg := page{pairs: pairs}
		below := sort.Search(len(pairs), func(i int) bool { return bytes.Compare(pairs[i].k, k) >= 0 })
		if below == aroundN {
			pg.lo, pg.loIn = pairs[0].k, true
		}
		if len(pairs)-below == aroundN {
			pg.hi, pg.hiIn = pairs[len(pairs)-1].k, true
		}
		return pg
	}
	return pageOf(pairs, k, desc, strict, n)
}

// pageOf is the page of pairs, in the order a query of at most n pairs
// returned them, for a move from k in direction desc (not a Seek's).
func pageOf(pairs []pair, k []byte, desc, strict bool, n int) page {
	pg := page{}
	if !desc {
		pg.lo, pg.loIn = bytes.Clone(k), !strict
		if len(pairs) == n {
			pg.hi, pg.hiIn = pairs[len(pairs)-1].k, true
		}
	} else {
		slices.Reverse(pairs)
		pg.hi, pg.hiIn = bytes.Clone(k), !strict
		if len(pairs) == n {
			pg.lo, pg.loIn = pairs[0].k, true
		}
	}
	pg.pairs = pairs
	return pg
}

// move lands on the pair nearest k in direction desc, of the table and the
// buffer together.
func (c *cursor) move(k []byte, desc, strict bool) ([]byte, []byte) {
	p := c.b.t.pending[c.b.name]
	for {
		tp, tok := c.table(k, desc, strict)
		pk, po, pok := p.near(k, desc, strict)
		if !tok && !pok {
			c.cur = nil
			return nil, nil
		}
		usePending := pok
		if tok && pok {
			cmp := bytes.Compare(pk, tp.k)
			if desc {
				cmp = -cmp
			}
			usePending = cmp <= 0 // the buffer's write of the same key wins
		}
		if !usePending {
			c.cur = tp.k
			return tp.k, tp.v
		}
		if po.del {
			k, strict = pk, true
			continue
		}
		c.cur = pk
		return pk, po.v
	}
}

func (c *cursor) First() (k, v []byte) { return c.move(nil, false, false) }
func (c *cursor) Last() (k, v []byte)  { return c.move(nil, true, false) }

func (c *cursor) Seek(seek []byte) (k, v []byte) {
	if seek == nil {
		seek = []byte{}
	}
	return c.move(seek, false, false)
}

func (c *cursor) Next() (k, v []byte) {
	if c.cur == nil {
		return nil, nil
	}
	return c.move(c.cur, false, true)
}

func (c *cursor) Prev() (k, v []byte) {
	if c.cur == nil {
		return nil, nil
	}
	return c.move(c.cur, true, true)
}

// Delete removes the pair the cursor is on; the next move goes on from its
// key.
func (c *cursor) Delete() error {
	if c.cur == nil {
		return errors.New("cursor is not on a key")
	}
	return c.b.Delete(c.cur)
}
