package store

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/dose"
	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/report"
	"github.com/celltrack/celltrack/store/boltkv"
	"github.com/celltrack/celltrack/store/kv"
	"github.com/google/uuid"
)

// infusedWithReactions administers bag1 to MRN-1 and records the reactions
// (grade, text) as nina; it returns the infusion id.
func infusedWithReactions(t *testing.T, grades ...int) (*DB, *DoseService, string) {
	t.Helper()
	db, d := bedside(t, "0.5")
	in, _, err := d.Administer(mustUser(t, db, "nina"), mustUser(t, db, "omar"), dose.Administration{MRN: "MRN-1", Containers: []string{bag1}})
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range grades {
		if _, err := d.RecordReaction("nina", dose.NewReaction{Infusion: in.ID.String(), Grade: g, Text: "rash"}); err != nil {
			t.Fatal(err)
		}
	}
	return db, d, in.ID.String()
}

// TestReactionCorrectedAndVoided: a grade 3 entered in error is corrected by
// a grade 1, and another reaction is voided; all three stay, each marked with
// who, when and why, an audit entry is written for every record changed, and
// audit verify passes.
func TestReactionCorrectedAndVoided(t *testing.T) {
	db, d, inf := infusedWithReactions(t, 3)
	before, _ := db.AuditCount()
	c, err := d.CorrectReaction("pat", inf, 1, 1, "mild rash, resolved", "grade misread from the chart")
	if err != nil {
		t.Fatal(err)
	}
	if c.Seq != 2 || c.Corrects != 1 || c.Grade != 1 || c.By != "pat" || c.Voided() {
		t.Fatalf("correction: %+v", c)
	}
	if _, err := d.RecordReaction("nina", dose.NewReaction{Infusion: inf, Grade: 2, Text: "fever 38.5 °C"}); err != nil {
		t.Fatal(err)
	}
	v, err := d.VoidReaction("nina", inf, 3, "entered for the wrong patient")
	if err != nil {
		t.Fatal(err)
	}
	if v.Seq != 3 || v.VoidedBy != "nina" || v.VoidReason != "entered for the wrong patient" || v.CorrectedBy != 0 {
		t.Fatalf("void: %+v", v)
	}
	// correction: the new reaction and the old one marked; reaction 3; void of 3.
	if after, _ := db.AuditCount(); after-before != 4 {
		t.Fatalf("audit grew by %d entries, want 4", after-before)
	}
	ins, rs, err := d.Infusions("MRN-1")
	if err != nil || len(ins) != 1 {
		t.Fatalf("infusions: %v %v", ins, err)
	}
	got := rs[ins[0].ID]
	want := []string{
		"#1 CORRECTED by #2 2026-11-25 09:00 UTC by pat: grade misread from the chart — grade 3: rash (nina, 2026-11-25 09:00 UTC)",
		"#2 (corrects #1) — grade 1: mild rash, resolved (pat, 2026-11-25 09:00 UTC)",
		"#3 VOID 2026-11-25 09:00 UTC by nina: entered for the wrong patient — grade 2: fever 38.5 °C (nina, 2026-11-25 09:00 UTC)",
	}
	if len(got) != len(want) {
		t.Fatalf("reactions: %+v", got)
	}
	for i, r := range got {
		if r.Line() != want[i] {
			t.Errorf("reaction %d:\n got %s\nwant %s", i+1, r.Line(), want[i])
		}
	}
	if !got[0].Voided() || got[0].CorrectedBy != 2 || got[0].VoidedBy != "pat" || got[0].Grade != 3 {
		t.Errorf("corrected reaction: %+v", got[0])
	}
	if v, err := db.Verify(); err != nil || !v.OK() {
		t.Fatalf("audit verify: %v %v", err, v.Problems)
	}

	// Every report format shows the statuses.
	addTestUser(t, db, audit.User{Name: "aud", FullName: "Ada Auditor", Role: audit.Auditor})
	rep, err := newTraces(db).Patient(context.Background(), "aud", "MRN-1")
	if err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{"text", "md", "csv", "html"} {
		out := strings.Join(strings.Fields(render(t, rep, format)), " ") // text wraps long fields
		for _, w := range []string{"#1 CORRECTED by #2 2026-11-25 09:00 UTC by pat: grade misread from the chart", "#2 (corrects #1)",
			"#3 VOID 2026-11-25 09:00 UTC by nina: entered for the wrong patient"} {
			if !strings.Contains(out, w) {
				t.Errorf("%s lacks %q:\n%s", format, w, out)
			}
		}
	}
	var js struct {
		Infusions []report.Dose `json:"infusions"`
	}
	if err := json.Unmarshal([]byte(render(t, rep, "json")), &js); err != nil {
		t.Fatal(err)
	}
	if len(js.Infusions) != 1 || strings.Join(js.Infusions[0].Reactions, "\n") != strings.Join(want, "\n") {
		t.Errorf("JSON reactions: %+v", js.Infusions)
	}
}

// TestReactionCorrectionRefusals: each refusal has its code and writes nothing.
func TestReactionCorrectionRefusals(t *testing.T) {
	db, d, inf := infusedWithReactions(t, 3, 2)
	if _, err := d.CorrectReaction("nina", inf, 2, 1, "rash", "typo"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.VoidReaction("nina", inf, 1, "wrong patient"); err != nil {
		t.Fatal(err)
	}
	addTestUser(t, db, audit.User{Name: "aud", FullName: "Ada Auditor", Role: audit.Auditor})
	unknown := "01900000-0000-7000-8000-000000000000"
	for _, c := range []struct {
		name string
		err  func() error
		code string
		want string
	}{
		{"unknown infusion", func() error { _, err := d.VoidReaction("nina", unknown, 1, "x"); return err }, lot.ENOTFOUND, "no infusion"},
		{"not an infusion id", func() error { _, err := d.VoidReaction("nina", "nope", 1, "x"); return err }, lot.EINVALID, `"nope" is not an infusion id`},
		{"new reaction, unknown infusion", func() error {
			_, err := d.RecordReaction("nina", dose.NewReaction{Infusion: unknown, Grade: 1, Text: "rash"})
			return err
		}, lot.ENOTFOUND, "no infusion"},
		{"new reaction by an auditor", func() error {
			_, err := d.RecordReaction("aud", dose.NewReaction{Infusion: inf, Grade: 1, Text: "rash"})
			return err
		}, lot.EFORBIDDEN, "may not dose.reaction"},
		{"seq past the last", func() error { _, err := d.VoidReaction("nina", inf, 4, "x"); return err }, lot.ENOTFOUND, "has reactions #1–#3"},
		{"seq zero", func() error { _, err := d.CorrectReaction("nina", inf, 0, 1, "rash", "x"); return err }, lot.EINVALID, "0 is not a reaction number"},
		{"void of a void", func() error { _, err := d.VoidReaction("nina", inf, 1, "again"); return err }, lot.ECONFLICT, "reaction #1 of infusion " + inf + " was already voided"},
		{"correct a void", func() error { _, err := d.CorrectReaction("nina", inf, 1, 1, "rash", "again"); return err }, lot.ECONFLICT, "already voided"},
		{"void of a corrected", func() error { _, err := d.VoidReaction("nina", inf, 2, "again"); return err }, lot.ECONFLICT, "already corrected by reaction #3"},
		{"correct a corrected", func() error { _, err := d.CorrectReaction("nina", inf, 2, 1, "rash", "again"); return err }, lot.ECONFLICT, "correct or void #3 instead"},
		{"void without reason", func() error { _, err := d.VoidReaction("nina", inf, 3, ""); return err }, lot.EINVALID, "the reason is required to void a reaction"},
		{"correction with blank reason", func() error { _, err := d.CorrectReaction("nina", inf, 3, 1, "rash", "  "); return err }, lot.EINVALID, "the reason is required with a correction"},
		{"correction with bad grade", func() error { _, err := d.CorrectReaction("nina", inf, 3, 6, "rash", "x"); return err }, lot.EINVALID, "not a CTCAE grade"},
		{"auditor voids", func() error { _, err := d.VoidReaction("aud", inf, 3, "x"); return err }, lot.EFORBIDDEN, "may not dose.reaction"},
		{"lab corrects", func() error { _, err := d.CorrectReaction("liu", inf, 3, 1, "rash", "x"); return err }, lot.EFORBIDDEN, "may not dose.reaction"},
	} {
		t.Run(c.name, func(t *testing.T) {
			before, _ := db.AuditCount()
			err := c.err()
			if lot.ErrorCode(err) != c.code || err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v (%s), want %s containing %q", err, lot.ErrorCode(err), c.code, c.want)
			}
			if after, _ := db.AuditCount(); after != before {
				t.Fatalf("audit grew from %d to %d on a refusal", before, after)
			}
		})
	}
}

// TestReactionRecordedWithoutNumber: a reaction stored before corrections
// existed has no number in its record; it is numbered by its place, and
// voiding it marks that one.
func TestReactionRecordedWithoutNumber(t *testing.T) {
	db, d, inf := infusedWithReactions(t, 1, 2)
	_, rs, _ := d.Infusions("MRN-1")
	var ids []string
	for _, list := range rs {
		for _, r := range list {
			ids = append(ids, r.ID.String())
			rec := toReactionRecord(r)
			rec.Seq = 0 // as the first version wrote it
			asAdmin(t, db, func(w *writer) error { return w.put(kindReaction, r.ID, "test.legacy", "", rec) })
		}
	}
	v, err := d.VoidReaction("nina", inf, 2, "duplicate entry")
	if err != nil {
		t.Fatal(err)
	}
	if v.ID.String() != ids[1] || v.Grade != 2 {
		t.Fatalf("voided %+v, want the second reaction %s", v, ids[1])
	}
	c, err := d.CorrectReaction("nina", inf, 1, 2, "rash", "grade")
	if err != nil || c.Seq != 3 {
		t.Fatalf("correction: %+v %v", c, err)
	}
	if v, err := db.Verify(); err != nil || !v.OK() {
		t.Fatalf("audit verify: %v %v", err, v.Problems)
	}
}

// TestReactionNumberedAfterTheOthers: a new reaction takes the number after
// the infusion's reactions, corrected and voided ones included, counted
// through the index (recordReaction decodes none of them); one on an
// infusion whose stored record is not a JSON object is refused, writing
// nothing.
func TestReactionNumberedAfterTheOthers(t *testing.T) {
	db, d, inf := infusedWithReactions(t, 1, 2)
	if _, err := d.CorrectReaction("nina", inf, 1, 2, "rash", "grade"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.VoidReaction("nina", inf, 2, "duplicate entry"); err != nil {
		t.Fatal(err)
	}
	for want := 4; want <= 6; want++ {
		r, err := d.RecordReaction("nina", dose.NewReaction{Infusion: inf, Grade: 1, Text: "fever"})
		if err != nil || r.Seq != want {
			t.Fatalf("reaction %+v, %v; want #%d", r, err, want)
		}
	}
	_, rs, _ := d.Infusions("MRN-1")
	for _, list := range rs {
		for i, r := range list {
			if r.Seq != i+1 {
				t.Fatalf("reaction %d of %d is numbered %d", i+1, len(list), r.Seq)
			}
		}
	}
	if _, onFile := db.engine.(ownEngine).Engine.(*boltkv.Engine); !onFile {
		return // PostgreSQL's json column refuses a record that is not JSON
	}
	in := uuid.MustParse(inf)
	if err := db.engine.Update(func(tx kv.Tx) error { return tx.Bucket(recordBuckets[kindInfusion]).Put(in[:], []byte("garbage")) }); err != nil {
		t.Fatal(err)
	}
	before, _ := db.AuditCount()
	if _, err := d.RecordReaction("nina", dose.NewReaction{Infusion: inf, Grade: 1, Text: "fever"}); err == nil || !strings.Contains(err.Error(), "decode infusion "+inf) {
		t.Fatalf("a reaction on an infusion stored as garbage: %v", err)
	}
	if after, _ := db.AuditCount(); after != before {
		t.Fatalf("audit grew from %d to %d on a refusal", before, after)
	}
}

// TestReactionFormSentTwice: a reaction entered on a form that knew of the
// infusion's reactions is recorded; the same form sent again, after its
// reaction was recorded, is refused in the writing transaction (field
// "known", ECONFLICT, naming the reaction recorded since) and writes
// nothing; a negative count is a bad value; with no count (the command
// line) there is no such check. Two sends of one form at once record one
// reaction: the check is the store's, not one server's lock.
func TestReactionFormSentTwice(t *testing.T) {
	db, d, inf := infusedWithReactions(t, 2)
	known := func(n int) *int { return &n }
	r, err := d.RecordReaction("nina", dose.NewReaction{Infusion: inf, Grade: 1, Text: "rigors", Known: known(1)})
	if err != nil || r.Seq != 2 {
		t.Fatalf("a form that knew of #1: %+v %v", r, err)
	}
	for _, c := range []struct {
		name  string
		known int
		code  string
		want  string
	}{
		{"sent again", 1, lot.ECONFLICT, "reaction #2 to this infusion (grade 1, rigors, by nina at 2026-11-25 09:00 UTC) was recorded after this form was shown"},
		{"older form", 0, lot.ECONFLICT, "which knows of reaction #2"},
		{"negative count", -1, lot.EINVALID, "is -1, below 0"},
	} {
		t.Run(c.name, func(t *testing.T) {
			before, _ := db.AuditCount()
			_, err := d.RecordReaction("nina", dose.NewReaction{Infusion: inf, Grade: 1, Text: "rigors", Known: known(c.known)})
			if lot.ErrorCode(err) != c.code || lot.ErrorField(err) != "known" || !strings.Contains(lot.ErrorMessage(err), c.want) {
				t.Fatalf("got %v (%s, field %q), want %s on known containing %q", err, lot.ErrorCode(err), lot.ErrorField(err), c.code, c.want)
			}
			if after, _ := db.AuditCount(); after != before {
				t.Fatalf("audit grew from %d to %d on a refusal", before, after)
			}
		})
	}
	if r, err := d.RecordReaction("nina", dose.NewReaction{Infusion: inf, Grade: 1, Text: "rigors"}); err != nil || r.Seq != 3 {
		t.Fatalf("no count: %+v %v", r, err)
	}

	// Two sends of a form that knew of #3, at once.
	start := make(chan struct{})
	errs := make(chan error, 2)
	for range 2 {
		go func() {
			<-start
			_, err := d.RecordReaction("nina", dose.NewReaction{Infusion: inf, Grade: 2, Text: "fever", Known: known(3)})
			errs <- err
		}()
	}
	close(start)
	var refused int
	for range 2 {
		if err := <-errs; lot.ErrorCode(err) == lot.ECONFLICT && lot.ErrorField(err) == "known" {
			refused++
		} else if err != nil {
			t.Fatal(err)
		}
	}
	_, rs, _ := d.Infusions("MRN-1")
	var n int
	for _, list := range rs {
		n += len(list)
	}
	if refused != 1 || n != 4 {
		t.Fatalf("two sends of one form at once: %d refused, %d reactions recorded in all (want 1 refused, 4)", refused, n)
	}
}
