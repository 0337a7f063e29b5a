// Package trace builds celltrack's traceability reports (report.Report):
// the donor look-back, the lot forward trace, the patient backward trace,
// one container's journey, the handling report and the user-access review.
// It holds the rules of what a report shows and how; it reads through a
// Snapshot — domain-typed lookups and index walks of one consistent read
// snapshot, which an engine (package store over bbolt) implements — and
// does no I/O of its own, so that the store does not import report and a
// second engine gets the same reports without a second copy of them.
package trace

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/dose"
	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/release"
	"github.com/celltrack/celltrack/report"
	"github.com/google/uuid"
)

// Snapshot is what a report reads: the records and index walks of one
// consistent read snapshot of the database, in domain types, and the audit
// verification of the records the report shows, made in the same snapshot
// (Stamp), so that the report's records and its provenance are from the
// same moment. Every walk follows an index from a record to its children,
// so the cost of a trace follows the size of its answer, not of the
// database. Lookups by reference return ENOTFOUND for an unknown one;
// lookups by id an error for a record referenced but missing, or found
// false where the report words that itself.
type Snapshot interface {
	// Now is the clock the report is stamped with.
	Now() time.Time
	// Database names the database the report was read from.
	Database() string
	// User is the user called name: ENOTFOUND for an unknown one.
	User(name string) (audit.User, error)

	Donor(ref string) (lot.Donor, error)
	DonorByID(id uuid.UUID) (d lot.Donor, found bool, err error)
	Patient(mrn string) (lot.Patient, error)
	PatientByID(id uuid.UUID) (lot.Patient, error)
	Lot(ref string) (lot.Lot, error)
	LotByID(id uuid.UUID) (lot.Lot, error)
	Container(ref string) (lot.Container, error)
	ContainerByID(id uuid.UUID) (c lot.Container, found bool, err error)

	// LotsOfDonor and LotsOfPatient are the ids of the lots made from a
	// donor's cord and from an rFib patient's own cells, oldest first.
	LotsOfDonor(donorID uuid.UUID) []uuid.UUID
	LotsOfPatient(patientID uuid.UUID) []uuid.UUID
	ContainersOf(lotID uuid.UUID) ([]lot.Container, error)
	EventsOfContainer(id uuid.UUID) ([]lot.Event, error)
	EventsOfPatient(id uuid.UUID) ([]lot.Event, error)
	InfusionsOfPatient(id uuid.UUID) ([]dose.Infusion, error)
	InfusionsOfContainer(id uuid.UUID) ([]dose.Infusion, error)
	Reactions(infusionID uuid.UUID) ([]dose.Reaction, error)
	// Weight is the weight record infusion infusionID was dosed on, with
	// the physician's confirmation of it if one was signed before the
	// infusion was recorded (the one its bedside check could count); found
	// is false when none is stored.
	Weight(id, infusionID uuid.UUID) (w lot.Weight, conf *dose.WeightConfirmation, found bool, err error)
	Dispositions(lotID uuid.UUID) ([]release.Disposition, error)
	Results(lotID uuid.UUID) ([]release.Result, error)
	Screenings(donorID uuid.UUID) ([]release.Screening, error)
	// Labels is a container's label record id (uuid.Nil when none was
	// printed), its counts now and its history, oldest first.
	Labels(c lot.Container) (uuid.UUID, lot.LabelCount, []lot.LabelStep, error)
	Schedule(id uuid.UUID) (s dose.Schedule, found bool, err error)
	Protocol(id uuid.UUID) (dose.StoredProtocol, error)
	// ProtocolNamed is the latest version of a protocol: ENOTFOUND for an
	// unknown name.
	ProtocolNamed(name string) (dose.StoredProtocol, error)
	// Zones is the time zone a schedule's days were counted in when an
	// infusion was recorded: a given infusion's day is counted in the zone
	// its bedside check counted it in.
	Zones(s dose.Schedule) (dose.ZoneAt, error)

	// Handling is the handling of the infusions f selects, oldest first.
	Handling(f dose.HandlingFilter) ([]dose.Handling, error)
	// Accounts is every account with what the audit trail says of it.
	Accounts() ([]audit.AccessRow, error)
	Settings() audit.Settings

	// Stamp verifies the audit trail for a report showing refs: against
	// the last full verification's checkpoint when there is one and full
	// is false (a scoped stamp), else the whole of `audit verify`.
	Stamp(refs []audit.Ref, full bool) (audit.Stamp, error)
}

// Preparer is a Snapshot that can be told, before a trace's first read,
// which trace user asks for (kind, KindLot …, and its ref): one that reads
// across a network (store on PostgreSQL) reads ahead at once what every
// trace reads first. The reads that follow answer exactly as without.
type Preparer interface {
	Prepare(user, kind, ref string)
}

// Service builds the reports over an engine's read snapshots. The
// provenance block it stamps on every report says whether the trail was
// intact when it was produced: when the database has a checkpoint (the head
// of the last passing full verification, recorded by `celltrack check`) it
// checks every record the report shows against its latest audit entry and
// the chain from the checkpoint to the head, and says exactly that
// (report.ScopeReport); otherwise, or with FullVerify, it runs the whole of
// `audit verify` (report.ScopeFull), which reads every entry and record of
// the database.
type Service struct {
	read func(context.Context, func(Snapshot) error) error
	// FullVerify makes every report run the whole of `audit verify`.
	FullVerify bool
}

// New returns the reports of an engine whose read runs a function on one
// read snapshot whose reads end with ctx's error once ctx is done:
// trace.New(db.ReadTraceContext) for a store.DB. Every report takes the
// context of its reader (a server's request, which a stopping server
// cancels): a report may walk the whole trail (its full verification, the
// handling report's rows).
func New[S Snapshot](read func(ctx context.Context, fn func(S) error) error) *Service {
	return &Service{read: func(ctx context.Context, fn func(Snapshot) error) error {
		return read(ctx, func(s S) error { return fn(s) })
	}}
}

// Donor is the look-back trace of a donor: every lot made from the donor's
// cord, every container, every custody event, and every patient who received
// any of it. ENOTFOUND for an unknown donor, EFORBIDDEN for a disabled user.
func (s *Service) Donor(ctx context.Context, user, ref string) (report.Report, error) {
	return s.trace(ctx, user, s.FullVerify, KindDonor, ref, func(t *tracer) error { return t.donor(ref) })
}

// Lot is the forward trace of a lot: its source, release decisions,
// containers, custody events, recipients and infusions.
func (s *Service) Lot(ctx context.Context, user, ref string) (report.Report, error) {
	return s.trace(ctx, user, s.FullVerify, KindLot, ref, func(t *tracer) error { return t.lotTrace(ref) })
}

// Patient is the backward trace of a patient: every container dispensed to
// or infused into the patient, its lot, the lot's donor or source patient,
// its release decisions and everyone who handled it; and, for an rFib source
// patient, the lots made from the patient's own cells.
func (s *Service) Patient(ctx context.Context, user, mrn string) (report.Report, error) {
	return s.trace(ctx, user, s.FullVerify, KindPatient, mrn, func(t *tracer) error { return t.patientTrace(mrn) })
}

// Container is the trace of one container: its lot and source, its whole
// journey and who received it.
func (s *Service) Container(ctx context.Context, user, ref string) (report.Report, error) {
	return s.trace(ctx, user, s.FullVerify, KindContainer, ref, func(t *tracer) error { return t.containerTrace(ref) })
}

// Kinds of trace, for Build.
const (
	KindDonor     = "donor"
	KindLot       = "lot"
	KindPatient   = "patient"
	KindContainer = "container"
)

// Build builds the trace of kind (KindDonor, …) from ref in snapshot s,
// without its provenance: the report model and the records it shows. It is
// what a trace costs apart from its audit verification.
func Build(s Snapshot, kind, ref string) (report.Report, []audit.Ref, error) {
	t := newTracer(s)
	var err error
	switch kind {
	case KindDonor:
		err = t.donor(ref)
	case KindLot:
		err = t.lotTrace(ref)
	case KindPatient:
		err = t.patientTrace(ref)
	case KindContainer:
		err = t.containerTrace(ref)
	default:
		err = fmt.Errorf("no trace of kind %q", kind)
	}
	return t.r, t.refs, err
}

// trace runs build and stamps the provenance in one read snapshot, so the
// audit head and verdict printed are those of the records the report shows.
// full asks for the whole of `audit verify`. kind and ref name the trace
// (KindLot and the lot's reference, …; "" for a report of another kind),
// which a snapshot that is told so before the first read (Preparer) reads
// ahead with what every trace reads.
func (s *Service) trace(ctx context.Context, user string, full bool, kind, ref string, build func(*tracer) error) (report.Report, error) {
	var r report.Report
	err := s.read(ctx, func(snap Snapshot) error {
		if p, ok := snap.(Preparer); ok && kind != "" {
			p.Prepare(user, kind, ref)
		}
		u, err := snap.User(user)
		if err != nil {
			return err
		}
		if u.Disabled {
			return lot.Errorf(lot.EFORBIDDEN, "user %s is disabled and can do nothing, not even produce a report; ask an admin", u.Name)
		}
		t := newTracer(snap)
		if err := build(t); err != nil {
			return err
		}
		t.saw(audit.EntityUser, u.ID)
		r = t.r
		r.Produced = report.Provenance{At: snap.Now(), By: u.Name, ByName: u.FullName, ByRole: string(u.Role), Database: snap.Database()}
		st, err := snap.Stamp(t.refs, full)
		if err != nil {
			return err
		}
		stamp(&r.Produced, st)
		return nil
	})
	return r, err
}

// stamp writes the audit verification st into p.
func stamp(p *report.Provenance, st audit.Stamp) {
	p.AuditHead, p.AuditEntries, p.AuditTree = st.Head, st.Entries, st.Tree
	p.Verified, p.Problems = st.OK(), st.Problems
	p.Scope = report.ScopeFull
	if st.Scoped {
		at := st.FullVerifyAt
		p.Scope, p.RecordsVerified, p.ChainFrom, p.FullVerifyAt = report.ScopeReport, st.Records, st.ChainFrom, &at
	}
}

// tracer walks the indexes from one record and collects a report.
type tracer struct {
	s        Snapshot
	r        report.Report
	patients map[uuid.UUID]lot.Patient
	lots     map[uuid.UUID]lot.Lot
	done     map[uuid.UUID]bool // containers whose events are collected
	// recipients are the (patient, container) pairs seen in custody events
	// and infusions, in the order first seen.
	recipients []*recipient
	// identity lists containers of an autologous lot that reached someone
	// other than the lot's source patient: a broken chain of identity.
	identity [][]string
	doses    []report.Dose
	infused  map[uuid.UUID]int // infusion id → index in doses
	handlers map[string]*handler
	// refs are the records the report shows, for its audit verification.
	refs []audit.Ref
}

// saw notes a record the report shows, so that the report verifies it.
func (t *tracer) saw(kind string, id uuid.UUID) {
	t.refs = append(t.refs, audit.Ref{Kind: kind, ID: id})
}

type recipient struct {
	patient                lot.Patient
	container              string
	lot                    string
	dispensedAt, infusedAt string
}

type handler struct {
	name                string
	recorded, custodian int
	containers          map[string]bool
}

func newTracer(s Snapshot) *tracer {
	return &tracer{s: s, patients: map[uuid.UUID]lot.Patient{}, lots: map[uuid.UUID]lot.Lot{},
		done: map[uuid.UUID]bool{}, infused: map[uuid.UUID]int{}, handlers: map[string]*handler{}}
}

func (t *tracer) patient(id uuid.UUID) (lot.Patient, error) {
	if p, ok := t.patients[id]; ok {
		return p, nil
	}
	p, err := t.s.PatientByID(id)
	if err == nil {
		t.patients[id] = p
		t.saw(audit.EntityPatient, id)
	}
	return p, err
}

func (t *tracer) lotOf(id uuid.UUID) (lot.Lot, error) {
	if l, ok := t.lots[id]; ok {
		return l, nil
	}
	l, err := t.s.LotByID(id)
	if err == nil {
		t.lots[id] = l
		t.saw(audit.EntityLot, id)
	}
	return l, err
}

func (t *tracer) add(s report.Section) { t.r.Sections = append(t.r.Sections, s) }

// --- the four traces -------------------------------------------------------

func (t *tracer) donor(ref string) error {
	d, err := t.s.Donor(ref)
	if err != nil {
		return err
	}
	t.saw(audit.EntityDonor, d.ID)
	t.r.Kind, t.r.Subject = "donor", d.Code
	t.r.Title = "Look-back trace of donor " + d.Code
	t.r.Question = fmt.Sprintf("Which patients received cells from donor %s, and when?", d.Code)
	t.add(report.Section{Title: "Donor " + d.Code, Fields: []report.Field{
		field("Donor", d.Code), field("Cord collected", lot.FormatDate(d.Delivered)), field("Collection site", d.Site),
		field("Consent", lot.FormatDate(d.Consented)), field("Registered", lot.FormatTime(d.CreatedAt)+" by "+d.CreatedBy)}})
	t.corrections("donor "+d.Code, d.Corrections)
	summary := len(t.r.Sections)
	eligibility, err := t.screenings(d)
	if err != nil {
		return err
	}
	t.r.Sections[summary-1].Fields = append(t.r.Sections[summary-1].Fields, field("Eligibility", eligibility))
	ids := t.s.LotsOfDonor(d.ID)
	containers := 0
	for _, id := range ids {
		l, err := t.lotOf(id)
		if err != nil {
			return err
		}
		n, err := t.lotBody(l, false)
		if err != nil {
			return err
		}
		containers += n
	}
	t.finish(summary, []report.Field{field("Lots", fmt.Sprint(len(ids))), field("Containers", fmt.Sprint(containers))})
	return nil
}

func (t *tracer) lotTrace(ref string) error {
	l, err := t.s.Lot(ref)
	if err != nil {
		return err
	}
	t.lots[l.ID] = l
	t.saw(audit.EntityLot, l.ID)
	t.r.Kind, t.r.Subject = "lot", l.Number
	t.r.Title = "Forward trace of lot " + l.Number
	t.r.Question = fmt.Sprintf("Where did lot %s come from, where did each of its containers go, and who received it?", l.Number)
	if err := t.source(l); err != nil {
		return err
	}
	summary := len(t.r.Sections)
	n, err := t.lotBody(l, true)
	if err != nil {
		return err
	}
	t.finish(summary, []report.Field{field("Containers", fmt.Sprint(n))})
	return nil
}

func (t *tracer) containerTrace(ref string) error {
	c, err := t.s.Container(ref)
	if err != nil {
		return err
	}
	l, err := t.lotOf(c.LotID)
	if err != nil {
		return err
	}
	t.saw(audit.EntityContainer, c.ID)
	t.r.Kind, t.r.Subject = "container", c.Code()
	t.r.Title = "Trace of container " + c.Code()
	t.r.Question = fmt.Sprintf("Where did container %s come from, who handled it, and who received it?", c.Code())
	fs := []report.Field{field("Container", c.Code()), field("Lot", l.Number+" ("+l.Source.Product()+")"), field("State", string(c.State)),
		field("Cells", c.Cells.String()), field("Volume", c.VolumeML.String()+" mL")}
	if c.Site != "" {
		fs = append(fs, field("Site", c.Site))
	}
	if c.Location != "" {
		fs = append(fs, field("Location", c.Location))
	}
	fs = append(fs, field("Custodian", c.Custodian))
	if c.PatientID != uuid.Nil {
		p, err := t.patient(c.PatientID)
		if err != nil {
			return err
		}
		fs = append(fs, field("Dispensed to", p.MRN+" "+p.Name))
	}
	if !c.ThawedAt.IsZero() {
		fs = append(fs, field("Thawed", fmt.Sprintf("%s, viability %s %%, %s viable cells", lot.FormatTime(c.ThawedAt), c.ThawViability, c.ViableCells)))
	}
	fs = append(fs, field("Created", lot.FormatTime(c.CreatedAt)+" by "+c.CreatedBy))
	t.add(report.Section{Title: "Container " + c.Code(), Fields: fs})
	if err := t.source(l); err != nil {
		return err
	}
	summary := len(t.r.Sections)
	t.add(t.lotSection(l, nil))
	if err := t.decisions(l); err != nil {
		return err
	}
	if err := t.labels(l, []lot.Container{c}, "container "+c.Code()); err != nil {
		return err
	}
	if err := t.containerEvents(c, l); err != nil {
		return err
	}
	t.finish(summary, nil)
	return nil
}

func (t *tracer) patientTrace(mrn string) error {
	p, err := t.s.Patient(mrn)
	if err != nil {
		return err
	}
	t.patients[p.ID] = p
	t.saw(audit.EntityPatient, p.ID)
	t.r.Kind, t.r.Subject = "patient", p.MRN
	t.r.Title = "Backward trace of patient " + p.MRN
	t.r.Question = fmt.Sprintf("Which containers, lots and donors did patient %s receive cells from, and who handled them on the way?", p.MRN)
	fs := []report.Field{field("MRN", p.MRN), field("Name", p.Name), field("Born", lot.FormatDate(p.Born)), field("Sex", string(p.Sex))}
	if len(p.FormerMRNs) > 0 {
		fs = append(fs, field("Former MRNs", strings.Join(p.FormerMRNs, ", ")+" (reserved to this patient)"))
	}
	t.add(report.Section{Title: "Patient " + p.MRN, Fields: fs})
	t.corrections("patient "+p.MRN, p.Corrections)
	summary := len(t.r.Sections)

	// The containers the patient received: from custody events naming the
	// patient (idx_event_patient) and from recorded infusions.
	var received []uuid.UUID
	seen := map[uuid.UUID]bool{}
	infused := map[uuid.UUID]bool{} // containers infused into the patient
	es, err := t.s.EventsOfPatient(p.ID)
	if err != nil {
		return err
	}
	for _, r := range es {
		t.saw(audit.EntityEvent, r.ID)
		if r.To == lot.Infused && r.PatientID == p.ID {
			infused[r.ContainerID] = true
		}
		if !seen[r.ContainerID] {
			seen[r.ContainerID] = true
			received = append(received, r.ContainerID)
		}
	}
	ins, err := t.s.InfusionsOfPatient(p.ID)
	if err != nil {
		return err
	}
	for _, in := range ins {
		t.saw(audit.EntityInfusion, in.ID)
		for _, c := range in.Containers {
			infused[c.ContainerID] = true
			if !seen[c.ContainerID] {
				seen[c.ContainerID] = true
				received = append(received, c.ContainerID)
			}
		}
	}
	lotsSeen, infusedLots := map[uuid.UUID]bool{}, map[uuid.UUID]bool{}
	var rows [][]string
	var notInfused []string
	for _, id := range received {
		c, found, err := t.s.ContainerByID(id)
		if err != nil {
			return err
		} else if !found {
			return fmt.Errorf("container %s is referenced but missing", id)
		}
		t.saw(audit.EntityContainer, c.ID)
		l, err := t.lotOf(c.LotID)
		if err != nil {
			return err
		}
		src, err := t.sourceName(l)
		if err != nil {
			return err
		}
		rows = append(rows, []string{c.Code(), l.Number, l.Source.Product(), src, string(c.State)})
		if infused[c.ID] {
			infusedLots[l.ID] = true
		} else {
			notInfused = append(notInfused, c.Code()+" (dispensed, not infused; "+string(c.State)+" now)")
		}
		if !lotsSeen[l.ID] {
			lotsSeen[l.ID] = true
			t.add(t.lotSection(l, nil))
			if err := t.decisions(l); err != nil {
				return err
			}
		}
		if err := t.containerEvents(c, l); err != nil {
			return err
		}
	}
	if len(rows) > 0 {
		sec := report.Section{Title: "Containers received", Table: &report.Table{
			Columns: []string{"Container", "Lot", "Product", "Source", "State"}, Rows: rows}}
		t.r.Sections = append(t.r.Sections[:summary], append([]report.Section{sec}, t.r.Sections[summary:]...)...)
	}

	// An rFib source patient: the lots made from the patient's own cells.
	var own [][]string
	for _, id := range t.s.LotsOfPatient(p.ID) {
		l, err := t.lotOf(id)
		if err != nil {
			return err
		}
		own = append(own, []string{l.Number, l.DIN.EyeReadable(), string(l.Status), lot.FormatDate(l.Manufactured), fmt.Sprint(l.Containers)})
	}
	if len(own) > 0 {
		t.add(report.Section{Title: "Autologous lots made from this patient's cells",
			Warning: "FOR AUTOLOGOUS USE ONLY — patient " + p.MRN,
			Table:   &report.Table{Columns: []string{"Lot", "DIN", "Status", "Manufactured", "Containers"}, Rows: own}})
	}
	// Received counts what was infused: a bag dispensed and returned unused
	// is listed apart, not counted as received.
	got := []report.Field{field("Received", fmt.Sprintf("%d container(s) infused, from %d lot(s)", len(infused), len(infusedLots)))}
	if len(infused) == 0 {
		got[0].Value = "none: no container has been infused into this patient"
	}
	if len(notInfused) > 0 {
		got = append(got, field("Not infused", strings.Join(notInfused, ", ")))
	}
	t.finish(summary, got)
	return nil
}

// --- the parts -------------------------------------------------------------

// source adds the section naming where a lot's cells came from.
func (t *tracer) source(l lot.Lot) error {
	if l.Source == lot.SourceUC {
		d, found, err := t.s.DonorByID(l.DonorID)
		if err != nil || !found {
			return fmt.Errorf("donor %s of lot %s: missing or unreadable (%v)", l.DonorID, l.Number, err)
		}
		t.saw(audit.EntityDonor, l.DonorID)
		t.add(report.Section{Title: "Source: donor " + d.Code, Fields: []report.Field{
			field("Donor", d.Code), field("Cord collected", lot.FormatDate(d.Delivered)), field("Collection site", d.Site),
			field("Consent", lot.FormatDate(d.Consented))}})
		return nil
	}
	p, err := t.patient(l.PatientID)
	if err != nil {
		return err
	}
	t.add(report.Section{Title: "Source: patient " + p.MRN + " (autologous)", Warning: "FOR AUTOLOGOUS USE ONLY — patient " + p.MRN,
		Fields: []report.Field{field("Source patient", p.MRN+" "+p.Name), field("Born", lot.FormatDate(p.Born))}})
	return nil
}

// sourceName names a lot's source in one phrase.
func (t *tracer) sourceName(l lot.Lot) (string, error) {
	if l.Source == lot.SourceUC {
		d, _, err := t.s.DonorByID(l.DonorID)
		if err != nil {
			return "", err
		}
		t.saw(audit.EntityDonor, l.DonorID)
		return "donor " + d.Code, nil
	}
	p, err := t.patient(l.PatientID)
	return "patient " + p.MRN + " (autologous)", err
}

// lotBody adds a lot's section with its containers, with qc its QC results,
// its release decisions, and collects every container's events; it returns
// the container count.
func (t *tracer) lotBody(l lot.Lot, qc bool) (int, error) {
	cs, err := t.s.ContainersOf(l.ID)
	if err != nil {
		return 0, err
	}
	for _, c := range cs {
		t.saw(audit.EntityContainer, c.ID)
	}
	t.add(t.lotSection(l, cs))
	if qc {
		if err := t.results(l); err != nil {
			return 0, err
		}
		if err := t.labels(l, cs, "lot "+l.Number); err != nil {
			return 0, err
		}
	}
	if err := t.decisions(l); err != nil {
		return 0, err
	}
	for _, c := range cs {
		if err := t.containerEvents(c, l); err != nil {
			return 0, err
		}
	}
	return len(cs), nil
}

func (t *tracer) lotSection(l lot.Lot, cs []lot.Container) report.Section {
	s := report.Section{Title: "Lot " + l.Number, Fields: []report.Field{
		field("Lot", l.Number), field("DIN", l.DIN.EyeReadable()), field("Product", l.Source.Product()), field("Status", string(l.Status)),
		field("Cells", fmt.Sprintf("%s, viability %s %%, %s mL", l.Cells, l.Viability, l.VolumeML)),
		field("Manufactured", lot.FormatDate(l.Manufactured)), field("Expires", lot.FormatDate(l.Expires)),
		field("Registered", lot.FormatTime(l.CreatedAt)+" by "+l.CreatedBy)}}
	if l.Source == lot.SourceRFib {
		if p, err := t.patient(l.PatientID); err == nil {
			s.Warning = "FOR AUTOLOGOUS USE ONLY — patient " + p.MRN
		}
	}
	if l.Exceptional {
		restricted := "yes; restricted to one patient"
		if p, err := t.patient(l.RestrictedTo); err == nil {
			restricted += ": " + p.MRN + " " + p.Name
		}
		s.Fields = append(s.Fields, field("Exceptional release", restricted))
	}
	if len(cs) > 0 {
		tb := &report.Table{Columns: []string{"Container", "State", "Cells", "mL", "Custodian", "Patient"}}
		for _, c := range cs {
			mrn := ""
			if c.PatientID != uuid.Nil {
				if p, err := t.patient(c.PatientID); err == nil {
					mrn = p.MRN
				}
			}
			tb.Rows = append(tb.Rows, []string{c.Code(), string(c.State), c.Cells.String(), c.VolumeML.String(), c.Custodian, mrn})
		}
		s.Table = tb
	}
	return s
}

// results adds a lot's QC results (idx_result_lot), voided and corrected
// ones included with who voided them and why: the evidence the release
// decisions rest on.
func (t *tracer) results(l lot.Lot) error {
	rs, err := t.s.Results(l.ID)
	if err != nil {
		return err
	}
	sec := report.Section{Title: "QC results of lot " + l.Number}
	if len(rs) == 0 {
		sec.Fields = []report.Field{field("Results", "none recorded")}
		t.add(sec)
		return nil
	}
	tb := &report.Table{Columns: []string{"#", "Assay", "Result", "Tested", "By", "Status"}}
	for _, r := range rs {
		tb.Rows = append(tb.Rows, []string{fmt.Sprint(r.Seq), string(r.Assay), r.Display(), lot.FormatDate(r.Tested),
			r.RecordedBy, r.Status()})
	}
	sec.Table = tb
	t.add(sec)
	return nil
}

// decisions adds a lot's QA release decisions (idx_disposition_lot), one
// section each, with every signature (name, time, meaning). An exceptional
// release is flagged in a warning; an automatic return to quarantine is
// shown as unsigned, with the user whose action caused it.
func (t *tracer) decisions(l lot.Lot) error {
	ds, err := t.s.Dispositions(l.ID)
	if err != nil {
		return err
	}
	for _, d := range ds {
		t.saw(audit.EntityDisposition, d.ID)
		rd := reportDecision(d)
		if rd.Infused, rd.Recall, err = t.lookBack(l, d); err != nil {
			return err
		}
		t.r.Decisions = append(t.r.Decisions, rd)
		sec := report.Section{Title: fmt.Sprintf("Release decision on lot %s: %s", l.Number, strings.ToUpper(rd.Decision))}
		fs := []report.Field{field("Decided", lot.FormatTime(rd.At)+" by "+rd.By)}
		if rd.Exceptional {
			sec.Title = fmt.Sprintf("Release decision on lot %s: EXCEPTIONAL RELEASE", l.Number)
			// The signed decision names the MRN of its day; a corrected MRN
			// is named beside it.
			to := rd.Patient
			if d.PatientID != uuid.Nil {
				p, err := t.patient(d.PatientID)
				if err != nil {
					return err
				}
				if p.MRN != rd.Patient {
					to += " (MRN now " + p.MRN + ")"
				}
			}
			sec.Warning = "EXCEPTIONAL RELEASE of a non-conforming lot: patient " + to + " only"
			fs = append(fs, field("Restricted to", to))
			what := "released although non-conforming, for this patient only"
			if rd.Spec != "" {
				what += ", against " + rd.Spec
			}
			if rd.Reason != "" {
				what += ": " + rd.Reason
			}
			for _, sg := range rd.Signatures {
				what += "; signed by " + sg.FullName + " (" + sg.By + ", " + sg.Role + ")"
			}
			t.deviate(report.Deviation{At: rd.At, Kind: report.DeviationExceptional, Lot: l.Number, Patient: to, Detail: what})
		}
		if rd.Spec != "" {
			fs = append(fs, field("Specification", rd.Spec))
		}
		if rd.Reason != "" {
			fs = append(fs, field("Reason", rd.Reason))
		}
		if len(rd.Recall) > 0 {
			sec.Warning = "RECALL: do not infuse, return to the lab and discard: " + report.LookBackText(rd.Recall)
			fs = append(fs, field("To recall", report.LookBackText(rd.Recall)))
		}
		if len(rd.Infused) > 0 {
			fs = append(fs, field("Already infused", report.LookBackText(rd.Infused)))
		}
		if len(rd.Signatures) == 0 {
			fs = append(fs, field("Signature", "none: automatic, on an action by "+rd.By))
		}
		for _, sg := range rd.Signatures {
			fs = append(fs, field("Signed", signatureText(sg)))
		}
		sec.Fields = fs
		t.add(sec)
	}
	return nil
}

// lookBack is the look-back a return to quarantine recorded: the
// containers already infused, each with the patient who received it (as
// recorded, or for a record that predates it, the container's patient), and
// those to recall, as recorded ("CODE (thawed)",
// "CODE (dispensed to MRN)", release.LookBack): their state then, not now.
func (t *tracer) lookBack(l lot.Lot, d release.Disposition) (infused, recall []report.LookBack, err error) {
	if len(d.Infused) == 0 && len(d.Recall) == 0 {
		return nil, nil, nil
	}
	cs, err := t.s.ContainersOf(l.ID)
	if err != nil {
		return nil, nil, err
	}
	for _, s := range d.Infused {
		// Recorded as "CODE (MRN)" (release.LookBack); before the MRN was
		// recorded, as "CODE", whose patient is the container's.
		code, who, recorded := strings.Cut(s, " (")
		b := report.LookBack{Container: code, State: string(lot.Infused)}
		if recorded {
			b.Patient = strings.TrimSuffix(who, ")")
			infused = append(infused, b)
			continue
		}
		for _, c := range cs {
			if c.Code() == code && c.PatientID != uuid.Nil {
				t.saw(audit.EntityContainer, c.ID)
				p, err := t.patient(c.PatientID)
				if err != nil {
					return nil, nil, err
				}
				b.Patient = p.MRN
			}
		}
		infused = append(infused, b)
	}
	for _, s := range d.Recall {
		b := report.LookBack{Container: s}
		if code, rest, ok := strings.Cut(s, " ("); ok {
			b.Container, b.State = code, strings.TrimSuffix(rest, ")")
			if st, mrn, ok := strings.Cut(b.State, " to "); ok {
				b.State, b.Patient = st, mrn
			}
		}
		recall = append(recall, b)
	}
	return infused, recall, nil
}

func reportSignature(s audit.Signature) report.Signature {
	return report.Signature{By: s.User, FullName: s.FullName, Role: string(s.Role), At: s.Time, Meaning: s.Meaning}
}

func reportDecision(d release.Disposition) report.Decision {
	rd := report.Decision{At: d.At, Lot: d.Lot, Decision: string(d.Decision), Exceptional: d.Decision == release.Exception,
		Patient: d.Patient, Reason: d.Reason, By: d.By}
	if d.Spec != "" {
		rd.Spec = fmt.Sprintf("%s v%d", d.Spec, d.SpecVersion)
	}
	for _, s := range d.Signatures {
		rd.Signatures = append(rd.Signatures, reportSignature(s))
	}
	return rd
}

// containerEvents collects a container's custody events (idx_event_container)
// and its infusions (idx_infusion_container), its handlers and its
// recipients. The custody step that recorded an infusion becomes an
// infusion event carrying the dose.
func (t *tracer) containerEvents(c lot.Container, l lot.Lot) error {
	if t.done[c.ID] {
		return nil
	}
	t.done[c.ID] = true
	es, err := t.s.EventsOfContainer(c.ID)
	if err != nil {
		return err
	}
	for _, e := range es {
		t.saw(audit.EntityEvent, e.ID)
	}
	ins, err := t.s.InfusionsOfContainer(c.ID)
	if err != nil {
		return err
	}
	doses := map[string]report.Dose{}
	for _, in := range ins {
		d, err := t.infusion(in)
		if err != nil {
			return err
		}
		doses[d.ID] = d
	}
	for _, e := range es {
		re := report.Event{Kind: report.Custody, At: e.At, Lot: l.Number, Container: c.Code(), From: string(e.From), To: string(e.To),
			By: e.By, Site: e.Site, Location: e.Location, Custodian: e.Custodian, Reason: e.Reason, Details: e.Details}
		if d, ok := doses[e.Details["infusion"]]; ok && e.To == lot.Infused {
			re.Kind, re.Details = report.Infusion, doseDetails(d, e.Details)
			t.handled(d.Witness.By, c.Code(), false)
		}
		t.handled(e.By, c.Code(), false)
		if e.Custodian != "" {
			t.handled(e.Custodian, c.Code(), true)
		}
		if e.PatientID != uuid.Nil {
			p, err := t.patient(e.PatientID)
			if err != nil {
				return err
			}
			re.Patient = p.MRN
			t.checkIdentity(l, c, p, e.To, e.At)
			rc := t.recipient(p, c.Code(), l.Number)
			switch e.To {
			case lot.Dispensed:
				rc.dispensedAt = lot.FormatTime(e.At)
			case lot.Infused:
				rc.infusedAt = lot.FormatTime(e.At)
			}
		}
		t.r.Events = append(t.r.Events, re)
	}
	return nil
}

// infusion returns the infusion with id as the report shows it, reading it
// with its reactions once per report.
func (t *tracer) infusion(in dose.Infusion) (report.Dose, error) {
	if i, ok := t.infused[in.ID]; ok {
		return t.doses[i], nil
	}
	t.saw(audit.EntityInfusion, in.ID)
	p, err := t.patient(in.PatientID)
	if err != nil {
		return report.Dose{}, err
	}
	d := report.Dose{ID: in.ID.String(), Start: in.Start, End: in.End, Patient: p.MRN,
		Protocol: fmt.Sprintf("%s v%d, course %d, infusion %d", in.Protocol, in.ProtocolVersion, in.Course, in.Number),
		Weight:   in.Weight.String(), Cells: in.Given.String(), CellsExact: in.Given.Exact(), VolumeML: in.Volume.String(),
		Nurse: reportSignature(in.Nurse), Witness: reportSignature(in.Witness)}
	if perKg, ok := in.CellsPerKg(); ok {
		d.CellsPerKg = perKg.String()
	}
	if d.WeightRecord, err = t.weight(in); err != nil {
		return d, err
	}
	for _, c := range in.Containers {
		l, err := t.lotOf(c.LotID)
		if err != nil {
			return d, err
		}
		d.Containers = append(d.Containers, c.Code)
		src, err := t.sourceName(l)
		if err != nil {
			return d, err
		}
		d.Bags = append(d.Bags, report.DoseBag{Container: c.Code, Lot: l.Number, Source: src,
			Cells: c.Cells.String(), CellsExact: c.Cells.Exact(), VolumeML: c.Volume.String()})
		if !slices.Contains(d.Lots, l.Number) {
			d.Lots = append(d.Lots, l.Number)
		}
	}
	rs, err := t.s.Reactions(in.ID)
	if err != nil {
		return d, err
	}
	for _, r := range rs {
		t.saw(audit.EntityReaction, r.ID)
		d.Reactions = append(d.Reactions, r.Line())
	}
	if err := t.departures(in, d); err != nil {
		return d, err
	}
	t.infused[in.ID] = len(t.doses)
	t.doses = append(t.doses, d)
	return d, nil
}

// checkIdentity records an autologous container that reached a patient who
// is not the lot's source (DOMAIN.md: rFib goes only to the patient it came
// from).
func (t *tracer) checkIdentity(l lot.Lot, c lot.Container, p lot.Patient, to lot.ContainerState, at time.Time) {
	if l.Source != lot.SourceRFib || l.PatientID == p.ID {
		return
	}
	src, _ := t.patient(l.PatientID)
	t.identity = append(t.identity, []string{c.Code(), l.Number, src.MRN, p.MRN, string(to), lot.FormatTime(at)})
}

// weight returns the weight record infusion in was dosed on, with the
// physician's confirmation of it when one was signed before the infusion
// was recorded — one signed after had no part in it (review 19 G); nil
// when the infusion names no weight record.
func (t *tracer) weight(in dose.Infusion) (*report.DoseWeight, error) {
	if in.WeightID == uuid.Nil {
		return nil, nil
	}
	w, conf, found, err := t.s.Weight(in.WeightID, in.ID)
	if err != nil {
		return nil, err
	} else if !found {
		return nil, fmt.Errorf("weight %s of infusion %s is referenced but missing", in.WeightID, in.ID)
	}
	t.saw(audit.EntityWeight, w.ID)
	dw := &report.DoseWeight{ID: w.ID.String(), Weight: w.Grams.String(), MeasuredAt: w.MeasuredAt, RecordedBy: w.RecordedBy, RecordedAt: w.RecordedAt}
	if conf != nil {
		t.saw(audit.EntityWeightConfirmation, conf.ID)
		sg := reportSignature(conf.Signature)
		dw.Confirmation, dw.ConfirmReason = &sg, conf.Reason
	}
	return dw, nil
}

// weightFields are the weight record's lines of an infusion's section.
func weightFields(w *report.DoseWeight) []report.Field {
	if w == nil {
		return nil
	}
	fs := []report.Field{field("Weight measured", w.Measured())}
	if w.Confirmation != nil {
		fs = append(fs, field("Weight signed", signatureText(*w.Confirmation)+"; reason: "+w.ConfirmReason))
	}
	return fs
}

// doseDetails adds the infusion's dose and signatures to the details of the
// custody event that recorded it (the cells and volume drawn from this
// container).
func doseDetails(d report.Dose, ev map[string]string) map[string]string {
	m := map[string]string{}
	for k, v := range ev {
		m[k] = v
	}
	m["dose_cells"], m["dose_volume_ml"], m["end"] = d.CellsExact, d.VolumeML, d.End.UTC().Format(time.RFC3339)
	m["nurse"] = d.Nurse.By + " " + d.Nurse.At.UTC().Format(time.RFC3339)
	m["witness"] = d.Witness.By + " " + d.Witness.At.UTC().Format(time.RFC3339)
	m["protocol"] = d.Protocol
	if d.CellsPerKg != "" {
		m["cells_per_kg"] = d.CellsPerKg
	}
	if len(d.Reactions) > 0 {
		m["reactions"] = strings.Join(d.Reactions, " | ")
	}
	if w := d.WeightRecord; w != nil {
		m["weight"] = w.Weight
		m["weight_measured"] = w.MeasuredAt.UTC().Format(time.RFC3339) + " by " + w.RecordedBy
		if c := w.Confirmation; c != nil {
			m["weight_confirmed"] = fmt.Sprintf("%s (%s) %s: %s; reason: %s", c.FullName, c.By, c.At.UTC().Format(time.RFC3339), c.Meaning, w.ConfirmReason)
		}
	}
	return m
}

func (t *tracer) recipient(p lot.Patient, container, lotNumber string) *recipient {
	for _, r := range t.recipients {
		if r.patient.ID == p.ID && r.container == container {
			return r
		}
	}
	r := &recipient{patient: p, container: container, lot: lotNumber}
	t.recipients = append(t.recipients, r)
	return r
}

func (t *tracer) handled(name, container string, custodian bool) {
	h := t.handlers[name]
	if h == nil {
		h = &handler{name: name, containers: map[string]bool{}}
		t.handlers[name] = h
	}
	if custodian {
		h.custodian++
	} else {
		h.recorded++
	}
	h.containers[container] = true
}

// finish inserts the summary and the recipients after the subject's own
// sections (at index at), and appends infusions and handlers; then sorts the
// events.
func (t *tracer) finish(at int, counts []report.Field) {
	// Recipients are the patients infused; a patient a bag was dispensed to
	// and returned from unused is listed apart, not counted.
	recipients, dispensedTo := map[uuid.UUID]bool{}, map[uuid.UUID]bool{}
	var infusedRows, dispensedRows [][]string
	for _, r := range t.recipients {
		row := []string{r.patient.MRN, r.patient.Name, r.container, r.lot, orDash(r.dispensedAt), orDash(r.infusedAt)}
		if r.infusedAt != "" {
			recipients[r.patient.ID] = true
			infusedRows = append(infusedRows, row)
		} else {
			dispensedTo[r.patient.ID] = true
			dispensedRows = append(dispensedRows, row[:5])
		}
	}
	custody := 0
	for _, e := range t.r.Events {
		if e.Kind == report.Custody {
			custody++
		}
	}
	fs := append(counts, field("Custody events", fmt.Sprint(custody)))
	if len(t.doses) > 0 {
		fs = append(fs, field("Infusions", fmt.Sprint(len(t.doses))))
	}
	if n := len(t.r.Deviations); n > 0 {
		fs = append(fs, field("Deviations", fmt.Sprintf("%d, listed under Deviations", n)))
	} else {
		fs = append(fs, field("Deviations", "none"))
	}
	if t.r.Kind != "patient" {
		if len(recipients) == 0 {
			fs = append(fs, field("Recipients", "none: no container has been infused into a patient"))
		} else {
			fs = append(fs, field("Recipients", fmt.Sprintf("%d patient(s) infused", len(recipients))))
		}
		if len(dispensedRows) > 0 {
			fs = append(fs, field("Not infused", fmt.Sprintf("%d container(s) dispensed to %d patient(s) and not infused: not counted as recipients", len(dispensedRows), len(dispensedTo))))
		}
	}
	head := []report.Section{{Title: "Summary", Fields: fs}}
	if len(t.identity) > 0 {
		head = append(head, report.Section{Title: "Chain of identity",
			Warning: "CHAIN OF IDENTITY BROKEN: autologous cells reached a patient who is not their source; report to QA now",
			Table:   &report.Table{Columns: []string{"Container", "Lot", "Source", "Patient", "Event", "When"}, Rows: t.identity}})
	}
	head = append(head, t.deviationSection())
	if len(infusedRows) > 0 && t.r.Kind != "patient" {
		head = append(head, report.Section{Title: "Recipients", Table: &report.Table{
			Columns: []string{"MRN", "Name", "Container", "Lot", "Dispensed", "Infused"}, Rows: infusedRows}})
	}
	if len(dispensedRows) > 0 && t.r.Kind != "patient" {
		head = append(head, report.Section{Title: "Dispensed, not infused (not recipients)", Table: &report.Table{
			Columns: []string{"MRN", "Name", "Container", "Lot", "Dispensed"}, Rows: dispensedRows}})
	}
	t.r.Sections = append(t.r.Sections[:at], append(head, t.r.Sections[at:]...)...)
	for _, d := range t.doses {
		t.add(doseSection(d))
	}
	t.r.Infusions = t.doses
	if len(t.handlers) > 0 {
		t.add(t.handlerSection())
	}
	report.SortEvents(t.r.Events)
}

// handlerSection lists every user and custodian who touched a container in
// the report, with their full name and role when they are celltrack users.
func (t *tracer) handlerSection() report.Section {
	names := make([]string, 0, len(t.handlers))
	for n := range t.handlers {
		names = append(names, n)
	}
	sort.Strings(names)
	tb := &report.Table{Columns: []string{"Handler", "Full name", "Role", "Recorded", "Custodian", "Containers"}}
	for _, n := range names {
		h := t.handlers[n]
		full, role := "", "not a celltrack user"
		if u, err := t.s.User(n); err == nil {
			t.saw(audit.EntityUser, u.ID)
			full, role = u.FullName, string(u.Role)
		}
		tb.Rows = append(tb.Rows, []string{n, full, role, fmt.Sprint(h.recorded), fmt.Sprint(h.custodian), fmt.Sprint(len(h.containers))})
	}
	return report.Section{Title: "Handlers (everyone who recorded or held a container)", Table: tb}
}

// doseSection is one infusion: the dose given and both signatures.
func doseSection(d report.Dose) report.Section {
	fs := []report.Field{field("Patient", d.Patient), field("Protocol", d.Protocol),
		field("Start", lot.FormatTime(d.Start)), field("End", lot.FormatTime(d.End)),
		field("Containers", strings.Join(d.Containers, ", ")+" (lot "+strings.Join(d.Lots, ", ")+")"),
		field("Cells given", d.Cells+" viable cells ("+d.CellsExact+")")}
	if len(d.Bags) > 1 {
		// Bags from more than one container: what each gave, and from
		// whom, so a donor's look-back shows that donor's share.
		for _, b := range d.Bags {
			fs = append(fs, field("From bag", fmt.Sprintf("%s gave %s viable cells (%s), %s mL; lot %s, %s", b.Container, b.Cells, b.CellsExact, b.VolumeML, b.Lot, b.Source)))
		}
	}
	fs = append(fs, field("Cells/kg", orDash(d.CellsPerKg)), field("Weight used", d.Weight))
	fs = append(fs, weightFields(d.WeightRecord)...)
	fs = append(fs, field("Volume", d.VolumeML+" mL"),
		field("Nurse", signatureText(d.Nurse)), field("Witness", signatureText(d.Witness)))
	if len(d.Reactions) == 0 {
		fs = append(fs, field("Reactions", "none recorded"))
	}
	for _, r := range d.Reactions {
		fs = append(fs, field("Reaction", r))
	}
	return report.Section{Title: "Infusion " + lot.FormatTime(d.Start) + ": " + d.Patient, Fields: fs}
}

func signatureText(s report.Signature) string {
	return fmt.Sprintf("%s (%s, %s) signed %s: %s", s.FullName, s.By, s.Role, lot.FormatTime(s.At), s.Meaning)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// corrections adds the section listing the corrections of a patient's or
// donor's master data, oldest first, when there are any: when, by whom,
// every field's old and new value, and why. An auditor reading a trace sees
// what the record said before.
func (t *tracer) corrections(of string, cs []lot.Correction) {
	if len(cs) == 0 {
		return
	}
	var fs []report.Field
	for _, c := range cs {
		fs = append(fs, field("Corrected", fmt.Sprintf("%s by %s: %s — reason: %s", lot.FormatTime(c.At), c.By, c.Summary(), c.Reason)))
	}
	t.add(report.Section{Title: "Corrections of the " + of + " record", Fields: fs})
}

func field(label, value string) report.Field { return report.Field{Label: label, Value: value} }
