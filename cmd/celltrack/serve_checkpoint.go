package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/store"
	"github.com/urfave/cli/v2"
	"golang.org/x/mod/sumdb/note"
)

// minCheckpointEvery is the shortest interval between a server's signed
// checkpoints: each one runs the whole of `audit verify` first.
const minCheckpointEvery = time.Minute

// checkpointer signs the audit trail's tree head while a server holds the
// database (which no other celltrack can open meanwhile, so no one else can
// sign): once at start, every interval while entries were added, and once
// at stop. Each checkpoint is a new file in dir, never one overwritten.
type checkpointer struct {
	db     *store.DB
	signer note.Signer
	dir    string
	every  time.Duration
	log    *log.Logger
	last   int64  // the tree size of the last checkpoint written
	writer string // this server's part of its files' names (see sign)
}

// serveCheckpointer reads --checkpoint-key, --checkpoint-dir and
// --checkpoint-every before the database is opened; nil without a key.
func serveCheckpointer(c *cli.Context) (*checkpointer, error) {
	key, dir := c.String("checkpoint-key"), c.String("checkpoint-dir")
	if key == "" && dir == "" {
		if c.IsSet("checkpoint-every") {
			return nil, lot.Errorf(lot.EUSAGE, "--checkpoint-every needs --checkpoint-key and --checkpoint-dir")
		}
		return nil, nil
	}
	if key == "" || dir == "" {
		return nil, lot.Errorf(lot.EUSAGE, "--checkpoint-key and --checkpoint-dir go together: the key signs, the folder keeps what it signed")
	}
	every := c.Duration("checkpoint-every")
	if every < minCheckpointEvery {
		return nil, lot.Errorf(lot.EUSAGE, "--checkpoint-every %s is shorter than %s; each checkpoint verifies the whole trail first", every, minCheckpointEvery)
	}
	signer, err := readSigner("--checkpoint-key", key)
	if err != nil {
		return nil, err
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return nil, lot.Errorf(lot.EINVALID, "--checkpoint-dir %s is not a folder; create it (on another disk or a write-once share, not beside the database)", dir)
	}
	return &checkpointer{signer: signer, dir: dir, every: every}, nil
}

// sign writes a checkpoint of the trail as it is now, unless the last one
// already has this size. It verifies the whole trail first, and every
// checkpoint already in the folder (readKept's rules: nothing there is
// passed over silently): it signs nothing for a trail that does not extend
// each of them — a file rolled back or cut since — and says why.
func (k *checkpointer) sign() error {
	kept, err := k.readFolder()
	if err != nil {
		return err
	}
	msg, head, rolled, err := k.db.SignCheckpointOver(k.signer, kept)
	if err != nil {
		return err
	}
	if k.last == 0 { // said once, at start
		for _, r := range rolled {
			k.log.Printf("checkpoint: ROLLED BACK, not a refusal: %s", r)
		}
	}
	if head.Size == k.last {
		return nil
	}
	// Servers on one database share the folder (review 15 C): started
	// together (after a power cut) they sign the same tree head in the same
	// second, so the time and the size alone named one file for both and
	// the second stopped on the first's. Each server's files carry a random
	// part of its own; readers read every file, whatever its name.
	if k.writer == "" {
		b := make([]byte, 4)
		rand.Read(b)
		k.writer = hex.EncodeToString(b)
	}
	name := filepath.Join(k.dir, fmt.Sprintf("checkpoint-%s-%d-%s.txt", head.Time.UTC().Format("20060102T150405Z"), head.Size, k.writer))
	if err := writeNew("checkpoint-dir", checkpointFile, name, string(msg), 0o600); err != nil {
		return err
	}
	k.last = head.Size
	k.log.Printf("checkpoint of %d entries written to %s", head.Size, name)
	return nil
}

// readFolder reads the checkpoints kept in the folder. An empty file there
// is most likely one another server sharing the folder has just created and
// not yet written (writeNew creates, then writes): the folder is read again
// after a second, once, before it is held against the trail — an empty
// checkpoint is refused as unreadable, which would stop this server's
// checkpoints and writes.
func (k *checkpointer) readFolder() ([]store.KeptCheckpoint, error) {
	kept, _, err := readWitness(k.dir, true)
	if err != nil {
		return nil, err
	}
	for _, kc := range kept {
		if kc.Unusable == "" && len(kc.Note) == 0 {
			time.Sleep(time.Second)
			kept, _, err = readWitness(k.dir, true)
			break
		}
	}
	return kept, err
}

// run signs every interval until ctx ends. A failure is logged and tried
// again at the next tick: the server keeps serving, and a trail that fails
// verification gets no checkpoint.
func (k *checkpointer) run(ctx context.Context) {
	t := time.NewTicker(k.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := k.sign(); err != nil {
				k.log.Printf("checkpoint not written: %s", lot.ErrorMessage(err))
			}
		}
	}
}
