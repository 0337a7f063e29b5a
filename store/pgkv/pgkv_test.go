package pgkv_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/celltrack/celltrack/internal/pgtest"
	"github.com/celltrack/celltrack/store/kv"
	"github.com/celltrack/celltrack/store/kv/kvtest"
	"github.com/celltrack/celltrack/store/pgkv"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// create makes a celltrack schema in a new database and opens it.
func create(t *testing.T) (*pgkv.Engine, string) {
	t.Helper()
	u := pgtest.URL(t)
	e, err := pgkv.Create(u, pgkv.Options{})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	t.Cleanup(func() { e.Close() })
	return e, u
}

func TestConformance(t *testing.T) {
	kvtest.Run(t, func(t *testing.T) kv.Engine {
		e, _ := create(t)
		return e
	})
}

func exec(t *testing.T, e *pgkv.Engine, sql string, args ...any) error {
	t.Helper()
	_, err := e.Pool().Exec(context.Background(), sql, args...)
	return err
}

func TestOpenChecksSchema(t *testing.T) {
	u := pgtest.URL(t)
	_, err := pgkv.Open(u, pgkv.Options{})
	var se *pgkv.SchemaError
	if !errors.As(err, &se) || !strings.Contains(err.Error(), "an admin initialises it as a new celltrack database") {
		t.Fatalf("Open of an empty database: %v, want a SchemaError saying to run init", err)
	}
	e, err := pgkv.Create(u, pgkv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	// A schema with no buckets yet (an init that failed after Create) may
	// be created again; one holding buckets may not.
	again, err := pgkv.Create(u, pgkv.Options{})
	if err != nil {
		t.Fatalf("Create of a schema with no buckets: %v", err)
	}
	again.Close()
	if err := e.Update(func(tx kv.Tx) error { _, err := tx.CreateBucket([]byte("meta")); return err }); err != nil {
		t.Fatal(err)
	}
	if _, err := pgkv.Create(u, pgkv.Options{}); !errors.As(err, new(*pgkv.ExistsError)) {
		t.Fatalf("Create of a database in use: %v, want ExistsError", err)
	}
	o, err := pgkv.Open(u, pgkv.Options{})
	if err != nil {
		t.Fatalf("Open after Create: %v", err)
	}
	o.Close()
	if applied, err := pgkv.Migrate(u, pgkv.Options{}); err != nil || len(applied) != 0 {
		t.Fatalf("Migrate of a current database: applied %v, %v", applied, err)
	}

	// A newer schema than this binary's is refused by Open and Migrate.
	latest := pgkv.LatestVersion()
	if err := exec(t, e, "INSERT INTO pgkv_migrations (version, name) VALUES ($1, 'future')", latest+1); err != nil {
		t.Fatal(err)
	}
	if _, err := pgkv.Open(u, pgkv.Options{}); !errors.As(err, &se) || !strings.Contains(err.Error(), "newer celltrack") {
		t.Errorf("Open of a newer schema: %v", err)
	}
	if _, err := pgkv.Migrate(u, pgkv.Options{}); !errors.As(err, &se) {
		t.Errorf("Migrate of a newer schema: %v", err)
	}
	// An older one is refused by Open, with what to run.
	if err := exec(t, e, "DELETE FROM pgkv_migrations WHERE version >= $1", latest); err != nil {
		t.Fatal(err)
	}
	if latest > 1 {
		if _, err := pgkv.Open(u, pgkv.Options{}); !errors.As(err, &se) || !strings.Contains(err.Error(), "an admin upgrades it first") {
			t.Errorf("Open of an older schema: %v", err)
		}
	}
}

// TestCreateRefusesForeignTables: init on a database that holds a table
// celltrack did not make (one named like a table of its own, patients) is
// refused naming it, and leaves the database as it was — no empty
// pgkv_migrations behind.
func TestCreateRefusesForeignTables(t *testing.T) {
	u := pgtest.URL(t)
	conn, err := pgx.Connect(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), "CREATE TABLE patients (mrn text PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	before, err := pgtest.Digest(u)
	if err != nil {
		t.Fatal(err)
	}
	_, err = pgkv.Create(u, pgkv.Options{})
	var fe *pgkv.ForeignTablesError
	if !errors.As(err, &fe) || !strings.Contains(err.Error(), "already holds tables celltrack did not make (patients)") {
		t.Fatalf("Create over a foreign table: %v, want ForeignTablesError naming patients", err)
	}
	if after, err := pgtest.Digest(u); err != nil || after != before {
		t.Errorf("the refused Create changed the database (%v)", err)
	}
	var n int
	if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM pg_tables WHERE tablename = 'pgkv_migrations'").Scan(&n); err != nil || n != 0 {
		t.Errorf("pgkv_migrations left behind: %d, %v", n, err)
	}
}

// TestPasswordNeverShown: neither Describe nor any error of a failed open
// prints the URL's password, in any spelling.
func TestPasswordNeverShown(t *testing.T) {
	const pw = "Sup3r-s3cret"
	for _, u := range []string{
		"postgres://nurse:" + pw + "@/celltrack?host=/nonexistent-socket-dir&connect_timeout=2",
		"postgres://nurse:" + pw + "@127.0.0.1:1/celltrack?connect_timeout=2",
		"postgresql://nurse@127.0.0.1:1/celltrack?password=" + pw + "&connect_timeout=2",
		"postgres://nurse:" + pw + "@127.0.0.1:notaport/celltrack",
		"postgres://nurse:Sup3r%2Ds3cret@127.0.0.1:1/celltrack?connect_timeout=2",
		"postgres://nurse:" + pw + "@127.0.0.1:1/celltrack?sslmode=bogus",
	} {
		_, err := pgkv.Open(u, pgkv.Options{})
		if err == nil {
			t.Fatalf("Open(%q) succeeded", u)
		}
		for _, s := range []string{pw, "Sup3r%2Ds3cret"} {
			if strings.Contains(err.Error(), s) {
				t.Errorf("error of a failed open shows the password: %v", err)
			}
		}
		if !strings.Contains(err.Error(), "nurse") {
			t.Errorf("error does not name the database: %v", err)
		}
		t.Logf("%v", err)
	}
}

func TestDescribeDropsPassword(t *testing.T) {
	// Through a server of our own we cannot set a password; the
	// description of a URL with one is checked on the parse alone.
	u := pgtest.URL(t)
	withPW := strings.Replace(u, "://", "://postgres:hunter22@", 1)
	if strings.Count(withPW, "@") != 1 {
		// The test URL has a user already: put the password after it.
		withPW = strings.Replace(u, "@", ":hunter22@", 1)
	}
	if _, err := pgkv.Create(withPW, pgkv.Options{}); err != nil {
		if strings.Contains(err.Error(), "hunter22") {
			t.Fatalf("error shows the password: %v", err)
		}
		t.Skipf("server refuses a password here: %v", err)
	}
	e, err := pgkv.Open(withPW, pgkv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if strings.Contains(e.Describe(), "hunter22") {
		t.Errorf("Describe shows the password: %s", e.Describe())
	}
}

func id() []byte { u := uuid.Must(uuid.NewV7()); return u[:] }

func uid(b []byte) uuid.UUID { return uuid.UUID(b) }

// TestTablesForPeople: records land in their own tables with columns a
// DBA queries, byte for byte, and the constraints refuse what store never
// writes.
func TestTablesForPeople(t *testing.T) {
	e, _ := create(t)
	donor, lot1, lot2, cont := id(), id(), id(), id()
	donorJSON := fmt.Sprintf(`{"v":1,"id":"%s","code":"D-001","delivered":"2026-01-02T03:04:05Z","site":"Leiden","consented":"0001-01-01T00:00:00Z","created_at":"2026-01-02T03:04:05.123456789+01:00","created_by":"ana"}`, uid(donor))
	lotJSON := func(k []byte, din string) string {
		return fmt.Sprintf(`{"v":1, "id":"%s","number":"L-%s","din":"%s","source":"donor","donor_id":"%s","status":"quarantine",  "created_at":"2026-01-03T00:00:00Z"}`, uid(k), din, din, uid(donor))
	}
	err := e.Update(func(tx kv.Tx) error {
		for _, b := range []string{"donors", "lots", "containers", "idx_lot_din"} {
			if _, err := tx.CreateBucket([]byte(b)); err != nil {
				return err
			}
		}
		if err := tx.Bucket([]byte("lots")).Put(lot1, []byte(lotJSON(lot1, "G123426000001"))); err != nil {
			return err
		}
		// The donor after the lot pointing to it: constraints wait for commit.
		if err := tx.Bucket([]byte("donors")).Put(donor, []byte(donorJSON)); err != nil {
			return err
		}
		if err := tx.Bucket([]byte("containers")).Put(cont, fmt.Appendf(nil, `{"id":"%s","lot_id":"%s","din":"G123426000001","number":1,"state":"stored"}`, uid(cont), uid(lot1))); err != nil {
			return err
		}
		return tx.Bucket([]byte("idx_lot_din")).Put([]byte("G123426000001"), lot1)
	})
	if err != nil {
		t.Fatal(err)
	}
	var (
		code, site, din, status, ccode string
		delivered                      time.Time
		consented                      *time.Time
		donorID, lotDonor              uuid.UUID
		record                         string
	)
	row := e.Pool().QueryRow(context.Background(), `SELECT d.id, d.code, d.site, d.delivered, d.consented, l.din, l.status, l.donor_id, c.code, l.record::text
		FROM donors d JOIN lots l ON l.donor_id = d.id JOIN containers c ON c.lot_id = l.id`)
	if err := row.Scan(&donorID, &code, &site, &delivered, &consented, &din, &status, &lotDonor, &ccode, &record); err != nil {
		t.Fatal(err)
	}
	if donorID != uid(donor) || code != "D-001" || site != "Leiden" || !delivered.Equal(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)) ||
		consented != nil || din != "G123426000001" || status != "quarantine" || lotDonor != uid(donor) || ccode != "G12342600000101" {
		t.Errorf("columns: %v %q %q %v %v %q %q %v %q", donorID, code, site, delivered, consented, din, status, lotDonor, ccode)
	}
	if record != lotJSON(lot1, "G123426000001") {
		t.Errorf("record changed on the way: %s", record)
	}
	e.View(func(tx kv.Tx) error {
		if v := tx.Bucket([]byte("lots")).Get(lot1); string(v) != lotJSON(lot1, "G123426000001") {
			t.Errorf("Get returned %s", v)
		}
		return nil
	})

	for _, c := range []struct {
		name   string
		bucket string
		key    []byte
		value  string
	}{
		{"duplicate DIN", "lots", lot2, lotJSON(lot2, "G123426000001")},
		{"lot of an unknown donor", "lots", lot2, strings.Replace(lotJSON(lot2, "G123426000002"), uid(donor).String(), uuid.Must(uuid.NewV7()).String(), 1)},
		{"duplicate container code", "containers", id(), fmt.Sprintf(`{"lot_id":"%s","din":"G123426000001","number":1}`, uid(lot1))},
		{"record that is not JSON", "lots", lot2, "not json"},
		{"key that is not an id", "donors", []byte("short"), `{"code":"D-002"}`},
	} {
		err := e.Update(func(tx kv.Tx) error {
			return tx.Bucket([]byte(c.bucket)).Put(c.key, []byte(c.value))
		})
		if err == nil {
			t.Errorf("%s: committed", c.name)
		} else {
			t.Logf("%s: %v", c.name, err)
		}
	}
	// A zero uuid means "none": no donor, no foreign key to check.
	err = e.Update(func(tx kv.Tx) error {
		return tx.Bucket([]byte("lots")).Put(lot2, []byte(strings.Replace(lotJSON(lot2, "G123426000002"), uid(donor).String(), uuid.Nil.String(), 1)))
	})
	if err != nil {
		t.Errorf("lot with a zero donor id: %v", err)
	}
}

// TestAuditAppendOnly: the trail's tables refuse UPDATE, DELETE and
// TRUNCATE, from the engine and from a DBA's ad-hoc SQL alike; writing the
// same bytes again is harmless.
func TestAuditAppendOnly(t *testing.T) {
	e, _ := create(t)
	seq := []byte{0, 0, 0, 0, 0, 0, 0, 1}
	ent := append(id(), seq...)
	put := func(bucket string, k, v []byte) error {
		return e.Update(func(tx kv.Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte(bucket))
			if err != nil {
				return err
			}
			return b.Put(k, v)
		})
	}
	for _, p := range []struct {
		bucket string
		k, v   []byte
	}{{"audit", seq, []byte("entry 1")}, {"audit_entity", ent, nil}, {"audit_tree", seq, make([]byte, 32)}} {
		if err := put(p.bucket, p.k, p.v); err != nil {
			t.Fatalf("append to %s: %v", p.bucket, err)
		}
		if err := put(p.bucket, p.k, p.v); err != nil {
			t.Errorf("writing the same %s bytes again: %v", p.bucket, err)
		}
	}
	if err := put("audit", seq, []byte("rewritten")); err == nil || !strings.Contains(err.Error(), "append-only") {
		t.Errorf("rewriting an audit entry through the engine: %v", err)
	}
	if err := e.Update(func(tx kv.Tx) error { return tx.Bucket([]byte("audit")).Delete(seq) }); err == nil {
		t.Errorf("deleting an audit entry through the engine succeeded")
	}
	for _, sql := range []string{
		"UPDATE audit_entries SET entry = 'forged'",
		"DELETE FROM audit_entries",
		"TRUNCATE audit_entries",
		"UPDATE audit_tree SET hash = '\\x00'",
		"DELETE FROM audit_entity",
	} {
		if err := exec(t, e, sql); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: %v", sql, err)
		}
	}
	var seqCol int64
	var entry []byte
	if err := e.Pool().QueryRow(context.Background(), "SELECT seq, entry FROM audit_entries").Scan(&seqCol, &entry); err != nil || seqCol != 1 || string(entry) != "entry 1" {
		t.Errorf("audit_entries: %d %q %v", seqCol, entry, err)
	}
}

// TestBucketsAcrossProcesses: two engines on one database (two celltrack
// processes) see each other's new and deleted buckets.
func TestBucketsAcrossProcesses(t *testing.T) {
	a, u := create(t)
	b, err := pgkv.Open(u, pgkv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	has := func(e *pgkv.Engine, name string) (ok bool) {
		e.View(func(tx kv.Tx) error { ok = tx.Bucket([]byte(name)) != nil; return nil })
		return ok
	}
	if has(b, "sessions") {
		t.Fatal("sessions exists before it was created")
	}
	if err := a.Update(func(tx kv.Tx) error { _, err := tx.CreateBucket([]byte("sessions")); return err }); err != nil {
		t.Fatal(err)
	}
	if !has(b, "sessions") {
		t.Error("the other engine does not see a new bucket")
	}
	if err := b.Update(func(tx kv.Tx) error { return tx.DeleteBucket([]byte("sessions")) }); err != nil {
		t.Fatal(err)
	}
	if has(a, "sessions") {
		t.Error("the first engine still sees a deleted bucket")
	}
}

// TestBusy: a writer that cannot get the database within the lock timeout
// gets a busy *kv.Error, and its fn never ran.
func TestBusy(t *testing.T) {
	a, u := create(t)
	b, err := pgkv.Open(u, pgkv.Options{LockTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	held := make(chan struct{})
	release := make(chan struct{})
	done := make(chan error)
	go func() {
		done <- a.Update(func(tx kv.Tx) error {
			close(held)
			<-release
			return nil
		})
	}()
	<-held
	ran := false
	err = b.Update(func(tx kv.Tx) error { ran = true; return nil })
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	var ke *kv.Error
	if !errors.As(err, &ke) || !ke.Busy {
		t.Fatalf("Update while another writer holds the database: %v, want a busy *kv.Error", err)
	}
	if msg := err.Error(); strings.Contains(msg, "SQLSTATE") || !strings.Contains(msg, "another writer held the database for more than 300ms") {
		t.Errorf("busy says %q: want the reason in words, without the server's SQLSTATE text", msg)
	}
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "55P03" {
		t.Errorf("busy error %v: the server's error is no longer in its chain", err)
	}
	if ran {
		t.Error("fn ran without the writer lock")
	}
	// Readers are not blocked by a writer.
	held, release = make(chan struct{}), make(chan struct{})
	go func() {
		done <- a.Update(func(tx kv.Tx) error { close(held); <-release; return nil })
	}()
	<-held
	if err := b.View(func(tx kv.Tx) error { return nil }); err != nil {
		t.Errorf("View while a writer holds the database: %v", err)
	}
	close(release)
	<-done
}

// TestConnectionLostRetried: a transaction whose connection is killed
// before commit runs again on a new one; a read failing for good panics
// with a *kv.Error that the engine turns into Update's error.
func TestConnectionLostRetried(t *testing.T) {
	e, _ := create(t)
	if err := e.Update(func(tx kv.Tx) error { _, err := tx.CreateBucket([]byte("meta")); return err }); err != nil {
		t.Fatal(err)
	}
	var attempts atomic.Int32
	err := e.Update(func(tx kv.Tx) error {
		if attempts.Add(1) == 1 {
			// Kill this transaction's own backend, as a server restart would.
			if err := exec(t, e, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND state = 'idle in transaction'"); err != nil {
				return err
			}
			time.Sleep(100 * time.Millisecond)
		}
		tx.Bucket([]byte("meta")).Get([]byte("schema")) // panics on the dead connection
		return tx.Bucket([]byte("meta")).Put([]byte("schema"), []byte("8"))
	})
	if err != nil {
		t.Fatalf("Update after a lost connection: %v", err)
	}
	if n := attempts.Load(); n != 2 {
		t.Errorf("fn ran %d times, want 2", n)
	}
	// With no retries allowed the lost connection is reported, as the
	// database unavailable (not busy: no other writer was in the way).
	f, err := pgkv.Open(strings.TrimSpace(e.Describe()), pgkv.Options{Retries: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// The read's failure is raised again as a *kv.Error panic, which store
	// recovers where it began the transaction.
	func() {
		defer func() {
			ke, ok := recover().(*kv.Error)
			if !ok || !ke.Unavailable || ke.Busy || ke.InDoubt {
				t.Errorf("View on a lost connection without retries raised %v, want an unavailable *kv.Error", ke)
			}
		}()
		f.View(func(tx kv.Tx) error {
			// A read's BEGIN goes with its first statement (Open cached
			// the registry): until then its backend is idle, not idle in
			// a transaction.
			exec(t, e, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND state IN ('idle', 'idle in transaction')")
			time.Sleep(100 * time.Millisecond)
			tx.Bucket([]byte("meta")).Get([]byte("schema"))
			t.Error("Get on a dead connection returned")
			return nil
		})
		t.Error("View on a dead connection returned")
	}()
}

// TestCursorSeesWritesInTx: a write to the bucket through the same
// transaction makes a cursor's prefetched page stale; the next move reads
// the bucket as it now is (bbolt leaves this undefined; pgkv defines it).
func TestCursorSeesWritesInTx(t *testing.T) {
	e, _ := create(t)
	key := func(i int) []byte { return []byte{0, 0, 0, byte(i)} }
	err := e.Update(func(tx kv.Tx) error {
		b, err := tx.CreateBucket([]byte("things"))
		if err != nil {
			return err
		}
		for i := 0; i < 40; i += 2 {
			if err := b.Put(key(i), []byte("old")); err != nil {
				return err
			}
		}
		c := b.Cursor()
		if k, _ := c.Seek(key(10)); string(k) != string(key(10)) {
			t.Fatalf("Seek(10) = %x", k)
		}
		if err := b.Put(key(11), []byte("new")); err != nil {
			return err
		}
		if err := b.Delete(key(12)); err != nil {
			return err
		}
		if k, v := c.Next(); string(k) != string(key(11)) || string(v) != "new" {
			t.Errorf("Next after Put(11) = %x %q, want 11 new", k, v)
		}
		if k, _ := c.Next(); string(k) != string(key(14)) {
			t.Errorf("Next after Delete(12) = %x, want 14", k)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestLeastPrivilegeRole runs the grants README "PostgreSQL" documents and
// checks that the role the sites use can do all celltrack does, and can
// neither rewrite nor remove the audit trail, even with plain SQL.
func TestLeastPrivilegeRole(t *testing.T) {
	owner, u := create(t)
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	suffix := strings.ToLower(strings.ReplaceAll(uuid.NewString()[:8], "-", ""))
	app, ownerRole := "celltrack_app_"+suffix, "celltrack_owner_"+suffix
	sql, err := pgtest.SitesRoleGrants(readme, app, ownerRole, pgtest.Name(u))
	if err != nil {
		t.Fatal(err)
	}
	if err := owner.Update(func(tx kv.Tx) error {
		for _, b := range []string{"meta", "audit", "lots", "donors"} {
			if _, err := tx.CreateBucket([]byte(b)); err != nil {
				return err
			}
		}
		return tx.Bucket([]byte("audit")).Put([]byte{0, 0, 0, 0, 0, 0, 0, 1}, []byte("entry 1"))
	}); err != nil {
		t.Fatal(err)
	}
	if err := exec(t, owner, sql); err != nil {
		t.Fatalf("the README's grants: %v", err)
	}
	t.Cleanup(func() {
		exec(t, owner, "DROP OWNED BY "+app+", "+ownerRole)
		exec(t, owner, "DROP ROLE "+app+", "+ownerRole)
	})
	if err := exec(t, owner, "ALTER ROLE "+app+" PASSWORD 'app-pw'"); err != nil {
		t.Fatal(err)
	}
	pu, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	pu.User = url.UserPassword(app, "app-pw")
	e, err := pgkv.Open(pu.String(), pgkv.Options{})
	if err != nil {
		t.Fatalf("open as %s: %v", app, err)
	}
	defer e.Close()
	lot := id()
	err = e.Update(func(tx kv.Tx) error {
		if err := tx.Bucket([]byte("lots")).Put(lot, fmt.Appendf(nil, `{"din":"G123426000009","number":"L-9","status":"quarantine"}`)); err != nil {
			return err
		}
		if err := tx.Bucket([]byte("audit")).Put([]byte{0, 0, 0, 0, 0, 0, 0, 2}, []byte("entry 2")); err != nil {
			return err
		}
		if err := tx.Bucket([]byte("audit")).Put([]byte{0, 0, 0, 0, 0, 0, 0, 1}, []byte("entry 1")); err != nil {
			return err // the same bytes again: no change
		}
		b, err := tx.CreateBucket([]byte("sessions"))
		if err != nil {
			return err
		}
		if err := b.Put([]byte("s"), []byte("x")); err != nil {
			return err
		}
		return b.Delete([]byte("s"))
	})
	if err != nil {
		t.Fatalf("what celltrack does, as %s: %v", app, err)
	}
	// audit verify's column check: a snapshot exported and imported on a
	// second connection, every table read.
	if err := e.View(func(tx kv.Tx) error {
		ms, err := tx.(kv.ColumnChecker).StartColumnCheck()()
		if len(ms) != 0 {
			t.Errorf("the column check as %s: %+v", app, ms)
		}
		return err
	}); err != nil {
		t.Errorf("the column check as %s: %v", app, err)
	}
	if err := e.Update(func(tx kv.Tx) error {
		return tx.Bucket([]byte("audit")).Put([]byte{0, 0, 0, 0, 0, 0, 0, 1}, []byte("forged"))
	}); err == nil || !strings.Contains(err.Error(), "append-only") {
		t.Errorf("rewriting an audit entry as %s: %v", app, err)
	}
	for _, q := range []string{
		"UPDATE audit_entries SET entry = 'forged'",
		"DELETE FROM audit_entries",
		"TRUNCATE audit_entries",
		"DELETE FROM audit_tree",
		"DELETE FROM pgkv_migrations",
	} {
		if _, err := e.Pool().Exec(context.Background(), q); err == nil || !strings.Contains(err.Error(), "permission denied") {
			t.Errorf("%s as %s: %v, want permission denied", q, app, err)
		}
	}
	// The owner can switch the append-only trigger off (README says so, and
	// what still catches it); the sites' role, which owns nothing, cannot.
	for _, q := range []string{
		"ALTER TABLE audit_entries DISABLE TRIGGER ALL",
		"ALTER TABLE audit_tree DISABLE TRIGGER USER",
	} {
		if _, err := e.Pool().Exec(context.Background(), q); err == nil || !strings.Contains(err.Error(), "must be owner") {
			t.Errorf("%s as %s: %v, want permission denied", q, app, err)
		}
	}
}

// TestConnectTimeoutDefault: without connect_timeout in the URL a new
// connection gives up after 5 s (a machine that does not answer would
// otherwise hold each try for the system's TCP timeout, minutes); the
// URL's own value is kept.
func TestConnectTimeoutDefault(t *testing.T) {
	e, _ := create(t)
	if got := e.Pool().Config().ConnConfig.ConnectTimeout; got != 5*time.Second {
		t.Errorf("connect timeout without connect_timeout: %v, want 5s", got)
	}
	sep := "&"
	if !strings.Contains(e.Describe(), "?") {
		sep = "?"
	}
	f, err := pgkv.Open(e.Describe()+sep+"connect_timeout=7", pgkv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got := f.Pool().Config().ConnConfig.ConnectTimeout; got != 7*time.Second {
		t.Errorf("connect timeout with connect_timeout=7: %v, want 7s", got)
	}
}

// TestRedactDropsEverySecretParameter: sslpassword (the passphrase of the
// client's TLS key) and any parameter named as a password, secret or token
// is dropped like password=, whatever its case; paths and the rest stay, so
// that the URL shown still connects (review 8, finding 10).
func TestRedactDropsEverySecretParameter(t *testing.T) {
	raw := "postgres://ct:pw-user-1@db.example.org:5433/celltrack?sslmode=verify-full&sslpassword=Secret-ssl-55&SSLPassword=Secret-ssl-56&password=pw-param-2&sslkey=/etc/ct/client.key&passfile=/etc/ct/pgpass&host=/run/pg&auth_token=tok-3"
	got := pgkv.Redact(raw)
	for _, secret := range []string{"pw-user-1", "Secret-ssl-55", "Secret-ssl-56", "pw-param-2", "tok-3"} {
		if strings.Contains(got, secret) {
			t.Errorf("Redact keeps %s: %s", secret, got)
		}
	}
	for _, kept := range []string{"ct@db.example.org:5433/celltrack", "sslmode=verify-full", "sslkey=%2Fetc%2Fct%2Fclient.key", "passfile=", "host=%2Frun%2Fpg"} {
		if !strings.Contains(got, kept) {
			t.Errorf("Redact drops %s: %s", kept, got)
		}
	}
}

// TestSchemeInAnyCase: a URL's scheme is case-insensitive (RFC 3986 §3.1),
// so `Postgres://` and `POSTGRESQL://` name a PostgreSQL database — and
// connect, though the driver reads only a lower-case scheme as a URL — and
// are described in lower case without the password (review 20, H).
func TestSchemeInAnyCase(t *testing.T) {
	for s, want := range map[string]bool{
		"postgres://h/d": true, "Postgres://h/d": true, "POSTGRESQL://h/d": true, "pOsTgReSqL://h/d": true,
		"postgres:/h/d": false, "postgress://h/d": false, "Postgres": false, "lab.db": false, "./postgres://x": false,
	} {
		if got := pgkv.IsURL(s); got != want {
			t.Errorf("IsURL(%q) = %v, want %v", s, got, want)
		}
	}
	_, u := create(t)
	scheme, rest, _ := strings.Cut(u, "://")
	upper := strings.ToUpper(scheme) + "://" + rest
	e, err := pgkv.Open(upper, pgkv.Options{})
	if err != nil {
		t.Fatalf("open %s: %v", pgkv.Redact(upper), err)
	}
	defer e.Close()
	if want := pgkv.Redact(u); e.Describe() != want {
		t.Errorf("Describe of the URL with scheme %s: %q, want %q", strings.ToUpper(scheme), e.Describe(), want)
	}
	if err := e.View(func(kv.Tx) error { return nil }); err != nil {
		t.Errorf("read through %s://: %v", strings.ToUpper(scheme), err)
	}
}
