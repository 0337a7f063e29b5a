package web

import (
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/release"
)

// Two things a page form sent from a browser can be that the person who
// sends it did not mean, beside what its fields say:
//
//   - sent under another user: one browser has one cookie, so a form shown
//     to liu and sent after pat logged in in another tab would record as pat.
//     Every state-changing page form carries whom it was shown to (formFor;
//     the forms that ask a password use formSigner), and is refused (409)
//     under anyone else, before anything is looked at.
//   - sent again: a second click, a refresh of the answer page or the Back
//     button sends the same form once more. Where the store would record
//     the same thing twice (a QC result, a label print, a password reset) or
//     count it against a person (a password change: the current password it
//     carries is the old one once the change is made), the form carries the
//     state it was shown with (shownField) and is refused (409) when that has
//     moved on. A deliberate second action (a reprint, a retest) is sent from
//     the page as it is now, which shows the new state. The forms whose
//     second send the store refuses by state (a custody move, unlock,
//     disable, enable, a registration under a number already taken) need
//     nothing more.

// formFor is formShownTo for a page form that records as the session's user
// without asking a password. A role that may not do act is refused for that
// first (403), as without the form.
func formFor(f url.Values, u audit.User, act audit.Action) error {
	if audit.Authorize(u, act) != nil {
		return nil
	}
	return formShownTo(f, u, "whom it was shown to", "nothing was recorded", "send it from there")
}

// shownField is the hidden input that carries the state a form was shown
// with, in the words of the form: the labels printed so far, the last QC
// result, when a password was last set.
const shownField = "shown"

// formStale refuses a form whose shownField is not now, the state the form
// would be shown with now: moved says, in a 409, what happened since and
// what to do. A form that carries no state is one made by hand or one from
// before the forms carried it: it is refused too (400), as its state cannot
// be told.
func formStale(f url.Values, now string, moved func(shown string) error) error {
	switch shown := strings.TrimSpace(f.Get(shownField)); shown {
	case now:
		return nil
	case "":
		return lot.FieldErrorf(shownField, lot.EUSAGE, "this form does not say what the page showed when it was opened, so a second send of it cannot be told from the first; nothing was done — open the page again and send the form from there")
	default:
		return moved(shown)
	}
}

// resendWords end every refusal of a form sent again.
const resendWords = "a form sent again (a second click, a refresh or the Back button) does nothing the second time, and nothing was done now"

// printedOf is the number of labels printed for counts, as the forms carry it.
func printedOf(counts []lot.LabelCount) string {
	var n lot.LabelCount
	for _, c := range counts {
		n = n.Add(c)
	}
	return strconv.Itoa(n.Printed)
}

// labelsStale refuses a print form shown when a different number of labels
// of what (the lot or the container) had been printed than now.
func labelsStale(f url.Values, what string, counts []lot.LabelCount) error {
	now := printedOf(counts)
	return formStale(f, now, func(shown string) error {
		return lot.FieldErrorf(shownField, lot.ECONFLICT, "labels of %s were printed after this page was shown (it showed %s printed, %s are now): %s. To print them again (a reprint), use the print button on the page below, which shows the labels printed so far",
			what, shown, now, resendWords)
	})
}

// lastResult is the number of the newest QC result of rs, 0 for none: what
// the result form carries.
func lastResult(rs []release.Result) (release.Result, string) {
	var last release.Result
	for _, r := range rs {
		if r.Seq > last.Seq {
			last = r
		}
	}
	return last, strconv.Itoa(last.Seq)
}

// resultStale refuses a QC result form shown before the newest result of
// rs was recorded.
func resultStale(f url.Values, number string, rs []release.Result) error {
	last, now := lastResult(rs)
	return formStale(f, now, func(string) error {
		return lot.FieldErrorf(shownField, lot.ECONFLICT, "QC result #%d of lot %s (%s %s, by %s) was recorded after this form was shown: %s. If this is another result (a retest), record it with the form below",
			last.Seq, number, last.Assay, last.Display(), last.RecordedBy, resendWords)
	})
}

// passwordSet is when u's password was last set, as the forms carry it.
func passwordSet(u audit.User) string {
	return u.PasswordChanged.UTC().Format(time.RFC3339Nano)
}

// passwordStale refuses a form that sets u's password (their own change, or
// an admin's reset) shown before the password was last set. own: the form is
// u's own change, whose current password is the one it replaced.
func passwordStale(f url.Values, u audit.User, own bool) error {
	return formStale(f, passwordSet(u), func(string) error {
		if own {
			return lot.FieldErrorf(shownField, lot.ECONFLICT, "the password of %s was changed at %s, after this form was shown: %s — the password it carries was not checked, and nothing was counted against %s. To change it again, use the form below with the password in use now",
				u.Name, lot.FormatTime(u.PasswordChanged), resendWords, u.Name)
		}
		return lot.FieldErrorf(shownField, lot.ECONFLICT, "the password of %s was set at %s (a reset or its owner's change), after this form was shown: %s. To reset it again, use the form on the page below",
			u.Name, lot.FormatTime(u.PasswordChanged), resendWords)
	})
}

// account is the user called name as the accounts list has it now.
func (s *Server) account(name string) (audit.User, error) {
	us, err := s.cfg.Accounts.Users()
	if err != nil {
		return audit.User{}, err
	}
	for _, u := range us {
		if u.Name == name {
			return u, nil
		}
	}
	return audit.User{}, lot.Errorf(lot.ENOTFOUND, "no user %s; the accounts page lists every user", name)
}
