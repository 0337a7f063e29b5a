package pgtest

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { Main(m) }

// TestDigestSeesEveryWrite: a database's digest changes with any row
// written, and a template copy has the same digest.
func TestDigestSeesEveryWrite(t *testing.T) {
	u := URL(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "CREATE TABLE a (k int primary key, v text); INSERT INTO a VALUES (1, 'x')"); err != nil {
		t.Fatal(err)
	}
	before, err := Digest(u)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := Digest(u); again != before {
		t.Fatalf("digest of an unchanged database changed")
	}
	if _, err := conn.Exec(ctx, "UPDATE a SET v = 'y'"); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	after, _ := Digest(u)
	if after == before {
		t.Fatalf("digest did not change with an UPDATE")
	}
	c, drop, err := CreateDatabase(Server(t), Name(u))
	if err != nil {
		t.Fatal(err)
	}
	defer drop()
	if d, _ := Digest(c); d != after {
		t.Errorf("a template copy has another digest")
	}
}
