package main

import (
	"strings"

	"github.com/celltrack/celltrack/lot"
)

// flagHints words, for the command line, the input a refusal is about
// (lot.Error's Field): the domain and the store name the field in a
// person's words and leave the flag, the environment variable and the
// command to run to the front end. A field not listed is its own flag,
// --FIELD; one listed as "" is no flag (the MRN is the argument of
// `patient add` and `dose check`), and the message alone words it. A
// command that takes a field otherwise says so in commandHints.
var flagHints = map[string]string{
	"mrn":            "",
	"db":             "--db or CELLTRACK_DB",
	"user":           "--user NAME or CELLTRACK_USER",
	"infusion":       "--infusion; `celltrack schedule show MRN` lists them",
	"patient-mrn":    "--patient MRN",
	"co-signer":      "--physician NAME, and the physician's password as the second line",
	"verifier-key":   "--verifier; `celltrack audit key init` makes a new key pair",
	"verifier-file":  "--verifier-file; `celltrack audit key init` makes a new key pair",
	"password-stdin": "--password-stdin, the new password as a second line",
	"allow-rollback": `--allow-rollback --reason "…"`,
	"checkpoint":     `--checkpoint FOLDER, or --allow-rollback --reason "…"`,
}

// commandHints words the fields that a command takes otherwise than
// flagHints says, by the command's name after "celltrack": as its
// argument ("", the message alone words it) or under another flag. The
// bedside check's bags are the field "containers" (the page's box and the
// API's key) but --container, one a bag, on the command line; `lot add
// --containers` is a count. The MRN is the argument of most commands and
// the right MRN of `patient correct`.
var commandHints = map[string]map[string]string{
	"dose check":      {"mrn": "", "containers": "--container CODE"},
	"dose administer": {"mrn": "", "containers": "--container CODE"},
	"dose calc":       {"mrn": "", "containers": "--container CODE"},
	"patient correct": {"mrn": "--mrn"},
	// The weight a confirmation names is its value on the command line.
	"dose confirm-weight": {"weight": "--kg"},
}

// flagHint is the flag (or variable, or command) that gives the input
// field to command (its name after "celltrack", or "" when not known), as
// commandHints or flagHints words it, or "" when the refusal names no
// field.
func flagHint(command, field string) string {
	if field == "" {
		return ""
	}
	if h, ok := commandHints[command][field]; ok {
		return h
	}
	if h, ok := flagHints[field]; ok {
		return h
	}
	return "--" + field
}

// worded is err's message as the command line prints it after command
// (flagHint): with errorHint's flag and command in brackets after it.
func worded(command string, err error) string {
	msg := lot.ErrorMessage(err)
	if hint := errorHint(command, lot.ErrorField(err), lot.ErrorCommand(err)); hint != "" {
		msg += " (" + hint + ")"
	}
	return msg
}

// errorHint is what the command line adds to a refusal's message from
// the command ran: the flag of its input field (flagHint) and the
// celltrack command that does the fix the message words (lot.Error's
// Command), which the rules and the store leave to the front end. A
// command the flag's hint already names is not repeated.
func errorHint(ran, field, command string) string {
	var hints []string
	h := flagHint(ran, field)
	if h != "" {
		hints = append(hints, h)
	}
	if command != "" && !strings.Contains(h, "`celltrack "+command+"`") {
		hints = append(hints, "`celltrack "+command+"`")
	}
	return strings.Join(hints, "; ")
}
