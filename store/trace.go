package store

import (
	"fmt"
	"sort"
	"time"

	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/report"
	"github.com/google/uuid"
	bolt "go.etcd.io/bbolt"
)

// TraceService builds traceability reports (report.Report) from the
// indexes: a trace follows idx_lot_donor, idx_lot_patient, idx_container_lot,
// idx_event_container and idx_event_patient from the traced record and reads
// only the records on the way, so its cost follows the size of the answer,
// not of the database. The provenance block it stamps on every report adds
// one full pass over the audit trail — `audit verify` — because a report must
// say whether the trail was intact when it was produced.
type TraceService struct{ db *DB }

// NewTraceService returns the trace reports of db.
func NewTraceService(db *DB) *TraceService { return &TraceService{db: db} }

// Hooks for records that other capabilities own. Each stays nil until the
// capability that stores those records sets it from its own store file
// (`func init() { releaseDecisionsHook = ... }`); the section it feeds appears
// only when it returns data, so a trace never prints an empty placeholder.
var (
	// releaseDecisionsHook returns the QA release decisions (dispositions)
	// of a lot, oldest first: the release capability wraps
	// lotDispositions(tx, lotID).
	releaseDecisionsHook func(tx *bolt.Tx, lotID uuid.UUID) ([]report.Decision, error)
	// infusionsOfPatientHook and infusionsOfContainerHook return recorded
	// infusions, oldest first: the dosing capability wraps
	// infusionsOfPatient(tx, patientID) and infusionsOfContainer(tx, containerID).
	// The tracer fills each Dose's Patient, Container and Lot from the ids.
	infusionsOfPatientHook   func(tx *bolt.Tx, patientID uuid.UUID) ([]TracedInfusion, error)
	infusionsOfContainerHook func(tx *bolt.Tx, containerID uuid.UUID) ([]TracedInfusion, error)
)

// TracedInfusion is an infusion as the dosing capability hands it to a trace.
type TracedInfusion struct {
	ContainerID uuid.UUID
	PatientID   uuid.UUID
	Dose        report.Dose
}

// Donor is the look-back trace of a donor: every lot made from the donor's
// cord, every container, every custody event, and every patient who received
// any of it. ENOTFOUND for an unknown donor, EFORBIDDEN for an unknown user.
func (s *TraceService) Donor(user, ref string) (report.Report, error) {
	return s.trace(user, func(t *tracer) error { return t.donor(ref) })
}

// Lot is the forward trace of a lot: its source, release decisions,
// containers, custody events, recipients and infusions.
func (s *TraceService) Lot(user, ref string) (report.Report, error) {
	return s.trace(user, func(t *tracer) error { return t.lotTrace(ref) })
}

// Patient is the backward trace of a patient: every container dispensed to
// or infused into the patient, its lot, the lot's donor or source patient,
// its release decisions and everyone who handled it; and, for an rFib source
// patient, the lots made from the patient's own cells.
func (s *TraceService) Patient(user, mrn string) (report.Report, error) {
	return s.trace(user, func(t *tracer) error { return t.patientTrace(mrn) })
}

// Container is the trace of one container: its lot and source, its whole
// journey and who received it.
func (s *TraceService) Container(user, ref string) (report.Report, error) {
	return s.trace(user, func(t *tracer) error { return t.containerTrace(ref) })
}

// trace runs build and stamps the provenance in one read transaction, so the
// audit head and verdict printed are those of the records the report shows.
func (s *TraceService) trace(user string, build func(*tracer) error) (report.Report, error) {
	var r report.Report
	err := s.db.view(func(tx *bolt.Tx) error {
		u, err := userByName(tx, user)
		if err != nil {
			return err
		}
		if u.Disabled {
			return lot.Errorf(lot.EFORBIDDEN, "user %s is disabled and can do nothing, not even produce a report; ask an admin", u.Name)
		}
		t := newTracer(tx)
		if err := build(t); err != nil {
			return err
		}
		v, err := verifyTx(tx)
		if err != nil {
			return err
		}
		r = t.r
		r.Produced = report.Provenance{At: s.db.now(), By: u.Name, ByName: u.FullName, ByRole: string(u.Role),
			Database: s.db.Path(), AuditHead: v.HeadHex(), AuditEntries: v.Entries, Verified: v.OK(), Problems: v.Problems}
		return nil
	})
	return r, err
}

// tracer walks the indexes from one record and collects a report.
type tracer struct {
	tx       *bolt.Tx
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
	handlers map[string]*handler
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

func newTracer(tx *bolt.Tx) *tracer {
	return &tracer{tx: tx, patients: map[uuid.UUID]lot.Patient{}, lots: map[uuid.UUID]lot.Lot{},
		done: map[uuid.UUID]bool{}, handlers: map[string]*handler{}}
}

func (t *tracer) patient(id uuid.UUID) (lot.Patient, error) {
	if p, ok := t.patients[id]; ok {
		return p, nil
	}
	p, err := patientByID(t.tx, id)
	if err == nil {
		t.patients[id] = p
	}
	return p, err
}

func (t *tracer) lotOf(id uuid.UUID) (lot.Lot, error) {
	if l, ok := t.lots[id]; ok {
		return l, nil
	}
	l, err := lotByID(t.tx, id)
	if err == nil {
		t.lots[id] = l
	}
	return l, err
}

func (t *tracer) add(s report.Section) { t.r.Sections = append(t.r.Sections, s) }

// --- the four traces -------------------------------------------------------

func (t *tracer) donor(ref string) error {
	d, err := donorByRef(t.tx, ref)
	if err != nil {
		return err
	}
	t.r.Kind, t.r.Subject = "donor", d.Code
	t.r.Title = "Look-back trace of donor " + d.Code
	t.r.Question = fmt.Sprintf("Which patients received cells from donor %s, and when?", d.Code)
	t.add(report.Section{Title: "Donor " + d.Code, Fields: []report.Field{
		field("Donor", d.Code), field("Cord collected", lot.FormatDate(d.Delivered)), field("Collection site", d.Site),
		field("Consent", lot.FormatDate(d.Consented)), field("Registered", lot.FormatTime(d.CreatedAt)+" by "+d.CreatedBy)}})
	summary := len(t.r.Sections)
	ids := children(t.tx, "idx_lot_donor", d.ID)
	containers := 0
	for _, id := range ids {
		l, err := t.lotOf(id)
		if err != nil {
			return err
		}
		n, err := t.lotBody(l)
		if err != nil {
			return err
		}
		containers += n
	}
	t.finish(summary, []report.Field{field("Lots", fmt.Sprint(len(ids))), field("Containers", fmt.Sprint(containers))})
	return nil
}

func (t *tracer) lotTrace(ref string) error {
	l, err := lotByRef(t.tx, ref)
	if err != nil {
		return err
	}
	t.lots[l.ID] = l
	t.r.Kind, t.r.Subject = "lot", l.Number
	t.r.Title = "Forward trace of lot " + l.Number
	t.r.Question = fmt.Sprintf("Where did lot %s come from, where did each of its containers go, and who received it?", l.Number)
	if err := t.source(l); err != nil {
		return err
	}
	summary := len(t.r.Sections)
	n, err := t.lotBody(l)
	if err != nil {
		return err
	}
	t.finish(summary, []report.Field{field("Containers", fmt.Sprint(n))})
	return nil
}

func (t *tracer) containerTrace(ref string) error {
	c, err := containerByRef(t.tx, ref)
	if err != nil {
		return err
	}
	l, err := t.lotOf(c.LotID)
	if err != nil {
		return err
	}
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
	if err := t.containerEvents(c, l); err != nil {
		return err
	}
	t.finish(summary, nil)
	return nil
}

func (t *tracer) patientTrace(mrn string) error {
	p, err := patientByMRN(t.tx, mrn)
	if err != nil {
		return err
	}
	t.patients[p.ID] = p
	t.r.Kind, t.r.Subject = "patient", p.MRN
	t.r.Title = "Backward trace of patient " + p.MRN
	t.r.Question = fmt.Sprintf("Which containers, lots and donors did patient %s receive cells from, and who handled them on the way?", p.MRN)
	t.add(report.Section{Title: "Patient " + p.MRN, Fields: []report.Field{
		field("MRN", p.MRN), field("Name", p.Name), field("Born", lot.FormatDate(p.Born)), field("Sex", string(p.Sex))}})
	summary := len(t.r.Sections)

	// The containers the patient received: from custody events naming the
	// patient (idx_event_patient) and from recorded infusions.
	var received []uuid.UUID
	seen := map[uuid.UUID]bool{}
	for _, id := range children(t.tx, "idx_event_patient", p.ID) {
		var r eventRecord
		if _, err := get(t.tx, kindEvent, id, &r); err != nil {
			return err
		}
		if !seen[r.ContainerID] {
			seen[r.ContainerID] = true
			received = append(received, r.ContainerID)
		}
	}
	if infusionsOfPatientHook != nil {
		ins, err := infusionsOfPatientHook(t.tx, p.ID)
		if err != nil {
			return err
		}
		for _, in := range ins {
			if !seen[in.ContainerID] {
				seen[in.ContainerID] = true
				received = append(received, in.ContainerID)
			}
		}
	}
	lotsSeen := map[uuid.UUID]bool{}
	var rows [][]string
	for _, id := range received {
		var cr containerRecord
		if found, err := get(t.tx, kindContainer, id, &cr); err != nil {
			return err
		} else if !found {
			return fmt.Errorf("container %s is referenced but missing", id)
		}
		c := cr.container()
		l, err := t.lotOf(c.LotID)
		if err != nil {
			return err
		}
		src, err := t.sourceName(l)
		if err != nil {
			return err
		}
		rows = append(rows, []string{c.Code(), l.Number, l.Source.Product(), src, string(c.State)})
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
	for _, id := range children(t.tx, "idx_lot_patient", p.ID) {
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
	got := field("Received", fmt.Sprintf("%d container(s) from %d lot(s)", len(received), len(lotsSeen)))
	if len(received) == 0 {
		got.Value = "none: no container has been dispensed to or infused into this patient"
	}
	t.finish(summary, []report.Field{got})
	return nil
}

// --- the parts -------------------------------------------------------------

// source adds the section naming where a lot's cells came from.
func (t *tracer) source(l lot.Lot) error {
	if l.Source == lot.SourceUC {
		var r donorRecord
		if found, err := get(t.tx, kindDonor, l.DonorID, &r); err != nil || !found {
			return fmt.Errorf("donor %s of lot %s: missing or unreadable (%v)", l.DonorID, l.Number, err)
		}
		d := r.donor()
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
		var r donorRecord
		if _, err := get(t.tx, kindDonor, l.DonorID, &r); err != nil {
			return "", err
		}
		return "donor " + r.Code, nil
	}
	p, err := t.patient(l.PatientID)
	return "patient " + p.MRN + " (autologous)", err
}

// lotBody adds a lot's section with its containers, its release decisions,
// and collects every container's events; it returns the container count.
func (t *tracer) lotBody(l lot.Lot) (int, error) {
	cs, err := containersOf(t.tx, l.ID)
	if err != nil {
		return 0, err
	}
	t.add(t.lotSection(l, cs))
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
		s.Fields = append(s.Fields, field("Exceptional release", "yes; restricted to one patient"))
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

// decisions adds a lot's release decisions, when the release capability has
// recorded any.
func (t *tracer) decisions(l lot.Lot) error {
	if releaseDecisionsHook == nil {
		return nil
	}
	ds, err := releaseDecisionsHook(t.tx, l.ID)
	if err != nil || len(ds) == 0 {
		return err
	}
	tb := &report.Table{Columns: []string{"When", "Decision", "Signed by", "Meaning", "Specification", "Reason"}}
	for _, d := range ds {
		tb.Rows = append(tb.Rows, []string{lot.FormatTime(d.At), d.Decision, d.SignedBy + " (" + d.FullName + ")", d.Meaning, d.Spec, d.Reason})
	}
	t.add(report.Section{Title: "Release decisions: lot " + l.Number, Table: tb})
	return nil
}

// containerEvents collects a container's custody events (idx_event_container)
// and infusions, its handlers and its recipients.
func (t *tracer) containerEvents(c lot.Container, l lot.Lot) error {
	if t.done[c.ID] {
		return nil
	}
	t.done[c.ID] = true
	es, err := eventsOf(t.tx, "idx_event_container", c.ID)
	if err != nil {
		return err
	}
	for _, e := range es {
		re := report.Event{Kind: report.Custody, At: e.At, Lot: l.Number, Container: c.Code(), From: string(e.From), To: string(e.To),
			By: e.By, Site: e.Site, Location: e.Location, Custodian: e.Custodian, Reason: e.Reason, Details: e.Details}
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
	if infusionsOfContainerHook != nil {
		ins, err := infusionsOfContainerHook(t.tx, c.ID)
		if err != nil {
			return err
		}
		for _, in := range ins {
			p, err := t.patient(in.PatientID)
			if err != nil {
				return err
			}
			t.checkIdentity(l, c, p, lot.Infused, in.Dose.At)
			d := in.Dose
			d.Patient, d.Container, d.Lot = p.MRN, c.Code(), l.Number
			t.doses = append(t.doses, d)
			if rc := t.recipient(p, c.Code(), l.Number); rc.infusedAt == "" {
				rc.infusedAt = lot.FormatTime(d.At)
			}
			t.handled(d.By, c.Code(), false)
			if d.Witness != "" {
				t.handled(d.Witness, c.Code(), false)
			}
			t.r.Events = append(t.r.Events, report.Event{Kind: report.Infusion, At: d.At, Lot: l.Number, Container: c.Code(),
				To: "infused", By: d.By, Patient: p.MRN, Details: doseDetails(d)})
		}
	}
	return nil
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

func doseDetails(d report.Dose) map[string]string {
	m := map[string]string{"cells": d.Cells}
	for k, v := range map[string]string{"cells_per_kg": d.CellsPerKg, "volume_ml": d.VolumeML, "protocol": d.Protocol, "witness": d.Witness} {
		if v != "" {
			m[k] = v
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
	recipients := map[uuid.UUID]bool{}
	for _, r := range t.recipients {
		recipients[r.patient.ID] = true
	}
	fs := append(counts, field("Custody events", fmt.Sprint(len(t.r.Events)-len(t.doses))))
	if len(t.doses) > 0 {
		fs = append(fs, field("Infusions", fmt.Sprint(len(t.doses))))
	}
	if t.r.Kind != "patient" {
		if len(recipients) == 0 {
			fs = append(fs, field("Recipients", "none: no container has been dispensed to or infused into a patient"))
		} else {
			fs = append(fs, field("Recipients", fmt.Sprintf("%d patient(s)", len(recipients))))
		}
	}
	head := []report.Section{{Title: "Summary", Fields: fs}}
	if len(t.identity) > 0 {
		head = append(head, report.Section{Title: "Chain of identity",
			Warning: "CHAIN OF IDENTITY BROKEN: autologous cells reached a patient who is not their source; report to QA now",
			Table:   &report.Table{Columns: []string{"Container", "Lot", "Source", "Patient", "Event", "When"}, Rows: t.identity}})
	}
	if len(t.recipients) > 0 && t.r.Kind != "patient" {
		tb := &report.Table{Columns: []string{"MRN", "Name", "Container", "Lot", "Dispensed", "Infused"}}
		for _, r := range t.recipients {
			tb.Rows = append(tb.Rows, []string{r.patient.MRN, r.patient.Name, r.container, r.lot, orDash(r.dispensedAt), orDash(r.infusedAt)})
		}
		head = append(head, report.Section{Title: "Recipients", Table: tb})
	}
	t.r.Sections = append(t.r.Sections[:at], append(head, t.r.Sections[at:]...)...)
	if len(t.doses) > 0 {
		tb := &report.Table{Columns: []string{"When", "Patient", "Container", "Cells", "Cells/kg", "mL", "By", "Witness"}}
		for _, d := range t.doses {
			tb.Rows = append(tb.Rows, []string{lot.FormatTime(d.At), d.Patient, d.Container, d.Cells, d.CellsPerKg, d.VolumeML, d.By, d.Witness})
		}
		t.add(report.Section{Title: "Infusions", Table: tb})
	}
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
		if u, err := userByName(t.tx, n); err == nil {
			full, role = u.FullName, string(u.Role)
		}
		tb.Rows = append(tb.Rows, []string{n, full, role, fmt.Sprint(h.recorded), fmt.Sprint(h.custodian), fmt.Sprint(len(h.containers))})
	}
	return report.Section{Title: "Handlers (everyone who recorded or held a container)", Table: tb}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func field(label, value string) report.Field { return report.Field{Label: label, Value: value} }
