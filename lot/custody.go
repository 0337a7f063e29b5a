package lot

import (
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Moves is the chain-of-custody state machine: for each state, the states a
// container may move to next (DOMAIN.md, "Chain of custody"). Infused and
// discarded are final.
//
// "Returned" means a dispensed container that was not infused came back from
// the bedside into the lab's custody. It is then put back into storage only if
// it was never thawed; a thawed container can never be re-frozen, so it must
// be discarded (or quarantined for investigation first).
var Moves = map[ContainerState][]ContainerState{
	Created:     {Stored},
	Stored:      {Shipped, Thawed, Discarded, Quarantined},
	Shipped:     {Received},
	Received:    {Stored, Thawed, Discarded, Quarantined},
	Thawed:      {Dispensed, Discarded},
	Dispensed:   {Infused, Returned, Discarded},
	Returned:    {Stored, Discarded, Quarantined},
	Quarantined: {Stored, Discarded},
	Infused:     nil,
	Discarded:   nil,
}

// moveVerb is the command that makes each move, for messages.
var moveVerb = map[ContainerState]string{
	Stored: "store", Shipped: "ship", Received: "receive", Thawed: "thaw", Dispensed: "dispense",
	Infused: "infuse", Discarded: "discard", Returned: "return", Quarantined: "quarantine",
}

// MoveVerb is the command, and the API's path word, that makes the move to
// s; ok is false for a state no move reaches.
func MoveVerb(s ContainerState) (verb string, ok bool) {
	verb, ok = moveVerb[s]
	return verb, ok
}

// Label is how a container is named in messages: the DIN and the container
// number, as printed on its label ("G123426000001 01").
func (c Container) Label() string { return fmt.Sprintf("%s %02d", c.DIN, c.Number) }

// Final reports whether no move may leave s.
func (s ContainerState) Final() bool { return len(Moves[s]) == 0 }

// CheckMove returns ECONFLICT unless the state machine allows c to move to
// state to now. The message names the container's current state and the
// allowed next steps. A thawed container may never be stored again.
func CheckMove(c Container, to ContainerState) error {
	next, known := Moves[c.State]
	if !known {
		return Errorf(ECONFLICT, "container %s is in unknown state %q; no move is allowed — report this to the system administrator", c.Label(), c.State)
	}
	if len(next) == 0 {
		return Errorf(ECONFLICT, "container %s is %s; %s is final — no further moves", c.Label(), c.State, c.State)
	}
	for _, s := range next {
		if s == to {
			if to == Stored && !c.ThawedAt.IsZero() {
				return Errorf(ECONFLICT, "container %s was thawed at %s; a thawed container can never be stored again — discard it", c.Label(), FormatTime(c.ThawedAt))
			}
			return nil
		}
	}
	steps := make([]string, len(next))
	for i, s := range next {
		steps[i] = fmt.Sprintf("%s (%s)", moveVerb[s], s)
	}
	return Errorf(ECONFLICT, "container %s is %s and cannot be %s; from %s the allowed next steps are: %s",
		c.Label(), c.State, to, c.State, strings.Join(steps, ", "))
}

// CheckShip refuses shipping c to the site it is already at.
func CheckShip(c Container, to string) error {
	if err := CheckMove(c, Shipped); err != nil {
		return err
	}
	if to == c.Site {
		return FieldErrorf("to", EINVALID, "the destination site %s is where container %s already is; ship it to another site", to, c.Label())
	}
	return nil
}

// MayBeDispensed reports whether container c can still be dispensed to
// anyone by the state machine's ordinary path: it is on its way (created,
// stored, shipped, received, thawed), or it came back never thawed and may be
// stored again. A quarantined container waits for its investigation; a
// returned thawed one can only be discarded.
func MayBeDispensed(c Container) bool {
	switch c.State {
	case Created, Stored, Shipped, Received, Thawed:
		return true
	case Returned:
		return c.ThawedAt.IsZero()
	}
	return false
}

// CheckReceive refuses receiving c anywhere but the site it was shipped to.
// While a container is in transit its Site is the destination.
func CheckReceive(c Container, at string) error {
	if err := CheckMove(c, Received); err != nil {
		return err
	}
	if c.Site != at {
		return Errorf(ECONFLICT, "container %s was shipped to site %s, not %s; it can be received only at %s — check the shipping papers", c.Label(), c.Site, at, c.Site)
	}
	return nil
}

// CheckAfterReceipt refuses storing or thawing a container that arrived with
// a temperature excursion: received is its state and arrival the event that
// received it. A cryopreserved product that warmed in transit may be damaged;
// it is held for investigation (`container quarantine`, lab) or discarded,
// and only the lab's release from quarantine (store) puts it back in use.
func CheckAfterReceipt(c Container, arrival Event, to ContainerState) error {
	if c.State != Received || arrival.To != Received || arrival.Details["excursion"] != "yes" {
		return nil
	}
	if to != Stored && to != Thawed {
		return nil
	}
	return Errorf(ECONFLICT, "container %s arrived at %s on %s with a temperature excursion; it may not be %s — the lab quarantines it, with a reason, pending investigation, or discards it",
		c.Label(), arrival.Site, FormatTime(arrival.At), to)
}

// UseCheck is one rule a lot must pass before any of its containers goes to
// a patient, with what was found and, when it failed, what to do.
type UseCheck struct {
	Name   string // "chain of identity", "lot released", "lot not expired"
	OK     bool
	Detail string
	Fix    string
}

// CheckLotUse runs the rules that decide whether a container of lot l may go
// to patient p at now, in the order they matter: an autologous rFib lot goes
// only to the patient whose cells it holds (the gravest error), the lot is
// released (an exceptional release only for the one patient it names), and
// it has not expired — at the facility nor at the place of use, the zones
// in at (Lot.ExpiresAt). Dispensing and the bedside check both use it, so
// the two can never disagree.
func CheckLotUse(l Lot, p Patient, now time.Time, at ...*time.Location) []UseCheck {
	var cs []UseCheck
	add := func(name string, ok bool, detail, fix string) {
		cs = append(cs, UseCheck{Name: name, OK: ok, Detail: detail, Fix: fix})
	}
	switch err := CheckAutologous(l, p); {
	case err != nil:
		add("chain of identity", false, ErrorMessage(err),
			"STOP: FOR AUTOLOGOUS USE ONLY — only its source patient may receive it; quarantine the bag and report it")
	case l.Source == SourceRFib:
		add("chain of identity", true, fmt.Sprintf("autologous lot %s was made from %s's own cells", l.Number, p.MRN), "")
	default:
		add("chain of identity", true, fmt.Sprintf("allogeneic %s lot %s", l.Source.Product(), l.Number), "")
	}
	switch {
	case l.Status != Released:
		state := string(l.Status)
		if l.Status == Quarantine {
			state = "in quarantine"
		}
		add("lot released", false, fmt.Sprintf("lot %s is %s, not released", l.Number, state),
			"only a QA release makes its containers usable; do not use this bag — return it to the cell lab and ask QA")
	case l.Exceptional && l.RestrictedTo != p.ID:
		add("lot released", false, fmt.Sprintf("lot %s was released exceptionally for one named patient only, not %s", l.Number, p.MRN),
			"do not use it for anyone else")
	case l.Exceptional:
		add("lot released", true, fmt.Sprintf("lot %s released exceptionally for %s only", l.Number, p.MRN), "")
	default:
		add("lot released", true, fmt.Sprintf("lot %s is released", l.Number), "")
	}
	// The instant is printed where it falls: at the facility, or, when
	// the place of use's midnight comes first, there, saying so.
	exp, loc := l.Expiry(at...)
	where := ""
	if ZoneName(loc) != ZoneName(l.FacilityZone.Location()) {
		where = ", when its expiry date begins where it is used (" + ZoneName(loc) + ")"
	}
	if l.Expired(now, at...) {
		add("lot not expired", false, fmt.Sprintf("lot %s expired at %s%s", l.Number, FormatTimeIn(exp, loc), where), "do not use it — discard it with a reason")
	} else {
		add("lot not expired", true, fmt.Sprintf("lot %s expires %s%s", l.Number, FormatTimeIn(exp, loc), where), "")
	}
	return cs
}

// UsableFor reports whether every CheckLotUse rule passes.
func UsableFor(l Lot, p Patient, now time.Time, at ...*time.Location) bool {
	for _, c := range CheckLotUse(l, p, now, at...) {
		if !c.OK {
			return false
		}
	}
	return true
}

// CheckDispense checks the pure rules for handing container c of lot l to
// patient p at now: the custody state machine, then CheckUsable, with the
// zones of the place of use in at.
func CheckDispense(c Container, l Lot, p Patient, now time.Time, at ...*time.Location) error {
	if err := CheckMove(c, Dispensed); err != nil {
		return err
	}
	return CheckUsable(c, l, p, now, at...)
}

// CheckUsable returns the first failed CheckLotUse rule for container c as
// ECONFLICT, or nil when the lot may go to p at now.
func CheckUsable(c Container, l Lot, p Patient, now time.Time, at ...*time.Location) error {
	for _, u := range CheckLotUse(l, p, now, at...) {
		if !u.OK {
			return Errorf(ECONFLICT, "container %s: %s; %s", c.Label(), u.Detail, u.Fix)
		}
	}
	return nil
}

// CheckAutologous refuses giving an autologous rFib lot to anyone but the
// patient whose cells it holds (DOMAIN.md, chain of identity); a UC lot may
// go to anyone. It is the chain-of-identity rule of CheckLotUse, and of an
// exceptional release.
func CheckAutologous(l Lot, p Patient) error {
	if l.Source == SourceRFib && l.PatientID != p.ID {
		return Errorf(ECONFLICT, "lot %s holds autologous rFib cells of another patient, not %s (%s)", l.Number, p.MRN, p.Name)
	}
	return nil
}

// Thaw is what the person thawing a container measures.
type Thaw struct {
	At          time.Time // when it was thawed (UTC)
	Viability   Tenths    // post-thaw viability, 0.1 %
	ViableCells Cells     // post-thaw viable cell count in the container
}

// CheckThaw checks the post-thaw numbers against the container and the clock:
// viable cells cannot exceed the cells frozen, and a thaw is never in the
// future nor before the container's last custody event (lastMove), so the
// history stays in time order.
func CheckThaw(c Container, t Thaw, now, lastMove time.Time) error {
	if err := CheckMove(c, Thawed); err != nil {
		return err
	}
	if t.Viability <= 0 || t.Viability > 1000 {
		return FieldErrorf("viability", EINVALID, "the viability %s %% must be more than 0 and at most 100", t.Viability)
	}
	if t.ViableCells <= 0 {
		return FieldErrorf("viable-cells", EINVALID, "the viable cells are required: the post-thaw viable cell count of the whole container")
	}
	if t.ViableCells > c.Cells {
		return FieldErrorf("viable-cells", EINVALID, "the viable cells %s are more than the %s cells container %s was filled with; recount", t.ViableCells, c.Cells, c.Label())
	}
	// Viable cells are the cells counted after thaw × the viability, so
	// they cannot be far above the bag's cells × the viability: a count is
	// allowed 10 % above it (a cell count's own uncertainty; the bag's cell
	// number is the count made when it was filled), and the viability its
	// rounding (±0.05 %). 12 % viability with 9.1×10^7 viable cells of
	// 1×10^8 is a typo in one of the two, and refused.
	if int64(t.ViableCells)*20_000 > int64(c.Cells)*(2*int64(t.Viability)+1)*11 {
		return FieldErrorf("viable-cells", EINVALID, "the viable cells %s are more than 10 %% above container %s's %s cells × the viability %s %% = %s viable cells; recount the viable cells or check the viability",
			t.ViableCells, c.Label(), c.Cells, t.Viability, Cells(int64(c.Cells)*int64(t.Viability)/1000))
	}
	if err := CheckNotFuture("the thaw time", t.At, now); err != nil {
		return OnField("at", err)
	}
	if t.At.Before(lastMove) {
		return FieldErrorf("at", EINVALID, "the thaw time %s is before container %s was last moved (%s, %s); give the time it was actually thawed", FormatTime(t.At), c.Label(), c.State, FormatTime(lastMove))
	}
	return nil
}

// LocationAfter is where a container is once it has moved to state to, so
// that it never still shows a freezer position it has left: the freezer
// position given when stored; in transit, received, thawed, dispensed or
// returned at site (its site after the move); where it was (current) when
// quarantined; and nowhere once infused or discarded (the patient a bag
// was dispensed for is shown beside it, not in its location).
func LocationAfter(to ContainerState, current, position, site string) string {
	switch to {
	case Stored:
		return position
	case Shipped:
		return "in transit to " + site
	case Received:
		return "received at " + site
	case Thawed:
		return "thawed at " + site
	case Dispensed:
		return "dispensed at " + site
	case Returned:
		return "returned at " + site
	case Quarantined:
		return current
	}
	return "" // infused, discarded
}

// Move is one custody step requested for a container. Only the fields its
// state To needs are read.
type Move struct {
	To        ContainerState
	Location  string // stored: freezer and position
	Site      string // shipped: destination site; received: where it arrived
	Courier   string // shipped, optional
	Condition string // shipped: shipping condition; received: condition on arrival
	Excursion string // received: "yes", "no" or "" (not stated)
	Thaw      Thaw   // thawed
	Patient   string // dispensed: MRN
	Reason    string // discarded, quarantined, returned (required)
	// Seen, when set, is the container's state its form was shown with
	// (audit.SeenField): the move is refused when the container has
	// changed since. Nil asks for no such check.
	Seen *uint64 `json:",omitempty"`
}

// Validate checks the fields a move needs before anything is read or written.
func (m Move) Validate() error {
	if _, ok := moveVerb[m.To]; !ok {
		return Errorf(EINVALID, "%q is not a custody move", m.To)
	}
	if m.To == Infused {
		return Errorf(EINVALID, "an infusion is recorded by the bedside check (dosing), not as a custody move")
	}
	checks := []struct {
		field, words, value string
		required            bool
	}{
		{"location", "the storage location", m.Location, m.To == Stored},
		{"courier", "the courier", m.Courier, false},
		{"condition", "the condition", m.Condition, false},
		{"reason", "the reason", m.Reason, m.To == Discarded || m.To == Quarantined || m.To == Returned},
	}
	for _, ch := range checks {
		if err := ValidateText(ch.words, ch.value, ch.required); err != nil {
			return OnField(ch.field, err)
		}
	}
	switch m.To {
	case Shipped, Received:
		words := map[ContainerState]string{Shipped: "the destination site", Received: "the receiving site"}[m.To]
		if err := ValidateCode(words, m.Site); err != nil {
			return OnField(map[ContainerState]string{Shipped: "to", Received: "at"}[m.To], err)
		}
	case Dispensed:
		if err := ValidateCode("the patient's MRN", m.Patient); err != nil {
			return OnField("patient", err)
		}
	}
	if m.Excursion != "" && m.Excursion != "yes" && m.Excursion != "no" {
		return FieldErrorf("excursion", EINVALID, "the excursion %q must be yes or no: was the shipping temperature ever out of range?", m.Excursion)
	}
	return nil
}

// Site is a place that holds containers: the facility's own lab and the
// clinics it ships to. The first site added is the home site, where every
// container starts.
type Site struct {
	ID   uuid.UUID
	Code string // what staff type: LAB, CLINIC-2
	Name string
	Home bool
	// TZ is the site's IANA time zone (Asia/Shanghai); "" uses the
	// facility's. A patient treated here counts days in it.
	TZ        string
	CreatedAt time.Time
	CreatedBy string
}

// ZoneChange is what a change of a time zone did: Site is "" for the
// facility's zone, Old is "" when the site used the facility's, and
// ActiveCourses counts the courses under way that count days in it.
type ZoneChange struct {
	Site          string
	Old, New      string
	ActiveCourses int
}

// CustodyService moves containers along the chain of custody and keeps the
// sites they move between. ref names a container by its code or UUID. Moves
// return EFORBIDDEN when the actor's role may not make the move, EINVALID for
// a bad value, ECONFLICT when the state machine or a dispensing rule forbids
// it, and ENOTFOUND for an unknown container, site or patient.
type CustodyService interface {
	Store(actor, ref, location string) (Container, error)
	Ship(actor, ref string, m Move) (Container, error)
	Receive(actor, ref string, m Move) (Container, error)
	Thaw(actor, ref string, t Thaw) (Container, error)
	Dispense(actor, ref, mrn string) (Container, error)
	Discard(actor, ref, reason string) (Container, error)
	Return(actor, ref, reason string) (Container, error)
	Quarantine(actor, ref, reason string) (Container, error)
	// Move makes the move m.To with the values of m, as the methods above
	// do, and with m.Seen set refuses it (ECONFLICT) when the container
	// has changed since its form was shown (audit.SeenField).
	Move(actor, ref string, m Move) (Container, error)
	// History returns the container and its events, oldest first.
	History(ref string) (Container, []Event, error)

	AddSite(actor string, s Site) (Site, error)
	Sites() ([]Site, error)
	// SetSiteZone gives site code its own time zone, and SetFacilityZone
	// changes the facility's (admin; reason required): EINVALID for an
	// unknown zone, a blank reason or the zone already set, ENOTFOUND for an
	// unknown site.
	SetSiteZone(actor, code, zone, reason string) (ZoneChange, error)
	SetFacilityZone(actor, zone, reason string) (ZoneChange, error)
}

// ClockSkew is how far after celltrack's clock a time typed in may lie: the
// clocks of a ward PC and a wall differ by a few minutes, more is a typo.
const ClockSkew = 5 * time.Minute

// CheckNotFuture refuses a time more than ClockSkew after now, naming the
// field and the time — the one rule for thaws, weighings and infusions.
func CheckNotFuture(field string, t, now time.Time) error {
	if t.After(now.Add(ClockSkew)) {
		return Errorf(EINVALID, "%s %s is in the future (now is %s), more than the %d min ahead allowed for another device's clock; give the time it actually happened",
			field, FormatTime(t), FormatTime(now), int(ClockSkew/time.Minute))
	}
	return nil
}
