package pgkv

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/celltrack/celltrack/store/kv"
)

var _ kv.Prefetcher = (*bucket)(nil)

// prefetchChunk is how many keys one Prefetch statement asks for.
const prefetchChunk = 1000

// Prefetch reads the values of the keys no Get of this transaction could
// answer yet (not buffered, cached, known absent or on a cursor page) and
// caches them, absent ones as absent: the Gets that follow are answered
// from the cache. store calls it with the ids an index lists before it
// reads their records (a patient's infusions, a container's custody
// events, a lot's results).
//
// The same statement reads ahead from the smallest of them, as a Get's
// second miss does (readAhead): the records an index lists for one parent
// are often the neighbours of those listed for the next (a lot's bags'
// custody events, made together), and a trace asks for them next.
func (b *bucket) Prefetch(keys ...[]byte) {
	c := b.t.cacheOf(b.name)
	p := b.t.pending[b.name]
	stamp := b.t.flushes[b.name]
	want := unknown(keys, func(k []byte) bool { return answered(c, p, stamp, k) })
	if len(want) < 2 {
		return // a Get is one round trip too
	}
	for len(want) > 0 {
		n := min(len(want), prefetchChunk)
		b.getMany(c, want[:n])
		want = want[n:]
	}
}

// unknown is keys, each once and in order, without those known says the
// transaction can answer already.
func unknown(keys [][]byte, known func(k []byte) bool) [][]byte {
	var want [][]byte
	seen := make(map[string]bool, len(keys))
	for _, k := range keys {
		if !seen[string(k)] && !known(k) {
			want = append(want, k)
		}
		seen[string(k)] = true
	}
	slices.SortFunc(want, bytes.Compare)
	return want
}

// answered says whether a Get of k can be answered without asking the
// server: buffered (p), read, known absent, or on a page of the table as it
// is (stamp).
func answered(c *getCache, p *pending, stamp int, k []byte) bool {
	if _, ok := p.lookup(k); ok {
		return true
	}
	if _, ok := c.vals[string(k)]; ok || c.knowsAbsent(k) {
		return true
	}
	if _, ok := fromPages(c.pages, stamp, k); ok {
		return true
	}
	_, _, known := c.seekAnswer(stamp, k, false, false)
	return known
}

var _ kv.KeysPrefetcher = (*tx)(nil)

// PrefetchKeys reads the values of keys, of any buckets, that no Get of this
// transaction could answer yet, in one round trip: a statement per bucket,
// sent together unprepared (execRaw), with BEGIN when the transaction has
// not begun. store calls it with the keys a session check and a write's
// actor check read one after the other (the database identity, the
// session, the settings, the actor's name, the migration mark).
func (t *tx) PrefetchKeys(keys ...kv.BucketKey) {
	t.PrefetchReads(kv.Reads{Keys: keys})
}

var _ kv.ReadsPrefetcher = (*tx)(nil)

// PrefetchReads is PrefetchKeys of r.Keys and PrefetchSeeksIn of r.Seeks
// together, with the page of each of r.Ends a cursor's First or Last would
// fetch: every statement they need in one round trip, none when fewer
// than two keys, seeks and ends are left to read (a Get, a Seek or a Last
// is one round trip too). store calls it with what a bedside check reads
// next of the patient and of each bag, found from what it read before, and
// with what every write reads before its own work: the session, the
// actor, and the ends of the audit trail and its tree, which the chain's
// append and the migration check read.
func (t *tx) PrefetchReads(r kv.Reads) {
	ct, ok := t.conn.(*connTx)
	if !ok {
		return // a bulk load's transaction (load.go): Get as it comes
	}
	kp := t.keysPlan(r.Keys)
	sp := t.seeksPlan(r.Seeks)
	ep := t.endsPlan(r.Ends)
	if kp.n+sp.n+len(ep.stmts) < 2 {
		return
	}
	stmts := append(append(kp.stmts, sp.stmts...), ep.stmts...)
	if err := t.await(); err != nil {
		t.fail("read", err)
	}
	res, err := ct.many(t.ctx, stmts)
	if err != nil {
		t.fail("read", err)
	}
	t.keysApply(kp, res[:len(kp.stmts)])
	res = res[len(kp.stmts):]
	for i, pt := range sp.parts {
		pt.b.addSeekRun(pt.below, pt.from, pt.keys, &memRows{res: res[i]})
	}
	t.endsApply(ep, res[len(sp.stmts):])
}

// keysPlan is what PrefetchReads reads of keys: a statement per bucket for
// the keys no Get of this transaction could answer yet, each key once.
type keysPlan struct {
	parts []keyPart
	stmts []rawStmt
	n     int // keys asked for
}

type keyPart struct {
	b    *bucket
	keys [][]byte
}

func (t *tx) keysPlan(keys []kv.BucketKey) keysPlan {
	var p keysPlan
	byName := map[string]int{}
	asked := map[string]bool{} // bucket NUL key: each key once
	for _, bk := range keys {
		kb, _ := t.Bucket(bk.Bucket).(*bucket)
		if kb == nil {
			continue
		}
		if answered(t.cacheOf(kb.name), t.pending[kb.name], t.flushes[kb.name], bk.Key) {
			continue
		}
		i, ok := byName[kb.name]
		if !ok {
			i = len(p.parts)
			byName[kb.name] = i
			p.parts = append(p.parts, keyPart{b: kb})
		}
		if id := kb.name + "\x00" + string(bk.Key); !asked[id] {
			asked[id] = true
			p.parts[i].keys = append(p.parts[i].keys, bk.Key)
			p.n++
		}
	}
	p.stmts = make([]rawStmt, len(p.parts))
	for i, pt := range p.parts {
		p.stmts[i] = rawStmt{sql: pt.b.q.getMany, args: pt.b.args(pt.keys)}
	}
	return p
}

// keysApply caches what p's statements answered: each key's value, nil for
// one absent.
func (t *tx) keysApply(p keysPlan, res []rawResult) {
	for i, pt := range p.parts {
		c := t.cacheOf(pt.b.name)
		got := make(map[string][]byte, len(res[i].rows))
		for _, p := range t.rawPairs("get from "+pt.b.name, res[i]) {
			got[string(p.k)] = p.v
		}
		for _, k := range pt.keys {
			if _, ok := c.vals[string(k)]; !ok {
				c.vals[string(k)] = got[string(k)] // nil: absent
			}
		}
	}
}

// rawPairs is the key and value of each row of r, a value present but
// empty not nil (as bbolt's); a row of another shape fails op.
func (t *tx) rawPairs(op string, r rawResult) []pair {
	pairs := make([]pair, 0, len(r.rows))
	for _, row := range r.rows {
		if len(row) != 2 {
			t.fail(op, fmt.Errorf("a row of %d columns", len(row)))
		}
		v := row[1]
		if v == nil {
			v = []byte{}
		}
		pairs = append(pairs, pair{row[0], v})
	}
	return pairs
}

// many sends stmts in one round trip, after the prelude when it has not
// gone, and returns their results.
func (c *connTx) many(ctx context.Context, stmts []rawStmt) ([]rawResult, error) {
	n := len(c.prelude)
	res, err := execRaw(ctx, c.conn.Conn().PgConn(), append(c.prelude[:n:n], stmts...))
	if errors.Is(err, errRawArg) {
		return nil, err // nothing was sent
	}
	c.prelude = nil
	if len(res) > c.ended {
		c.open = true
	}
	if n > 0 {
		if len(res) < n {
			return nil, err
		}
		if berr := c.begun(res[:n]); berr != nil {
			return nil, berr
		}
	}
	if err != nil {
		return nil, err
	}
	return res[n:], nil
}

// prefetchQuery is, per table, the values of many keys ($n, bytea[]) and
// readAheadN pairs from a key on ($n+1), the second marked false. (Made on
// first use: the tables are complete only once every init has run.)
var prefetchQuery = sync.OnceValue(func() map[string]string {
	return perTable(func(t table, where string, p int, val string) string {
		return fmt.Sprintf("SELECT true, k, %[1]s FROM %[2]s WHERE %[3]sk = ANY($%[4]d::bytea[]) UNION ALL "+
			"(SELECT false, k, %[1]s FROM %[2]s WHERE %[3]sk >= $%[5]d ORDER BY k LIMIT %[6]d)", val, t.name, where, p, p+1, readAheadN)
	})
})

// perTable is a statement for each table, the generic one's included, by
// table name: build's, given the WHERE condition's start that names the
// bucket (in the generic table, parameter $1), the number of the first
// parameter after it, and the value column as the engine reads it.
func perTable(build func(t table, where string, p int, val string) string) map[string]string {
	m := map[string]string{}
	for _, t := range append([]table{generic}, tablesList()...) {
		where, p := "", 1
		if t == generic {
			where, p = "bucket = $1 AND ", 2
		}
		val := t.val
		if t.json {
			val += "::text"
		}
		m[t.name] = build(t, where, p, val)
	}
	return m
}

// getMany reads keys, in order, into the cache c, and the pairs from the
// first on as a read-ahead does.
func (b *bucket) getMany(c *getCache, keys [][]byte) {
	q := prefetchQuery()[b.tbl.name]
	rows, err := b.t.query(q, b.t.e.with(q, b.args(keys, keys[0])...))
	if err != nil {
		b.t.fail("get from "+b.name, err)
	}
	got := make(map[string][]byte, len(keys))
	var last []byte
	ahead := 0
	for rows.Next() {
		var asked bool
		var k, v []byte
		if err := rows.Scan(&asked, &k, &v); err != nil {
			rows.Close()
			b.t.fail("get from "+b.name, err)
		}
		if v == nil {
			v = []byte{} // present but empty: not nil, as bbolt
		}
		if asked {
			got[string(k)] = v
			continue
		}
		if _, ok := c.vals[string(k)]; !ok {
			c.vals[string(k)] = v
		}
		last, ahead = k, ahead+1
	}
	if err := rows.Err(); err != nil {
		b.t.fail("get from "+b.name, err)
	}
	for _, k := range keys {
		if _, ok := c.vals[string(k)]; !ok {
			c.vals[string(k)] = got[string(k)] // nil: absent
		}
	}
	if ahead < readAheadN {
		last = nil // to the end
	}
	c.addSpan(bytes.Clone(keys[0]), last)
}

// byteaArray is keys as a binary bytea[] parameter (execRaw).
func byteaArray(keys [][]byte) ([]byte, error) { return binaryArray(keys, 17) }

// textArray is texts as a binary text[] parameter (execRaw).
func textArray(texts []string) ([]byte, error) {
	elems := make([][]byte, len(texts))
	for i, s := range texts {
		elems[i] = []byte(s)
	}
	return binaryArray(elems, 25)
}

// binaryArray is elems, of the type oid elem, as a binary one-dimensional
// array without NULLs.
func binaryArray(keys [][]byte, elem uint32) ([]byte, error) {
	if len(keys) > 1<<20 {
		return nil, errors.New("too many keys for one array")
	}
	n := 20
	for _, k := range keys {
		n += 4 + len(k)
	}
	buf := make([]byte, 0, n)
	buf = binary.BigEndian.AppendUint32(buf, 1) // dimensions
	buf = binary.BigEndian.AppendUint32(buf, 0) // no NULLs
	buf = binary.BigEndian.AppendUint32(buf, elem)
	buf = binary.BigEndian.AppendUint32(buf, uint32(len(keys)))
	buf = binary.BigEndian.AppendUint32(buf, 1) // lower bound
	for _, k := range keys {
		buf = binary.BigEndian.AppendUint32(buf, uint32(len(k)))
		buf = append(buf, k...)
	}
	return buf, nil
}
