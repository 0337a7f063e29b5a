package pgkv

import (
	"bytes"
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
	var want [][]byte
	seen := make(map[string]bool, len(keys))
	for _, k := range keys {
		if seen[string(k)] {
			continue
		}
		seen[string(k)] = true
		if _, ok := p.lookup(k); ok {
			continue
		}
		if _, ok := c.vals[string(k)]; ok || c.knowsAbsent(k) {
			continue
		}
		if _, ok := fromPages(c.pages, stamp, k); ok {
			continue
		}
		want = append(want, k)
	}
	if len(want) < 2 {
		return // a Get is one round trip too
	}
	slices.SortFunc(want, bytes.Compare)
	for len(want) > 0 {
		n := min(len(want), prefetchChunk)
		b.getMany(c, want[:n])
		want = want[n:]
	}
}

// prefetchQuery is, per table, the values of many keys ($n, bytea[]) and
// readAheadN pairs from a key on ($n+1), the second marked false. (Made on
// first use: the tables are complete only once every init has run.)
var prefetchQuery = sync.OnceValue(func() map[string]string {
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
		m[t.name] = fmt.Sprintf("SELECT true, k, %[1]s FROM %[2]s WHERE %[3]sk = ANY($%[4]d::bytea[]) UNION ALL "+
			"(SELECT false, k, %[1]s FROM %[2]s WHERE %[3]sk >= $%[5]d ORDER BY k LIMIT %[6]d)", val, t.name, where, p, p+1, readAheadN)
	}
	return m
})

// getMany reads keys, in order, into the cache c, and the pairs from the
// first on as a read-ahead does.
func (b *bucket) getMany(c *getCache, keys [][]byte) {
	q := prefetchQuery()[b.tbl.name]
	rows, err := b.t.ptx.Query(b.t.ctx, q, b.t.e.with(q, b.args(keys, keys[0])...)...)
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
func byteaArray(keys [][]byte) ([]byte, error) {
	if len(keys) > 1<<20 {
		return nil, errors.New("too many keys for one array")
	}
	n := 20
	for _, k := range keys {
		n += 4 + len(k)
	}
	buf := make([]byte, 0, n)
	buf = binary.BigEndian.AppendUint32(buf, 1)  // dimensions
	buf = binary.BigEndian.AppendUint32(buf, 0)  // no NULLs
	buf = binary.BigEndian.AppendUint32(buf, 17) // bytea
	buf = binary.BigEndian.AppendUint32(buf, uint32(len(keys)))
	buf = binary.BigEndian.AppendUint32(buf, 1) // lower bound
	for _, k := range keys {
		buf = binary.BigEndian.AppendUint32(buf, uint32(len(k)))
		buf = append(buf, k...)
	}
	return buf, nil
}
