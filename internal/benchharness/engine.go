package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// engine is where the harness keeps its databases: files in the work
// directory (bbolt), or databases on a PostgreSQL server. A database is
// named by the harness ("base-1000", "db-1000", …) and reached by the path
// or URL that `--db` takes.
type engine interface {
	// label names the engine in the tables.
	label() string
	// path is the path or URL of the database called name.
	path(name string) string
	// fresh returns the path or URL of an empty database called name,
	// removing any earlier one.
	fresh(name string) (string, error)
	// copy makes to a copy of from (no process may have either open).
	copy(from, to string) (string, error)
	// remove drops the database called name.
	remove(name string) error
	// size is the database's size on disk.
	size(name string) int64
	// floor is the floor's arguments for one commit into a copy of the
	// database called name, and for raw puts of n lots into a new one
	// called name.
	floorCommit(name string) []string
	floorPuts(name string, n int) []string
}

// fileEngine keeps bbolt files in dir.
type fileEngine struct{ dir string }

func (f fileEngine) label() string            { return "bbolt" }
func (f fileEngine) path(name string) string  { return filepath.Join(f.dir, name+".db") }
func (f fileEngine) remove(name string) error { return os.Remove(f.path(name)) }

func (f fileEngine) fresh(name string) (string, error) {
	os.Remove(f.path(name))
	return f.path(name), nil
}

func (f fileEngine) copy(from, to string) (string, error) {
	return f.path(to), copyFile(f.path(from), f.path(to))
}

func (f fileEngine) size(name string) int64 {
	fi, err := os.Stat(f.path(name))
	if err != nil {
		return 0
	}
	return fi.Size()
}

func (f fileEngine) floorCommit(name string) []string { return []string{"commit", f.path(name)} }
func (f fileEngine) floorPuts(name string, n int) []string {
	return []string{"puts", f.path(name), fmt.Sprint(n)}
}

// pgEngine keeps databases on the PostgreSQL server at server (a URL of a
// database the role may connect to, and a role that may create databases),
// each named prefix + the harness's name.
type pgEngine struct {
	server string
	prefix string
}

func (p pgEngine) label() string { return "PostgreSQL" }

func (p pgEngine) dbName(name string) string {
	return p.prefix + strings.NewReplacer("-", "_", ".", "_").Replace(name)
}

func (p pgEngine) path(name string) string { return p.url(name) }

func (p pgEngine) url(name string) string {
	u, err := url.Parse(p.server)
	if err != nil {
		return ""
	}
	u.Path = "/" + p.dbName(name)
	return u.String()
}

// exec runs statements on the server's maintenance connection.
func (p pgEngine) exec(sqls ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, p.server)
	if err != nil {
		return fmt.Errorf("connect to the PostgreSQL server: %w", err)
	}
	defer conn.Close(ctx)
	for _, s := range sqls {
		if _, err := conn.Exec(ctx, s); err != nil {
			return fmt.Errorf("%s: %w", s, err)
		}
	}
	return nil
}

func (p pgEngine) ident(name string) string { return pgx.Identifier{p.dbName(name)}.Sanitize() }

func (p pgEngine) fresh(name string) (string, error) {
	return p.url(name), p.exec("DROP DATABASE IF EXISTS "+p.ident(name)+" WITH (FORCE)", "CREATE DATABASE "+p.ident(name))
}

// copy clones the database with CREATE DATABASE … TEMPLATE, PostgreSQL's
// file copy.
func (p pgEngine) copy(from, to string) (string, error) {
	return p.url(to), p.exec("DROP DATABASE IF EXISTS "+p.ident(to)+" WITH (FORCE)", "CREATE DATABASE "+p.ident(to)+" TEMPLATE "+p.ident(from))
}

func (p pgEngine) remove(name string) error {
	return p.exec("DROP DATABASE IF EXISTS " + p.ident(name) + " WITH (FORCE)")
}

func (p pgEngine) size(name string) int64 {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, p.server)
	if err != nil {
		return 0
	}
	defer conn.Close(ctx)
	var n int64
	conn.QueryRow(ctx, "SELECT pg_database_size($1)", p.dbName(name)).Scan(&n)
	return n
}

func (p pgEngine) floorCommit(name string) []string { return []string{"pginsert", p.url(name)} }
func (p pgEngine) floorPuts(name string, n int) []string {
	return []string{"pgcopy", p.url(name), fmt.Sprint(n)}
}
