package pgkv

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
)

// Statements sent in one round trip, unprepared, through pgconn.
//
// A pgx batch prepares every statement its connection has not prepared yet
// before it runs them (pgx's default mode): a round trip of its own. A
// celltrack command is a process with a new connection, so the batch that
// begins its first transaction paid for two. And a read transaction's BEGIN
// went in a round trip of its own before its first read. Here the
// statements that begin a transaction go unprepared in one round trip
// (execRaw), and a read transaction's BEGIN waits for its first read and
// goes with it (connTx.first): one round trip for BEGIN, the snapshot, the
// bucket registry's generation and the first answer.
//
// Parameters go as text (strings, integers; their types are the server's
// inference) or as bytea (byte slices), bytea[] (slices of them) and text[]
// (slices of strings); results come back binary, which for
// the columns pgkv reads (bytea, text, bigint) are the bytes themselves or a
// big-endian integer.

// rawStmt is one statement of a raw batch.
type rawStmt struct {
	sql  string
	args []any
}

// rawResult is what a statement of a raw batch returned: its rows' values,
// binary, copied out of the connection's buffer (nil: NULL).
type rawResult struct {
	tag  pgconn.CommandTag
	rows [][][]byte
}

// errRawArg is an argument execRaw cannot send; the caller sends the
// statement the ordinary way instead.
var errRawArg = errors.New("argument of a type execRaw does not send")

// rawArgs encodes args for ExecParams, leaving out a leading
// pgx.QueryExecMode (Engine.with puts one there).
func rawArgs(args []any) (vals [][]byte, oids []uint32, formats []int16, err error) {
	if len(args) > 0 {
		if _, ok := args[0].(pgx.QueryExecMode); ok {
			args = args[1:]
		}
	}
	for _, a := range args {
		switch v := a.(type) {
		case string:
			vals, oids, formats = append(vals, []byte(v)), append(oids, 0), append(formats, 0)
		case []byte:
			if v == nil {
				v = []byte{} // a nil slice would be NULL
			}
			vals, oids, formats = append(vals, v), append(oids, 17), append(formats, 1) // bytea, binary
		case [][]byte:
			arr, err := byteaArray(v)
			if err != nil {
				return nil, nil, nil, err
			}
			vals, oids, formats = append(vals, arr), append(oids, 1001), append(formats, 1) // bytea[], binary
		case []string:
			arr, err := textArray(v)
			if err != nil {
				return nil, nil, nil, err
			}
			vals, oids, formats = append(vals, arr), append(oids, 1009), append(formats, 1) // text[], binary
		case int64:
			vals, oids, formats = append(vals, []byte(strconv.FormatInt(v, 10))), append(oids, 20), append(formats, 0) // int8, text
		default:
			return nil, nil, nil, fmt.Errorf("%w: %T", errRawArg, a)
		}
	}
	return vals, oids, formats, nil
}

// execRaw sends stmts in one round trip and returns their results. When one
// fails, the results of those before it come back with its error (the
// server skips the rest): len(results) is the index of the one that failed.
func execRaw(ctx context.Context, pc *pgconn.PgConn, stmts []rawStmt) ([]rawResult, error) {
	b := &pgconn.Batch{}
	for _, s := range stmts {
		vals, oids, formats, err := rawArgs(s.args)
		if err != nil {
			return nil, err
		}
		b.ExecParams(s.sql, vals, oids, formats, []int16{1})
	}
	mrr := pc.ExecBatch(ctx, b)
	var results []rawResult
	var first error
	for mrr.NextResult() {
		rr := mrr.ResultReader()
		var r rawResult
		for rr.NextRow() {
			vals := rr.Values()
			row := make([][]byte, len(vals))
			for i, v := range vals {
				if v != nil {
					row[i] = append(make([]byte, 0, len(v)), v...)
				}
			}
			r.rows = append(r.rows, row)
		}
		tag, err := rr.Close()
		if err != nil {
			first = err
			break
		}
		r.tag = tag
		results = append(results, r)
	}
	if err := mrr.Close(); err != nil && first == nil {
		first = err
	}
	if first == nil && len(results) != len(stmts) {
		first = fmt.Errorf("a batch of %d statements returned %d results", len(stmts), len(results))
	}
	return results, first
}

// scanRaw copies the binary values of row into dest: *[]byte, *string,
// *bool, *int or *int64.
func scanRaw(row [][]byte, dest ...any) error {
	if len(dest) != len(row) {
		return fmt.Errorf("scan %d columns into %d values", len(row), len(dest))
	}
	for i, d := range dest {
		v := row[i]
		switch p := d.(type) {
		case *[]byte:
			*p = v
		case *string:
			if v == nil {
				return fmt.Errorf("column %d is NULL", i)
			}
			*p = string(v)
		case *bool:
			if len(v) != 1 {
				return fmt.Errorf("column %d: %d bytes is not a binary bool", i, len(v))
			}
			*p = v[0] != 0
		case *int, *int64:
			var n int64
			switch len(v) {
			case 8:
				n = int64(binary.BigEndian.Uint64(v))
			case 4:
				n = int64(int32(binary.BigEndian.Uint32(v)))
			case 2:
				n = int64(int16(binary.BigEndian.Uint16(v)))
			default:
				return fmt.Errorf("column %d: %d bytes is not a binary integer", i, len(v))
			}
			if q, ok := p.(*int); ok {
				*q = int(n)
			} else {
				*p.(*int64) = n
			}
		default:
			return fmt.Errorf("scan into %T", d)
		}
	}
	return nil
}

// memRows is a statement's result already read (connTx.first), as pgx.Rows.
type memRows struct {
	res  rawResult
	i    int // the current row is res.rows[i-1]
	err  error
	done bool
}

func (r *memRows) Close()                                       { r.done = true }
func (r *memRows) Err() error                                   { return r.err }
func (r *memRows) CommandTag() pgconn.CommandTag                { return r.res.tag }
func (r *memRows) FieldDescriptions() []pgconn.FieldDescription { return nil }
func (r *memRows) Conn() *pgx.Conn                              { return nil }
func (r *memRows) TypeMap() *pgtype.Map                         { return nil }

func (r *memRows) Next() bool {
	if r.done || r.err != nil || r.i >= len(r.res.rows) {
		r.done = true
		return false
	}
	r.i++
	return true
}

func (r *memRows) Scan(dest ...any) error {
	if r.i == 0 || r.done {
		return errors.New("scan without a row")
	}
	if err := scanRaw(r.res.rows[r.i-1], dest...); err != nil {
		r.err, r.done = err, true
		return err
	}
	return nil
}

func (r *memRows) Values() ([]any, error) {
	if r.i == 0 {
		return nil, errors.New("no row")
	}
	row := r.res.rows[r.i-1]
	vals := make([]any, len(row))
	for i, v := range row {
		vals[i] = v
	}
	return vals, nil
}

func (r *memRows) RawValues() [][]byte {
	if r.i == 0 {
		return nil
	}
	return r.res.rows[r.i-1]
}

// memRow is QueryRow's answer from memRows.
type memRow struct {
	rows *memRows
	err  error
}

func (r memRow) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	if !r.rows.Next() {
		return pgx.ErrNoRows
	}
	return r.rows.Scan(dest...)
}

// errRow is a pgx.Row whose query failed.
type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// rawBatch sends batch as execRaw does — unprepared, in one round trip — when
// this process has run each of its statements at most execDirect times
// (Engine.with): a command's one write. A pgx batch prepares the statements
// its connection has not run first, a round trip of its own before the one
// that runs them. Each queued statement's function then sees its result as
// pgx would give it. sent is false, and nothing was sent, when the batch
// goes as a pgx batch instead: a statement run often (a server's, an
// import's: prepared and cached by pgx), an argument execRaw does not send,
// a transaction not begun by attempt (a bulk load's).
func (t *tx) rawBatch(batch *pgx.Batch) (sent bool, err error) {
	ct, ok := t.conn.(*connTx)
	if !ok {
		return false, nil
	}
	stmts := make([]rawStmt, len(batch.QueuedQueries))
	for i, q := range batch.QueuedQueries {
		if _, _, _, err := rawArgs(q.Arguments); err != nil {
			return false, nil
		}
		stmts[i] = rawStmt{sql: q.SQL, args: q.Arguments}
	}
	for _, st := range stmts {
		if t.e.with(st.sql)[0] != pgx.QueryExecModeExec {
			return false, nil
		}
	}
	res, err := ct.many(t.ctx, stmts)
	if err != nil {
		return true, err
	}
	br := &rawResults{res: res}
	for _, q := range batch.QueuedQueries {
		if q.Fn == nil {
			br.next()
			continue
		}
		if err := q.Fn(br); err != nil {
			return true, err
		}
	}
	return true, nil
}

// rawResults is a raw batch's results as pgx.BatchResults: each call takes
// the next statement's.
type rawResults struct {
	res []rawResult
	i   int
}

var _ pgx.BatchResults = (*rawResults)(nil)

func (r *rawResults) next() (rawResult, error) {
	if r.i >= len(r.res) {
		return rawResult{}, fmt.Errorf("a batch of %d results read past its end", len(r.res))
	}
	r.i++
	return r.res[r.i-1], nil
}

func (r *rawResults) Exec() (pgconn.CommandTag, error) {
	res, err := r.next()
	return res.tag, err
}

func (r *rawResults) Query() (pgx.Rows, error) {
	res, err := r.next()
	return &memRows{res: res, err: err}, err
}

func (r *rawResults) QueryRow() pgx.Row {
	res, err := r.next()
	return memRow{rows: &memRows{res: res}, err: err}
}

func (r *rawResults) Close() error { return nil }
func (r *rawResults) Tx() pgx.Tx   { return nil }

// query runs the read sql with args as Engine.with gives them. Run
// unprepared (a statement this process has run at most execDirect times),
// it goes as execRaw sends it, its results binary, when the transaction is
// attempt's: pgx runs an unprepared statement with its results as text,
// which for bytea is hex the client decodes again — most of a trace's
// work in pgx. Prepared statements, and a bulk load's transaction, go
// through pgx.
func (t *tx) query(sql string, args []any) (pgx.Rows, error) {
	if ct, ok := t.conn.(*connTx); ok && len(args) > 0 && args[0] == pgx.QueryExecModeExec {
		if err := t.await(); err != nil {
			return nil, err
		}
		res, err := ct.many(t.ctx, []rawStmt{{sql: sql, args: args}})
		if !errors.Is(err, errRawArg) {
			if err != nil {
				return nil, err
			}
			return &memRows{res: res[0]}, nil
		}
	}
	return t.ptx.Query(t.ctx, sql, args...)
}

// queryRow is query for a statement of one row at most.
func (t *tx) queryRow(sql string, args []any) pgx.Row {
	rows, err := t.query(sql, args)
	if err != nil {
		return errRow{err}
	}
	if m, ok := rows.(*memRows); ok {
		return memRow{rows: m}
	}
	return pgxRow{rows}
}

// pgxRow is QueryRow's answer from pgx.Rows, as pgx gives it.
type pgxRow struct{ rows pgx.Rows }

func (r pgxRow) Scan(dest ...any) error {
	defer r.rows.Close()
	if !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			return err
		}
		return pgx.ErrNoRows
	}
	if err := r.rows.Scan(dest...); err != nil {
		return err
	}
	r.rows.Close()
	return r.rows.Err()
}
