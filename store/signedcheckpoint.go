package store

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/store/kv"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// A signed checkpoint is the tree head (facility, size, root, time) in a
// note signed with the facility's key (audit.FormatCheckpoint). Copies kept
// outside the database — another disk, a write-once share, a printed
// report — are what a rewritten or rolled-back file can no longer agree
// with: `audit verify --checkpoint` proves, with an RFC 6962 consistency
// proof, that today's tree extends each one.

// SignCheckpoint signs the tree head as of now with signer, which must be
// the database's active checkpoint key. With verify it first runs the whole
// of `audit verify` in the same read transaction and refuses to sign a trail
// that fails (ECONFLICT): a checkpoint vouches for the trail it names. A
// server writing a checkpoint every few entries may pass verify false: the
// tree it signs is the one its own writes built. It writes nothing.
func (db *DB) SignCheckpoint(signer note.Signer, verify bool) (msg []byte, head audit.Head, err error) {
	err = db.view(func(tx kv.Tx) error {
		if err := checkSigner(tx, signer); err != nil {
			return err
		}
		if verify {
			v, err := verifyTx(tx)
			if err != nil {
				return err
			}
			if !v.OK() {
				return lot.Errorf(lot.ECONFLICT, "audit verify found %d problem(s) (first: %s); a checkpoint would vouch for a trail changed outside celltrack, so none was signed — verify the audit trail and report it to QA", len(v.Problems), v.Problems[0]).Run("audit verify")
			}
		}
		head, err = treeHead(tx)
		return err
	})
	if err != nil {
		return nil, head, err
	}
	head.Time = db.now()
	msg, err = note.Sign(&note.Note{Text: string(audit.FormatCheckpoint(head))}, signer)
	return msg, head, err
}

// SignCheckpointOver is SignCheckpoint with verify, for a signer that keeps
// its checkpoints together (the server's --checkpoint-dir): in the same read
// transaction it checks every checkpoint already kept there (kept) and
// refuses (ECONFLICT) to sign a trail that does not extend each of them — a
// file rolled back, cut or forked since. A checkpoint signed then would stand
// beside the one it contradicts, as if the trail had always been so.
//
// rolledBack names each kept checkpoint the trail does not extend because
// a recorded restore rolled back over it (--allow-rollback): not a reason
// to refuse, but to be said where the signer reports.
//
// It also refuses a trail that no longer holds the last entry this process
// committed (ownHeadLost): the server's own acknowledged writes, gone. Either
// refusal marks the process as having found the trail rolled back
// (MarkRolledBack).
func (db *DB) SignCheckpointOver(signer note.Signer, kept []KeptCheckpoint) (msg []byte, head audit.Head, rolledBack []string, err error) {
	own := db.ownHead() // before the transaction: see ownHead
	err = db.view(func(tx kv.Tx) error {
		if err := checkSigner(tx, signer); err != nil {
			return err
		}
		if lost := ownHeadLost(tx, own); lost != "" {
			db.MarkRolledBack(lost)
			return lot.Errorf(lot.ECONFLICT, "%s; so none was signed (one signed now would certify a history without them) — an administrator verifies the trail against the kept checkpoints and restores or investigates, and reports it to QA", lost).Run("audit verify --checkpoint")
		}
		v, err := verifyTx(tx)
		if err != nil {
			return err
		}
		if !v.OK() {
			return lot.Errorf(lot.ECONFLICT, "audit verify found %d problem(s) (first: %s); a checkpoint would vouch for a trail changed outside celltrack, so none was signed — verify the audit trail and report it to QA", len(v.Problems), v.Problems[0]).Run("audit verify")
		}
		if rolledBack, err = refuseUnextended(tx, kept, "none was signed"); err != nil {
			db.MarkRolledBack(lot.ErrorMessage(err))
			return err
		}
		head, err = treeHead(tx)
		return err
	})
	if err != nil {
		return nil, head, nil, err
	}
	head.Time = db.now()
	msg, err = note.Sign(&note.Note{Text: string(audit.FormatCheckpoint(head))}, signer)
	return msg, head, rolledBack, err
}

// refuseUnextended refuses (ECONFLICT) a trail in tx that does not extend
// every checkpoint in kept — a file rolled back, cut or forked since: what
// would be signed now would stand beside the checkpoint it contradicts, as
// if the trail had always been so. done says what was therefore not done.
// A checkpoint a recorded restore rolled back over is not refused; it is
// returned, in words, for the caller to report.
func refuseUnextended(tx kv.Tx, kept []KeptCheckpoint, done string) (rolledBack []string, err error) {
	if len(kept) == 0 {
		return nil, nil
	}
	results, _, err := checkKept(tx, kept, nil)
	if err != nil {
		return nil, err
	}
	var bad []string
	for _, r := range results {
		if r.Problem != "" {
			bad = append(bad, r.Problem)
		}
		if r.RolledBack != "" {
			rolledBack = append(rolledBack, fmt.Sprintf("checkpoint %s (tree size %d): %s", r.Name, r.Head.Size, r.RolledBack))
		}
	}
	if len(bad) > 0 {
		return nil, lot.Errorf(lot.ECONFLICT, "the trail does not extend %d of the checkpoints already kept, so %s (one signed now would stand beside the one it contradicts):\n  %s\nverify the audit trail against that folder and report it to QA", len(bad), done, strings.Join(bad, "\n  "))
	}
	return rolledBack, nil
}

// checkSigner refuses a signer that is not the database's active
// checkpoint key.
func checkSigner(tx kv.Tx, signer note.Signer) error {
	keys, err := checkpointKeys(tx)
	if err != nil {
		return err
	}
	k, ok := activeKey(keys)
	if !ok {
		return lot.Errorf(lot.ECONFLICT, "no checkpoint verifier key is registered in this database; an admin registers the verifier key that was printed when the key pair was made").Run("audit key register")
	}
	if v, err := note.NewVerifier(k.Verifier); err != nil || v.Name() != signer.Name() || v.KeyHash() != signer.KeyHash() {
		return lot.FieldErrorf("key", lot.ECONFLICT, "the signing key given is %s+%08x, but this database verifies checkpoints with %s; sign with the key registered here, or have an admin rotate it", signer.Name(), signer.KeyHash(), k.Verifier)
	}
	return nil
}

// The values of checkpoint verification are the domain's (audit), named
// here too so that the store's code reads as before.
type (
	KeptCheckpoint         = audit.KeptCheckpoint
	CheckpointResult       = audit.CheckpointResult
	CheckpointVerification = audit.CheckpointVerification
	PinnedVerifier         = audit.PinnedVerifier
)

// VerifyCheckpoints runs the whole of `audit verify` and checks each kept
// checkpoint in the same read transaction: its signature against the
// verifier keys registered in the database (a retired key verifies only
// checkpoints dated before its rotation), its facility, and a consistency
// proof (tlog.ProveTree, tlog.CheckTree) that today's tree of the trail
// extends it. A trail cut back below a checkpoint, an entry rewritten and
// re-chained, a fork and an older file put in place all fail here, as a
// problem naming the checkpoint and the tree size.
func (db *DB) VerifyCheckpoints(kept []KeptCheckpoint) (CheckpointVerification, error) {
	return db.VerifyCheckpointsPinned(context.Background(), kept, nil)
}

// VerifyCheckpointsPinned is VerifyCheckpoints with the checkpoints checked
// against the pinned verifier keys alone, not the keys the database
// registers; a pinned key the database does not register (its key record
// replaced or removed) is a problem of its own. It ends with ctx's error
// once ctx is done (a stopping server cuts the whole verify).
func (db *DB) VerifyCheckpointsPinned(ctx context.Context, kept []KeptCheckpoint, pinned []PinnedVerifier) (CheckpointVerification, error) {
	var cv CheckpointVerification
	var pinProblems []string
	err := db.viewContext(ctx, func(tx kv.Tx) (err error) {
		cv.Verification, err = verifyTxContext(ctx, tx)
		if err != nil {
			return err
		}
		cv.Checkpoints, pinProblems, err = checkKept(tx, kept, pinned)
		return err
	})
	if err != nil {
		return cv, err
	}
	cv.Problems = append(cv.Problems, pinProblems...)
	var failing, passing []int64
	for _, r := range cv.Checkpoints {
		if r.Problem == "" {
			if r.RolledBack == "" { // a checkpoint rolled back over does not match
				passing = append(passing, r.Head.Size)
			}
			continue
		}
		cv.Problems = append(cv.Problems, r.Problem)
		if r.Mismatch {
			failing = append(failing, min(r.Head.Size, cv.Tree.Size+1))
		}
	}
	if len(failing) > 0 {
		sort.Slice(failing, func(i, j int) bool { return failing[i] < failing[j] })
		cv.FirstMismatch = failing[0]
		for _, p := range passing {
			if p < cv.FirstMismatch && p > cv.LastMatch {
				cv.LastMatch = p
			}
		}
	}
	return cv, nil
}

// checkKept checks kept against the tree in tx, with the registered keys,
// or with the pinned keys alone when any are given; it also returns a
// problem for each pinned key the database does not register.
func checkKept(tx kv.Tx, kept []KeptCheckpoint, pinned []PinnedVerifier) ([]CheckpointResult, []string, error) {
	return checkKeptAlso(tx, kept, pinned, nil, 0)
}

// checkKeptAlso is checkKept with also, verifier key records from outside
// tx (a restore's replaced database), counted as registered with tx's own:
// an older backup does not know the key a later rotation registered. With
// size > 0 the checkpoints are checked against the trail's first size
// entries (a restored older backup's, without the upgrade of its copy).
func checkKeptAlso(tx kv.Tx, kept []KeptCheckpoint, pinned []PinnedVerifier, also []checkpointKeyRecord, size int64) ([]CheckpointResult, []string, error) {
	keys, err := checkpointKeys(tx)
	if err != nil {
		return nil, nil, err
	}
	own := map[string]bool{}
	for _, k := range keys {
		own[k.Verifier] = true
	}
	for _, k := range also {
		if !own[k.Verifier] {
			keys = append(keys, k)
		} else if k.Retired != nil { // retired there since the backup
			for i := range keys {
				if keys[i].Verifier == k.Verifier && keys[i].Retired == nil {
					keys[i].Retired = k.Retired
				}
			}
		}
	}
	var verifiers []note.Verifier
	retired := map[string]checkpointKeyRecord{}
	registered := map[string]bool{}
	for _, k := range keys {
		v, err := note.NewVerifier(k.Verifier)
		if err != nil {
			continue // verifyCheckpointKeys names a key that is not one
		}
		verifiers = append(verifiers, v)
		registered[k.Verifier] = true
		if k.Retired != nil {
			retired[k.Verifier] = k
		}
	}
	var pinProblems []string
	if len(pinned) > 0 {
		verifiers = nil
		for _, p := range pinned {
			key := strings.TrimSpace(p.Key)
			v, err := note.NewVerifier(key)
			if err != nil {
				pinProblems = append(pinProblems, fmt.Sprintf("verifier key %s: not a verifier key (%v)", p.Source, err))
				continue
			}
			verifiers = append(verifiers, v)
			if !registered[key] {
				pinProblems = append(pinProblems, fmt.Sprintf("verifier key %s (%s+%08x) is not one this database registered: its key record was replaced or removed outside celltrack, or this is another facility's database — report it to QA", p.Source, v.Name(), v.KeyHash()))
			}
		}
	}
	now, err := treeHead(tx)
	if err == nil && size > 0 && size < now.Size {
		now, err = headAt(tx, size)
	}
	if err != nil {
		return nil, nil, err
	}
	reader := newTreeHashes(tx)
	var out []CheckpointResult
	var restores, forged map[rolledOver]string
	for _, kc := range kept {
		r := checkOne(kc, verifiers, retired, now, reader, len(pinned) > 0)
		r.Ahead = r.Mismatch && r.Head.Size > now.Size
		if r.Mismatch && r.Problem != "" && !strings.Contains(r.Problem, "signed by a key retired") {
			if restores == nil {
				if restores, forged, err = restoredOver(tx); err != nil {
					return nil, nil, err
				}
			}
			if by, ok := restores[rolledOver{r.Head.Size, r.Head.Root}]; ok {
				r.RolledBack, r.Problem, r.Mismatch, r.Ahead = by, "", false, false
			} else if by, ok := forged[rolledOver{r.Head.Size, r.Head.Root}]; ok {
				r.Problem += "; " + by
			}
		}
		out = append(out, r)
	}
	return out, pinProblems, nil
}

// rolledOverMark introduces, in a `database.restore` entry's reason, a kept
// checkpoint the restore rolled back over (--allow-rollback).
const rolledOverMark = "rolled back over the kept checkpoint of"

// rolledOverRE is one of them, as Restore appends it at the very end of the
// entry's reason. Compiled at first use (dbIDPattern).
var rolledOverRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`; ` + regexp.QuoteMeta(rolledOverMark) + ` tree size (\d+) root ([A-Za-z0-9+/]{43}=)$`)
})

type rolledOver struct {
	size int64
	root tlog.Hash
}

// restoredOver reads the checkpoints the trail's `database.restore`
// entries record rolling back over, each with what to say of it: the entry
// and the reason the admin gave. It reads the whole trail, so checkKept
// calls it only when a checkpoint is not extended. Only the suffix Restore
// appends after everything else counts, read from the end: the same words
// anywhere before it are text an admin chose (the reason, the backup's
// file name) — an older celltrack recorded them unchecked — and excuse
// nothing.
//
// Nor does an entry written while the database lived on PostgreSQL, where
// restore does not exist (review13 I): there it can only have been
// appended outside celltrack (the sites' role may insert into the audit
// tables), and it would silence every witness of a rollback a DBA's
// pg_restore made. Where each entry was written is read from the trail:
// each `database.migrate` entry a migration writes on its target says the
// engine it came from ("migrated from PostgreSQL …"), which is the engine
// of every entry since the one before; the entries after the last one
// were written on this database's own engine (tx's: the file engine has a
// page check, PostgreSQL none). Such an entry is returned in forged, in
// words that name it, for the checkpoint's problem. (Someone able to append
// entries can append a migrate entry too; the rule stops the one-entry
// silencing, not a whole forged history, which verify against an older
// checkpoint still shows.) On the file engine nothing more is required of
// a restore entry — not the replaced file it names, which an admin may
// rightly move away: whoever can append to the file can as well rewrite
// it, which README already treats as total.
func restoredOver(tx kv.Tx) (genuine, forged map[rolledOver]string, err error) {
	genuine, forged = map[rolledOver]string{}, map[rolledOver]string{}
	type excuse struct {
		over rolledOver
		by   string
		seq  uint64
	}
	var since []excuse // the restore entries since the last migration
	settle := func(onPostgres bool) {
		for _, x := range since {
			if onPostgres {
				forged[x.over] = fmt.Sprintf("entry %d, a database.restore entry that claims to have rolled back over it, was written while the database was on PostgreSQL, where restore does not exist — it was not written by celltrack and excuses nothing; report it to QA", x.seq)
			} else {
				genuine[x.over] = x.by
			}
		}
		since = since[:0]
	}
	c := tx.Bucket(bAudit).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		e, err := audit.Decode(v)
		if err != nil {
			continue // a broken entry is audit verify's to report
		}
		if e.Action == actionMigrate {
			if from, ok := strings.CutPrefix(e.Reason, "migrated from "); ok {
				settle(strings.HasPrefix(from, "PostgreSQL ")) // EngineName's words
			}
			continue
		}
		if e.Action != "database.restore" {
			continue
		}
		why := e.Reason
		if i := strings.Index(why, "ROLLBACK allowed: "); i >= 0 {
			why = why[i+len("ROLLBACK allowed: "):]
			if j := strings.Index(why, " — "); j >= 0 {
				why = why[:j]
			}
		}
		rest := e.Reason
		for {
			loc := rolledOverRE().FindStringSubmatchIndex(rest)
			if loc == nil {
				break
			}
			m := []string{rest[loc[0]:loc[1]], rest[loc[2]:loc[3]], rest[loc[4]:loc[5]]}
			rest = rest[:loc[0]]
			size, _ := strconv.ParseInt(m[1], 10, 64)
			root, err := base64.StdEncoding.DecodeString(m[2])
			if err != nil || len(root) != len(tlog.Hash{}) {
				continue
			}
			var h tlog.Hash
			copy(h[:], root)
			since = append(since, excuse{rolledOver{size, h}, fmt.Sprintf("rolled back by the restore, entry %d by %s (%s), reason: %s", e.Seq, e.User, lot.FormatTime(e.Time), why), e.Seq})
		}
	}
	_, onFileEngine := tx.(pageChecker)
	settle(!onFileEngine)
	return genuine, forged, nil
}

// checkOne checks one kept checkpoint against today's tree (now). Only a
// tree the trail does not extend sets Mismatch; a signature, a facility or a
// key-date problem is named as what it is. A checkpoint signed with a
// retired key but dated after the rotation (clock skew between machines,
// or a key used after it was replaced) is still checked against the tree,
// and the message says whether the trail extends it.
func checkOne(kc KeptCheckpoint, verifiers []note.Verifier, retired map[string]checkpointKeyRecord, now audit.Head, reader tlog.HashReader, pinned bool) CheckpointResult {
	r := CheckpointResult{Name: kc.Name}
	prefix := fmt.Sprintf("checkpoint %s: ", kc.Name)
	if kc.Unusable != "" {
		r.Problem = prefix + kc.Unusable
		return r
	}
	made := "signed"
	var keyProblem string
	if kc.Printed != nil {
		r.Head, made = *kc.Printed, "printed"
		r.Head.Facility, r.Signer = now.Facility, "nobody (an unsigned printed tree head)"
	} else {
		h, problem, dated := openSigned(kc, verifiers, retired, &r.Signer, pinned)
		r.Head = h
		if problem != "" && !dated && len(verifiers) == 0 {
			// No key to check it with — after a rollback to before the key
			// was registered, say. Its signature proves nothing then, but
			// the tree it states can still show a rollback: say that too.
			r.Problem = prefix + problem + unverifiedTree(kc.Note, now, reader, &r)
			return r
		}
		if problem != "" && !dated {
			r.Problem = prefix + problem
			return r
		}
		keyProblem = problem
	}
	h := r.Head
	var tree string
	switch {
	case h.Facility != now.Facility:
		r.Problem = prefix + fmt.Sprintf("it is of facility %s; this database is facility %s", h.Facility, now.Facility)
		return r
	case h.Size > now.Size:
		r.Mismatch = true
		tree = fmt.Sprintf("it was %s at tree size %d but the trail now has %d entries: %s removed, or an older file was put in place (rolled back); the first tree size that no longer matches is at most %d (a root alone cannot show whether earlier entries changed too; an older kept checkpoint that still matches narrows it down)", made, h.Size, now.Size, removedWords(now.Size+1, h.Size), now.Size+1)
	case h.Size == 0:
		if h.Root != (tlog.Hash{}) && h.Root != emptyRoot() {
			r.Problem = prefix + "it states an empty tree with a root that is not the empty tree's"
			return r
		}
	default:
		proof, err := tlog.ProveTree(now.Size, h.Size, reader)
		if err == nil {
			err = tlog.CheckTree(proof, now.Size, now.Root, h.Size, h.Root)
		}
		if err != nil {
			r.Mismatch = true
			tree = fmt.Sprintf("today's trail (%d entries) does not extend it: the tree of its first %d entries no longer has the root it states — entries up to %d were rewritten, or this file forked from the one it was made of; the first tree size that no longer matches is at most %d", now.Size, h.Size, h.Size, h.Size)
		}
	}
	switch {
	case keyProblem != "" && tree != "":
		r.Problem = prefix + keyProblem + "; and " + tree
	case keyProblem != "":
		r.Problem = prefix + keyProblem + fmt.Sprintf(" — a problem of the key's dates, not of the trail: today's trail extends its tree of %d entries", h.Size)
	case tree != "":
		r.Problem = prefix + tree
	}
	return r
}

// unverifiedTree compares the tree a checkpoint states, read without its
// signature, with today's (now), for a checkpoint no key can verify: the
// words completing its problem, and r.Mismatch/Head set when the trail is
// shorter than it or does not extend it.
func unverifiedTree(msg []byte, now audit.Head, reader tlog.HashReader, r *CheckpointResult) string {
	i := bytes.Index(msg, []byte("\n\n"))
	if i < 0 {
		return ""
	}
	h, err := audit.ParseCheckpoint(msg[:i+1])
	if err != nil || h.Facility != now.Facility {
		return ""
	}
	switch {
	case h.Size > now.Size:
		r.Head, r.Mismatch = h, true
		return fmt.Sprintf("; and, unverified, it states a tree of %d entries, but this trail has only %d: this log is shorter than it — cut back, or an older file put in place (rolled back, perhaps to before the key was registered); check it against the verifier key kept outside the database, given from its file", h.Size, now.Size)
	case h.Size > 0:
		proof, err := tlog.ProveTree(now.Size, h.Size, reader)
		if err == nil {
			err = tlog.CheckTree(proof, now.Size, now.Root, h.Size, h.Root)
		}
		if err != nil {
			r.Head, r.Mismatch = h, true
			return fmt.Sprintf("; and, unverified, it states a tree of %d entries that this trail differs from: rewritten, forked, or rolled back to before the key was registered; check it against the verifier key kept outside the database, given from its file", h.Size)
		}
		return fmt.Sprintf("; unverified, it states a tree of %d entries that this trail extends (which proves nothing of who signed it)", h.Size)
	}
	return ""
}

// openSigned opens a checkpoint note with the registered keys and parses
// it; it sets *signer to the key that verified it.
// dated is set when the only problem is a retired key used after its
// rotation (the head is then parsed and can still be checked).
func openSigned(kc KeptCheckpoint, verifiers []note.Verifier, retired map[string]checkpointKeyRecord, signer *string, pinned bool) (h audit.Head, problem string, dated bool) {
	if len(verifiers) == 0 {
		return audit.Head{}, "this database has no registered checkpoint key to verify it with", false
	}
	n, err := note.Open(kc.Note, note.VerifierList(verifiers...))
	var unverified *note.UnverifiedNoteError
	switch {
	case errors.As(err, &unverified) && len(unverified.Note.UnverifiedSigs) > 0:
		s := unverified.Note.UnverifiedSigs[0]
		states := ""
		if uh, err := audit.ParseCheckpoint([]byte(unverified.Note.Text)); err == nil {
			states = fmt.Sprintf(" It states tree size %d (%s).", uh.Size, lot.FormatTime(uh.Time))
		}
		if pinned {
			return audit.Head{}, fmt.Sprintf("it is signed by the key %s+%08x, which is none of the verifier keys given from files: a forged checkpoint, or one signed with a key you did not pin.%s", s.Name, s.Hash, states), false
		}
		return audit.Head{}, fmt.Sprintf("it is signed by the key %s+%08x, which is not one this database registered: either the checkpoint is forged, or the database's key record was replaced (check against the verifier key kept outside the database, given from its file).%s", s.Name, s.Hash, states), false
	case err != nil:
		return audit.Head{}, fmt.Sprintf("its signature does not verify (%v): the checkpoint was altered or forged", err), false
	}
	h, err = audit.ParseCheckpoint([]byte(n.Text))
	if err != nil {
		return audit.Head{}, err.Error(), false
	}
	for _, s := range n.Sigs {
		for _, v := range verifiers {
			if v.Name() == s.Name && v.KeyHash() == s.Hash {
				*signer = keyString(v, retired)
				if k, ok := retired[*signer]; ok && h.Time.After(*k.Retired) {
					return h, fmt.Sprintf("it is dated %s but signed by a key retired at %s: a checkpoint made with a key that should no longer be used, or on a machine whose clock was ahead", lot.FormatTime(h.Time), lot.FormatTime(*k.Retired)), true
				}
			}
		}
	}
	return h, "", false
}

// removedWords says entries a to b were removed: "entry 7 was", "entries
// 7–9 were".
func removedWords(a, b int64) string {
	if a == b {
		return EntryRange(a, b) + " was"
	}
	return EntryRange(a, b) + " were"
}

// EntryRange names the entries a to b: "entry 7", "entries 7–9".
func EntryRange(a, b int64) string {
	if a == b {
		return fmt.Sprintf("entry %d", a)
	}
	return fmt.Sprintf("entries %d–%d", a, b)
}

func emptyRoot() tlog.Hash {
	h, _ := tlog.TreeHash(0, nil)
	return h
}

// keyString finds the registered verifier key string of v.
func keyString(v note.Verifier, retired map[string]checkpointKeyRecord) string {
	for s := range retired {
		if rv, err := note.NewVerifier(s); err == nil && rv.Name() == v.Name() && rv.KeyHash() == v.KeyHash() {
			return s
		}
	}
	return fmt.Sprintf("%s+%08x", v.Name(), v.KeyHash())
}
