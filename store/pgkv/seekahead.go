package pgkv

import (
	"bytes"
	"fmt"
	"slices"
	"sync"

	"github.com/celltrack/celltrack/store/kv"
	"github.com/jackc/pgx/v5"
)

var _ kv.SeekPrefetcher = (*bucket)(nil)

// PrefetchSeeks reads, in one statement for up to prefetchChunk keys, the
// pairs around each of keys a cursor Seek to it would fetch a page for —
// below pairs under the key, from pairs from it up — and keeps each key's as
// a page of this transaction (getCache.seeks), answered as a fetched one
// until the bucket's table changes. store calls it with the records a check
// or a report verifies against their latest audit entries: their
// audit_entity keys, then those entries, two round trips for all of them
// instead of two for each. A key a page of this transaction answers already
// is left out.
func (b *bucket) PrefetchSeeks(below, from int, keys ...[]byte) {
	from = max(from, 1) // a page answers a Seek only with the pair it lands on
	below = max(below, 0)
	want := b.seekWant(keys)
	if len(want) < 2 {
		return // a Seek is one round trip too
	}
	for len(want) > 0 {
		n := min(len(want), seekChunk)
		b.seekMany(below, from, want[:n])
		want = want[n:]
	}
}

var _ kv.SeeksPrefetcher = (*tx)(nil)

// PrefetchSeeksIn is PrefetchSeeks for keys of several buckets, a statement
// for each bucket, sent together in one round trip (execRaw): store calls
// it with the index prefixes a bedside check seeks for one container (its
// custody events, its infusions, its lot's results and dispositions), each
// in a bucket of its own.
func (t *tx) PrefetchSeeksIn(below, from int, seeks ...kv.BucketKey) {
	t.PrefetchReads(kv.Reads{Seeks: []kv.Seeks{{Below: below, From: from, Keys: seeks}}})
}

// seeksPlan is what PrefetchReads reads of seeks: a statement per bucket
// and reach for the keys no page of this transaction answers a Seek to yet.
type seeksPlan struct {
	parts []seekPart
	stmts []rawStmt
	n     int // seeks asked for
}

type seekPart struct {
	b           *bucket
	below, from int
	keys        [][]byte
}

func (t *tx) seeksPlan(groups []kv.Seeks) seeksPlan {
	var p seeksPlan
	for _, g := range groups {
		from, below := max(g.From, 1), max(g.Below, 0)
		var parts []seekPart
		at := map[*bucket]int{}
		for _, s := range g.Keys {
			b, _ := t.Bucket(s.Bucket).(*bucket)
			if b == nil {
				continue
			}
			i, ok := at[b]
			if !ok {
				i = len(parts)
				at[b] = i
				parts = append(parts, seekPart{b: b, below: below, from: from})
			}
			parts[i].keys = append(parts[i].keys, s.Key)
		}
		for _, pt := range parts {
			pt.keys = pt.b.seekWant(pt.keys)
			if len(pt.keys) == 0 || len(pt.keys) > seekChunk {
				continue
			}
			p.parts = append(p.parts, pt)
			p.stmts = append(p.stmts, rawStmt{sql: seekQuery()[pt.b.tbl.name], args: pt.b.args(pt.keys, int64(from), int64(below))})
			p.n += len(pt.keys)
		}
	}
	return p
}

// seekWant is keys without those a page of this transaction answers a Seek
// to already, each once, sorted.
func (b *bucket) seekWant(keys [][]byte) [][]byte {
	c := b.t.cacheOf(b.name)
	stamp := b.t.flushes[b.name]
	return unknown(keys, func(k []byte) bool {
		if _, ok := fromPages(c.pages, stamp, k); ok {
			return true
		}
		_, _, known := c.seekAnswer(stamp, k, false, false)
		return known
	})
}

// seekChunk is how many keys one PrefetchSeeks statement asks for: a trace
// of a lot verifies a thousand records and more (its bags, their custody
// events, infusions, patients).
const seekChunk = 4096

// seekRun is the pages one PrefetchSeeks statement read, in the order of
// the keys they were read for (ascending).
type seekRun struct {
	keys  [][]byte
	pages []page
}

// seekAnswer finds the pair nearest k in direction desc (see pending.near)
// in a page PrefetchSeeks read of the table as it is (stamp), when one can
// tell. Only the pages read for the keys next to k can: a page holds a few
// pairs either side of its key, so they are found by binary search rather
// than by trying each (a trace of a lot prefetches a thousand and more).
func (c *getCache) seekAnswer(stamp int, k []byte, desc, strict bool) (p pair, found, known bool) {
	for r := len(c.seeks) - 1; r >= 0; r-- {
		run := &c.seeks[r]
		var i int
		switch {
		case k != nil:
			i, _ = slices.BinarySearchFunc(run.keys, k, bytes.Compare)
		case desc:
			i = len(run.keys) // Last: the page that runs to the end, if any
		}
		for j := max(i-2, 0); j < min(i+2, len(run.pages)); j++ {
			pg := &run.pages[j]
			if pg.stamp != stamp {
				continue
			}
			if p, found, known := pg.answer(k, desc, strict); known {
				return p, found, true
			}
		}
	}
	return pair{}, false, false
}

// seekQuery is, per table, up to $n+1 pairs from each key of $n (bytea[])
// up and up to $n+2 below it, each row with its key's position in $n
// (from 1) and whether it is from the key up. (Made on first use: the
// tables are complete only once every init has run.)
var seekQuery = sync.OnceValue(func() map[string]string {
	return perTable(func(t table, where string, p int, val string) string {
		return fmt.Sprintf("SELECT s.i, x.up, x.k, x.v FROM unnest($%[4]d::bytea[]) WITH ORDINALITY AS s(key, i) "+
			"CROSS JOIN LATERAL ((SELECT true AS up, k, %[1]s AS v FROM %[2]s WHERE %[3]sk >= s.key ORDER BY k ASC LIMIT $%[5]d) UNION ALL "+
			"(SELECT false, k, %[1]s FROM %[2]s WHERE %[3]sk < s.key ORDER BY k DESC LIMIT $%[6]d)) AS x",
			val, t.name, where, p, p+1, p+2)
	})
})

// seekMany reads the pages of keys (sorted) into the bucket's cache.
func (b *bucket) seekMany(below, from int, keys [][]byte) {
	q := seekQuery()[b.tbl.name]
	rows, err := b.t.query(q, b.t.e.with(q, b.args(keys, int64(from), int64(below))...))
	if err != nil {
		b.t.fail("read "+b.name, err)
	}
	b.addSeekRun(below, from, keys, rows)
}

// addSeekRun keeps the pages rows, seekQuery's answer for keys, hold.
func (b *bucket) addSeekRun(below, from int, keys [][]byte, rows pgx.Rows) {
	c := b.t.cacheOf(b.name)
	stamp := b.t.flushes[b.name]
	ups := make([][]pair, len(keys))
	downs := make([][]pair, len(keys))
	for rows.Next() {
		var i int64
		var up bool
		var p pair
		if err := rows.Scan(&i, &up, &p.k, &p.v); err != nil {
			rows.Close()
			b.t.fail("read "+b.name, err)
		}
		if i < 1 || int(i) > len(keys) {
			rows.Close()
			b.t.fail("read "+b.name, fmt.Errorf("a page for key %d of %d", i, len(keys)))
		}
		if p.v == nil {
			p.v = []byte{} // present but empty: not nil, as bbolt
		}
		if up {
			ups[i-1] = append(ups[i-1], p)
		} else {
			downs[i-1] = append(downs[i-1], p)
		}
	}
	if err := rows.Err(); err != nil {
		b.t.fail("read "+b.name, err)
	}
	run := seekRun{keys: keys, pages: make([]page, len(keys))}
	for i, k := range keys {
		run.pages[i] = seekPage(k, below, from, downs[i], ups[i], stamp)
	}
	if len(c.seeks) == maxSeekRuns {
		c.seeks = c.seeks[1:]
	}
	c.seeks = append(c.seeks, run)
}

// seekPage is the page a Seek to k fetched as down (descending, at most
// below pairs under k) and up (ascending, at most from pairs from k): it
// covers every key from its lowest pair (from the table's start when fewer
// than below came, from k itself when none were asked) to its highest
// (to the table's end when fewer than from came).
func seekPage(k []byte, below, from int, down, up []pair, stamp int) page {
	pg := page{stamp: stamp}
	switch {
	case below == 0:
		pg.lo, pg.loIn = bytes.Clone(k), true
	case len(down) == below:
		pg.lo, pg.loIn = down[len(down)-1].k, true
	}
	if len(up) == from {
		pg.hi, pg.hiIn = up[len(up)-1].k, true
	}
	slices.Reverse(down)
	pg.pairs = append(down, up...)
	return pg
}

// maxSeekRuns bounds the statements' pages PrefetchSeeks keeps of a
// bucket; the oldest go first.
const maxSeekRuns = 8
