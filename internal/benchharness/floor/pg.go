package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// pgInsert is the PostgreSQL floor of a single write: connect, one INSERT
// of a 400-byte row in its own (implicit) transaction, committed with the
// server's synchronous_commit, disconnect. The table is made on first use,
// outside the timed part's commit.
func pgInsert(url string) error {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	k := make([]byte, 16)
	rand.Read(k)
	_, err = conn.Exec(ctx, "INSERT INTO floor (k, v) VALUES ($1, $2)", k, make([]byte, 400))
	if err != nil && strings.Contains(err.Error(), "does not exist") {
		if _, err := conn.Exec(ctx, "CREATE TABLE IF NOT EXISTS floor (k bytea PRIMARY KEY, v bytea NOT NULL)"); err != nil {
			return err
		}
		_, err = conn.Exec(ctx, "INSERT INTO floor (k, v) VALUES ($1, $2)", k, make([]byte, 400))
	}
	return err
}

// pgCopy writes what `floor puts` writes — per lot a ~450-byte JSON record,
// three index entries, a ~700-byte audit entry chained by SHA-256 and its
// entity index entry — with COPY into tables of the shape of celltrack's
// (a record table with a json column, the generic kv table, the audit
// table), in one transaction.
func pgCopy(url string, n int) error {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	for _, s := range []string{
		"CREATE TABLE lots (k bytea PRIMARY KEY, record json NOT NULL)",
		"CREATE TABLE kv (bucket text NOT NULL, k bytea NOT NULL, v bytea NOT NULL, PRIMARY KEY (bucket, k))",
		"CREATE TABLE audit_entries (k bytea PRIMARY KEY, entry bytea NOT NULL)",
		"CREATE TABLE audit_entity (k bytea PRIMARY KEY, v bytea NOT NULL)",
	} {
		if _, err := conn.Exec(ctx, s); err != nil {
			return err
		}
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	rec := `{"pad":"` + strings.Repeat("x", 440) + `"}`
	entry := make([]byte, 700)
	var prev [32]byte
	var lots, idx, audit, entity [][]any
	for i := 0; i < n; i++ {
		id := make([]byte, 16)
		binary.BigEndian.PutUint64(id, uint64(time.Now().UnixNano()))
		binary.BigEndian.PutUint64(id[8:], uint64(i))
		seq := make([]byte, 8)
		binary.BigEndian.PutUint64(seq, uint64(i+1))
		copy(entry[32:], prev[:])
		prev = sha256.Sum256(entry[32:])
		copy(entry, prev[:])
		lots = append(lots, []any{id, rec})
		idx = append(idx,
			[]any{"idx_lot_number", []byte(fmt.Sprintf("LOT-%d", i)), id},
			[]any{"idx_lot_din", []byte(fmt.Sprintf("G123426%06d", i)), id},
			[]any{"idx_lot_donor", append(make([]byte, 16), id...), []byte{}})
		audit = append(audit, []any{seq, append([]byte(nil), entry...)})
		entity = append(entity, []any{append(append([]byte(nil), id...), seq...), []byte{}})
	}
	for _, c := range []struct {
		table string
		cols  []string
		rows  [][]any
	}{
		{"lots", []string{"k", "record"}, lots},
		{"kv", []string{"bucket", "k", "v"}, idx},
		{"audit_entries", []string{"k", "entry"}, audit},
		{"audit_entity", []string{"k", "v"}, entity},
	} {
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{c.table}, c.cols, pgx.CopyFromRows(c.rows)); err != nil {
			return fmt.Errorf("copy into %s: %w", c.table, err)
		}
	}
	return tx.Commit(ctx)
}
