package web

import (
	"net/http"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/release"
)

// The lots and release calls of the API answer with the views that the
// command line's --json prints (lot.ViewLot, release.ViewResult, …).

// apiLots is `lot list --json`, with ?status= and ?source=.
func (s *Server) apiLots(w http.ResponseWriter, r *http.Request, u audit.User) error {
	ls, err := s.lots(u, r.URL.Query(), 0) // every lot, as `lot list --json`
	if err != nil {
		return err
	}
	views := []map[string]any{}
	for _, l := range ls {
		views = append(views, lot.ViewLot(l, s.cfg.Now(), s.restrictedTo(l)))
	}
	writeJSON(w, http.StatusOK, views)
	return nil
}

// readLot finds the lot of the path for a user who may read.
func (s *Server) readLot(u audit.User, r *http.Request) (lot.Lot, error) {
	if err := audit.AuthorizeRead(u); err != nil {
		return lot.Lot{}, err
	}
	ref := r.PathValue("ref")
	if err := lot.ValidateText("lot", ref, true); err != nil {
		return lot.Lot{}, err
	}
	return s.cfg.Lots.Lot(trim(ref))
}

// apiLot is `lot show --json`: the lot and its containers.
func (s *Server) apiLot(w http.ResponseWriter, r *http.Request, u audit.User) error {
	l, err := s.readLot(u, r)
	if err != nil {
		return err
	}
	cs, err := s.cfg.Lots.Containers(l.ID.String())
	if err != nil {
		return err
	}
	v := lot.ViewLot(l, s.cfg.Now(), s.restrictedTo(l))
	cv := []map[string]any{}
	for _, c := range cs {
		cv = append(cv, lot.ViewContainer(c, s.patientMRN))
	}
	v["containers"] = cv
	writeJSON(w, http.StatusOK, v)
	return nil
}

// apiResults is `release results --json`.
func (s *Server) apiResults(w http.ResponseWriter, r *http.Request, u audit.User) error {
	l, err := s.readLot(u, r)
	if err != nil {
		return err
	}
	rs, err := s.cfg.Releases.Results(l.ID.String())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, release.ViewResults(rs))
	return nil
}

// apiEvaluation is `release evaluate --json` (?spec=NAME[@VERSION]): 200
// with "pass" false when the lot does not conform — the evaluation is the
// answer; approving it is what is refused.
func (s *Server) apiEvaluation(w http.ResponseWriter, r *http.Request, u audit.User) error {
	l, err := s.readLot(u, r)
	if err != nil {
		return err
	}
	ev, err := s.cfg.Releases.Evaluate(l.ID.String(), trim(r.URL.Query().Get("spec")))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ev)
	return nil
}

// apiHistory is `release history --json`.
func (s *Server) apiHistory(w http.ResponseWriter, r *http.Request, u audit.User) error {
	l, err := s.readLot(u, r)
	if err != nil {
		return err
	}
	ds, err := s.cfg.Releases.Dispositions(l.ID.String())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, release.ViewDispositions(ds))
	return nil
}

// apiRecordResult is `release result --json`: 201 with the result and the
// lots sent back to quarantine by it.
func (s *Server) apiRecordResult(w http.ResponseWriter, r *http.Request, u audit.User) error {
	// A role that may not is refused before the body is read.
	if err := audit.Authorize(u, audit.ReleaseResult); err != nil {
		return err
	}
	var req ResultRequest
	if err := decode(r, &req); err != nil {
		return s.bodyError(w, err)
	}
	res, rq, err := s.recordResult(u, r.PathValue("ref"), req)
	if err != nil {
		return err
	}
	if rq == nil {
		rq = []release.Requarantine{}
	}
	writeJSON(w, http.StatusCreated, map[string]any{"result": release.ViewResult(res), "requarantined": rq})
	return nil
}

// apiApprove is `release approve --json`, an exceptional release's
// (--exception, with the physician's co-signature) included: 201 with the
// signed disposition.
func (s *Server) apiApprove(w http.ResponseWriter, r *http.Request, u audit.User) error {
	// A role that may not is refused before the body is read.
	if err := audit.Authorize(u, audit.ReleaseApprove); err != nil {
		return err
	}
	var req ApproveRequest
	if err := decode(r, &req); err != nil {
		return s.bodyError(w, err)
	}
	d, err := s.approve(clientAddr(r), u, r.PathValue("ref"), req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, release.ViewDisposition(d))
	return nil
}

// apiReject is `release reject --json`: 201 with the signed disposition.
func (s *Server) apiReject(w http.ResponseWriter, r *http.Request, u audit.User) error {
	// A role that may not is refused before the body is read.
	if err := audit.Authorize(u, audit.ReleaseReject); err != nil {
		return err
	}
	var req RejectRequest
	if err := decode(r, &req); err != nil {
		return s.bodyError(w, err)
	}
	d, err := s.reject(u, r.PathValue("ref"), req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, release.ViewDisposition(d))
	return nil
}

// bodyError answers a body that could not be decoded: 413 when it was too
// large, else the error goes back to the caller to answer.
func (s *Server) bodyError(w http.ResponseWriter, err error) error {
	if isTooLarge(err) {
		writeAPIError(w, http.StatusRequestEntityTooLarge, err)
		return nil
	}
	return err
}
