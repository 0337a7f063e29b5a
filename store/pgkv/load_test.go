package pgkv_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/celltrack/celltrack/internal/pgtest"
	"github.com/celltrack/celltrack/store/kv"
	"github.com/celltrack/celltrack/store/pgkv"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// lotKey is a record key: a UUID's 16 bytes (the lots table derives its id
// column from it).
var lotKey = []byte("0123456789abcdef")

type bulk interface {
	PutMany(bucket []byte, keys, values [][]byte) error
	BucketNames() []string
}

// tables counts the tables of the database at u.
func tables(t *testing.T, u string) int {
	t.Helper()
	var n int
	scanOne(t, u, "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()", &n)
	return n
}

// scanOne scans the one row of query q, on its own connection to the
// database at u, into dest.
func scanOne(t *testing.T, u, q string, dest ...any) {
	t.Helper()
	ctx := context.Background()
	c, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	if err := c.QueryRow(ctx, q).Scan(dest...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// TestCreateFilledIsOneTransaction: the schema and what fn writes commit
// together; a failing fn leaves the database without a table; a database
// with tables is refused untouched.
func TestCreateFilledIsOneTransaction(t *testing.T) {
	u := pgtest.URL(t)
	boom := errors.New("boom half way")
	err := pgkv.CreateFilled(u, pgkv.Options{}, func(tx kv.Tx) error {
		b, err := tx.CreateBucket([]byte("lots"))
		if err != nil {
			return err
		}
		if err := b.Put(lotKey, []byte(`{"a":1}`)); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("CreateFilled with a failing fn: %v, want its error", err)
	}
	if n := tables(t, u); n != 0 {
		t.Fatalf("a failed CreateFilled left %d tables", n)
	}

	// Values of every kind of table, byte for byte: a json record with
	// spacing and key order jsonb would change, an audit entry, the
	// generic table; and more pairs than one statement would want.
	record := []byte(`{"z": 1,  "a" : "x"}`)
	err = pgkv.CreateFilled(u, pgkv.Options{}, func(tx kv.Tx) error {
		for _, name := range []string{"lots", "audit", "meta"} {
			if _, err := tx.CreateBucket([]byte(name)); err != nil {
				return err
			}
		}
		bt := tx.(bulk)
		var keys, vals [][]byte
		for i := range 3000 {
			keys = append(keys, []byte(fmt.Sprintf("k%07d", i)))
			vals = append(vals, []byte{byte(i), 0, 0xff})
		}
		if err := bt.PutMany([]byte("audit"), keys, vals); err != nil {
			return err
		}
		if err := bt.PutMany([]byte("lots"), [][]byte{lotKey}, [][]byte{record}); err != nil {
			return err
		}
		if err := bt.PutMany([]byte("meta"), [][]byte{[]byte("schema"), []byte("empty")}, [][]byte{[]byte("8"), nil}); err != nil {
			return err
		}
		if got := fmt.Sprint(bt.BucketNames()); got != "[audit lots meta]" {
			t.Errorf("BucketNames: %s", got)
		}
		// A key already there is refused, not rewritten.
		if err := bt.PutMany([]byte("audit"), [][]byte{[]byte("k0000001")}, [][]byte{[]byte("other")}); err == nil {
			t.Errorf("PutMany over an existing audit key succeeded")
		}
		return errors.New("roll back the probe")
	})
	if err == nil || tables(t, u) != 0 {
		t.Fatalf("the probe transaction: %v, %d tables", err, tables(t, u))
	}
	err = pgkv.CreateFilled(u, pgkv.Options{}, func(tx kv.Tx) error {
		for _, name := range []string{"lots", "audit", "meta"} {
			if _, err := tx.CreateBucket([]byte(name)); err != nil {
				return err
			}
		}
		bt := tx.(bulk)
		var keys, vals [][]byte
		for i := range 3000 {
			keys = append(keys, []byte(fmt.Sprintf("k%07d", i)))
			vals = append(vals, []byte{byte(i), 0, 0xff})
		}
		if err := bt.PutMany([]byte("audit"), keys, vals); err != nil {
			return err
		}
		if err := bt.PutMany([]byte("lots"), [][]byte{lotKey}, [][]byte{record}); err != nil {
			return err
		}
		return bt.PutMany([]byte("meta"), [][]byte{[]byte("schema"), []byte("empty")}, [][]byte{[]byte("8"), nil})
	})
	if err != nil {
		t.Fatal(err)
	}
	e, err := pgkv.Open(u, pgkv.Options{})
	if err != nil {
		t.Fatalf("open what CreateFilled made: %v", err)
	}
	defer e.Close()
	err = e.View(func(tx kv.Tx) error {
		if n := tx.Bucket([]byte("audit")).KeyN(); n != 3000 {
			t.Errorf("audit has %d keys, want 3000", n)
		}
		if v := tx.Bucket([]byte("audit")).Get([]byte("k0000258")); !bytes.Equal(v, []byte{2, 0, 0xff}) {
			t.Errorf("audit k0000258 = %x", v)
		}
		if v := tx.Bucket([]byte("lots")).Get(lotKey); !bytes.Equal(v, record) {
			t.Errorf("the record came back as %q, want %q byte for byte", v, record)
		}
		if v := tx.Bucket([]byte("meta")).Get([]byte("empty")); v == nil || len(v) != 0 {
			t.Errorf("an empty value came back as %v", v)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var ee *pgkv.EmptyError
	if err := pgkv.CreateFilled(u, pgkv.Options{}, func(kv.Tx) error { return nil }); !errors.As(err, &ee) {
		t.Fatalf("CreateFilled of a database with tables: %v, want an EmptyError", err)
	}
}

// TestCreateFilledWritesByCopy: a new database's fn that buffers enough
// pairs has them sent by COPY (copy.go) on CreateFilled's own transaction,
// and they read back byte for byte.
func TestCreateFilledWritesByCopy(t *testing.T) {
	defer pgkv.SetCopyMin(100)()
	u := pgtest.URL(t)
	key := func(i int) []byte { return binary.BigEndian.AppendUint64(nil, uint64(i)) }
	err := pgkv.CreateFilled(u, pgkv.Options{}, func(tx kv.Tx) error {
		for _, name := range []string{"audit", "meta"} {
			b, err := tx.CreateBucket([]byte(name))
			if err != nil {
				return err
			}
			for i := range 300 {
				if err := b.Put(key(i), []byte(fmt.Sprintf("%s %d", name, i))); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	e, err := pgkv.Open(u, pgkv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	e.View(func(tx kv.Tx) error {
		for _, name := range []string{"audit", "meta"} {
			n := 0
			tx.Bucket([]byte(name)).ForEach(func(k, v []byte) error {
				if want := fmt.Sprintf("%s %d", name, n); !bytes.Equal(k, key(n)) || string(v) != want {
					t.Errorf("%s: pair %d is %x %q, want %x %q", name, n, k, v, key(n), want)
				}
				n++
				return nil
			})
			if n != 300 {
				t.Errorf("%s: %d pairs, want 300", name, n)
			}
		}
		return nil
	})
}

// TestCreateFilledChecksForeignKeys: CreateFilled sets the schema's foreign
// keys aside while fn fills the tables and adds them again before COMMIT
// (dropForeignKeys): a record whose reference is missing is still refused
// with the foreign-key violation, schema and all rolled back, whether its
// row went by INSERT or by COPY; and a database it made has every
// constraint, deferrable and deferred, exactly as one `init` makes.
func TestCreateFilledChecksForeignKeys(t *testing.T) {
	donor, lot := id(), id()
	donorJSON := fmt.Sprintf(`{"v":1,"id":"%s","code":"D-001","created_at":"2026-01-02T03:04:05Z","created_by":"ana"}`, uid(donor))
	lotJSON := fmt.Sprintf(`{"v":1,"id":"%s","number":"L-1","din":"G123426000001","source":"donor","donor_id":"%s","status":"quarantine","created_at":"2026-01-03T00:00:00Z"}`, uid(lot), uid(donor))
	fill := func(withDonor bool) func(kv.Tx) error {
		return func(tx kv.Tx) error {
			for _, name := range []string{"donors", "lots"} {
				if _, err := tx.CreateBucket([]byte(name)); err != nil {
					return err
				}
			}
			bt := tx.(bulk)
			if withDonor {
				if err := bt.PutMany([]byte("donors"), [][]byte{donor}, [][]byte{[]byte(donorJSON)}); err != nil {
					return err
				}
			}
			return bt.PutMany([]byte("lots"), [][]byte{lot}, [][]byte{[]byte(lotJSON)})
		}
	}
	for _, min := range []int{256, 1} { // the lot by INSERT, then by COPY
		restore := pgkv.SetCopyMin(min)
		u := pgtest.URL(t)
		err := pgkv.CreateFilled(u, pgkv.Options{}, fill(false))
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "23503" || pe.ConstraintName != "lots_donor_id_fkey" {
			t.Errorf("copyMin %d: a lot whose donor is missing: %v, want the foreign-key violation of lots_donor_id_fkey", min, err)
		}
		if n := tables(t, u); n != 0 {
			t.Errorf("copyMin %d: the refused fill left %d tables", min, n)
		}
		if err := pgkv.CreateFilled(u, pgkv.Options{}, fill(true)); err != nil {
			t.Fatalf("copyMin %d: %v", min, err)
		}
		restore()
		v := pgtest.URL(t)
		made, err := pgkv.Create(v, pgkv.Options{})
		if err != nil {
			t.Fatal(err)
		}
		made.Close()
		if filled, want := constraints(t, u), constraints(t, v); !strings.Contains(want, "lots_patient_id_fkey FOREIGN KEY (patient_id) REFERENCES patients(id) DEFERRABLE INITIALLY DEFERRED") || filled != want {
			t.Errorf("copyMin %d: the constraints of a filled database:\n%s\nof a new one:\n%s", min, filled, want)
		}
	}
}

// constraints lists every constraint of the database at u, one a line:
// its table, name and definition.
func constraints(t *testing.T, u string) string {
	t.Helper()
	var s string
	scanOne(t, u, `SELECT string_agg(format('%s %s %s', conrelid::regclass, conname, pg_get_constraintdef(oid)), E'\n' ORDER BY conrelid::regclass::text, conname)
		FROM pg_constraint WHERE connamespace = current_schema()::regnamespace`, &s)
	return s
}

// TestPutManyByCopyRefusesAKeyThere: PutMany's pairs that go by COPY are
// refused, as the INSERT refuses them, when a key is in the bucket already
// (a unique violation; nothing is compared first), for the trail, the
// generic table and a record table alike.
func TestPutManyByCopyRefusesAKeyThere(t *testing.T) {
	defer pgkv.SetCopyMin(1)()
	u := pgtest.URL(t)
	record := func(k []byte) []byte {
		return []byte(fmt.Sprintf(`{"v":1,"id":"%s","code":"D-%x","created_at":"2026-01-02T03:04:05Z"}`, uid(k), k[12:]))
	}
	for _, c := range []struct {
		bucket string
		key    func(int) []byte
		value  func([]byte) []byte
	}{
		{"audit", func(i int) []byte { return binary.BigEndian.AppendUint64(nil, uint64(i+1)) }, func(k []byte) []byte { return k }},
		{"meta", func(i int) []byte { return []byte(fmt.Sprintf("key %d", i)) }, func(k []byte) []byte { return k }},
		{"donors", func(int) []byte { return id() }, record},
	} {
		var there, fresh []byte
		err := pgkv.CreateFilled(u, pgkv.Options{}, func(tx kv.Tx) error {
			if _, err := tx.CreateBucket([]byte(c.bucket)); err != nil {
				return err
			}
			var ks, vs [][]byte
			for i := range 3 {
				ks = append(ks, c.key(i))
				vs = append(vs, c.value(ks[i]))
			}
			there, fresh = ks[1], c.key(3)
			bt := tx.(bulk)
			if err := bt.PutMany([]byte(c.bucket), ks, vs); err != nil {
				t.Errorf("%s: the first PutMany: %v", c.bucket, err)
				return err
			}
			return bt.PutMany([]byte(c.bucket), [][]byte{fresh, there}, [][]byte{c.value(fresh), c.value(there)})
		})
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "23505" {
			t.Errorf("%s: PutMany of a key there (%x) beside a new one: %v, want a unique violation", c.bucket, there, err)
		}
		if n := tables(t, u); n != 0 {
			t.Fatalf("%s: the refused fill left %d tables", c.bucket, n)
		}
	}
}
