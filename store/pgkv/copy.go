package pgkv

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"io"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// A flush with many new pairs for the generic table or the trail sends them
// by COPY instead of INSERT … ON CONFLICT. COPY inserts rows a page at a
// time (one WAL record per page of heap rows, not one per row) and skips
// the speculative insertion ON CONFLICT makes for each row: for the four
// index rows and two trail rows an import writes per lot, ~30 µs of server
// CPU per lot (measured: 40,000 kv rows 235 ms as an upsert, 90 ms by COPY;
// 10,000 audit entries 100 ms, 40 ms; 10,000 audit_entity rows 120 ms,
// 35 ms). But COPY cannot update a row, and an append-only key written
// again must be compared with what it holds, so COPY gets only keys known
// absent from the table: those above its largest key (one index probe per
// bucket), and of the others those a look-up of them all (one statement)
// does not find. The keys found go the usual way (queuePuts). The writer
// lock keeps the table as the look-ups saw it until COPY.
//
// A json table's rows go by COPY too when pgkv can compute their columns
// itself (copyjson.go); a record it cannot goes by INSERT, whose server
// computes them (jsonInsert).
//
// Small flushes (every command's commit) are sent as before, in one round
// trip: COPY costs two or three of its own.

// copyMin is how many pairs of one bucket a flush must hold to send them
// by COPY.
var copyMin = 256

// copyable says whether t's rows can go by COPY: all their columns are the
// key, the value and what derives from the key's bytes alone, or (a json
// table) what jsonTuple computes from the record.
func copyable(t table) bool { return t == generic || appendOnly[t.name] || t.json }

// copyStatement is the COPY statement of t, its columns in the order row
// writes them.
func copyStatement(t table) string {
	switch t.name {
	case "kv":
		return "COPY kv (bucket, k, v) FROM STDIN (FORMAT binary)"
	case "audit_entries":
		return "COPY audit_entries (k, entry, seq) FROM STDIN (FORMAT binary)"
	case "audit_entity":
		return "COPY audit_entity (k, v, entity_id, seq) FROM STDIN (FORMAT binary)"
	case "audit_tree":
		return "COPY audit_tree (k, hash, idx) FROM STDIN (FORMAT binary)"
	}
	if !t.json {
		panic("pgkv: no COPY for " + t.name)
	}
	names := []string{"k", t.val}
	for _, w := range writtenColumns(t) {
		names = append(names, w.name)
	}
	return fmt.Sprintf("COPY %s (%s) FROM STDIN (FORMAT binary)", t.name, strings.Join(names, ", "))
}

// copyKeyOK says whether key k can go by COPY into t: a trail key of the
// length the table's CHECK asks for (its columns are slices of it). Any
// other key goes by INSERT, which refuses it with the constraint's words.
func copyKeyOK(t table, k []byte) bool {
	switch t.name {
	case "audit_entries", "audit_tree":
		return len(k) == 8
	case "audit_entity":
		return len(k) == 24
	}
	return true
}

// copyData is the rows of one COPY in PostgreSQL's binary format.
type copyData struct {
	buf bytes.Buffer
	n   int
	// a json table's (copyjson.go): the record's members, a row's bytes
	members jsonMembers
	scratch []byte
}

var copySignature = []byte("PGCOPY\n\xff\r\n\x00")

// begin counts a row, after the header when it is the first.
func (c *copyData) begin() {
	if c.n == 0 {
		c.buf.Write(copySignature)
		c.buf.Write(make([]byte, 8)) // flags, header extension length
	}
	c.n++
}

// appendField appends b to the row r as a field of COPY's binary format:
// its length, then its bytes.
func appendField(r, b []byte) []byte {
	return append(binary.BigEndian.AppendUint32(r, uint32(len(b))), b...)
}

// row adds the pair k, v of bucket name in table t, and reports whether it
// did: a json table's row only when jsonTuple computes its columns.
func (c *copyData) row(t table, name string, k, v []byte) bool {
	r, ok := c.tuple(t, name, k, v)
	if !ok {
		return false
	}
	c.begin()
	c.buf.Write(r)
	return true
}

// tuple is the row of the pair k, v of bucket name in table t as COPY
// sends it: the number of fields, then each field (copyStatement's
// columns), in c.scratch; ok is false when it is a json table's row whose
// columns jsonTuple does not compute. The trail's derived columns are
// what trailInsert computes from the key, in binary: a bigint is its 8
// bytes big-endian, which is the key's bytes as ('x' || hex)::bit(64)
// reads them, and a uuid is its 16 bytes.
func (c *copyData) tuple(t table, name string, k, v []byte) ([]byte, bool) {
	if t.json {
		return c.jsonTuple(t, k, v)
	}
	r := c.scratch[:0]
	field := func(b []byte) { r = appendField(r, b) }
	switch t.name {
	case "kv":
		r = binary.BigEndian.AppendUint16(r, 3)
		field([]byte(name))
		field(k)
		field(v)
	case "audit_entries", "audit_tree":
		r = binary.BigEndian.AppendUint16(r, 3)
		field(k)
		field(v)
		field(k) // seq, idx
	case "audit_entity":
		r = binary.BigEndian.AppendUint16(r, 4)
		field(k)
		field(v)
		field(k[:16]) // entity_id
		field(k[16:]) // seq
	}
	c.scratch = r
	return r, true
}

// send runs the COPY of t's rows.
func (c *copyData) send(t *tx, tbl table) error {
	if c.n == 0 {
		return nil
	}
	c.buf.Write(copyTrailer)
	return c.copyFrom(t, tbl, &c.buf)
}

var copyTrailer = []byte{0xff, 0xff}

// stream runs the COPY of tbl with the rows next adds to c, each added as
// COPY reads them (64 KiB at a time), so that the server inserts the
// first while the next are made: made all before the first went out, a
// send's rows (~1 MB a table) left the server idle meanwhile (issue 14),
// and their buffer held them all. next adds at most one row and reports
// whether it looked at a pair; a table none of whose pairs makes a row
// gets no COPY.
func (c *copyData) stream(t *tx, tbl table, next func(*copyData) bool) error {
	for c.n == 0 {
		if !next(c) {
			return nil
		}
	}
	return c.copyFrom(t, tbl, &rowReader{c: c, next: next})
}

// copyFrom runs the COPY of tbl reading r, which gives c's rows.
func (c *copyData) copyFrom(t *tx, tbl table, r io.Reader) error {
	pc, err := pgConnOf(t)
	if err != nil {
		return err
	}
	tag, err := pc.CopyFrom(t.ctx, r, copyStatement(tbl))
	if err != nil {
		return err
	}
	if tag.RowsAffected() != int64(c.n) {
		return fmt.Errorf("COPY into %s wrote %d rows of %d", tbl.name, tag.RowsAffected(), c.n)
	}
	return nil
}

// rowReader reads c's rows as next makes them (stream), then the trailer.
// pgconn reads it on a goroutine of its own and has done so before
// CopyFrom returns without an error; a panic there would end the process,
// so it fails the COPY instead, as one on the send's goroutine fails the
// send (behind.go).
type rowReader struct {
	c    *copyData
	next func(*copyData) bool
	done bool
}

func (r *rowReader) Read(p []byte) (n int, err error) {
	defer func() {
		if x := recover(); x != nil {
			n, err = 0, fmt.Errorf("pgkv: making a COPY row panicked: %v", x)
		}
	}()
	for !r.done && r.c.buf.Len() < len(p) {
		if !r.next(r.c) {
			r.done = true
			r.c.buf.Write(copyTrailer)
		}
	}
	if r.c.buf.Len() == 0 {
		return 0, io.EOF
	}
	return r.c.buf.Read(p)
}

// pgConnOf is the connection of t's transaction, begun. It does not wait
// for a send under way (behind.go): a send uses it, and any other user has
// waited first.
func pgConnOf(t *tx) (*pgconn.PgConn, error) {
	switch p := t.conn.(type) {
	case *connTx:
		if err := p.beginNow(t.ctx); err != nil {
			return nil, err
		}
		return p.conn.Conn().PgConn(), nil
	case pgx.Tx:
		return p.Conn().PgConn(), nil
	}
	return nil, fmt.Errorf("pgkv: COPY on a %T", t.conn)
}

// copyCandidate is one bucket's pairs a flush may send by COPY.
type copyCandidate struct {
	b      *bucket
	ks, vs [][]byte
	max    []byte // the table's largest key of the bucket (nil: none)
}

// queueMax queues the look-up of the bucket's largest key in the table.
func (c *copyCandidate) queueMax(batch *pgx.Batch) {
	batch.Queue(c.b.q.maxKey, c.b.args()...).Query(func(rows pgx.Rows) error {
		ks, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
		if len(ks) == 1 {
			c.max = ks[0]
		}
		return err
	})
}

// aboveFloor is what a transaction knows of a bucket's table between its
// sends: floor, the table's largest key of the bucket when a send first
// read it (nil: it held none), and mine, every key this transaction has
// written to the table since that is above floor. No one else writes the
// table while the transaction holds the writer lock, so the table's keys
// above floor are among mine: a key above floor that is not one of mine
// is absent, and needs no look-up even when it is below the table's
// largest key now. That is an import's index of lots by donor (donor id,
// then lot id), whose keys of each send fall among the last send's: each
// of them was a look-up (issue 14). A key of PutMany's, which writes
// around the sends, makes the transaction forget what it knew
// (forgetAbove); so does mine growing past maxMine, and the next send
// reads a new floor. mine holds the keys' hashes (mineHash), not their
// bytes: a map of strings made a string of every key an import sends
// (wrote was 5 % of a 10k import's CPU, issue 14); a key whose hash is one
// of mine's by chance only gets the look-up it would have had without
// aboveFloor.
type aboveFloor struct {
	floor []byte
	mine  map[uint64]struct{}
}

// mineSeed seeds mineHash.
var mineSeed = maphash.MakeSeed()

// mineHash is key k as aboveFloor.mine holds it.
func mineHash(k []byte) uint64 { return maphash.Bytes(mineSeed, k) }

// maxMine bounds the keys a transaction remembers for each bucket.
const maxMine = 1 << 20

// absent says whether key k, below the table's largest key, is known
// absent from it.
func (a *aboveFloor) absent(k []byte) bool {
	if a == nil || a.floor != nil && bytes.Compare(k, a.floor) <= 0 {
		return false
	}
	_, ok := a.mine[mineHash(k)]
	return !ok
}

// wrote notes that the send wrote the puts of p to bucket name's table,
// whose floor it knows.
func (t *tx) wrote(name string, p *pending) {
	a := t.above[name]
	if a == nil {
		return
	}
	for _, k := range p.keys {
		if p.ops[string(k)].del || a.floor != nil && bytes.Compare(k, a.floor) <= 0 {
			continue
		}
		a.mine[mineHash(k)] = struct{}{}
	}
	if len(a.mine) > maxMine {
		delete(t.above, name)
	}
}

// forgetAbove forgets what the sends knew of bucket name's table, which
// is written by other means (PutMany).
func (t *tx) forgetAbove(name string) { delete(t.above, name) }

// copyPuts writes the candidates' pairs: by COPY those absent from the
// table, the others as flush writes any pair.
func (t *tx) copyPuts(what string, cands []*copyCandidate) error {
	// Keys at or below the bucket's largest may be there: look up those
	// not known absent (aboveFloor).
	batch := &pgx.Batch{}
	present := make([]map[string]bool, len(cands))
	for i, c := range cands {
		present[i] = map[string]bool{}
		a := t.above[c.b.name]
		if a == nil {
			if t.above == nil {
				t.above = map[string]*aboveFloor{}
			}
			t.above[c.b.name] = &aboveFloor{floor: c.max, mine: map[uint64]struct{}{}}
		}
		var maybe [][]byte
		if c.max != nil {
			for _, k := range c.ks {
				if bytes.Compare(k, c.max) <= 0 && !a.absent(k) {
					maybe = append(maybe, k)
				}
			}
		}
		for from := 0; from < len(maybe); from += chunk {
			batch.Queue(c.b.q.has, c.b.args(maybe[from:min(from+chunk, len(maybe))])...).Query(func(rows pgx.Rows) error {
				ks, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
				for _, k := range ks {
					present[i][string(k)] = true
				}
				return err
			})
		}
	}
	if err := t.sendBatch(what, batch, nil); err != nil {
		return err
	}
	// The absent ones go by COPY, one for each table, in the order the
	// tables first come, each row made as COPY reads it (stream): the
	// server inserts a send's first rows while celltrack makes the next.
	// The others go as usual, after.
	var order []table
	of := map[string][]int{} // a table's candidates
	for i, c := range cands {
		if of[c.b.tbl.name] == nil {
			order = append(order, c.b.tbl)
		}
		of[c.b.tbl.name] = append(of[c.b.tbl.name], i)
	}
	oldK, oldV := make([][][]byte, len(cands)), make([][][]byte, len(cands))
	for _, tbl := range order {
		is, x, j := of[tbl.name], 0, 0 // the next pair: cands[is[x]]'s j-th
		next := func(d *copyData) bool {
			for ; x < len(is); x, j = x+1, 0 {
				i := is[x]
				c := cands[i]
				if j == len(c.ks) {
					continue
				}
				k, v := c.ks[j], c.vs[j]
				j++
				if present[i][string(k)] || !copyKeyOK(tbl, k) || !d.row(tbl, c.b.name, k, v) {
					oldK[i], oldV[i] = append(oldK[i], k), append(oldV[i], v)
				}
				return true
			}
			return false
		}
		if err := (&copyData{}).stream(t, tbl, next); err != nil {
			return t.e.wrap(what, err)
		}
	}
	batch = &pgx.Batch{}
	var checks []*appendCheck
	for i, c := range cands {
		checks = c.b.queueChunks(batch, checks, oldK[i], oldV[i])
	}
	return t.sendBatch(what, batch, checks)
}
