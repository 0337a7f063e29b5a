// Command auditdict trains the zstd dictionary that audit entries are
// compressed with (audit/entrydict), from the audit entries of a database
// built by the benchmark harness (synthetic data only: never train it on a
// facility's file, the dictionary is shipped in the binary).
//
//	go run ./internal/benchharness -sizes 10000 -runs 1 -keep
//	go run ./internal/auditdict -db /tmp/celltrack-bench-…/db-10000.db -id 1 -out audit/entrydict/1.zdict.b64
//	go generate ./audit   # the binary holds it as a Go constant (audit/entrydict_gen.go)
//
// A dictionary, once entries are written with it, must stay in the binary
// for ever under its id: a new one gets the next id, and the old ones are
// kept to read the entries written with them.
package main

import (
	"encoding/base64"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/store/boltkv"
	"github.com/celltrack/celltrack/store/kv"
	"github.com/klauspost/compress/dict"
)

// headerLen is the fixed header of an audit entry stored with its JSON body
// (before schema 8; the first layout, audit/audit.go), whose body it samples.
const headerLen = 113

func main() {
	path := flag.String("db", "", "harness database to read the audit entries of")
	id := flag.Uint("id", 0, "dictionary id (never reuse one)")
	out := flag.String("out", "", "file to write the dictionary to, in base64")
	samples := flag.Int("samples", 3000, "entries to sample, spread evenly over the trail")
	flag.Parse()
	if *path == "" || *id == 0 || *out == "" {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*path, uint32(*id), *out, *samples); err != nil {
		fmt.Fprintln(os.Stderr, "auditdict:", err)
		os.Exit(1)
	}
}

func run(path string, id uint32, out string, want int) error {
	db, err := boltkv.Open(path, &boltkv.Options{ReadOnly: true})
	if err != nil {
		return err
	}
	defer db.Close()
	var samples [][]byte
	err = db.View(func(tx kv.Tx) error {
		b := tx.Bucket([]byte("audit"))
		n := b.KeyN()
		step := max(n/want, 1)
		i := 0
		return b.ForEach(func(k, v []byte) error {
			if i%step == 0 && len(v) > headerLen && v[headerLen] == '{' && !audit.IsLinked(v) {
				samples = append(samples, append([]byte(nil), v[headerLen:]...))
			}
			i++
			return nil
		})
	})
	if err != nil {
		return err
	}
	d, err := dict.BuildZstdDict(samples, dict.Options{MaxDictSize: 64 << 10, HashBytes: 6, ZstdDictID: id})
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "auditdict: %d samples, dictionary of %d bytes\n", len(samples), len(d))
	// base64, wrapped: the repository holds text only.
	enc := base64.StdEncoding.EncodeToString(d)
	var b strings.Builder
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\n")
		enc = enc[76:]
	}
	b.WriteString(enc + "\n")
	return os.WriteFile(out, []byte(b.String()), 0o644)
}
