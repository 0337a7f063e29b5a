package pgkv_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/celltrack/celltrack/internal/pgtest"
	"github.com/celltrack/celltrack/store/kv"
	"github.com/celltrack/celltrack/store/pgkv"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// schema1Column is a column schema 1 generated from the record or the key: its table,
// name, SQL type and generation expression.
type schema1Column struct{ table, name, typ, expr string }

// schema1Columns reads the generated columns of the record tables from a
// database made with migration 1 alone.
func schema1Columns(t *testing.T) []schema1Column {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, pgkv.MigrationSQL(1)); err != nil {
		t.Fatal(err)
	}
	rows, err := conn.Query(ctx, `SELECT c.relname, quote_ident(a.attname), format_type(a.atttypid, a.atttypmod), pg_get_expr(d.adbin, d.adrelid)
		FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
		WHERE a.attgenerated = 's' AND c.relnamespace = current_schema()::regnamespace
		ORDER BY c.relname, a.attnum`)
	if err != nil {
		t.Fatal(err)
	}
	var cols []schema1Column
	for rows.Next() {
		var c schema1Column
		if err := rows.Scan(&c.table, &c.name, &c.typ, &c.expr); err != nil {
			t.Fatal(err)
		}
		cols = append(cols, c)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return cols
}

var fieldOf = regexp.MustCompile(`'([a-z_]+)'`)

// TestWrittenColumnsAgreeWithSchema1: schema 2 writes the columns people
// query from the record in pgkv's INSERT (tables.go) where schema 1
// generated them. For every column of every record table, on records with
// every field set, set to Go's zero values, JSON null and absent, written
// by Put, rewritten by Put (the upsert) and written by PutMany, the column
// holds exactly what schema 1's generation expression gives for the same
// record; and so do the trail's columns, from the key. Twice: every write
// by INSERT, and by COPY wherever a flush or PutMany may (copy.go).
func TestWrittenColumnsAgreeWithSchema1(t *testing.T) {
	t.Run("insert", testWrittenColumnsAgreeWithSchema1)
	t.Run("copy", func(t *testing.T) {
		defer pgkv.SetCopyMin(1)()
		testWrittenColumnsAgreeWithSchema1(t)
	})
}

func testWrittenColumnsAgreeWithSchema1(t *testing.T) {
	cols := schema1Columns(t)
	// Each record field's type, from the columns that read one field.
	fields := map[string]map[string]string{} // table → field → SQL type
	for _, c := range cols {
		if fields[c.table] == nil {
			fields[c.table] = map[string]string{}
		}
		var fs []string
		for _, m := range fieldOf.FindAllStringSubmatch(c.expr, -1) {
			fs = append(fs, m[1])
		}
		if c.name == "id" || len(fs) != 1 {
			continue // the key's uuid; containers.code reads din and number, typed by their own columns
		}
		fields[c.table][fs[0]] = c.typ
	}
	// A record of table with every field set from variant n (distinct
	// values for distinct n, so the unique constraints hold), or, for the
	// negative variants, Go's zero values (-1), JSON null (-2), absent (-3).
	record := func(table string, n int) []byte {
		r := map[string]any{"v": 1}
		for f, typ := range fields[table] {
			var v any
			switch {
			case n == -1:
				v = map[string]any{"text": "", "boolean": false, "timestamp with time zone": "0001-01-01T00:00:00Z",
					"uuid": uuid.Nil.String(), "integer": 0, "bigint": 0}[typ]
			case n == -2:
				v = nil
			case n == -3:
				continue
			case n == 6:
				// Forms PostgreSQL reads that COPY's columns leave to it
				// (copyjson.go): escapes, a time with a space and an hour
				// offset, a uuid without hyphens, numbers as strings.
				u := uuid.Must(uuid.NewV7())
				v = map[string]any{"text": fmt.Sprintf("<%s> & \u2028 \u00e9 %d", f, n), "boolean": "yes",
					"timestamp with time zone": "2026-06-02 03:04:05.5-03",
					"uuid":                     strings.ToUpper(hex.EncodeToString(u[:])), "integer": "6", "bigint": "6"}[typ]
			default:
				v = map[string]any{"text": fmt.Sprintf("Zoë \"%s\" \\ é %d", f, n), "boolean": n%2 == 0,
					"timestamp with time zone": fmt.Sprintf("2026-0%d-02T03:04:05.12345678%d+01:00", n, n),
					"uuid":                     uuid.Must(uuid.NewV7()).String(), "integer": n, "bigint": int64(n) << 40}[typ]
			}
			if v == nil && n != -2 {
				t.Fatalf("%s.%s: no value for type %s", table, f, typ)
			}
			r[f] = v
		}
		if table == "containers" && n > 0 {
			r["din"] = fmt.Sprintf("G12342600000%d", n) // the code is din || two digits
		}
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	e, _ := create(t)
	// The foreign keys (and the triggers that check a lot's donor, schema
	// 4) would want the rows the random ids point to; they are not what
	// this test is about.
	if err := exec(t, e, `DO $$ DECLARE r record; BEGIN
		FOR r IN SELECT conrelid::regclass AS tbl, conname FROM pg_constraint WHERE contype = 'f' AND connamespace = current_schema()::regnamespace LOOP
			EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', r.tbl, r.conname);
		END LOOP; END $$; ALTER TABLE lots DISABLE TRIGGER USER`); err != nil {
		t.Fatal(err)
	}
	// The trail's tables: keys of their lengths, the sequence numbers
	// across the sign bit of a bigint.
	trail := map[string]string{"audit_entries": "audit", "audit_entity": "audit_entity", "audit_tree": "audit_tree"}
	trailKey := func(table string, n int) []byte {
		seq := []byte{byte(n) * 0x3f, 0, 0, 0, 0, 0, 1, byte(n)}
		if table == "audit_entity" {
			return append(id(), seq...)
		}
		return seq
	}
	rewritten := map[string][]byte{}
	err := e.Update(func(tx kv.Tx) error {
		for table, bucket := range trail {
			b, err := tx.CreateBucketIfNotExists([]byte(bucket))
			if err != nil {
				return err
			}
			for n := 1; n <= 4; n++ {
				k := trailKey(table, n)
				if err := b.Put(k, []byte{byte(n)}); err != nil {
					return err
				}
				rewritten[table] = k
			}
		}
		for table := range fields {
			if trail[table] != "" {
				continue
			}
			b, err := tx.CreateBucket([]byte(table))
			if err != nil {
				return err
			}
			// 5 is not rewritten below: the row as the first flush wrote
			// it (by COPY in the copy run) is checked too.
			for _, n := range []int{1, 5, 6, -1, -2, -3} {
				k := id()
				if err := b.Put(k, record(table, n)); err != nil {
					return err
				}
				if n == 1 {
					rewritten[table] = k
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = e.Update(func(tx kv.Tx) error {
		bulk := tx.(interface {
			PutMany(bucket []byte, keys, values [][]byte) error
		})
		for table, bucket := range trail {
			// The same bytes again: nothing changes.
			if err := tx.Bucket([]byte(bucket)).Put(rewritten[table], []byte{4}); err != nil {
				return err
			}
			if err := bulk.PutMany([]byte(bucket), [][]byte{trailKey(table, 5), trailKey(table, 6)}, [][]byte{{5}, {6}}); err != nil {
				return err
			}
		}
		for table := range fields {
			if trail[table] != "" {
				continue
			}
			if err := tx.Bucket([]byte(table)).Put(rewritten[table], record(table, 2)); err != nil {
				return err
			}
			if err := bulk.PutMany([]byte(table), [][]byte{id(), id()}, [][]byte{record(table, 3), record(table, 4)}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	checked := map[string]int{}
	for _, c := range cols {
		var generated bool
		if err := e.Pool().QueryRow(ctx, "SELECT attgenerated <> '' FROM pg_attribute WHERE attrelid = $1::regclass AND quote_ident(attname) = $2", c.table, c.name).Scan(&generated); err != nil {
			t.Fatalf("%s.%s in schema 2: %v", c.table, c.name, err)
		}
		if generated {
			t.Errorf("%s.%s is still generated in schema 2", c.table, c.name)
		}
		var rows, differ int
		q := fmt.Sprintf("SELECT count(*), count(*) FILTER (WHERE %s IS DISTINCT FROM (%s)) FROM %s", c.name, c.expr, c.table)
		if err := e.Pool().QueryRow(ctx, q).Scan(&rows, &differ); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		want := 8 // 6 records, one of them rewritten, and 2 by PutMany
		if trail[c.table] != "" {
			want = 6 // 4 keys, one written again, and 2 by PutMany
		}
		if rows != want || differ != 0 {
			t.Errorf("%s.%s: %d of %d rows differ from schema 1's %s", c.table, c.name, differ, rows, c.expr)
			dump, _ := e.Pool().Query(ctx, fmt.Sprintf("SELECT k::text, %s::text, (%s)::text FROM %s WHERE %s IS DISTINCT FROM (%s)", c.name, c.expr, c.table, c.name, c.expr))
			for dump.Next() {
				var r, got, want *string
				dump.Scan(&r, &got, &want)
				t.Logf("  %v: written %v, schema 1 %v", deref(r), deref(got), deref(want))
			}
			dump.Close()
		}
		checked[c.table]++
	}
	if len(checked) != len(pgkv.Tables()) { // every table of its own
		t.Errorf("checked the columns of %d tables: %v", len(checked), checked)
	}
	t.Logf("%d columns of %d tables", len(cols), len(checked))
	checkSeesEachColumn(t, e, cols, rewritten)
}

// checkSeesEachColumn: the column check (verify's check of the written
// columns) finds nothing in the rows as pgkv wrote them, and, for every
// column schema 1 generated, an edit of it in one row by SQL (as a DBA
// would, the trail's trigger off) as exactly that column of that row, the
// value found and the value schema 1's expression gives.
func checkSeesEachColumn(t *testing.T, e *pgkv.Engine, cols []schema1Column, rows map[string][]byte) {
	if ms := checkColumns(t, e); len(ms) != 0 {
		t.Fatalf("the column check on the rows pgkv wrote: %+v", ms)
	}
	ctx := context.Background()
	conn, err := e.Pool().Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	for table := range trail { // as the tables' owner may
		if _, err := conn.Exec(ctx, "ALTER TABLE "+table+" DISABLE TRIGGER USER"); err != nil {
			t.Fatal(err)
		}
	}
	other := map[string]string{"text": "coalesce(%s || '+', 'edited')", "boolean": "NOT coalesce(%s, false)",
		"timestamp with time zone": "coalesce(%s + interval '1 day', '2000-01-01Z')", "uuid": "gen_random_uuid()",
		"integer": "coalesce(%s + 1, 7)", "bigint": "coalesce(%s + 1, 7)"}
	for _, c := range cols {
		k := rows[c.table]
		var found, want *string
		err := conn.QueryRow(ctx, fmt.Sprintf("UPDATE %[1]s SET %[2]s = %[3]s WHERE k = $1 RETURNING %[2]s::text, (%[4]s)::text",
			c.table, c.name, strings.ReplaceAll(other[c.typ], "%s", c.name), c.expr), k).Scan(&found, &want)
		if err != nil {
			t.Fatalf("edit %s.%s: %v", c.table, c.name, err)
		}
		ms := checkColumns(t, e)
		name := strings.Trim(c.name, `"`)
		if len(ms) != 1 || ms[0].Table != c.table || ms[0].Column != name || !bytes.Equal(ms[0].Key, k) ||
			deref(ms[0].Found) != deref(found) || deref(ms[0].Want) != deref(want) || ms[0].FromKey != (c.name == "id" || trail[c.table]) {
			t.Errorf("%s.%s set to %s (the record gives %s): the column check found %+v", c.table, c.name, deref(found), deref(want), ms)
		}
		if _, err := conn.Exec(ctx, fmt.Sprintf("UPDATE %s SET %s = %s WHERE k = $1", c.table, c.name, c.expr), k); err != nil {
			t.Fatalf("restore %s.%s: %v", c.table, c.name, err)
		}
	}
	if ms := checkColumns(t, e); len(ms) != 0 {
		t.Fatalf("the column check after each column was put back: %+v", ms)
	}
}

var trail = map[string]bool{"audit_entries": true, "audit_entity": true, "audit_tree": true}

// checkColumns runs the column check in a read transaction.
func checkColumns(t *testing.T, e *pgkv.Engine) []kv.Mismatch {
	t.Helper()
	var ms []kv.Mismatch
	if err := e.View(func(tx kv.Tx) (err error) { ms, err = tx.(kv.ColumnChecker).StartColumnCheck()(); return err }); err != nil {
		t.Fatal(err)
	}
	return ms
}

func deref(s *string) string {
	if s == nil {
		return "NULL"
	}
	return *s
}

// TestColumnCheckUnreadableRecord: a record edited by SQL into one the
// server cannot compute the columns of (a time that is no time, a \u0000
// jsonb refuses) fails the server's check statement. The column check reports
// those rows as Unreadable and still finds every edited column, of that
// table's other rows (one whose record only the server computes among
// them) and of the other tables; the transaction reads on.
func TestColumnCheckUnreadableRecord(t *testing.T) {
	e, _ := create(t)
	lot := func(k []byte, n int) []byte {
		return fmt.Appendf(nil, `{"v":1,"id":"%s","number":"L-%d","din":"G1234260000%03d","status":"quarantine","expires":"2027-01-02T03:04:05Z"}`, uid(k), n, n)
	}
	var lots [][]byte
	cont := id()
	err := e.Update(func(tx kv.Tx) error {
		lb, err := tx.CreateBucket([]byte("lots"))
		if err != nil {
			return err
		}
		for n := range 40 {
			k := id()
			lots = append(lots, k)
			if err := lb.Put(k, lot(k, n)); err != nil {
				return err
			}
		}
		cb, err := tx.CreateBucket([]byte("containers"))
		if err != nil {
			return err
		}
		return cb.Put(cont, fmt.Appendf(nil, `{"v":1,"id":"%s","lot_id":"%s","din":"G1234260000000","number":1,"state":"stored"}`, uid(cont), uid(lots[0])))
	})
	if err != nil {
		t.Fatal(err)
	}
	badTime, badText, edited := lots[3], lots[29], lots[17]
	if err := exec(t, e, `UPDATE lots SET record = jsonb_set(record::jsonb, '{expires}', '"x"')::json WHERE k = $1`, badTime); err != nil {
		t.Fatal(err)
	}
	if err := exec(t, e, `UPDATE lots SET record = '{"number":"L-29","status":"a\u0000b"}'::json WHERE k = $1`, badText); err != nil {
		t.Fatal(err)
	}
	if err := exec(t, e, `UPDATE lots SET status = 'released' WHERE k = $1`, edited); err != nil {
		t.Fatal(err)
	}
	if err := exec(t, e, `UPDATE containers SET state = 'issued' WHERE k = $1`, cont); err != nil {
		t.Fatal(err)
	}
	// A time in a form only the server computes (copyjson.go), the same
	// time: only the status differs.
	otherForm := lots[11]
	if err := exec(t, e, `UPDATE lots SET record = jsonb_set(record::jsonb, '{expires}', '"2027-01-02 04:04:05+01"')::json, status = 'released' WHERE k = $1`, otherForm); err != nil {
		t.Fatal(err)
	}
	var ms []kv.Mismatch
	var after []byte
	err = e.View(func(tx kv.Tx) (err error) {
		if ms, err = tx.(kv.ColumnChecker).StartColumnCheck()(); err != nil {
			return err
		}
		after = bytes.Clone(tx.Bucket([]byte("lots")).Get(lots[0]))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range ms {
		got = append(got, fmt.Sprintf("%s %x %s %s→%s %q", m.Table, m.Key, m.Column, deref(m.Found), deref(m.Want), m.Unreadable))
	}
	unreadable := func(k []byte, msg string) string { return fmt.Sprintf("lots %x  NULL→NULL %q", k, msg) }
	want := []string{
		fmt.Sprintf(`containers %x state issued→stored ""`, cont),
		unreadable(badTime, `invalid input syntax for type timestamp with time zone: "x"`),
		fmt.Sprintf(`lots %x status released→quarantine ""`, edited),
		fmt.Sprintf(`lots %x status released→quarantine ""`, otherForm),
		unreadable(badText, `unsupported Unicode escape sequence`),
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("the column check found\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if !bytes.Equal(after, lot(lots[0], 0)) {
		t.Errorf("a read after the column check: %s", after)
	}
}

// TestColumnCheckSnapshot: the column check sees what its transaction
// sees. A read transaction's runs on a connection of its own in the
// transaction's snapshot: an edit committed after the transaction began
// is not in it, one before is — and so with one connection in the pool,
// where the check runs on the transaction's own. A write transaction's
// sees its own buffered writes (a rewrite of the edited row's record).
func TestColumnCheckSnapshot(t *testing.T) {
	e, u := create(t)
	before, after := id(), id()
	rec := func(k []byte, n int) []byte {
		return fmt.Appendf(nil, `{"v":1,"id":"%s","number":"L-%d","din":"G1234260000%03d","status":"quarantine"}`, uid(k), n, n)
	}
	err := e.Update(func(tx kv.Tx) error {
		b, err := tx.CreateBucket([]byte("lots"))
		if err != nil {
			return err
		}
		if err := b.Put(before, rec(before, 1)); err != nil {
			return err
		}
		return b.Put(after, rec(after, 2))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := exec(t, e, `UPDATE lots SET status = 'released' WHERE k = $1`, before); err != nil {
		t.Fatal(err)
	}
	sep := "?"
	if strings.Contains(u, "?") {
		sep = "&"
	}
	one, err := pgkv.Open(u+sep+"pool_max_conns=1", pgkv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer one.Close()
	keys := func(ms []kv.Mismatch) []string {
		var ks []string
		for _, m := range ms {
			ks = append(ks, fmt.Sprintf("%x %s %s", m.Key, m.Column, deref(m.Found)))
		}
		return ks
	}
	want := []string{fmt.Sprintf("%x status released", before)}
	for _, c := range []struct {
		name string
		run  func(func(kv.Tx) error) error // the transaction
		prep func(kv.Tx) error             // before the check, in it
	}{
		{"own connection", e.View, func(tx kv.Tx) error {
			tx.Bucket([]byte("lots")).Get(before) // the snapshot is taken
			return exec(t, e, `UPDATE lots SET status = 'released' WHERE k = $1`, after)
		}},
		{"one connection", one.View, func(tx kv.Tx) error {
			tx.Bucket([]byte("lots")).Get(before)
			return exec(t, e, `UPDATE lots SET status = 'released' WHERE k = $1`, after)
		}},
		{"write transaction", e.Update, func(tx kv.Tx) error {
			// before's record says released too, buffered: its row agrees
			// once the write is sent.
			want = nil
			return tx.Bucket([]byte("lots")).Put(before, bytes.Replace(rec(before, 1), []byte("quarantine"), []byte("released"), 1))
		}},
	} {
		var ms []kv.Mismatch
		err := c.run(func(tx kv.Tx) (err error) {
			if err := c.prep(tx); err != nil {
				return err
			}
			ms, err = tx.(kv.ColumnChecker).StartColumnCheck()()
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if got := keys(ms); !slices.Equal(got, want) {
			t.Errorf("%s: the column check found %q, want %q", c.name, got, want)
		}
		if err := exec(t, e, `UPDATE lots SET status = 'quarantine' WHERE k = $1`, after); err != nil {
			t.Fatal(err)
		}
	}
}
