package web

import (
	"cmp"
	"strconv"
	"strings"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/dose"
	"github.com/celltrack/celltrack/lot"
)

// bags cleans the scanned or typed codes: one per entry or per line, blanks
// dropped. A code read as a container code — printed (G12342600000101),
// typed with spaces or its check character, or the label barcode's data
// (=G12342600000101) — is shown and passed on as the printed code, which
// is what the nurse compares with the label; anything else (a UUID, a
// mistyped code) is passed on as given, for the store to find or refuse.
func bags(in []string) []string {
	var out []string
	for _, s := range in {
		for _, line := range strings.Split(s, "\n") {
			c := strings.TrimSpace(line)
			if c == "" {
				continue
			}
			if din, n, err := lot.ParseContainerCode(c); err == nil {
				c = lot.ContainerCode(din, n)
			}
			out = append(out, c)
		}
	}
	return out
}

func (req CheckRequest) parse() (mrn string, refs []string, vol lot.Tenths, err error) {
	mrn = strings.TrimSpace(req.MRN)
	if mrn == "" {
		return "", nil, 0, lot.FieldErrorf("mrn", lot.EUSAGE, "MRN is empty; scan the patient's wristband or type the MRN")
	}
	refs = bags(req.Containers)
	if len(refs) == 0 {
		return "", nil, 0, lot.FieldErrorf("containers", lot.EUSAGE, "no bag code; scan the label of the bag in your hand or type its code")
	}
	if v := strings.TrimSpace(req.VolumeML); v != "" {
		if vol, err = dose.ParseVolume("volume (mL)", v); err != nil {
			return "", nil, 0, lot.OnField("volume_ml", err)
		}
	}
	return mrn, refs, vol, nil
}

// check runs the bedside check, read only, as `dose check` does.
func (s *Server) check(req CheckRequest) (dose.Report, error) {
	mrn, refs, vol, err := req.parse()
	if err != nil {
		return dose.Report{}, err
	}
	return s.cfg.Doses.Check(mrn, refs, vol)
}

// administer records an infusion as `dose administer` does: a nurse who
// may not administer, and a witness who is the nurse, are refused before
// any password is checked; then the bedside check, against the dose the
// signers were shown (a NO-GO is said before any password is checked or
// counted); then both passwords, each with its signature's meaning — the
// witness's as a co-signature (Users.CoSigner: an unknown name and a wrong
// password get one answer, and only the witness's right password says the
// account is disabled, locked or may not witness); then the store re-runs
// the whole check in its writing transaction and writes nothing on NO-GO.
// The passwords are checked under the login's limits of addr (the
// request's) and the witness's name (limitedCoSign).
func (s *Server) administer(addr string, nurse audit.User, req AdministerRequest) (dose.Infusion, dose.Report, error) {
	mrn, refs, vol, err := req.CheckRequest.parse()
	if err != nil {
		return dose.Infusion{}, dose.Report{}, err
	}
	a := dose.Administration{MRN: mrn, Containers: refs, Volume: vol}
	if st := strings.TrimSpace(req.Start); st != "" {
		if a.Start, err = lot.ParseTime("start", st); err != nil {
			return dose.Infusion{}, dose.Report{}, lot.OnField("start", err)
		}
	}
	// A user who may not administer is refused first (403); then a
	// witness who is the nurse. Nothing else is said of the witness before
	// the witness's password.
	if err := audit.Authorize(nurse, audit.DoseAdminister); err != nil {
		return dose.Infusion{}, dose.Report{}, err
	}
	witness := strings.TrimSpace(req.Witness)
	if err := dose.CheckWitnessName(nurse, witness); err != nil {
		return dose.Infusion{}, dose.Report{}, err
	}
	if req.SignersOnly {
		return dose.Infusion{}, dose.Report{}, nil
	}
	if a.Shown, err = req.shown(); err != nil {
		return dose.Infusion{}, dose.Report{}, err
	}
	if rep, err := s.cfg.Doses.CheckAdministration(a); err != nil || rep.Err() != nil {
		return dose.Infusion{}, rep, cmp.Or(err, rep.Err())
	}
	if req.Password == "" || req.WitnessPassword == "" {
		return dose.Infusion{}, dose.Report{}, lot.Errorf(lot.EUSAGE, "both passwords are needed: the nurse's and the witness's; nothing was signed")
	}
	var n, w audit.User
	err = s.limitedCoSign(addr, "witness", witness, func() (err error) {
		if n, err = s.cfg.Users.Authenticate(nurse.Name, req.Password, dose.MeaningAdminister); err != nil {
			return err
		}
		w, err = s.cfg.Users.CoSigner("witness", witness, req.WitnessPassword, dose.MeaningWitness)
		return err
	})
	if err != nil {
		return dose.Infusion{}, dose.Report{}, err
	}
	return s.cfg.Doses.Administer(n, w, a)
}

// shown is the dose the signers were shown, which the page and the API
// must carry: neither signs a dose nobody saw.
func (req AdministerRequest) shown() (dose.Shown, error) {
	if req.Shown == nil && req.noShown != nil {
		return dose.Shown{}, req.noShown
	}
	if req.Shown == nil {
		return dose.ShownView{}.Parse("shown")
	}
	return req.Shown.Parse("shown")
}

func trim(s string) string { return strings.TrimSpace(s) }

// ReactionRequest is the body of POST /api/v1/dose/reaction: an adverse
// reaction to an infusion (its ID), a CTCAE grade 1–5 and what happened.
//
// With Corrects (the number of a reaction of the infusion) it records a
// correction of that reaction, and with Void it voids one without a
// replacement; both need a Reason, as `dose reaction --corrects/--void`.
//
// Known, optional with a new reaction, is how many of the infusion's
// reactions the form it was entered on knew of (dose.NewReaction): a
// reaction recorded since refuses it (409, field "known"), so that a
// form sent twice records once.
type ReactionRequest struct {
	Infusion string `json:"infusion"`
	Grade    int    `json:"grade,omitempty"`
	Text     string `json:"text,omitempty"`
	Known    *int   `json:"known,omitempty"`
	Corrects *int   `json:"corrects,omitempty"`
	Void     *int   `json:"void,omitempty"`
	Reason   string `json:"reason,omitempty"`
}

// parseGrade reads the grade chosen on the page.
func parseGrade(s string) (int, error) {
	g, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return 0, lot.Errorf(lot.EINVALID, "grade %q is not a number; choose the CTCAE grade 1–5", s)
	}
	return g, nil
}

// reaction records a reaction as the acting user, as `dose reaction` does.
func (s *Server) reaction(u audit.User, req ReactionRequest) (dose.Reaction, error) {
	infusion := strings.TrimSpace(req.Infusion)
	switch {
	case req.Void != nil && (req.Corrects != nil || req.Grade != 0 || req.Text != ""):
		return dose.Reaction{}, lot.Errorf(lot.EUSAGE, "void voids a reaction without a replacement; grade, text and corrects do not apply (use corrects to replace it)")
	case req.Known != nil && (req.Void != nil || req.Corrects != nil):
		return dose.Reaction{}, knownOnlyNew()
	case req.Void != nil:
		return s.cfg.Doses.VoidReaction(u.Name, infusion, *req.Void, req.Reason)
	case req.Corrects != nil:
		return s.cfg.Doses.CorrectReaction(u.Name, infusion, *req.Corrects, req.Grade, req.Text, req.Reason)
	case req.Reason != "":
		return dose.Reaction{}, lot.Errorf(lot.EINVALID, "reason is for a correction or a void; give corrects or void too, or leave reason out")
	}
	return s.cfg.Doses.RecordReaction(u.Name, dose.NewReaction{Infusion: infusion, Grade: req.Grade, Text: req.Text, Known: req.Known})
}
