package lot

import (
	"errors"
	"fmt"
)

// Error codes shared by every celltrack package. A code says what kind of
// refusal it is, so that the command line can map it to an exit code and a
// script can branch on it; the message says what was wrong and what to do.
const (
	EINVALID   = "invalid"   // a value is malformed or outside its range
	EFORBIDDEN = "forbidden" // the acting user's role may not do this
	ECONFLICT  = "conflict"  // the record's state does not allow this now
	ENOTFOUND  = "not_found" // the named record does not exist
	ENOGO      = "no_go"     // a bedside check failed: do not infuse
	EAUTH      = "auth"      // a password or signature was refused
	EUSAGE     = "usage"     // the command line itself is malformed
	ESESSION   = "session"   // no live login session: log in again
	// EPASSWORD: the password is right but must be changed before
	// anything else (a one-time password an admin set, the first one or
	// a reset, or older than the facility allows); no session is opened
	// until it is.
	EPASSWORD = "password_change"
	ENODB     = "no_database"
	EBUSY     = "busy" // another process holds the database lock
	EINTERNAL = "internal"
	// EUNKNOWN: through a server, a write was sent but its answer was
	// lost: it may or may not have been recorded.
	EUNKNOWN = "outcome_unknown"
)

// Error is a refusal written for the person at the keyboard. Code is one of
// the E* constants; Message names the field in a person's words, the bad
// value and what to do, never a front end's syntax (a flag, a form, a
// command). Field, when the message is about one input, names that input
// for programs ("mrn", "start", "db", "lock-timeout"): the command line
// adds its flag for it, the web its form field. Command, when a celltrack
// command does the fix the message words ("run the full check", "log in
// again"), is that command as typed after "celltrack" ("check", "login
// alice", "schedule show MRN"), like the bedside check's Result.Command:
// the command line prints it after the message, the API answers it as
// "command", and a web page shows the message alone.
type Error struct {
	Code    string
	Message string
	Field   string
	Command string
	// err is the error Wrapf said more about: its Unwrap.
	err error
}

// Error returns the message.
func (e *Error) Error() string { return e.Message }

// Unwrap returns the error e says more about (Wrapf), or nil.
func (e *Error) Unwrap() error { return e.err }

// Wrapf returns an *Error that says more about err: its message is the
// formatted one (which words err's own, ErrorMessage), and its code, field
// and command are err's when err is an *Error, code otherwise. A message
// rebuilt from another refusal so keeps what a script branches on, the
// input a front end points to and the command that does the fix; err stays
// in the chain (errors.Is and As find it).
func Wrapf(err error, code, format string, args ...any) *Error {
	w := &Error{Code: code, Message: fmt.Sprintf(format, args...), err: err}
	var e *Error
	if errors.As(err, &e) {
		w.Code, w.Field, w.Command = e.Code, e.Field, e.Command
	}
	return w
}

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// FieldErrorf returns an *Error about the input field, with the given code
// and a formatted message.
func FieldErrorf(field, code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Field: field}
}

// Run returns e with Command set to command: the celltrack command that
// does the fix e's message words.
func (e *Error) Run(command string) *Error {
	e.Command = command
	return e
}

// OnField returns err with Field set to field when err is an *Error that
// names no field yet: a check worded for any caller (ValidateText, say)
// is then tied to the input it checked. Any other err is returned as is.
func OnField(field string, err error) error {
	var e *Error
	if errors.As(err, &e) && e.Field == "" {
		return &Error{Code: e.Code, Message: e.Message, Field: field, Command: e.Command, err: e.err}
	}
	return err
}

// ErrorField returns the Field of the first *Error in err's chain, or "".
func ErrorField(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Field
	}
	return ""
}

// ErrorCommand returns the Command of the first *Error in err's chain, or "".
func ErrorCommand(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Command
	}
	return ""
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL for
// any other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the message of the first *Error in err's chain, or a
// generic message that still carries err's text for anything else.
func ErrorMessage(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Message
	}
	return "internal error: " + err.Error()
}
