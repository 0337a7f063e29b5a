package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/celltrack/celltrack/audit"
	"github.com/urfave/cli/v2"
	bolt "go.etcd.io/bbolt"
)

// storedEntries reads the audit trail's entries as stored, with raw bbolt
// (standing in for any bbolt tool; celltrack itself reads them through
// store/boltkv), and says of each whether its body is stored uncompressed:
// a zstd frame of raw blocks, the JSON as it is at the end (audit.EncodeRaw).
func storedEntries(t *testing.T, path string) (raw []bool) {
	t.Helper()
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer bdb.Close()
	err = bdb.View(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("audit")).ForEach(func(_, v []byte) error {
			body, err := audit.Body(v)
			if err != nil {
				return err
			}
			raw = append(raw, bytes.HasSuffix(v, body))
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// TestCLIWritesStoreEntriesUncompressed: the commands of a one-shot process
// (init, login, a registration, a weighing) store their entries as raw zstd
// frames, without the encoder; `lot import`, which writes many, compresses
// them with the dictionary; the trail mixing both verifies.
func TestCLIWritesStoreEntriesUncompressed(t *testing.T) {
	dir := t.TempDir()
	db := labCopy(t, dir)
	before := storedEntries(t, db)
	for i, raw := range before {
		if !raw {
			t.Fatalf("entry %d of the lab fixture (CLI commands only) is compressed", i+1)
		}
	}
	csv := filepath.Join(dir, "in.csv")
	if err := os.WriteFile(csv, []byte(csvHeader+csvGood+"LOT-I-2,uc,D-0001,,2.5e9,94.5,250,2026-11-10,2027-11-10,4,,LN2-B\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := celltrack(db, "", "--user", "liu", "lot", "import", "--csv", csv); r.code != 0 {
		t.Fatalf("lot import: exit %d: %s%s", r.code, r.stdout, r.stderr)
	}
	imported := storedEntries(t, db)
	if len(imported) <= len(before) {
		t.Fatalf("lot import wrote no entry: %d before, %d after", len(before), len(imported))
	}
	for i := len(before); i < len(imported); i++ {
		if imported[i] {
			t.Errorf("entry %d, written by lot import, is stored uncompressed", i+1)
		}
	}
	if r := celltrack(db, "", "--user", "liu", "lot", "register", "--source", "uc", "--donor", "D-0001", "--cells", "2e9",
		"--viability", "95", "--volume-ml", "250", "--manufactured", "2026-11-10", "--expires", "2027-11-10", "LOT-I-3"); r.code != 0 {
		t.Fatalf("lot register: exit %d: %s%s", r.code, r.stdout, r.stderr)
	}
	after := storedEntries(t, db)
	if len(after) <= len(imported) || !after[len(after)-1] {
		t.Fatalf("the registration after the import: %d entries before, %d after, last raw %v", len(imported), len(after), after[len(after)-1])
	}
	if r := celltrack(db, "", "--user", "aud", "audit", "verify"); r.code != 0 {
		t.Fatalf("audit verify of a trail of raw and compressed entries: exit %d: %s%s", r.code, r.stdout, r.stderr)
	}
}

// TestManyEntriesNamesCommands: the commands that keep the dictionary's
// compression are named as urfave/cli names them, so a rename cannot turn
// them into one-shot writers unnoticed.
func TestManyEntriesNamesCommands(t *testing.T) {
	names := map[string]bool{}
	var walk func(prefix string, cs []*cli.Command)
	walk = func(prefix string, cs []*cli.Command) {
		for _, c := range cs {
			names[prefix+" "+c.Name] = true
			walk(prefix+" "+c.Name, c.Subcommands)
		}
	}
	rt := &runtime{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard}
	walk("celltrack", rt.app().Commands)
	for name := range manyEntries {
		if !names[name] {
			t.Errorf("manyEntries names %q, which is no command", name)
		}
	}
}

// TestGrowStackAllocatesNothing: growStack's frame stays on the stack,
// where it grows the stack; moved to the heap, it would grow nothing.
func TestGrowStackAllocatesNothing(t *testing.T) {
	if n := testing.AllocsPerRun(10, growStack); n != 0 {
		t.Fatalf("growStack allocates %v times a call: its frame escaped to the heap", n)
	}
}
