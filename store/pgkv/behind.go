package pgkv

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// A write transaction of Engine.Update sends the writes it has buffered
// past flushAt on a goroutine of its own and goes on meanwhile: the next
// writes are made (by store: records encoded, audit entries hashed and
// compressed) while the server inserts the last ones, instead of the two
// taking turns. An import of 100,000 lots sends ~70 such batches of
// ~10,000 pairs, each one COPY per table.
//
// Nothing else changes for the transaction: every other use of its
// connection (a Get the buffer and the cache cannot answer, a cursor's
// page, a count, COMMIT, ROLLBACK) waits for the send first (awaitTx), so
// it sees the table with the sent writes in it, as it would had they gone
// out in line; a send's error is the error of whatever waits for it next,
// and of everything after (the transaction is then rolled back). What the
// transaction knows of a table without asking — the values it read, the
// keys it knows absent, the last page at the table's end — is kept true
// of the table with the send in it (written, buffer.go), so that the reads
// an import makes between two sends are answered without waiting.

// sendJob is a send under way on its goroutine.
type sendJob struct {
	done  chan struct{}
	err   error
	taken map[string]*pending // send.taken
}

// sendBehind starts sending every buffered write on a goroutine of its own,
// after the previous send has ended.
func (t *tx) sendBehind() error {
	if err := t.await(); err != nil {
		return err
	}
	s := t.take(t.pendingNames()...)
	j := &sendJob{done: make(chan struct{}), taken: s.taken}
	t.sending = j
	go func() {
		defer close(j.done)
		defer func() {
			if r := recover(); r != nil {
				j.err = t.e.wrap(s.what, fmt.Errorf("pgkv: the send panicked: %v", r))
			}
		}()
		j.err = s.run()
	}()
	return nil
}

// await waits for the send under way, if any, and returns its error, or
// the error of an earlier one: once a send has failed the transaction is
// aborted on the server, and nothing after it may seem to succeed.
func (t *tx) await() error {
	if j := t.sending; j != nil {
		<-j.done
		t.sending = nil
		if j.err != nil && t.sendErr == nil {
			t.sendErr = j.err
		}
	}
	return t.sendErr
}

// awaitTx is the transaction's connection for everything but a send: each
// use waits for the send under way first.
type awaitTx struct{ t *tx }

func (a awaitTx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if err := a.t.await(); err != nil {
		return pgconn.CommandTag{}, err
	}
	return a.t.conn.Exec(ctx, sql, args...)
}

func (a awaitTx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if err := a.t.await(); err != nil {
		return nil, err
	}
	return a.t.conn.Query(ctx, sql, args...)
}

func (a awaitTx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	if err := a.t.await(); err != nil {
		return errRow{err}
	}
	return a.t.conn.QueryRow(ctx, sql, args...)
}

func (a awaitTx) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	if err := a.t.await(); err != nil {
		return errBatch{err}
	}
	return a.t.conn.SendBatch(ctx, b)
}

func (a awaitTx) Commit(ctx context.Context) error {
	if err := a.t.await(); err != nil {
		return err
	}
	return a.t.conn.Commit(ctx)
}

// Rollback rolls back whether or not the send failed.
func (a awaitTx) Rollback(ctx context.Context) error {
	_ = a.t.await()
	return a.t.conn.Rollback(ctx)
}
