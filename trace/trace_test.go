package trace

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/dose"
	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/release"
	"github.com/celltrack/celltrack/report"
	"github.com/google/uuid"
)

// The builder's rules tested on records held in memory: the reads the
// builder makes are those of Snapshot, nothing else. The store's tests
// (store/trace_test.go) build the same reports over a real database and
// compare them with golden files.

// memSnapshot is a Snapshot over records in memory. It holds one UC lot
// or more, their containers and custody events; the rest is empty.
type memSnapshot struct {
	now        time.Time
	users      []audit.User
	donors     []lot.Donor
	patients   []lot.Patient
	lots       []lot.Lot
	containers []lot.Container
	events     []lot.Event
	stamp      audit.Stamp
	// stamped records what the builder asked Stamp to verify.
	stamped *struct {
		refs []audit.Ref
		full bool
	}
}

func find[T any](xs []T, ok func(T) bool, what, ref string) (T, error) {
	for _, x := range xs {
		if ok(x) {
			return x, nil
		}
	}
	var zero T
	return zero, lot.Errorf(lot.ENOTFOUND, "no %s %q", what, ref)
}

func (m *memSnapshot) Now() time.Time   { return m.now }
func (m *memSnapshot) Database() string { return "/srv/celltrack/lab.db" }
func (m *memSnapshot) User(name string) (audit.User, error) {
	return find(m.users, func(u audit.User) bool { return u.Name == name }, "user", name)
}
func (m *memSnapshot) Donor(ref string) (lot.Donor, error) {
	return find(m.donors, func(d lot.Donor) bool { return d.Code == ref }, "donor", ref)
}
func (m *memSnapshot) DonorByID(id uuid.UUID) (lot.Donor, bool, error) {
	d, err := find(m.donors, func(d lot.Donor) bool { return d.ID == id }, "donor", id.String())
	return d, err == nil, nil
}
func (m *memSnapshot) Patient(mrn string) (lot.Patient, error) {
	return find(m.patients, func(p lot.Patient) bool { return p.MRN == mrn }, "patient", mrn)
}
func (m *memSnapshot) PatientByID(id uuid.UUID) (lot.Patient, error) {
	return find(m.patients, func(p lot.Patient) bool { return p.ID == id }, "patient", id.String())
}
func (m *memSnapshot) Lot(ref string) (lot.Lot, error) {
	return find(m.lots, func(l lot.Lot) bool { return l.Number == ref }, "lot", ref)
}
func (m *memSnapshot) LotByID(id uuid.UUID) (lot.Lot, error) {
	return find(m.lots, func(l lot.Lot) bool { return l.ID == id }, "lot", id.String())
}
func (m *memSnapshot) Container(ref string) (lot.Container, error) {
	return find(m.containers, func(c lot.Container) bool { return c.Code() == ref }, "container", ref)
}
func (m *memSnapshot) ContainerByID(id uuid.UUID) (lot.Container, bool, error) {
	c, err := find(m.containers, func(c lot.Container) bool { return c.ID == id }, "container", id.String())
	return c, err == nil, nil
}
func (m *memSnapshot) LotsOfDonor(id uuid.UUID) []uuid.UUID {
	var ids []uuid.UUID
	for _, l := range m.lots {
		if l.DonorID == id {
			ids = append(ids, l.ID)
		}
	}
	return ids
}
func (m *memSnapshot) LotsOfPatient(uuid.UUID) []uuid.UUID { return nil }
func (m *memSnapshot) ContainersOf(id uuid.UUID) ([]lot.Container, error) {
	var cs []lot.Container
	for _, c := range m.containers {
		if c.LotID == id {
			cs = append(cs, c)
		}
	}
	return cs, nil
}
func (m *memSnapshot) EventsOfContainer(id uuid.UUID) ([]lot.Event, error) {
	var es []lot.Event
	for _, e := range m.events {
		if e.ContainerID == id {
			es = append(es, e)
		}
	}
	return es, nil
}
func (m *memSnapshot) EventsOfPatient(id uuid.UUID) ([]lot.Event, error) {
	var es []lot.Event
	for _, e := range m.events {
		if e.PatientID == id {
			es = append(es, e)
		}
	}
	return es, nil
}
func (m *memSnapshot) InfusionsOfPatient(uuid.UUID) ([]dose.Infusion, error)   { return nil, nil }
func (m *memSnapshot) InfusionsOfContainer(uuid.UUID) ([]dose.Infusion, error) { return nil, nil }
func (m *memSnapshot) Reactions(uuid.UUID) ([]dose.Reaction, error)            { return nil, nil }
func (m *memSnapshot) Weight(uuid.UUID, uuid.UUID) (lot.Weight, *dose.WeightConfirmation, bool, error) {
	return lot.Weight{}, nil, false, nil
}
func (m *memSnapshot) Dispositions(uuid.UUID) ([]release.Disposition, error) { return nil, nil }
func (m *memSnapshot) Results(uuid.UUID) ([]release.Result, error)           { return nil, nil }
func (m *memSnapshot) Screenings(uuid.UUID) ([]release.Screening, error)     { return nil, nil }
func (m *memSnapshot) Schedule(uuid.UUID) (dose.Schedule, bool, error) {
	return dose.Schedule{}, false, nil
}
func (m *memSnapshot) Protocol(uuid.UUID) (dose.StoredProtocol, error) {
	return dose.StoredProtocol{}, nil
}
func (m *memSnapshot) Zones(dose.Schedule) (dose.ZoneAt, error) {
	return func(dose.GivenAt) (*time.Location, error) { return time.UTC, nil }, nil
}
func (m *memSnapshot) Handling(dose.HandlingFilter) ([]dose.Handling, error) { return nil, nil }
func (m *memSnapshot) Accounts() ([]audit.AccessRow, error)                  { return nil, nil }
func (m *memSnapshot) Settings() audit.Settings                              { return audit.Settings{} }
func (m *memSnapshot) Labels(lot.Container) (uuid.UUID, lot.LabelCount, []lot.LabelStep, error) {
	return uuid.Nil, lot.LabelCount{}, nil, nil
}
func (m *memSnapshot) ProtocolNamed(name string) (dose.StoredProtocol, error) {
	return dose.StoredProtocol{}, lot.Errorf(lot.ENOTFOUND, "no protocol %q", name)
}
func (m *memSnapshot) Stamp(refs []audit.Ref, full bool) (audit.Stamp, error) {
	m.stamped = &struct {
		refs []audit.Ref
		full bool
	}{refs, full}
	return m.stamp, nil
}

func (m *memSnapshot) service() *Service {
	return New(func(_ context.Context, fn func(*memSnapshot) error) error { return fn(m) })
}

// lookBack is donor D-1's lot LOT-1 split into two bags: bag 01 dispensed
// to and infused into MRN-1, bag 02 dispensed to MRN-2 and never infused.
func lookBack(t *testing.T) *memSnapshot {
	t.Helper()
	din, err := lot.ParseDIN("G123426000001")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	id := func() uuid.UUID { return uuid.Must(uuid.NewV7()) }
	d := lot.Donor{ID: id(), Code: "D-1", Site: "maternity"}
	p1 := lot.Patient{ID: id(), MRN: "MRN-1", Name: "Ola Nordmann"}
	p2 := lot.Patient{ID: id(), MRN: "MRN-2", Name: "Sara Lind"}
	l := lot.Lot{ID: id(), Number: "LOT-1", DIN: din, Source: lot.SourceUC, DonorID: d.ID, Status: lot.Released, Containers: 2}
	c1 := lot.Container{ID: id(), LotID: l.ID, DIN: din, Number: 1, State: lot.Infused, PatientID: p1.ID, Custodian: "nina"}
	c2 := lot.Container{ID: id(), LotID: l.ID, DIN: din, Number: 2, State: lot.Dispensed, PatientID: p2.ID, Custodian: "nina"}
	ev := func(c lot.Container, to lot.ContainerState, p uuid.UUID, h int) lot.Event {
		return lot.Event{ID: id(), ContainerID: c.ID, LotID: l.ID, To: to, At: now.Add(time.Duration(h) * time.Hour), By: "nina", Custodian: "nina", PatientID: p}
	}
	return &memSnapshot{now: now,
		users:    []audit.User{{ID: id(), Name: "aud", FullName: "Ada Auditor", Role: audit.Auditor}, {ID: id(), Name: "nina", FullName: "Nina Nurse", Role: audit.Nurse}},
		donors:   []lot.Donor{d},
		patients: []lot.Patient{p1, p2},
		lots:     []lot.Lot{l}, containers: []lot.Container{c1, c2},
		events: []lot.Event{ev(c1, lot.Dispensed, p1.ID, 1), ev(c1, lot.Infused, p1.ID, 2), ev(c2, lot.Dispensed, p2.ID, 3)},
		stamp:  audit.Stamp{Head: strings.Repeat("ab", 32), Entries: 40},
	}
}

func section(r report.Report, title string) *report.Section {
	for i := range r.Sections {
		if r.Sections[i].Title == title {
			return &r.Sections[i]
		}
	}
	return nil
}

func fieldValue(s *report.Section, label string) string {
	if s == nil {
		return ""
	}
	for _, f := range s.Fields {
		if f.Label == label {
			return f.Value
		}
	}
	return ""
}

// TestLookBackCountsOnlyInfusedRecipients: the question of a look-back is
// who received the cells. A patient a bag was dispensed to and never infused
// is listed apart, not counted as a recipient — from the donor and from the
// lot alike.
func TestLookBackCountsOnlyInfusedRecipients(t *testing.T) {
	for _, c := range []struct{ kind, ref string }{{KindDonor, "D-1"}, {KindLot, "LOT-1"}} {
		t.Run(c.kind, func(t *testing.T) {
			m := lookBack(t)
			r, _, err := Build(m, c.kind, c.ref)
			if err != nil {
				t.Fatal(err)
			}
			sum := section(r, "Summary")
			if got := fieldValue(sum, "Recipients"); got != "1 patient(s) infused" {
				t.Errorf("Recipients %q", got)
			}
			if got := fieldValue(sum, "Not infused"); !strings.HasPrefix(got, "1 container(s) dispensed to 1 patient(s) and not infused") {
				t.Errorf("Not infused %q", got)
			}
			if got := fieldValue(sum, "Custody events"); got != "3" {
				t.Errorf("Custody events %q, want 3", got)
			}
			rec, apart := section(r, "Recipients"), section(r, "Dispensed, not infused (not recipients)")
			if rec == nil || len(rec.Table.Rows) != 1 || rec.Table.Rows[0][0] != "MRN-1" {
				t.Errorf("Recipients section: %+v", rec)
			}
			if apart == nil || len(apart.Table.Rows) != 1 || apart.Table.Rows[0][0] != "MRN-2" {
				t.Errorf("dispensed-not-infused section: %+v", apart)
			}
		})
	}
}

// TestTraceVerifiesEveryRecordItShows: the records a report shows — the
// lot, its donor, both bags, every event, both patients and the user who
// asked — are the ones handed to the store's verification, with the user's
// choice of a full verification.
func TestTraceVerifiesEveryRecordItShows(t *testing.T) {
	for _, full := range []bool{false, true} {
		m := lookBack(t)
		s := m.service()
		s.FullVerify = full
		if _, err := s.Lot(context.Background(), "aud", "LOT-1"); err != nil {
			t.Fatal(err)
		}
		if m.stamped == nil || m.stamped.full != full {
			t.Fatalf("full %v: stamp asked %+v", full, m.stamped)
		}
		shown := map[audit.Ref]bool{}
		for _, r := range m.stamped.refs {
			shown[r] = true
		}
		want := []audit.Ref{{Kind: audit.EntityLot, ID: m.lots[0].ID}, {Kind: audit.EntityDonor, ID: m.donors[0].ID}, {Kind: audit.EntityUser, ID: m.users[0].ID}}
		for _, c := range m.containers {
			want = append(want, audit.Ref{Kind: audit.EntityContainer, ID: c.ID})
		}
		for _, e := range m.events {
			want = append(want, audit.Ref{Kind: audit.EntityEvent, ID: e.ID})
		}
		for _, p := range m.patients {
			want = append(want, audit.Ref{Kind: audit.EntityPatient, ID: p.ID})
		}
		for _, w := range want {
			if !shown[w] {
				t.Errorf("full %v: %s %s is shown but not verified", full, w.Kind, w.ID)
			}
		}
	}
}

// TestProvenanceSaysWhatWasVerified: the stamp's facts become the report's
// provenance as they are; a report-scoped verification is never PASSED.
func TestProvenanceSaysWhatWasVerified(t *testing.T) {
	cp := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	for name, c := range map[string]struct {
		stamp    audit.Stamp
		verified bool
		scope    string
		text     string
	}{
		"full, intact":    {audit.Stamp{Entries: 40, Tree: "40:abc"}, true, report.ScopeFull, "PASSED"},
		"full, broken":    {audit.Stamp{Entries: 40, Problems: []string{"audit entry 5 was altered"}}, false, report.ScopeFull, "FAILED"},
		"scoped, intact":  {audit.Stamp{Entries: 40, Scoped: true, Records: 9, ChainFrom: 31, FullVerifyAt: cp}, true, report.ScopeReport, "entry 31"},
		"scoped, altered": {audit.Stamp{Entries: 40, Scoped: true, Records: 9, ChainFrom: 31, FullVerifyAt: cp, Problems: []string{"lot LOT-1 differs"}}, false, report.ScopeReport, "FAILED"},
	} {
		t.Run(name, func(t *testing.T) {
			m := lookBack(t)
			m.stamp = c.stamp
			r, err := m.service().Lot(context.Background(), "aud", "LOT-1")
			if err != nil {
				t.Fatal(err)
			}
			p := r.Produced
			if p.Verified != c.verified || p.Scope != c.scope || p.AuditEntries != 40 || p.AuditTree != c.stamp.Tree || len(p.Problems) != len(c.stamp.Problems) {
				t.Errorf("provenance %+v", p)
			}
			if p.By != "aud" || p.ByName != "Ada Auditor" || p.Database != "/srv/celltrack/lab.db" || !p.At.Equal(m.now) {
				t.Errorf("who and where: %+v", p)
			}
			if c.stamp.Scoped && (p.RecordsVerified != 9 || p.ChainFrom != 31 || p.FullVerifyAt == nil || !p.FullVerifyAt.Equal(cp)) {
				t.Errorf("scope: %+v", p)
			}
			if !c.stamp.Scoped && (p.RecordsVerified != 0 || p.ChainFrom != 0 || p.FullVerifyAt != nil) {
				t.Errorf("a full verification names no checkpoint: %+v", p)
			}
			if got := p.VerifyText(); !strings.Contains(got, c.text) {
				t.Errorf("verdict %q, want it to say %q", got, c.text)
			}
		})
	}
}

// TestNoReportForADisabledOrUnknownUser: nothing is read past the user,
// and nothing is verified.
func TestNoReportForADisabledOrUnknownUser(t *testing.T) {
	for user, code := range map[string]string{"nina": lot.EFORBIDDEN, "mallory": lot.ENOTFOUND} {
		m := lookBack(t)
		m.users[1].Disabled = true
		_, err := m.service().Donor(context.Background(), user, "D-1")
		if lot.ErrorCode(err) != code || m.stamped != nil {
			t.Errorf("%s: %v (code %s, want %s), stamp asked: %v", user, err, lot.ErrorCode(err), code, m.stamped != nil)
		}
	}
}

// TestHandlingRowsOfATwoBagInfusion: each container's row carries the cells
// that container gave, so the rows sum to the infusion; the infusion total
// is a column of its own. An empty selection says so.
func TestHandlingRowsOfATwoBagInfusion(t *testing.T) {
	start := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
	in := uuid.Must(uuid.NewV7())
	row := func(code string, cells lot.Cells) dose.Handling {
		return dose.Handling{Infusion: in, Patient: "MRN-1", Protocol: "sle-uc-d0d7", Course: 1, Number: 1, Start: start, End: start.Add(40 * time.Minute),
			Container: code, Lot: "LOT-1", StoredAt: start.AddDate(0, 0, -20), ThawedAt: start.Add(-30 * time.Minute), Viability: 910,
			Cells: cells, Given: 62_000_000, Weight: 62_000}
	}
	var r report.Report
	handlingReport(&r, dose.HandlingFilter{}, []dose.Handling{row("G12342600000102", 50_000_000), row("G12342600000103", 12_000_000)})
	given, total := slices.Index(HandlingColumns, "cells_given"), slices.Index(HandlingColumns, "infusion_cells_given")
	thaw := slices.Index(HandlingColumns, "thaw_to_start_min")
	var sum int64
	for _, row := range r.Data.Rows {
		n, err := strconv.ParseInt(row[given], 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		sum += n
		if row[total] != "62000000" || row[thaw] != "30.0" {
			t.Errorf("%s: infusion_cells_given %s, thaw to start %s", row[7], row[total], row[thaw])
		}
	}
	if sum != 62_000_000 || len(r.Data.Rows) != 2 {
		t.Errorf("cells_given sums to %d over %d rows, want 62000000 over 2", sum, len(r.Data.Rows))
	}
	if got := fieldValue(section(r, "Selection"), "Infusions"); got != "1" {
		t.Errorf("Infusions %q, want 1 (two bags, one infusion)", got)
	}

	var empty report.Report
	handlingReport(&empty, dose.HandlingFilter{Protocol: "sle-uc-single"}, nil)
	if got := fieldValue(section(empty, "Infusions"), "Infusions"); got != "none in the selection" || empty.Subject != "protocol sle-uc-single" {
		t.Errorf("empty selection: %q, subject %q", got, empty.Subject)
	}
}

// TestHandlingRefusesAnUnknownProtocol: ENOTFOUND from the snapshot, no
// report.
func TestHandlingRefusesAnUnknownProtocol(t *testing.T) {
	m := lookBack(t)
	if _, err := m.service().Handling(context.Background(), "aud", dose.HandlingFilter{Protocol: "nope"}); lot.ErrorCode(err) != lot.ENOTFOUND || m.stamped != nil {
		t.Errorf("%v", err)
	}
}

// TestMarkersText: a screening's result in a table cell.
func TestMarkersText(t *testing.T) {
	m := func(rs ...release.Reactivity) release.Screening {
		var s release.Screening
		for i, r := range rs {
			s.Markers = append(s.Markers, release.Marker{Name: []string{"HIV-1/2", "HBsAg", "HCV"}[i], Result: r})
		}
		return s
	}
	for want, s := range map[string]release.Screening{
		"all negative (HIV-1/2, HBsAg, HCV)":    m(release.Negative, release.Negative, release.Negative),
		"HBsAg positive; others negative":       m(release.Negative, release.Positive, release.Negative),
		"HIV-1/2 indeterminate, HBsAg positive": m(release.Indeterminate, release.Positive),
		"HIV-1/2 positive":                      m(release.Positive),
	} {
		if got := markersText(s); got != want {
			t.Errorf("markersText = %q, want %q", got, want)
		}
	}
}
