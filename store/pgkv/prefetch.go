package pgkv

import (
	"encoding/binary"
	"errors"

	"github.com/celltrack/celltrack/store/kv"
)

var _ kv.Prefetcher = (*bucket)(nil)

// prefetchChunk is how many keys one Prefetch statement asks for.
const prefetchChunk = 1000

// Prefetch reads the values of the keys no Get of this transaction could
// answer yet (not buffered, cached, known absent or on a cursor page) in
// one statement per prefetchChunk keys, and caches them, absent ones as
// absent: the Gets that follow are answered from the cache. store calls it
// with the ids an index lists before it reads their records (a patient's
// infusions, a container's custody events, a lot's results).
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
		if _, ok := c.vals[string(k)]; ok || c.spanned(k) {
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
	for len(want) > 0 {
		n := min(len(want), prefetchChunk)
		b.getMany(c, want[:n])
		want = want[n:]
	}
}

// getMany reads keys into the cache c.
func (b *bucket) getMany(c *getCache, keys [][]byte) {
	rows, err := b.t.ptx.Query(b.t.ctx, b.q.getMany, b.t.e.with(b.q.getMany, b.args(keys)...)...)
	if err != nil {
		b.t.fail("get from "+b.name, err)
	}
	got := make(map[string][]byte, len(keys))
	for rows.Next() {
		var k, v []byte
		if err := rows.Scan(&k, &v); err != nil {
			rows.Close()
			b.t.fail("get from "+b.name, err)
		}
		if v == nil {
			v = []byte{} // present but empty: not nil, as bbolt
		}
		got[string(k)] = v
	}
	if err := rows.Err(); err != nil {
		b.t.fail("get from "+b.name, err)
	}
	for _, k := range keys {
		c.vals[string(k)] = got[string(k)] // nil: absent
	}
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
