package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// hostile is one bad input: the command line (after `celltrack --db DB`), its
// standard input and files, the documented exit code, and substrings the
// message must contain — the field and the bad value. "$DIR/" in an argument
// is the case's directory, where files are written; "$DB" the database file.
type hostile struct {
	name  string
	code  int
	args  []string
	want  []string
	stdin string
	files map[string]string
	// base names the starting database (accessBases); "" is the lab fixture.
	base string
}

var (
	lotUC = []string{"--user", "liu", "lot", "register", "--source", "uc", "--donor", "D-0001", "--viability", "94.5",
		"--volume-ml", "250", "--manufactured", "2026-11-10", "--expires", "2027-11-10"}
	csvHeader = "lot_number,source,donor,patient,cells,viability,volume_ml,manufactured,expires,passage,cryopreserved,location\n"
	csvGood   = "LOT-I-1,uc,D-0001,,2.5e9,94.5,250,2026-11-10,2027-11-10,4,,LN2-B\n"
)

// with returns base followed by more, without sharing base's array.
func with(base []string, more ...string) []string {
	return append(append([]string(nil), base...), more...)
}

func weigh(more ...string) []string {
	return with([]string{"--user", "nina", "patient", "weigh"}, more...)
}

func regUC(more ...string) []string { return with(lotUC, more...) }

// regWith is a uc registration with one flag replaced.
func regWith(flag, value string, more ...string) []string {
	var out []string
	for i := 0; i < len(lotUC); i++ {
		if lotUC[i] == flag {
			i++
			continue
		}
		out = append(out, lotUC[i])
	}
	return append(append(out, flag, value), more...)
}

func patientCorrect(more ...string) []string {
	return with([]string{"--user", "nina", "patient", "correct"}, more...)
}

func donorCorrect(more ...string) []string {
	return with([]string{"--user", "liu", "donor", "correct"}, more...)
}

func patientAdd(more ...string) []string {
	return with([]string{"--user", "pat", "patient", "add"}, more...)
}

func donorAdd(more ...string) []string {
	return with([]string{"--user", "liu", "donor", "add"}, more...)
}

// react is `dose reaction` on the infused base's infusion, as nurse nina.
func react(more ...string) []string {
	return with([]string{"--user", "nina", "dose", "reaction", "--infusion", "$INFUSION"}, more...)
}

func split(more ...string) []string { return with([]string{"--user", "liu", "lot", "split"}, more...) }

func importCSV(body string, want ...string) hostile {
	return hostile{code: 3, args: []string{"--user", "liu", "lot", "import", "--csv", "$DIR/in.csv"}, want: want,
		files: map[string]string{"in.csv": body}}
}

var hostileCatalogue = []hostile{
	// patient weigh: wrong types, units and ranges
	{name: "weight not a number", code: 3, args: weigh("--kg", "abc", "MRN-1001"), want: []string{"--kg", `"abc"`}},
	{name: "weight in grams", code: 3, args: weigh("--kg", "62000", "MRN-1001"), want: []string{"--kg", "62000", "outside"}},
	{name: "weight with unit", code: 3, args: weigh("--kg", "62kg", "MRN-1001"), want: []string{"--kg", "62kg"}},
	{name: "weight with comma", code: 3, args: weigh("--kg", "62,5", "MRN-1001"), want: []string{"--kg", "62,5"}},
	{name: "weight zero", code: 3, args: weigh("--kg", "0", "MRN-1001"), want: []string{"--kg", "0", "outside"}},
	{name: "weight negative", code: 3, args: weigh("--kg=-62", "MRN-1001"), want: []string{"--kg", "-62"}},
	{name: "weight in tonnes", code: 3, args: weigh("--kg", "0.062", "MRN-1001"), want: []string{"--kg", "0.062", "outside"}},
	{name: "weight finer than 10 g", code: 3, args: weigh("--kg", "62.055", "MRN-1001"), want: []string{"--kg", "62.055", "more than 2 decimal places"}},
	{name: "weight finer than 10 g past trailing zeros", code: 3, args: weigh("--kg", "62.0501", "MRN-1001"), want: []string{"--kg", "62.0501", "0.01 kg"}},
	{name: "weight 620 kg", code: 3, args: weigh("--kg", "620", "MRN-1001"), want: []string{"--kg", "620", "outside"}},
	{name: "weight NaN", code: 3, args: weigh("--kg", "NaN", "MRN-1001"), want: []string{"--kg", "NaN"}},
	{name: "weight Inf", code: 3, args: weigh("--kg", "Inf", "MRN-1001"), want: []string{"--kg", "Inf"}},
	{name: "weight exponent", code: 3, args: weigh("--kg", "6.2e1", "MRN-1001"), want: []string{"--kg", "6.2e1"}},
	{name: "weight too many decimals", code: 3, args: weigh("--kg", "62.12345", "MRN-1001"), want: []string{"--kg", "62.12345"}},
	{name: "weight empty", code: 3, args: weigh("--kg", "", "MRN-1001"), want: []string{"--kg"}},
	{name: "weight impossible time", code: 3, args: weigh("--kg", "62", "--at", "2026-13-01T08:00Z", "MRN-1001"), want: []string{"--at", "2026-13-01T08:00Z"}},
	{name: "weight time without zone", code: 3, args: weigh("--kg", "62", "--at", "2026-11-25T08:00", "MRN-1001"), want: []string{"--at", "2026-11-25T08:00", "zone"}},
	{name: "weight time a bare date", code: 3, args: weigh("--kg", "62", "--at", "2026-11-25", "MRN-1001"), want: []string{"--at", "2026-11-25", "without a time"}},
	{name: "weight time in words", code: 3, args: weigh("--kg", "62", "--at", "yesterday", "MRN-1001"), want: []string{"--at", "yesterday"}},
	{name: "weight time US format", code: 3, args: weigh("--kg", "62", "--at", "11/25/2026", "MRN-1001"), want: []string{"--at", "11/25/2026"}},
	{name: "weight time Feb 30", code: 3, args: weigh("--kg", "62", "--at", "2026-02-30T08:00Z", "MRN-1001"), want: []string{"--at", "2026-02-30T08:00Z"}},
	{name: "weight unknown MRN", code: 5, args: weigh("--kg", "62", "MRN-9999"), want: []string{"MRN-9999"}},
	{name: "weight MRN typo lower case", code: 5, args: weigh("--kg", "62", "mrn-1009"), want: []string{"mrn-1009"}}, // mrn-1001 is MRN-1001 (patient_mrn_letter_case_finds_the_patient)
	{name: "weight flag after MRN", code: 2, args: weigh("MRN-1001", "--kg", "62"), want: []string{"--kg", "MRN-1001"}},
	{name: "weight missing --kg", code: 2, args: weigh("MRN-1001"), want: []string{"--kg"}},
	{name: "weight missing MRN", code: 2, args: weigh("--kg", "62"), want: []string{"MRN"}},
	{name: "weight two MRNs", code: 2, args: weigh("--kg", "62", "MRN-1001", "MRN-2001"), want: []string{"MRN-1001 MRN-2001"}},
	{name: "weight unknown flag", code: 2, args: weigh("--lbs", "136", "MRN-1001"), want: []string{"lbs"}},
	{name: "weight by the session's auditor", code: 3, args: []string{"patient", "weigh", "--kg", "62", "MRN-1001"}, want: []string{"aud", "patient.weigh"}},
	{name: "weight by someone not logged in", code: 2, args: with([]string{"--user", "ghost"}, "patient", "weigh", "--kg", "62", "MRN-1001"), want: []string{"not logged in"}},

	// patient add
	{name: "patient impossible birth date", code: 3, args: patientAdd("--name", "A B", "--born", "1984-02-30", "--sex", "F", "MRN-3001"), want: []string{"--born", "1984-02-30"}},
	{name: "patient birth date European", code: 3, args: patientAdd("--name", "A B", "--born", "09.03.1984", "--sex", "F", "MRN-3001"), want: []string{"--born", "09.03.1984"}},
	{name: "patient birth date compact", code: 3, args: patientAdd("--name", "A B", "--born", "19840309", "--sex", "F", "MRN-3001"), want: []string{"--born", "19840309"}},
	{name: "patient born in the future", code: 3, args: patientAdd("--name", "A B", "--born", "2030-01-01", "--sex", "F", "MRN-3001"), want: []string{"--born", "2030-01-01"}},
	{name: "patient unknown sex", code: 3, args: patientAdd("--name", "A B", "--born", "1984-03-09", "--sex", "Q", "MRN-3001"), want: []string{"sex", `"Q"`}},
	{name: "patient duplicate MRN", code: 3, args: patientAdd("--name", "A B", "--born", "1984-03-09", "--sex", "F", "MRN-1001"), want: []string{"MRN-1001"}},
	{name: "patient MRN differs only in case", code: 3, args: patientAdd("--name", "A B", "--born", "1984-03-09", "--sex", "F", "mrn-1001"), want: []string{"mrn-1001", "MRN-1001", "letter case"}},
	{name: "patient MRN with space", code: 3, args: patientAdd("--name", "A B", "--born", "1984-03-09", "--sex", "F", "MRN 3001"), want: []string{"MRN 3001"}},
	{name: "patient MRN too long", code: 3, args: patientAdd("--name", "A B", "--born", "1984-03-09", "--sex", "F", strings.Repeat("M", 41)), want: []string{strings.Repeat("M", 41), "at most 40"}},
	{name: "patient name oversized", code: 3, args: patientAdd("--name", strings.Repeat("n", 201), "--born", "1984-03-09", "--sex", "F", "MRN-3001"), want: []string{"--name", "201 characters"}},
	{name: "patient name not UTF-8", code: 3, args: patientAdd("--name", "Mei \xff\xfe", "--born", "1984-03-09", "--sex", "F", "MRN-3001"), want: []string{"--name", "not UTF-8"}},
	{name: "patient name control character", code: 3, args: patientAdd("--name", "Mei\x1bChen", "--born", "1984-03-09", "--sex", "F", "MRN-3001"), want: []string{"--name", `\x1b`}},
	{name: "patient name blank", code: 3, args: patientAdd("--name", "   ", "--born", "1984-03-09", "--sex", "F", "MRN-3001"), want: []string{"--name", "required"}},
	{name: "patient missing --name", code: 2, args: patientAdd("--born", "1984-03-09", "--sex", "F", "MRN-3001"), want: []string{"--name"}},
	{name: "patient MRN non-UTF-8", code: 3, args: patientAdd("--name", "A B", "--born", "1984-03-09", "--sex", "F", "MRN-\xff"), want: []string{"MRN"}},
	{name: "patient flag after MRN", code: 2, args: patientAdd("--name", "A B", "--born", "1984-03-09", "MRN-3001", "--sex", "F"), want: []string{"--sex", "MRN-3001"}},
	{name: "patient added by lab", code: 3, args: []string{"--user", "liu", "patient", "add", "--name", "A B", "--born", "1984-03-09", "--sex", "F", "MRN-3001"}, want: []string{"liu", "lab", "patient.add"}},

	// patient correct / donor correct (issue 12)
	{name: "patient correct blank reason", code: 3, args: patientCorrect("--name", "Mei Chan", "--reason", " ", "MRN-1001"), want: []string{"--reason", "required"}},
	{name: "patient correct missing --reason", code: 2, args: patientCorrect("--name", "Mei Chan", "MRN-1001"), want: []string{"reason"}},
	{name: "patient correct nothing given", code: 3, args: patientCorrect("--reason", "typo", "MRN-1001"), want: []string{"nothing to correct", "the MRN", "the name"}},
	{name: "patient correct same name", code: 3, args: patientCorrect("--name", "Mei Chen", "--reason", "typo", "MRN-1001"), want: []string{"--name", `"Mei Chen"`, "already"}},
	{name: "patient correct to another patient's MRN", code: 3, args: patientCorrect("--mrn", "MRN-2001", "--reason", "typo", "MRN-1001"), want: []string{"the MRN MRN-2001", "another patient"}},
	{name: "patient correct to another patient's MRN in lower case", code: 3, args: patientCorrect("--mrn", "mrn-2001", "--reason", "typo", "MRN-1001"), want: []string{"the MRN mrn-2001", "letter case"}},
	{name: "patient correct MRN with a space", code: 3, args: patientCorrect("--mrn", "MRN 1010", "--reason", "typo", "MRN-1001"), want: []string{"the MRN", "MRN 1010"}},
	{name: "patient correct born 30 February", code: 3, args: patientCorrect("--born", "1984-02-30", "--reason", "typo", "MRN-1001"), want: []string{"--born", "1984-02-30"}},
	{name: "patient correct born in the future", code: 3, args: patientCorrect("--born", "2030-01-01", "--reason", "typo", "MRN-1001"), want: []string{"--born", "2030-01-01", "future"}},
	{name: "patient correct sex Q", code: 3, args: patientCorrect("--sex", "Q", "--reason", "typo", "MRN-1001"), want: []string{"sex", `"Q"`}},
	{name: "patient correct name with a zero-width space", code: 3, args: patientCorrect("--name", "Mei\u200bChan", "--reason", "typo", "MRN-1001"), want: []string{"--name", "U+200B"}},
	{name: "patient correct unknown patient", code: 5, args: patientCorrect("--name", "A B", "--reason", "typo", "MRN-9999"), want: []string{"MRN-9999"}},
	{name: "patient correct flag after MRN", code: 2, args: patientCorrect("--reason", "typo", "MRN-1001", "--name", "A B"), want: []string{"--name", "MRN-1001"}},
	{name: "patient corrected by lab", code: 3, args: []string{"--user", "liu", "patient", "correct", "--name", "A B", "--reason", "typo", "MRN-1001"}, want: []string{"liu", "lab", "patient.correct"}},
	{name: "donor correct delivery in the future", code: 3, args: donorCorrect("--delivered", "2027-01-01", "--reason", "typo", "D-0001"), want: []string{"--delivered", "2027-01-01", "future"}},
	{name: "donor correct same consent date", code: 3, args: donorCorrect("--consented", "2026-10-12", "--reason", "typo", "D-0001"), want: []string{"--consented", "2026-10-12", "already"}},
	{name: "donor correct blank site", code: 3, args: donorCorrect("--site", " ", "--reason", "typo", "D-0001"), want: []string{"--site", "blank"}},
	{name: "donor correct nothing given", code: 3, args: donorCorrect("--reason", "typo", "D-0001"), want: []string{"nothing to correct", "the delivery date"}},
	{name: "donor correct blank reason", code: 3, args: donorCorrect("--site", "W6", "--reason", "", "D-0001"), want: []string{"--reason", "required"}},
	{name: "donor corrected by nurse", code: 3, args: []string{"--user", "nina", "donor", "correct", "--site", "W6", "--reason", "typo", "D-0001"}, want: []string{"nina", "donor.correct"}},

	// donor add
	{name: "donor duplicate id", code: 3, args: donorAdd("--delivered", "2026-10-30", "--site", "W5", "--consented", "2026-10-12", "D-0001"), want: []string{"D-0001", "already"}},
	{name: "donor impossible delivery date", code: 3, args: donorAdd("--delivered", "2026-11-31", "--site", "W5", "--consented", "2026-10-12", "D-0002"), want: []string{"--delivered", "2026-11-31"}},
	{name: "donor delivery in the future", code: 3, args: donorAdd("--delivered", "2027-01-01", "--site", "W5", "--consented", "2026-10-12", "D-0002"), want: []string{"--delivered", "2027-01-01", "future"}},
	{name: "donor consent date with slashes", code: 3, args: donorAdd("--delivered", "2026-10-30", "--site", "W5", "--consented", "12/10/2026", "D-0002"), want: []string{"--consented", "12/10/2026"}},
	{name: "donor consent in the future", code: 3, args: donorAdd("--delivered", "2026-10-30", "--site", "W5", "--consented", "2026-12-24", "D-0002"), want: []string{"--consented", "2026-12-24"}},
	{name: "donor blank site", code: 3, args: donorAdd("--delivered", "2026-10-30", "--site", " ", "--consented", "2026-10-12", "D-0002"), want: []string{"--site"}},
	{name: "donor oversized site", code: 3, args: donorAdd("--delivered", "2026-10-30", "--site", strings.Repeat("s", 5000), "--consented", "2026-10-12", "D-0002"), want: []string{"--site", "5000 characters"}},
	{name: "donor id with umlaut", code: 3, args: donorAdd("--delivered", "2026-10-30", "--site", "W5", "--consented", "2026-10-12", "D-ü"), want: []string{"donor id", "D-ü"}},
	{name: "donor missing --delivered", code: 2, args: donorAdd("--site", "W5", "--consented", "2026-10-12", "D-0002"), want: []string{"--delivered"}},
	{name: "donor id differs only in case", code: 3, args: donorAdd("--delivered", "2026-10-30", "--site", "W5", "--consented", "2026-10-12", "d-0001"), want: []string{"donor id", "d-0001", "D-0001", "letter case"}},
	{name: "lot number differs only in case", code: 3, args: regUC("--cells", "1e9", "lot-uc-1"), want: []string{"lot number", "lot-uc-1", "LOT-UC-1", "letter case"}},
	{name: "lot number in mixed case", code: 3, args: regUC("--cells", "1e9", "Lot-Uc-1"), want: []string{"lot number", "Lot-Uc-1", "LOT-UC-1", "letter case"}},
	{name: "donor added by nurse", code: 3, args: []string{"--user", "nina", "donor", "add", "--delivered", "2026-10-30", "--site", "W5", "--consented", "2026-10-12", "D-0002"}, want: []string{"nina", "donor.add"}},

	// user add / disable
	{name: "user unknown role", code: 3, args: []string{"--user", "alice", "user", "add", "--role", "surgeon", "--password-stdin", "sam"}, stdin: newUserPw, want: []string{"surgeon"}},
	{name: "user duplicate name", code: 3, args: []string{"--user", "alice", "user", "add", "--role", "lab", "--password-stdin", "liu"}, stdin: newUserPw, want: []string{"liu", "already exists"}},
	{name: "user short password", code: 3, args: []string{"--user", "alice", "user", "add", "--role", "lab", "--password-stdin", "sam"}, stdin: "short\n", want: []string{"password", "5 characters"}},
	{name: "user password missing on stdin", code: 2, args: []string{"--user", "alice", "user", "add", "--role", "lab", "--password-stdin", "sam"}, want: []string{"--password-stdin"}},
	{name: "user password without terminal", code: 2, args: []string{"--user", "alice", "user", "add", "--role", "lab", "sam"}, want: []string{"--password-stdin"}},
	{name: "user name with space", code: 3, args: []string{"--user", "alice", "user", "add", "--role", "lab", "--password-stdin", "sam smith"}, stdin: newUserPw, want: []string{"user name", "sam smith"}},
	{name: "user full name a look-alike by a full stop", code: 3, args: []string{"--user", "alice", "user", "add", "--role", "nurse", "--full-name", "Nina Rossi.", "--password-stdin", "nina9"}, stdin: newUserPw, want: []string{"--full-name", `"Nina Rossi."`, "reads the same"}},
	{name: "user full name a look-alike by punctuation and spaces", code: 3, args: []string{"--user", "alice", "user", "add", "--role", "qa", "--full-name", "Liu,  Wei", "--password-stdin", "liu9"}, stdin: newUserPw, want: []string{"--full-name", `"Liu,  Wei"`, "reads the same"}},
	{name: "user full name not UTF-8", code: 3, args: []string{"--user", "alice", "user", "add", "--role", "lab", "--full-name", "S\xc3\x28", "--password-stdin", "sam"}, stdin: newUserPw, want: []string{"--full-name", "not UTF-8"}},
	{name: "user added by lab", code: 3, args: []string{"--user", "liu", "user", "add", "--role", "lab", "--password-stdin", "sam"}, stdin: newUserPw, want: []string{"liu", "user.add"}},
	{name: "user missing --role", code: 2, args: []string{"--user", "alice", "user", "add", "--password-stdin", "sam"}, stdin: newUserPw, want: []string{"--role"}},
	{name: "disable unknown user", code: 5, args: []string{"--user", "alice", "user", "disable", "--reason", "left", "ghost"}, want: []string{`"ghost"`}},
	{name: "disable self", code: 3, args: []string{"--user", "alice", "user", "disable", "--reason", "left", "alice"}, want: []string{"alice", "itself"}},
	{name: "disable without reason", code: 2, args: []string{"--user", "alice", "user", "disable", "omar"}, want: []string{"--reason"}},
	{name: "disable blank reason", code: 3, args: []string{"--user", "alice", "user", "disable", "--reason", "", "omar"}, want: []string{"--reason", "required"}},

	// lot register: cells
	{name: "cells not a number", code: 3, args: regUC("--cells", "abc", "LOT-X"), want: []string{"--cells", `"abc"`}},
	{name: "cells exponent missing", code: 3, args: regUC("--cells", "2.5e", "LOT-X"), want: []string{"--cells", `"2.5e"`, "exponent"}},
	{name: "cells negative", code: 3, args: regUC("--cells=-5e7", "LOT-X"), want: []string{"--cells", `"-5e7"`, "negative"}},
	{name: "cells zero", code: 3, args: regUC("--cells", "0", "LOT-X"), want: []string{"--cells", `"0"`}},
	{name: "cells slipped exponent", code: 3, args: regUC("--cells", "2.5e17", "LOT-X"), want: []string{"--cells", "2.5e17"}},
	{name: "cells power without exponent", code: 3, args: regUC("--cells", "1x10", "LOT-X"), want: []string{"--cells", `"1x10"`}},
	{name: "cells fractional exponent", code: 3, args: regUC("--cells", "2.5e9.5", "LOT-X"), want: []string{"--cells", `"2.5e9.5"`}},
	{name: "cells fraction of a cell", code: 3, args: regUC("--cells", "1.5", "LOT-X"), want: []string{"--cells", `"1.5"`}},
	{name: "cells decimal comma", code: 3, args: regUC("--cells", "2,5e9", "LOT-X"), want: []string{"--cells", `"2,5e9"`}},
	{name: "cells in millions", code: 3, args: regUC("--cells", "2500M", "LOT-X"), want: []string{"--cells", `"2500M"`}},
	{name: "cells hex", code: 3, args: regUC("--cells", "0x10", "LOT-X"), want: []string{"--cells", `"0x10"`}},
	{name: "cells missing", code: 2, args: regUC("LOT-X"), want: []string{"--cells"}},
	// lot register: viability, volume, dates, source
	{name: "viability as fraction", code: 3, args: regWith("--viability", "0.95", "--cells", "2e9", "LOT-X"), want: []string{"--viability", "0.95", "fraction"}},
	{name: "viability over 100", code: 3, args: regWith("--viability", "101", "--cells", "2e9", "LOT-X"), want: []string{"--viability", "101"}},
	{name: "viability with percent sign", code: 3, args: regWith("--viability", "94%", "--cells", "2e9", "LOT-X"), want: []string{"--viability", "94%"}},
	{name: "viability not a number", code: 3, args: regWith("--viability", "high", "--cells", "2e9", "LOT-X"), want: []string{"--viability", "high"}},
	{name: "volume two decimals", code: 3, args: regWith("--volume-ml", "250.55", "--cells", "2e9", "LOT-X"), want: []string{"--volume-ml", "250.55"}},
	{name: "volume in litres", code: 3, args: regWith("--volume-ml", "0.25L", "--cells", "2e9", "LOT-X"), want: []string{"--volume-ml", "0.25L"}},
	{name: "volume negative", code: 3, args: regWith("--volume-ml", "-1", "--cells", "2e9", "LOT-X"), want: []string{"--volume-ml", "-1"}},
	{name: "manufactured impossible", code: 3, args: regWith("--manufactured", "2026-02-30", "--cells", "2e9", "LOT-X"), want: []string{"--manufactured", "2026-02-30"}},
	{name: "manufactured compact", code: 3, args: regWith("--manufactured", "20261110", "--cells", "2e9", "LOT-X"), want: []string{"--manufactured", "20261110"}},
	{name: "manufactured in the future", code: 3, args: regWith("--manufactured", "2026-12-01", "--cells", "2e9", "--expires", "2027-12-01", "LOT-X"), want: []string{"--manufactured", "2026-12-01", "future"}},
	{name: "expires before manufactured", code: 3, args: regWith("--expires", "2026-11-01", "--cells", "2e9", "LOT-X"), want: []string{"--expires", "2026-11-01", "2026-11-10"}},
	{name: "expires year 10000", code: 3, args: regWith("--expires", "10000-01-01", "--cells", "2e9", "LOT-X"), want: []string{"--expires", "10000-01-01"}},
	{name: "expires with time", code: 3, args: regWith("--expires", "2027-11-10T00:00Z", "--cells", "2e9", "LOT-X"), want: []string{"--expires", "2027-11-10T00:00Z"}},
	{name: "source unknown", code: 3, args: regWith("--source", "blood", "--cells", "2e9", "LOT-X"), want: []string{"blood"}},
	{name: "uc lot unknown donor", code: 5, args: regWith("--donor", "D-9999", "--cells", "2e9", "LOT-X"), want: []string{"D-9999"}},
	{name: "uc lot with a patient", code: 3, args: regUC("--cells", "2e9", "--patient", "MRN-2001", "LOT-X"), want: []string{"--patient", "MRN-2001"}},
	{name: "rfib lot unknown patient", code: 5, args: []string{"--user", "liu", "lot", "register", "--source", "rfib", "--patient", "MRN-7777", "--cells", "1e9", "--viability", "92", "--volume-ml", "100", "--manufactured", "2026-11-10", "--expires", "2027-05-10", "LOT-X"}, want: []string{"MRN-7777"}},
	{name: "lot manufactured 0001-01-01 (Go's zero time)", code: 3, args: []string{"--user", "liu", "lot", "register", "--source", "uc", "--donor", "D-0001", "--cells", "1e9", "--viability", "92", "--volume-ml", "100", "--manufactured", "0001-01-01", "--expires", "2027-05-10", "LOT-X"}, want: []string{"--manufactured", "0001-01-01", "not a plausible date"}},
	{name: "rfib lot with a donor", code: 3, args: []string{"--user", "liu", "lot", "register", "--source", "rfib", "--patient", "MRN-2001", "--donor", "D-0001", "--cells", "1e9", "--viability", "92", "--volume-ml", "100", "--manufactured", "2026-11-10", "--expires", "2027-05-10", "LOT-X"}, want: []string{"--donor", "D-0001"}},
	{name: "lot number duplicate", code: 3, args: regUC("--cells", "2e9", "LOT-UC-1"), want: []string{"LOT-UC-1"}},
	{name: "lot number with space", code: 3, args: regUC("--cells", "2e9", "LOT UC 2"), want: []string{"lot number", "LOT UC 2"}},
	{name: "lot number oversized", code: 3, args: regUC("--cells", "2e9", strings.Repeat("L", 300)), want: []string{"lot number", "300 characters"}},
	{name: "lot number non-UTF-8", code: 3, args: regUC("--cells", "2e9", "LOT-\xc0\xaf"), want: []string{"lot number"}},
	{name: "passage out of range", code: 3, args: regUC("--cells", "2e9", "--passage", "99", "LOT-X"), want: []string{"--passage", "99"}},
	{name: "passage not a number", code: 2, args: regUC("--cells", "2e9", "--passage", "four", "LOT-X"), want: []string{"passage", "four"}},
	{name: "cryopreserved before manufacture", code: 3, args: regUC("--cells", "2e9", "--cryopreserved", "2026-11-01", "LOT-X"), want: []string{"--cryopreserved", "2026-11-01"}},
	{name: "cryopreserved impossible", code: 3, args: regUC("--cells", "2e9", "--cryopreserved", "2026-11-00", "LOT-X"), want: []string{"--cryopreserved", "2026-11-00"}},
	{name: "location oversized", code: 3, args: regUC("--cells", "2e9", "--location", strings.Repeat("x", 1<<16), "LOT-X"), want: []string{"--location", "65536 characters"}},
	{name: "location not UTF-8", code: 3, args: regUC("--cells", "2e9", "--location", "LN2\xff", "LOT-X"), want: []string{"--location", "not UTF-8"}},
	{name: "register flag after lot number", code: 2, args: regUC("LOT-X", "--cells", "2e9"), want: []string{"--cells", "LOT-X"}},
	{name: "register by nurse", code: 3, args: with(with([]string{"--user", "nina"}, lotUC[2:]...), "--cells", "2e9", "LOT-N"), want: []string{"nina", "lot.register"}},

	// lot split
	{name: "split unknown lot", code: 5, args: split("--containers", "2", "--cells-each", "1e8", "LOT-NOPE"), want: []string{"LOT-NOPE"}},
	{name: "split zero containers", code: 3, args: split("--containers", "0", "--cells-each", "1e8", "LOT-UC-1"), want: []string{"--containers", "0"}},
	{name: "split negative containers", code: 3, args: split("--containers=-2", "--cells-each", "1e8", "LOT-UC-1"), want: []string{"--containers", "-2"}},
	{name: "split containers not a number", code: 2, args: split("--containers", "two", "--cells-each", "1e8", "LOT-UC-1"), want: []string{"containers", "two"}},
	{name: "split more cells than the lot", code: 3, args: split("--containers", "30", "--cells-each", "1e8", "LOT-UC-1"), want: []string{"LOT-UC-1"}},
	{name: "split cells not a number", code: 3, args: split("--containers", "2", "--cells-each", "lots", "LOT-UC-1"), want: []string{"--cells-each", `"lots"`}},
	{name: "split volume bad", code: 3, args: split("--containers", "2", "--cells-each", "1e8", "--volume-ml-each", "50ml", "LOT-UC-1"), want: []string{"--volume-ml-each", "50ml"}},
	{name: "split more containers than labels", code: 3, args: split("--containers", "100", "--cells-each", "1", "LOT-UC-1"), want: []string{"--containers", "100"}},
	{name: "split DIN with wrong check character", code: 3, args: split("--containers", "1", "--cells-each", "1e8", "G1234 26 000001 X"), want: []string{"G1234 26 000001 X", "check character X"}},
	{name: "split DIN typo", code: 5, args: split("--containers", "1", "--cells-each", "1e8", "G123426000091"), want: []string{"G123426000091"}},
	{name: "split missing --cells-each", code: 2, args: split("--containers", "2", "LOT-UC-1"), want: []string{"--cells-each"}},

	// reads with unknown ids and typos
	{name: "lot show unknown", code: 5, args: []string{"--user", "aud", "lot", "show", "LOT-UC-9"}, want: []string{"LOT-UC-9"}},
	{name: "lot show DIN transposed", code: 5, args: []string{"--user", "aud", "lot", "show", "G1234 26 000010"}, want: []string{"G1234 26 000010"}},
	{name: "lot show flag after", code: 2, args: []string{"lot", "show", "LOT-UC-1", "--json"}, want: []string{"--json", "LOT-UC-1"}},
	{name: "lot list unknown status", code: 3, args: []string{"--user", "aud", "lot", "list", "--status", "approved"}, want: []string{"approved"}},
	{name: "lot list unknown source", code: 3, args: []string{"--user", "aud", "lot", "list", "--source", "bone"}, want: []string{"bone"}},
	{name: "container show unknown", code: 5, args: []string{"--user", "aud", "container", "show", "G12342600000199"}, want: []string{"G12342600000199"}},
	{name: "container show garbage", code: 3, args: []string{"--user", "aud", "container", "show", "bag-7"}, want: []string{"bag-7"}},
	{name: "container list unknown lot", code: 5, args: []string{"--user", "aud", "container", "list", "LOT-Q"}, want: []string{"LOT-Q"}},
	{name: "audit log unknown entity", code: 5, args: []string{"--user", "aud", "audit", "log", "--entity", "NOBODY"}, want: []string{"NOBODY"}},
	{name: "audit verify extra argument", code: 2, args: []string{"audit", "verify", "now"}, want: []string{"now"}},
	{name: "isbt wrong check character", code: 3, args: []string{"isbt", "check", "G1234 17 654321 B"}, want: []string{"G1234 17 654321 B"}},
	{name: "isbt too short", code: 3, args: []string{"isbt", "check", "G12341765"}, want: []string{"G12341765"}},
	{name: "isbt letters in sequence", code: 3, args: []string{"isbt", "check", "G12341765432O"}, want: []string{"G12341765432O"}},
	{name: "isbt lower-case facility", code: 3, args: []string{"isbt", "check", "g12341765432100"}, want: []string{"g12341765432100"}},
	{name: "unknown command", code: 2, args: []string{"lot", "relase", "LOT-UC-1"}, want: []string{"relase"}},
	{name: "unknown top-level flag", code: 2, args: []string{"--verbose", "lot", "list"}, want: []string{"verbose"}},
	{name: "init over existing database", code: 3, args: []string{"init", "--facility", "G1234", "--admin", "bob", "--password-stdin"}, stdin: newUserPw, want: []string{"already exists"}},
	{name: "PostgreSQL URL unreachable, password not shown", code: 10, args: []string{"--db", "postgres://nurse:Hunter-22x@127.0.0.1:1/ct?connect_timeout=2", "lot", "list"}, want: []string{"postgres://nurse@127.0.0.1:1/ct?connect_timeout=2", "PGPASSWORD"}},
	{name: "init bad facility", code: 3, args: []string{"--db", "$DIR/new.db", "init", "--facility", "G12", "--admin", "bob", "--password-stdin"}, stdin: newUserPw, want: []string{"G12"}},
	// Time zones (issue 12): only IANA names the embedded database holds.
	{name: "init unknown time zone", code: 3, args: []string{"--db", "$DIR/new.db", "init", "--facility", "G1234", "--tz", "Asia/Nanjing", "--admin", "bob", "--password-stdin"}, stdin: newUserPw, want: []string{"--tz", "Asia/Nanjing"}},
	{name: "init time zone as offset", code: 3, args: []string{"--db", "$DIR/new.db", "init", "--facility", "G1234", "--tz", "UTC+8", "--admin", "bob", "--password-stdin"}, stdin: newUserPw, want: []string{"--tz", "UTC+8"}},
	{name: "init time zone path escape", code: 3, args: []string{"--db", "$DIR/new.db", "init", "--facility", "G1234", "--tz", "../../etc/passwd", "--admin", "bob", "--password-stdin"}, stdin: newUserPw, want: []string{"--tz", "../../etc/passwd"}},
	{name: "site add time zone abbreviation", code: 3, args: []string{"--user", "liu", "site", "add", "--name", "Nanjing", "--tz", "CST", "CLINIC-CN"}, want: []string{"--tz", "CST"}},
	{name: "site add time zone Local", code: 3, args: []string{"--user", "liu", "site", "add", "--name", "Nanjing", "--tz", "Local", "CLINIC-CN"}, want: []string{"--tz", "Local", "machine"}},
	{name: "site set-tz unknown zone", code: 3, base: "bedside", args: []string{"--user", "alice", "site", "set-tz", "--tz", "Mars/Olympus", "--reason", "x", "CLINIC-A"}, want: []string{"--tz", "Mars/Olympus"}},
	{name: "site set-tz by lab", code: 3, base: "bedside", args: []string{"--user", "liu", "site", "set-tz", "--tz", "Asia/Shanghai", "--reason", "x", "CLINIC-A"}, want: []string{"zone.set", "admin"}},
	{name: "site set-tz unknown site", code: 5, base: "bedside", args: []string{"--user", "alice", "site", "set-tz", "--tz", "Asia/Shanghai", "--reason", "x", "CLINIC-Z"}, want: []string{"CLINIC-Z"}},
	{name: "schedule create unknown site", code: 5, base: "bedside", args: []string{"--user", "pat", "schedule", "create", "--protocol", "ss-rfib-12", "--start", "2026-11-28", "--site", "CLINIC-Z", "MRN-2001"}, want: []string{"CLINIC-Z"}},
	{name: "backup over existing file", code: 3, args: []string{"--user", "aud", "backup", "--out", "$DIR/in.csv"}, files: map[string]string{"in.csv": "x"}, want: []string{"--out", "in.csv", "already exists"}},
	// signed checkpoints and restore (issue 13)
	{name: "checkpoint key file missing", code: 3, args: []string{"--user", "aud", "audit", "checkpoint", "--key", "$DIR/none.key"}, want: []string{"--key", "none.key"}},
	{name: "checkpoint key file not a key", code: 3, args: []string{"--user", "aud", "audit", "checkpoint", "--key", "$DIR/k.key"}, files: map[string]string{"k.key": "PRIVATE+KEY+x+00000000+garbage\n"}, want: []string{"--key", "k.key", "not a signing key"}},
	{name: "checkpoint with no key registered", code: 3, args: []string{"--user", "aud", "audit", "checkpoint", "--key", "$DIR/k.key"}, files: map[string]string{"k.key": "PRIVATE+KEY+celltrack+f2104329+AcoFb/b+JKB9RWOLyfFKi466Z3nqWp6AVEdZ4UgGvp1F\n"}, want: []string{"no checkpoint verifier key is registered"}},
	{name: "register verifier garbled", code: 3, args: []string{"--user", "alice", "audit", "key", "register", "--verifier", "celltrack+zz+AQ"}, want: []string{"--verifier", "celltrack+zz+AQ"}},
	{name: "register verifier is a signing key", code: 3, args: []string{"--user", "alice", "audit", "key", "register", "--verifier", "PRIVATE+KEY+celltrack+f2104329+AcoFb/b+JKB9RWOLyfFKi466Z3nqWp6AVEdZ4UgGvp1F"}, want: []string{"--verifier", "holds a signing key"}},
	{name: "verify checkpoint pinned signing key", code: 3, args: []string{"--user", "aud", "audit", "verify", "--checkpoint", "$DIR/a.checkpoint", "--verifier-file", "$DIR/k.key"},
		files: map[string]string{"a.checkpoint": "celltrack audit trail G1234\n1\nAA==\n", "k.key": "PRIVATE+KEY+celltrack+f2104329+AcoFb/b+JKB9RWOLyfFKi466Z3nqWp6AVEdZ4UgGvp1F\n"}, want: []string{"--verifier-file", "k.key", "holds a signing key"}},
	{name: "register verifier both flags", code: 2, args: []string{"--user", "alice", "audit", "key", "register", "--verifier", "a", "--verifier-file", "$DIR/v"}, want: []string{"--verifier", "--verifier-file"}},
	{name: "key init name with plus", code: 2, args: []string{"audit", "key", "init", "--name", "a+b", "--out", "$DIR/k"}, want: []string{"--name", "a+b"}},
	{name: "verify checkpoint file missing", code: 5, args: []string{"--user", "aud", "audit", "verify", "--checkpoint", "$DIR/none"}, want: []string{"--checkpoint", "none"}},
	{name: "verify checkpoint not a note", code: 3, args: []string{"--user", "aud", "audit", "verify", "--checkpoint", "$DIR/c"}, files: map[string]string{"c": "hello\n"}, want: []string{"checkpoint", "c"}},
	{name: "verify tree head garbled", code: 3, args: []string{"--user", "aud", "audit", "verify", "--tree-head", "306 entries, root nope"}, want: []string{"--tree-head", "306 entries, root nope"}},
	{name: "restore from the database itself", code: 3, args: []string{"--user", "alice", "restore", "--password-stdin", "--from", "$DB"}, stdin: pw, want: []string{"--from", "the database itself"}},
	{name: "restore from a text file", code: 3, args: []string{"--user", "alice", "restore", "--password-stdin", "--from", "$DIR/in.csv"}, files: map[string]string{"in.csv": "x"}, stdin: pw, want: []string{"--from", "in.csv"}},
	{name: "verify checkpoint a device", code: 3, args: []string{"--user", "aud", "audit", "verify", "--checkpoint", "/dev/zero"}, want: []string{"--checkpoint /dev/zero", "not a regular file", "a device"}},
	{name: "verify checkpoint over 4 KB", code: 3, args: []string{"--user", "aud", "audit", "verify", "--checkpoint", "$DIR/c"}, files: map[string]string{"c": strings.Repeat("celltrack audit trail G1234\n", 200)}, want: []string{"--checkpoint", "/c", "larger than 4096 bytes"}},
	{name: "verify pinned key is a signing key", code: 3, args: []string{"--user", "aud", "audit", "verify", "--checkpoint", "$DIR/c", "--verifier-file", "$DIR/k.key"}, files: map[string]string{"c": "hello\n", "k.key": "PRIVATE+KEY+celltrack+f2104329+AcoFb/b+JKB9RWOLyfFKi466Z3nqWp6AVEdZ4UgGvp1F\n"}, want: []string{"--verifier-file", "k.key", "signing key"}},
	{name: "verify pinned key without checkpoint", code: 2, args: []string{"--user", "aud", "audit", "verify", "--verifier-file", "$DIR/v"}, files: map[string]string{"v": "x"}, want: []string{"--verifier-file", "--checkpoint"}},
	{name: "checkpoint with --force", code: 2, args: []string{"--user", "aud", "audit", "checkpoint", "--key", "$DIR/k.key", "--out", "$DIR/c", "--force"}, want: []string{"--force", "never replaced"}},
	{name: "restore from a device", code: 3, args: []string{"--user", "alice", "restore", "--password-stdin", "--from", "/dev/zero"}, stdin: pw, want: []string{"the backup file /dev/zero", "not a regular file", "(--from)"}},
	{name: "restore reason planting the rolled-back mark", code: 3, args: []string{"--user", "alice", "restore", "--password-stdin", "--from", "$DIR/in.csv", "--allow-rollback", "--reason", "disk; rolled back over the kept checkpoint of tree size 9"}, files: map[string]string{"in.csv": "x"}, stdin: pw, want: []string{"--reason", "rolled back over the kept checkpoint of tree size 9", "the words restore records itself"}},
	{name: "restore from a file named with the rolled-back mark", code: 3, args: []string{"--user", "alice", "restore", "--password-stdin", "--from", "$DIR/Rolled back over the kept checkpoint of 9"}, files: map[string]string{"Rolled back over the kept checkpoint of 9": "x"}, stdin: pw, want: []string{"--from", "Rolled back over the kept checkpoint of 9", "the words restore records itself"}},
	{name: "restore reason without rollback", code: 2, args: []string{"--user", "alice", "restore", "--from", "$DIR/in.csv", "--reason", "x"}, files: map[string]string{"in.csv": "x"}, want: []string{"--reason", "--allow-rollback"}},
	// migrate (issue 14)
	{name: "migrate file to file", code: 2, args: []string{"--user", "alice", "migrate", "--to", "$DIR/new.db"}, want: []string{"new.db", "both files", "backing it up", "(--to)"}},
	{name: "migrate to the database itself", code: 2, args: []string{"--user", "alice", "migrate", "--to", "$DB"}, want: []string{"--to", "both files"}},
	{name: "migrate from a missing file", code: 10, args: []string{"--user", "alice", "migrate", "--from", "$DIR/gone.db", "--to", "postgres://celltrack@127.0.0.1:1/x"}, want: []string{"gone.db"}},
	{name: "migrate without --to", code: 2, args: []string{"--user", "alice", "migrate"}, want: []string{"needs a target", "(--to)"}},
	{name: "migrate --reason without --reopen-source", code: 2, args: []string{"--user", "alice", "migrate", "--reason", "x", "--to", "postgres://celltrack@127.0.0.1:1/x"}, want: []string{"--reason", "--reopen-source"}},
	{name: "migrate --reopen-source without --reason", code: 2, args: []string{"--user", "alice", "migrate", "--reopen-source"}, want: []string{"reopening a migrated database needs a reason", "(--reason)"}},
	{name: "migrate --reopen-source blank --reason", code: 2, args: []string{"--user", "alice", "migrate", "--reopen-source", "--reason", " \t "}, want: []string{"reopening a migrated database needs a reason", "(--reason)"}},
	{name: "migrate --reopen-source with --to", code: 2, args: []string{"--user", "alice", "migrate", "--reopen-source", "--reason", "x", "--to", "$DIR/x.db"}, want: []string{"--reopen-source", "no --to"}},
	{name: "migrate --reopen-source not migrated", code: 3, args: []string{"--user", "alice", "migrate", "--reopen-source", "--reason", "target lost"}, want: []string{"was not migrated", "nothing was written"}},
	{name: "migrate --reopen-source by a nurse", code: 3, args: []string{"--user", "nina", "migrate", "--reopen-source", "--reason", "target lost"}, want: []string{"nina", "database.migrate", "admin"}},
	{name: "backup by a nurse", code: 3, args: []string{"--user", "nina", "backup", "--out", "$DIR/mine.db"}, want: []string{"nina", "nurse", "database.backup", "admin or auditor"}},
	{name: "backup by QA", code: 3, args: []string{"--user", "quinn", "backup", "--out", "$DIR/mine.db"}, want: []string{"quinn", "qa", "database.backup"}},
	{name: "migrate to a URL celltrack cannot parse", code: 10, args: []string{"--user", "alice", "migrate", "--to", "postgres://a:secret-pw@[bad/x"}, want: []string{"--to", "cannot parse", "nothing was written"}},

	// lot import: broken CSV
	importCSV("", "empty"),
	importCSV(csvHeader, "no rows"),
	importCSV("lot_number,source,colour\nA,uc,red\n", `"colour"`),
	importCSV("lot_number,source,cells\nA,uc,1e9\n", "viability", "missing"),
	importCSV("lot_number,lot_number,source\n", `"lot_number"`, "twice"),
	importCSV(csvHeader+csvGood+"LOT-I-2,uc,D-0001\n", "line 3", "3 fields"),
	importCSV(csvHeader+csvGood+"lot-i-1,uc,D-0001,,2.5e9,94.5,250,2026-11-10,2027-11-10,4,,LN2-B\n", "line 3", `"lot-i-1"`, `"LOT-I-1" on line 2`, "letter case"),
	importCSV(csvHeader+"lot-uc-1,uc,D-0001,,2.5e9,94.5,250,2026-11-10,2027-11-10,4,,LN2-B\n", "line 2", "lot-uc-1", "LOT-UC-1", "letter case"),
	importCSV(csvHeader+csvGood+"LOT-I-2,uc,D-0001,,\"2.5e9,94.5,250,2026-11-10,2027-11-10,4,,LN2\n", "line 3", "broken CSV"),
	importCSV(csvHeader+csvGood+"LOT-I-2,uc,D-0001,,2.5x9,94.5,250,2026-11-10,2027-11-10,4,,LN2\n", "line 3", "cells", `"2.5x9"`),
	importCSV(csvHeader+csvGood+"LOT-I-2,uc,D-0001,,2.5e9,94.5,250,2026-02-29,2027-11-10,4,,LN2\n", "line 3", "manufactured", "2026-02-29"),
	importCSV(csvHeader+csvGood+"LOT-I-2,uc,D-0001,,2.5e9,0.945,250,2026-11-10,2027-11-10,4,,LN2\n", "line 3", "viability", "0.945"),
	importCSV(csvHeader+csvGood+"LOT-I-2,uc,D-0001,,2.5e9,94.5,250,2026-11-10,2027-11-10,four,,LN2\n", "line 3", "passage", `"four"`),
	importCSV(csvHeader+csvGood+"LOT-I-2,plasma,D-0001,,2.5e9,94.5,250,2026-11-10,2027-11-10,4,,LN2\n", "line 3", "plasma"),
	importCSV(csvHeader+csvGood+csvGood, "LOT-I-1"),
	importCSV(csvHeader+"LOT-UC-1,uc,D-0001,,2.5e9,94.5,250,2026-11-10,2027-11-10,4,,LN2\n", "LOT-UC-1"),
	importCSV(csvHeader+csvGood+"LOT-I-2,uc,D-4040,,2.5e9,94.5,250,2026-11-10,2027-11-10,4,,LN2\n", "D-4040"),
	importCSV(csvHeader+csvGood+"LOT-I-2,uc,D-0001,,2.5e9,94.5,250,2026-11-10,2027-11-10,4,,LN2 \xff\n", "location", "not UTF-8"),
	importCSV(csvHeader+csvGood+"LOT-I-2,uc,D-0001,,2.5e9,94.5,250,2026-11-10,2027-11-10,4,2026-11-01,LN2\n", "cryopreserved", "2026-11-01"),
	importCSV(csvHeader+csvGood+"LOT-I-2,uc,D-0001,,2.5e9,94.5,250.25,2026-11-10,2027-11-10,4,,LN2\n", "line 3", "volume_ml", "250.25"),
	{name: "import file missing", code: 3, args: []string{"--user", "liu", "lot", "import", "--csv", "$DIR/nope.csv"}, want: []string{"--csv", "nope.csv"}},
	{name: "import missing --csv", code: 2, args: []string{"--user", "liu", "lot", "import"}, want: []string{"--csv"}},
	{name: "import by nurse", code: 3, args: []string{"--user", "nina", "lot", "import", "--csv", "$DIR/in.csv"}, files: map[string]string{"in.csv": csvHeader + csvGood}, want: []string{"nina", "lot.import"}},
}

// The capabilities merged after the foundation: release, custody, labels,
// dosing, trace and reports. They join the catalogue in init so that each
// group reads as one block.
func init() { hostileCatalogue = append(hostileCatalogue, laterHostile...) }

func result(more ...string) []string {
	return with([]string{"--user", "liu", "release", "result"}, more...)
}

func screen(more ...string) []string {
	return with([]string{"--user", "liu", "donor", "screen"}, more...)
}

func screenVoid(more ...string) []string {
	return with([]string{"--user", "quinn", "donor", "screen", "--password-stdin"}, more...)
}

func approve(more ...string) hostile {
	return hostile{base: "release", stdin: pw, args: with([]string{"--user", "quinn", "release", "approve", "--password-stdin"}, more...)}
}

func move(user, verb string, more ...string) []string {
	return with([]string{"--user", user, "container", verb}, more...)
}

func administer(more ...string) []string {
	return with([]string{"--user", "nina", "dose", "administer", "--witness", "omar", "--password-stdin"}, more...)
}

func specFile(body string, want ...string) hostile {
	return hostile{name: "spec file " + strconv.Quote(body), code: 3, args: []string{"--user", "quinn", "release", "spec", "add", "--file", "$DIR/spec.json"},
		files: map[string]string{"spec.json": body}, want: want}
}

func protocolFile(body string, want ...string) hostile {
	return hostile{name: "protocol file " + strconv.Quote(body), code: 3, args: []string{"--user", "pat", "protocol", "add", "--file", "$DIR/p.json"},
		files: map[string]string{"p.json": body}, want: want}
}

// protocolWith is accessProtocol with one "key": value pair replaced.
func protocolWith(key, value string) string {
	re := regexp.MustCompile(`"` + regexp.QuoteMeta(key) + `": ("[^"]*"|[0-9]+|true|false|\[[^\]]*\])`)
	if !re.MatchString(accessProtocol) {
		panic("protocolWith: no key " + key)
	}
	return re.ReplaceAllLiteralString(accessProtocol, `"`+key+`": `+value)
}

func (h hostile) is(name string, code int, want ...string) hostile {
	h.name, h.code, h.want = name, code, want
	return h
}

var laterHostile = []hostile{
	// release result: values, units, dates, ids
	{name: "result value not a number", code: 3, args: result("--assay", "CD105", "--value", "high", "LOT-UC-1"), want: []string{"--value", `"high"`}},
	{name: "result percent as fraction", code: 3, args: result("--assay", "CD105", "--value", "0.982", "LOT-UC-1"), want: []string{"--value", "0.982"}},
	{name: "result percent over 100", code: 3, args: result("--assay", "CD105", "--value", "120", "LOT-UC-1"), want: []string{"--value", "120"}},
	{name: "result endotoxin finer than 0.001 EU/mL", code: 3, args: result("--assay", "endotoxin", "--value", "0.1234", "LOT-UC-1"), want: []string{"--value", "0.1234", "more than 3 decimal places"}},
	{name: "result negative", code: 3, args: result("--assay", "endotoxin", "--value=-0.1", "LOT-UC-1"), want: []string{"--value", "-0.1"}},
	{name: "result wrong unit", code: 3, args: result("--assay", "endotoxin", "--value", "0.12", "--unit", "mg", "LOT-UC-1"), want: []string{"unit", `"mg"`}},
	{name: "result percent in EU/mL", code: 3, args: result("--assay", "CD105", "--value", "98", "--unit", "EU/mL", "LOT-UC-1"), want: []string{"unit", "EU/mL"}},
	{name: "result word for a number assay", code: 3, args: result("--assay", "CD73", "--value", "pass", "LOT-UC-1"), want: []string{"--value", `"pass"`}},
	{name: "result unknown word", code: 3, args: result("--assay", "sterility", "--value", "clean", "LOT-UC-1"), want: []string{"--value", `"clean"`}},
	{name: "result NaN", code: 3, args: result("--assay", "CD105", "--value", "NaN", "LOT-UC-1"), want: []string{"--value", "NaN"}},
	{name: "result decimal comma", code: 3, args: result("--assay", "CD105", "--value", "98,2", "LOT-UC-1"), want: []string{"--value", "98,2"}},
	{name: "result unknown assay", code: 3, args: result("--assay", "CD999", "--value", "1", "LOT-UC-1"), want: []string{"assay", `"CD999"`}},
	{name: "result impossible date", code: 3, args: result("--assay", "CD105", "--value", "98", "--tested", "2026-11-31", "LOT-UC-1"), want: []string{"--tested", "2026-11-31"}},
	{name: "result tested in the future", code: 3, args: result("--assay", "CD105", "--value", "98", "--tested", "2026-12-25", "LOT-UC-1"), want: []string{"--tested", "2026-12-25"}},
	{name: "result tested before the lot was made", code: 3, args: result("--assay", "CD105", "--value", "98", "--tested", "2026-11-01", "LOT-UC-1"), want: []string{"--tested", "2026-11-01", "manufactured (2026-11-10)"}},
	{name: "result beside a valid one", code: 3, base: "release", args: result("--assay", "sterility", "--value", "no-growth", "LOT-UC-1"), want: []string{"LOT-UC-1", "sterility", "#11 no-growth", "a correction of #11", "(--corrects)"}},
	{name: "result unknown lot", code: 5, args: result("--assay", "CD105", "--value", "98", "LOT-UC-9"), want: []string{"LOT-UC-9"}},
	{name: "result flag after lot", code: 2, args: result("--assay", "CD105", "LOT-UC-1", "--value", "98"), want: []string{"--value", "LOT-UC-1"}},
	{name: "result corrects unknown number", code: 5, base: "release", args: result("--assay", "CD105", "--value", "98", "--corrects", "99", "--reason", "typo", "LOT-UC-1"), want: []string{"#99", "LOT-UC-1"}},
	{name: "result corrects negative", code: 3, base: "release", args: result("--assay", "CD90", "--value", "97", "--corrects", "-1", "LOT-UC-1"), want: []string{"-1 is not a result number", "numbered from 1", "(--corrects; `celltrack release results LOT`)"}},
	{name: "result void zero", code: 3, base: "release", args: result("--void", "0", "--reason", "mix-up", "LOT-UC-1"), want: []string{"0 is not a result number", "numbered from 1", "(--void; `celltrack release results LOT`)"}},
	{name: "result method not UTF-8", code: 3, args: result("--assay", "CD105", "--value", "98", "--method", "flow\xff", "LOT-UC-1"), want: []string{"--method", "not UTF-8"}},
	{name: "result method oversized", code: 3, args: result("--assay", "CD105", "--value", "98", "--method", strings.Repeat("m", 5000), "LOT-UC-1"), want: []string{"--method", "5000 characters"}},
	{name: "result by nurse", code: 3, args: []string{"--user", "nina", "release", "result", "--assay", "CD105", "--value", "98", "LOT-UC-1"}, want: []string{"nina", "release.result"}},
	// donor screen
	{name: "screen unknown result", code: 3, args: screen("--hiv", "neg", "--hbv", "negative", "--hcv", "negative", "--syphilis", "negative", "--htlv", "negative", "D-0001"), want: []string{"--hiv", `"neg"`}},
	{name: "screen unknown donor", code: 5, args: screen("--hiv", "negative", "--hbv", "negative", "--hcv", "negative", "--syphilis", "negative", "--htlv", "negative", "D-0404"), want: []string{"D-0404"}},
	{name: "screen missing marker", code: 2, args: screen("--hiv", "negative", "--hbv", "negative", "--hcv", "negative", "--syphilis", "negative", "D-0001"), want: []string{"htlv"}},
	{name: "screen date impossible", code: 3, args: screen("--hiv", "negative", "--hbv", "negative", "--hcv", "negative", "--syphilis", "negative", "--htlv", "negative", "--tested", "2026-02-29", "D-0001"), want: []string{"--tested", "2026-02-29"}},
	{name: "screen void unknown donor", code: 5, base: "release", stdin: pw, args: screenVoid("--void", "1", "--reason", "typo", "D-0404"), want: []string{"D-0404"}},
	{name: "screen void number never recorded", code: 5, base: "release", stdin: pw, args: screenVoid("--void", "2", "--reason", "typo", "D-0001"), want: []string{"no screening #2", "#1–#1"}},
	{name: "screen void zero", code: 3, base: "release", stdin: pw, args: screenVoid("--void", "0", "--reason", "typo", "D-0001"), want: []string{"0 is not a screening number", "numbered from 1", "(--void; `celltrack donor show D-0001`)"}},
	{name: "screen void negative", code: 3, base: "release", stdin: pw, args: screenVoid("--void=-1", "--reason", "typo", "D-0001"), want: []string{"-1 is not a screening number", "numbered from 1", "(--void; `celltrack donor show D-0001`)"}},
	{name: "screen void without reason", code: 3, base: "release", stdin: pw, args: screenVoid("--void", "1", "D-0001"), want: []string{"the reason is required", "screening #1", "(--reason)"}},
	{name: "screen void reason zero width space", code: 3, base: "release", stdin: pw, args: screenVoid("--void", "1", "--reason", "\u200b", "D-0001"), want: []string{"the reason is required", "(--reason)"}},
	{name: "screen void with a marker", code: 2, base: "release", stdin: pw, args: screenVoid("--void", "1", "--reason", "typo", "--hiv", "negative", "D-0001"), want: []string{"--hiv does not apply"}},
	{name: "screen void by lab", code: 3, base: "release", stdin: pw, args: with([]string{"--user", "liu", "donor", "screen", "--password-stdin"}, "--void", "1", "--reason", "typo", "D-0001"), want: []string{"which may not donor.screen.void"}},
	{name: "screen reason without void", code: 2, args: screen("--hiv", "negative", "--hbv", "negative", "--hcv", "negative", "--syphilis", "negative", "--htlv", "negative", "--reason", "typo", "D-0001"), want: []string{"--reason", "--void"}},
	// release approve / reject
	approve("--spec", "isct-uc-msc@9", "LOT-UC-1").is("approve unknown spec version", 5, "isct-uc-msc@9"),
	approve("--spec", "no-such-spec", "LOT-UC-1").is("approve unknown spec", 5, "no-such-spec"),
	approve("LOT-UC-9").is("approve unknown lot", 5, "LOT-UC-9"),
	approve("LOT-UC-1", "--spec", "isct-uc-msc").is("approve flag after lot", 2, "--spec", "LOT-UC-1"),
	approve("--exception", "--patient", "MRN-1001", "--reason", "no alternative", "LOT-UC-1").is("approve exception without physician", 3, "--physician"),
	approve("--spec", "rfib-autologous", "LOT-UC-1").is("approve uc lot against rfib spec", 3, "rfib-autologous", "LOT-UC-1"),
	{name: "reject blank reason", code: 3, base: "release", stdin: pw, args: []string{"--user", "quinn", "release", "reject", "--reason", " ", "--password-stdin", "LOT-UC-1"}, want: []string{"--reason"}},
	{name: "reject missing reason", code: 2, base: "release", stdin: pw, args: []string{"--user", "quinn", "release", "reject", "--password-stdin", "LOT-UC-1"}, want: []string{"--reason"}},
	{name: "reject no password", code: 2, base: "release", args: []string{"--user", "quinn", "release", "reject", "--reason", "leak", "--password-stdin", "LOT-UC-1"}, want: []string{"--password-stdin"}},
	// release spec files
	specFile("", "specification file", "JSON"),
	specFile("{not json", "specification file", "JSON"),
	specFile(`{"name": "x", "title": "X", "kinds": ["uc"], "criteria": []}`, "criteria"),
	specFile(`{"name": "x", "title": "X", "kinds": ["blood"], "criteria": [{"assay": "endotoxin", "op": "<=", "limit": "1", "unit": "EU/mL"}]}`, "blood"),
	specFile(`{"name": "x", "title": "X", "kinds": ["uc"], "criteria": [{"assay": "endotoxin", "op": "<<", "limit": "1", "unit": "EU/mL"}]}`, "op", "<<"),
	specFile(`{"name": "x", "title": "X", "kinds": ["uc"], "criteria": [{"assay": "endotoxin", "op": "<=", "limit": "one", "unit": "EU/mL"}]}`, "limit", "one"),
	specFile(`{"name": "x", "title": "X", "kinds": ["uc"], "criteria": [{"assay": "endotoxin", "op": "<=", "limit": "1", "unit": "furlongs"}]}`, "furlongs"),
	specFile(`{"name": "x", "title": "X", "kinds": ["uc"], "criteria": [{"assay": "CD999", "op": ">=", "limit": "95", "unit": "%"}]}`, "CD999"),
	specFile(`{"name": "x", "title": "X", "kinds": ["uc"], "criteria": [{"assay": "CD105", "op": ">=", "limit": "0.95", "unit": "%"}]}`, "CD105", "limit 0.95", "fraction", "give 95"),
	specFile(`{"name": "x", "title": "X", "kinds": ["uc"], "criteria": [{"assay": "viability", "op": ">=", "limit": "120"}]}`, "viability", "limit 120 %", "over 100"),
	specFile(`{"name": "x", "title": "X", "kinds": ["uc"], "criteria": [{"assay": "endotoxin", "op": "<=", "limit": "-1"}]}`, "endotoxin", "limit -1", "negative"),
	specFile(`{"name": "x", "title": "X", "kinds": ["uc"], "criteria": [{"assay": "endotoxin", "op": "<=", "limit": "1e999999"}]}`, "endotoxin", "1e999999", "out of range"),
	specFile(`{"name": "x", "title": "X", "kinds": ["uc"], "criteria": [{"assay": "CD105", "op": "between", "min": "99", "max": "95"}]}`, "CD105", "min 99", "max 95"),
	specFile(`{"name": "x `+"\xff"+`", "title": "X", "kinds": ["uc"], "criteria": [{"assay": "endotoxin", "op": "<=", "limit": "1", "unit": "EU/mL"}]}`, "name"),
	specFile(`{"name": "x", "title": "X", "kinds": ["uc"], "colour": "red", "criteria": [{"assay": "endotoxin", "op": "<=", "limit": "1", "unit": "EU/mL"}]}`, "colour"),
	specFile(`{"name": "lax", "title": "X", "kinds": ["uc"], "criteria": [{"assay": "viability", "op": ">=", "limit": "50"}]}`, "lax", "lacks safety criteria", "sterility equals no-growth", "mycoplasma equals negative", "endotoxin"),
	specFile(`{"name": "x", "title": "X", "kinds": ["uc"], "criteria": [{"assay": "mycoplasma", "op": "equals", "result": "positive"}]}`, "mycoplasma", "result positive", "negative"),
	{name: "spec file missing", code: 3, args: []string{"--user", "quinn", "release", "spec", "add", "--file", "$DIR/nope.json"}, want: []string{"--file", "nope.json"}},

	// custody moves: unknown containers, DIN typos, wrong states and sites
	{name: "store DIN typo", code: 5, base: "bedside", args: move("liu", "store", "--location", "x", "G12342600000209"), want: []string{"G12342600000209"}},
	{name: "store wrong check character", code: 3, base: "bedside", args: move("liu", "store", "--location", "x", "G1234 26 000002 X 02"), want: []string{`"G123426000002X"`, "check character X"}},
	{name: "store garbage code", code: 3, base: "bedside", args: move("liu", "store", "--location", "x", "bag-7"), want: []string{"bag-7"}},
	{name: "store location not UTF-8", code: 3, base: "bedside", args: move("liu", "store", "--location", "LN2\xff", "G12342600000202"), want: []string{"--location", "not UTF-8"}},
	{name: "store location oversized", code: 3, base: "bedside", args: move("liu", "store", "--location", strings.Repeat("x", 70000), "G12342600000202"), want: []string{"--location", "70000 characters"}},
	{name: "store missing location", code: 2, base: "bedside", args: move("liu", "store", "G12342600000202"), want: []string{"--location"}},
	{name: "ship to unknown site", code: 5, base: "bedside", args: move("liu", "ship", "--to", "CLINIC-Z", "G12342600000201"), want: []string{"CLINIC-Z"}},
	{name: "ship flag after container", code: 2, base: "bedside", args: move("liu", "ship", "G12342600000201", "--to", "CLINIC-A"), want: []string{"--to", "G12342600000201"}},
	{name: "ship a dispensed bag", code: 3, base: "bedside", args: move("liu", "ship", "--to", "CLINIC-B", "G12342600000101"), want: []string{"G123426000001 01", "dispensed", "cannot be shipped"}},
	{name: "receive at unknown site", code: 5, base: "bedside", args: move("nina", "receive", "--at", "CLINIC-Q", "G12342600000102"), want: []string{"CLINIC-Q"}},
	{name: "receive excursion maybe", code: 3, base: "bedside", args: move("nina", "receive", "--at", "CLINIC-A", "--excursion", "maybe", "G12342600000102"), want: []string{"--excursion", "maybe"}},
	{name: "receive at the home site by nurse", code: 3, base: "bedside", args: move("nina", "receive", "--at", "LAB", "G12342600000102"), want: []string{"nina", "LAB", "home site"}},
	{name: "thaw viability fraction", code: 3, base: "bedside", args: move("nina", "thaw", "--viability", "0.9", "--viable-cells", "9e7", "G12342600000103"), want: []string{"--viability", "0.9"}},
	{name: "thaw viability over 100", code: 3, base: "bedside", args: move("nina", "thaw", "--viability", "190", "--viable-cells", "9e7", "G12342600000103"), want: []string{"--viability", "190"}},
	{name: "thaw cells not a number", code: 3, base: "bedside", args: move("nina", "thaw", "--viability", "90", "--viable-cells", "many", "G12342600000103"), want: []string{"--viable-cells", `"many"`}},
	{name: "thaw more cells than the bag", code: 3, base: "bedside", args: move("nina", "thaw", "--viability", "90", "--viable-cells", "9e9", "G12342600000103"), want: []string{"--viable-cells", "9"}},
	{name: "thaw time impossible", code: 3, base: "bedside", args: move("nina", "thaw", "--viability", "90", "--viable-cells", "9e7", "--at", "2026-11-25T25:00Z", "G12342600000103"), want: []string{"--at", "2026-11-25T25:00Z"}},
	{name: "thaw time without zone", code: 3, base: "bedside", args: move("nina", "thaw", "--viability", "90", "--viable-cells", "9e7", "--at", "2026-11-25T08:40", "G12342600000103"), want: []string{"--at", "2026-11-25T08:40"}},
	{name: "thaw time in the future", code: 3, base: "bedside", args: move("nina", "thaw", "--viability", "90", "--viable-cells", "9e7", "--at", "2026-11-26T08:40Z", "G12342600000103"), want: []string{"--at", "2026-11-26 08:40 UTC", "future"}},
	{name: "thaw missing viability", code: 2, base: "bedside", args: move("nina", "thaw", "--viable-cells", "9e7", "G12342600000103"), want: []string{"--viability"}},
	{name: "dispense unknown patient", code: 5, base: "bedside", args: move("nina", "dispense", "--patient", "MRN-9999", "G12342600000104"), want: []string{"MRN-9999"}},
	{name: "dispense a frozen bag", code: 3, base: "bedside", args: move("liu", "dispense", "--patient", "MRN-1001", "G12342600000201"), want: []string{"G123426000002 01", "stored", "cannot be dispensed"}},
	{name: "dispense a quarantined bag", code: 3, base: "bedside", args: move("liu", "dispense", "--patient", "MRN-2001", "G12342600000202"), want: []string{"G123426000002 02", "quarantined", "cannot be dispensed"}},
	{name: "discard blank reason", code: 3, base: "bedside", args: move("liu", "discard", "--reason", "", "G12342600000201"), want: []string{"--reason"}},
	{name: "quarantine twice", code: 3, base: "bedside", args: move("liu", "quarantine", "--reason", "again", "G12342600000202"), want: []string{"G123426000002 02", "quarantined", "cannot be quarantined"}},
	{name: "return a stored bag", code: 3, base: "bedside", args: move("liu", "return", "--reason", "unused", "G12342600000201"), want: []string{"G123426000002 01", "stored", "cannot be returned"}},
	{name: "container history unknown", code: 5, args: []string{"--user", "aud", "container", "history", "G12342600000301"}, want: []string{"G12342600000301"}},
	{name: "site add duplicate", code: 3, base: "bedside", args: []string{"--user", "liu", "site", "add", "--name", "Again", "CLINIC-A"}, want: []string{"CLINIC-A", "already"}},
	{name: "site add differs only in case", code: 3, base: "bedside", args: []string{"--user", "liu", "site", "add", "--name", "Again", "clinic-a"}, want: []string{"site id", "clinic-a", "CLINIC-A", "letter case"}},
	{name: "site add name not UTF-8", code: 3, args: []string{"--user", "liu", "site", "add", "--name", "Lab \xc3\x28", "LAB"}, want: []string{"--name", "not UTF-8"}},
	{name: "site add code with space", code: 3, args: []string{"--user", "liu", "site", "add", "--name", "Lab", "CELL LAB"}, want: []string{"CELL LAB"}},
	// Identifiers are URL path segments through a server, whose router
	// cleans dot segments and double slashes away (review finding 3).
	{name: "site add code dot dot", code: 3, args: []string{"--user", "liu", "site", "add", "--name", "Lab", ".."}, want: []string{"site id", `".."`}},
	{name: "patient add MRN with dot segment", code: 3, args: []string{"--user", "pat", "patient", "add", "--name", "A B", "--born", "1984-03-09", "--sex", "F", "MRN/../1001"}, want: []string{"MRN", "MRN/../1001", `".."`}},
	{name: "patient add MRN with double slash", code: 3, args: []string{"--user", "pat", "patient", "add", "--name", "A B", "--born", "1984-03-09", "--sex", "F", "MRN//1001"}, want: []string{"MRN", "MRN//1001", "//"}},
	{name: "lot register number ending in slash", code: 3, args: regUC("--cells", "1e9", "LOT/"), want: []string{"lot number", "LOT/", "'/'"}},
	{name: "donor add code dot", code: 3, args: []string{"--user", "liu", "donor", "add", "--delivered", "2026-10-30", "--site", "W5", "--consented", "2026-10-12", "."}, want: []string{"donor id", `"."`}},
	// Dates no record can have (review finding 13).
	{name: "patient add born 1899", code: 3, args: []string{"--user", "pat", "patient", "add", "--name", "A B", "--born", "1899-06-01", "--sex", "F", "MRN-3001"}, want: []string{"--born", "1899-06-01", "1900-01-01"}},
	{name: "lot register manufactured 1900", code: 3, args: regWith("--manufactured", "1900-01-01", "--cells", "1e9", "LOT-OLD"), want: []string{"--manufactured", "1900-01-01", "1990-01-01"}},
	{name: "lot register expires 2200", code: 3, args: regWith("--expires", "2200-11-10", "--cells", "1e9", "LOT-FAR"), want: []string{"--expires", "2200-11-10", "10 years"}},
	{name: "user add name with slash", code: 3, args: []string{"--user", "alice", "user", "add", "--role", "lab", "--full-name", "Sam Slash", "--password-stdin", "omar/quinn"}, stdin: newUserPw, want: []string{"user name", "omar/quinn", "'/'"}},
	// labels
	{name: "label print unknown lot", code: 5, args: []string{"--user", "liu", "label", "print", "--out", "$DIR/l.pdf", "LOT-UC-7"}, want: []string{"LOT-UC-7"}},
	{name: "label print DIN typo", code: 5, args: []string{"--user", "liu", "label", "print", "--out", "$DIR/l.pdf", "G12342600000105"}, want: []string{"G12342600000105"}},
	{name: "label apply never printed", code: 3, base: "bedside", args: []string{"--user", "liu", "label", "apply", "G12342600000202"}, want: []string{"G12342600000202"}},
	{name: "label void without reason", code: 2, base: "bedside", args: []string{"--user", "liu", "label", "void", "G12342600000201"}, want: []string{"--reason"}},
	{name: "label reconcile unknown lot", code: 5, args: []string{"--user", "aud", "label", "reconcile", "LOT-X"}, want: []string{"LOT-X"}},

	// protocols
	protocolFile("", "protocol file", "JSON"),
	protocolFile("[1, 2]", "protocol file", "JSON"),
	protocolFile(protocolWith("format", "2"), "format", "2"),
	protocolFile(protocolWith("product", `"blood"`), "product", "blood"),
	protocolFile(protocolWith("basis", `"per_m2"`), "basis", "per_m2"),
	protocolFile(protocolWith("tolerance_plus_pct", `"150"`), "tolerance", "0–50 %"),
	protocolFile(protocolWith("tolerance_minus_pct", `"-5"`), "tolerance_minus_pct", "-5"),
	protocolFile(protocolWith("max_thaw_minutes", "0"), "max_thaw_minutes", "0"),
	protocolFile(protocolWith("endotoxin_eu_per_kg_per_h", `"five"`), "endotoxin_eu_per_kg_per_h", "five"),
	protocolFile(protocolWith("bands", `[{"up_to_kg": "80", "cells": "7e7"}, {"up_to_kg": "60", "cells": "5e7"}, {"cells": "9e7"}]`), "band 2", "up_to_kg 60.0", "not above"),
	protocolFile(protocolWith("bands", `[{"up_to_kg": "60", "cells": "5e70"}, {"cells": "9e7"}]`), "cells", "5e70"),
	protocolFile(protocolWith("phases", `[{"count": 0, "interval_days": 0}]`), "phase 1", "count 0", "outside"),
	protocolFile(protocolWith("title", "\"Sj\xf6gren\""), "title", "UTF-8"),
	{name: "protocol show unknown", code: 5, args: []string{"--user", "aud", "protocol", "show", "no-such"}, want: []string{"no-such"}},
	{name: "protocol show unknown version", code: 5, args: []string{"--user", "aud", "protocol", "show", "--version", "9", "sle-uc-d0d7"}, want: []string{"sle-uc-d0d7", "9"}},

	// schedules
	{name: "schedule unknown protocol", code: 5, args: []string{"--user", "pat", "schedule", "create", "--protocol", "sle-uc-d0d9", "--start", "2026-11-25", "MRN-1001"}, want: []string{"sle-uc-d0d9"}},
	{name: "schedule impossible start", code: 3, args: []string{"--user", "pat", "schedule", "create", "--protocol", "sle-uc-d0d7", "--start", "2026-11-31", "MRN-1001"}, want: []string{"--start", "2026-11-31"}},
	{name: "schedule start with time", code: 3, args: []string{"--user", "pat", "schedule", "create", "--protocol", "sle-uc-d0d7", "--start", "2026-11-25T09:00Z", "MRN-1001"}, want: []string{"--start", "2026-11-25T09:00Z"}},
	{name: "schedule unknown patient", code: 5, args: []string{"--user", "pat", "schedule", "create", "--protocol", "sle-uc-d0d7", "--start", "2026-11-25", "MRN-4040"}, want: []string{"MRN-4040"}},
	{name: "schedule flag after MRN", code: 2, args: []string{"--user", "pat", "schedule", "create", "--protocol", "sle-uc-d0d7", "MRN-1001", "--start", "2026-11-25"}, want: []string{"--start", "MRN-1001"}},
	{name: "schedule second active course", code: 3, base: "bedside", args: []string{"--user", "pat", "schedule", "create", "--protocol", "sle-uc-d0d7", "--start", "2026-11-26", "MRN-1001"}, want: []string{"MRN-1001"}},
	{name: "schedule change unknown infusion", code: 3, base: "bedside", stdin: pw, args: []string{"--user", "pat", "schedule", "change", "--infusion", "9", "--date", "2026-12-03", "--reason", "fever", "--password-stdin", "MRN-1001"}, want: []string{"--infusion", "9"}},
	{name: "schedule change date impossible", code: 3, base: "bedside", stdin: pw, args: []string{"--user", "pat", "schedule", "change", "--infusion", "2", "--date", "2026-12-32", "--reason", "fever", "--password-stdin", "MRN-1001"}, want: []string{"--date", "2026-12-32"}},
	{name: "schedule change into the past", code: 3, base: "bedside", stdin: pw, args: []string{"--user", "pat", "schedule", "change", "--infusion", "2", "--date", "2026-11-01", "--reason", "fever", "--password-stdin", "MRN-1001"}, want: []string{"--date", "2026-11-01"}},
	{name: "schedule change infusion not a number", code: 2, base: "bedside", stdin: pw, args: []string{"--user", "pat", "schedule", "change", "--infusion", "two", "--date", "2026-12-03", "--reason", "fever", "--password-stdin", "MRN-1001"}, want: []string{"infusion", "two"}},
	{name: "schedule show unknown patient", code: 5, args: []string{"--user", "aud", "schedule", "show", "MRN-4040"}, want: []string{"MRN-4040"}},

	// dose
	{name: "administer DIN typo", code: 5, base: "bedside", stdin: pw2, args: administer("--container", "G12342600000110", "MRN-1001"), want: []string{"G12342600000110"}},
	{name: "administer volume with unit", code: 3, base: "bedside", stdin: pw2, args: administer("--container", "G12342600000101", "--volume-ml", "50ml", "MRN-1001"), want: []string{"--volume-ml", "50ml"}},
	{name: "administer volume negative", code: 3, base: "bedside", stdin: pw2, args: administer("--container", "G12342600000101", "--volume-ml=-5", "MRN-1001"), want: []string{"--volume-ml -5 mL must be 0.1 mL or more", "give the volume to draw"}},
	{name: "administer checked volume with unit", code: 3, base: "bedside", stdin: pw2, args: administer("--container", "G12342600000101", "--checked-ml", "34.1ml", "MRN-1001"), want: []string{"--checked-ml", "34.1ml"}},
	{name: "administer checked volume zero", code: 3, base: "bedside", stdin: pw2, args: administer("--container", "G12342600000101", "--checked-ml", "0", "MRN-1001"), want: []string{"--checked-ml 0 mL must be 0.1 mL or more"}},
	{name: "administer checked volume not the dose", code: 4, base: "bedside", stdin: pw2, args: administer("--container", "G12342600000101", "--checked-ml", "31.0", "MRN-1001"), want: []string{"dose as shown: the volume given (31.0 mL) does not match the check's", "check the dose again"}},
	{name: "administer checked volume negative", code: 3, base: "bedside", stdin: pw2, args: administer("--container", "G12342600000101", "--checked-ml", "-1", "MRN-1001"), want: []string{"--checked-ml -1 mL must be 0.1 mL or more", "for example 34.1"}},
	{name: "administer checked volume two decimals", code: 3, base: "bedside", stdin: pw2, args: administer("--container", "G12342600000101", "--checked-ml", "34.15", "MRN-1001"), want: []string{"--checked-ml 34.15 mL must have at most 1 decimal place", "to 0.1 mL"}},
	{name: "administer NO-GO with wrong passwords", code: 4, base: "bedside", stdin: "wrong-one-1\nwrong-two-2\n", args: administer("--container", "G12342600000101", "--volume-ml", "1", "MRN-1001"), want: []string{"NO-GO", "1.0 mL is -97.1 %"}},
	{name: "administer start without zone", code: 3, base: "bedside", stdin: pw2, args: administer("--container", "G12342600000101", "--start", "2026-11-25T09:00", "MRN-1001"), want: []string{"--start", "2026-11-25T09:00"}},
	{name: "administer start impossible", code: 3, base: "bedside", stdin: pw2, args: administer("--container", "G12342600000101", "--start", "2026-11-31T09:00Z", "MRN-1001"), want: []string{"--start", "2026-11-31T09:00Z"}},
	// An unknown witness is no bad input but a refused signature, recorded
	// as at the login: story dose_administer_witness_one_answer.
	{name: "administer own witness", code: 3, base: "bedside", stdin: pw2, args: []string{"--user", "nina", "dose", "administer", "--witness", "nina", "--password-stdin", "--container", "G12342600000101", "MRN-1001"}, want: []string{"nina", "witness"}},
	{name: "administer wrong patient", code: 4, base: "bedside", stdin: pw2, args: administer("--container", "G12342600000101", "MRN-2001"), want: []string{"MRN-2001"}},
	{name: "administer missing container", code: 2, base: "bedside", stdin: pw2, args: administer("MRN-1001"), want: []string{"--container"}},
	{name: "administer flag after MRN", code: 2, base: "bedside", stdin: pw2, args: administer("MRN-1001", "--container", "G12342600000101"), want: []string{"--container", "MRN-1001"}},
	{name: "check volume two decimals", code: 3, base: "bedside", args: []string{"--user", "aud", "dose", "check", "--container", "G12342600000101", "--volume-ml", "50.25", "MRN-1001"}, want: []string{"--volume-ml", "50.25"}},
	{name: "calc infusion out of range", code: 3, base: "bedside", args: []string{"--user", "aud", "dose", "calc", "--infusion", "99", "MRN-1001"}, want: []string{"--infusion", "99"}},
	{name: "reaction grade zero", code: 3, base: "infused", args: []string{"--user", "nina", "dose", "reaction", "--infusion", "$INFUSION", "--grade", "0", "--text", "fever"}, want: []string{"grade", "0"}},
	{name: "reaction text not UTF-8", code: 3, base: "infused", args: []string{"--user", "nina", "dose", "reaction", "--infusion", "$INFUSION", "--grade", "1", "--text", "fever \xff"}, want: []string{"--text", "not UTF-8"}},
	{name: "reaction text oversized", code: 3, base: "infused", args: []string{"--user", "nina", "dose", "reaction", "--infusion", "$INFUSION", "--grade", "1", "--text", strings.Repeat("t", 100000)}, want: []string{"--text", "100000 characters"}},
	{name: "reaction void of a number never recorded", code: 5, base: "infused", args: react("--void", "1", "--reason", "typo"), want: []string{"no reaction #1", "has no reactions recorded"}},
	{name: "reaction void negative number", code: 3, base: "infused", args: react("--void=-1", "--reason", "typo"), want: []string{"-1 is not a reaction number", "numbered from 1", "(--void; `celltrack trace patient MRN`)"}},
	{name: "reaction correcting number 0", code: 3, base: "infused", args: react("--corrects", "0", "--grade", "1", "--text", "rash", "--reason", "typo"), want: []string{"0 is not a reaction number", "(--corrects; `celltrack trace patient MRN`)"}},
	{name: "reaction void and corrects together", code: 2, base: "infused", args: react("--void", "1", "--corrects", "1", "--reason", "x"), want: []string{"--void", "--corrects does not apply"}},
	{name: "reaction void blank reason", code: 3, base: "infused", args: react("--void", "1", "--reason", " \t "), want: []string{"the reason is required to void a reaction", "(--reason)"}},
	{name: "reaction correction reason not UTF-8", code: 3, base: "infused", args: react("--corrects", "1", "--grade", "1", "--text", "rash", "--reason", "typo \xff"), want: []string{"--reason", "not UTF-8"}},
	{name: "confirm weight unknown patient", code: 5, stdin: pw, args: []string{"--user", "pat", "dose", "confirm-weight", "--kg", "62.0", "--reason", "re-weighed", "--password-stdin", "MRN-4040"}, want: []string{"MRN-4040"}},

	// trace and reports
	{name: "trace lot unknown", code: 5, args: []string{"--user", "aud", "trace", "lot", "LOT-UC-4"}, want: []string{"LOT-UC-4"}},
	{name: "trace donor unknown", code: 5, args: []string{"--user", "aud", "trace", "donor", "D-0404"}, want: []string{"D-0404"}},
	{name: "trace patient unknown", code: 5, args: []string{"--user", "aud", "trace", "patient", "MRN-4040"}, want: []string{"MRN-4040"}},
	{name: "trace container DIN typo", code: 5, args: []string{"--user", "aud", "trace", "container", "G12342600000501"}, want: []string{"G12342600000501"}},
	{name: "trace container wrong check character", code: 3, args: []string{"--user", "aud", "trace", "container", "G1234 26 000001 X 01"}, want: []string{`"G123426000001X"`, "check character X"}},
	{name: "trace unknown format", code: 2, args: []string{"--user", "aud", "trace", "lot", "--format", "docx", "LOT-UC-1"}, want: []string{"--format", "docx"}},
	{name: "trace unknown out extension", code: 2, args: []string{"--user", "aud", "trace", "lot", "--out", "$DIR/t.xls", "LOT-UC-1"}, want: []string{"--out", "t.xls", `".xls"`}},
	{name: "trace json and format text", code: 2, args: []string{"--user", "aud", "--json", "trace", "lot", "--format", "text", "LOT-UC-1"}, want: []string{"--json", "--format text"}},
	{name: "trace json and format pdf", code: 2, args: []string{"--user", "aud", "--json", "trace", "lot", "--format", "pdf", "LOT-UC-1"}, want: []string{"--json", "--format pdf"}},
	{name: "trace format csv out pdf", code: 2, args: []string{"--user", "aud", "trace", "lot", "--format", "csv", "--out", "$DIR/t.pdf", "LOT-UC-1"}, want: []string{"--format csv", "t.pdf", "pdf"}},
	{name: "trace out is a directory", code: 3, args: []string{"--user", "aud", "trace", "lot", "--out", "$DIR/.", "LOT-UC-1"}, want: []string{"--out", "is a directory"}},
	{name: "trace force out is a directory", code: 3, args: []string{"--user", "aud", "trace", "lot", "--force", "--out", "$DIR/.", "LOT-UC-1"}, want: []string{"--out", "is a directory"}},
	{name: "certificate force out is a directory", code: 3, args: []string{"--user", "aud", "release", "certificate", "--force", "--format", "md", "--out", "$DIR/.", "LOT-UC-1"}, want: []string{"--out", "is a directory"}},
	{name: "label print force out is a directory", code: 3, args: []string{"--user", "liu", "label", "print", "--force", "--out", "$DIR/.", "G12342600000103"}, want: []string{"--out", "is a directory"}},
	{name: "report handling json and format csv", code: 2, args: []string{"--user", "aud", "--json", "report", "handling", "--format", "csv"}, want: []string{"--json", "--format csv"}},
	{name: "trace flag after id", code: 2, args: []string{"--user", "aud", "trace", "lot", "LOT-UC-1", "--format", "csv"}, want: []string{"--format", "LOT-UC-1"}},
	{name: "report handling without session", code: 2, args: []string{"--user", "ghost", "report", "handling"}, want: []string{"not logged in"}},
	{name: "report handling date impossible", code: 3, args: []string{"--user", "aud", "report", "handling", "--from", "2026-02-30"}, want: []string{"--from", "2026-02-30"}},
	{name: "report handling dates reversed", code: 3, args: []string{"--user", "aud", "report", "handling", "--from", "2026-12-01", "--to", "2026-11-01"}, want: []string{"--from", "--to"}},
	{name: "report handling unknown protocol", code: 5, args: []string{"--user", "aud", "report", "handling", "--protocol", "no-such"}, want: []string{"no-such"}},
	{name: "report handling unknown format", code: 2, args: []string{"--user", "aud", "report", "handling", "--format", "xlsx"}, want: []string{"--format", "xlsx"}},

	// free text that shows nothing: a reason, a name, a site must be seen to be there
	{name: "void reason zero width space", code: 3, base: "release", args: result("--void", "3", "--reason", "\u200b", "LOT-UC-1"), want: []string{"--reason", "required"}},
	{name: "correct reason word joiner", code: 3, base: "release", args: result("--corrects", "3", "--reason", "\u2060", "--assay", "CD73", "--value", "97", "LOT-UC-1"), want: []string{"--reason", "required"}},
	{name: "reject reason word joiner", code: 3, base: "release", stdin: pw, args: []string{"--user", "quinn", "release", "reject", "--reason", "\u2060", "--password-stdin", "LOT-UC-1"}, want: []string{"--reason", `"\u2060"`, "U+2060 WORD JOINER", "retype"}},
	{name: "reject reason ideographic space", code: 3, base: "release", stdin: pw, args: []string{"--user", "quinn", "release", "reject", "--reason", "\u3000", "--password-stdin", "LOT-UC-1"}, want: []string{"the reason is required", "(--reason)"}},
	{name: "reject reason Braille blank", code: 3, base: "release", stdin: pw, args: []string{"--user", "quinn", "release", "reject", "--reason", "\u2800", "--password-stdin", "LOT-UC-1"}, want: []string{"the reason is required", "no visible character", "(--reason)"}},
	{name: "reject reason bidi override", code: 3, base: "release", stdin: pw, args: []string{"--user", "quinn", "release", "reject", "--reason", "sterility \u202eok", "--password-stdin", "LOT-UC-1"}, want: []string{"--reason", "U+202E RIGHT-TO-LEFT OVERRIDE"}},
	approve("--exception", "--patient", "MRN-1001", "--physician", "pat", "--reason", "\ufeff", "LOT-UC-1").is("approve exception reason byte order mark", 3, "--reason", "medical necessity"),
	{name: "discard reason no-break spaces", code: 3, base: "bedside", args: move("liu", "discard", "--reason", "\u00a0\u00a0", "G12342600000201"), want: []string{"the reason is required", "(--reason)"}},
	{name: "quarantine reason zero width joiner", code: 3, base: "bedside", args: move("liu", "quarantine", "--reason", "temp\u200dexcursion", "G12342600000201"), want: []string{"--reason", "U+200D"}},
	{name: "patient name bidi override", code: 3, args: patientAdd("--name", "Mei\u202eChen", "--born", "1984-03-09", "--sex", "F", "MRN-3001"), want: []string{"--name", "U+202E"}},
	{name: "patient name Hangul filler", code: 3, args: patientAdd("--name", "\u3164", "--born", "1984-03-09", "--sex", "F", "MRN-3001"), want: []string{"--name", "U+3164 HANGUL FILLER"}},
	{name: "user full name zero width space", code: 3, stdin: newUserPw, args: []string{"--user", "alice", "user", "add", "--role", "qa", "--full-name", "\u200b", "--password-stdin", "qa3"}, want: []string{"--full-name", "U+200B ZERO WIDTH SPACE"}},
	{name: "site name byte order mark", code: 3, args: []string{"--user", "liu", "site", "add", "--name", "\ufeffCell lab", "LAB"}, want: []string{"--name", "U+FEFF"}},
	{name: "donor site soft hyphen", code: 3, args: donorAdd("--delivered", "2026-10-30", "--site", "Mater\u00adnity", "--consented", "2026-10-12", "D-0009"), want: []string{"--site", "U+00AD SOFT HYPHEN"}},
	{name: "reaction text zero width space", code: 3, base: "infused", args: []string{"--user", "nina", "dose", "reaction", "--infusion", "$INFUSION", "--grade", "1", "--text", "\u200b"}, want: []string{"--text", "U+200B"}},
	// a second login whose printed name only looks like another user's
	{name: "user full name two spaces", code: 3, stdin: newUserPw, args: []string{"--user", "alice", "user", "add", "--role", "qa", "--full-name", "Liu  Wei", "--password-stdin", "qa3"}, want: []string{`"Liu  Wei"`, "user liu", "middle initial"}},
	{name: "user full name no-break space", code: 3, stdin: newUserPw, args: []string{"--user", "alice", "user", "add", "--role", "qa", "--full-name", "Liu\u00a0Wei", "--password-stdin", "qa3"}, want: []string{`"Liu\u00a0Wei"`, "user liu"}},
	{name: "user full name other case", code: 3, stdin: newUserPw, args: []string{"--user", "alice", "user", "add", "--role", "qa", "--full-name", "LIU WEI", "--password-stdin", "qa3"}, want: []string{`"LIU WEI"`, "user liu"}},
	// sessions, passwords and accounts (issue 10)
	{name: "no session", code: 2, args: []string{"--user", "nobody", "lot", "list"}, want: []string{"not logged in", "celltrack login"}},
	{name: "no session write", code: 2, args: []string{"--user", "mallory", "user", "add", "--role", "admin", "--password-stdin", "mallory"}, stdin: newUserPw, want: []string{"not logged in"}},
	{name: "user asserted is not the session's", code: 2, args: []string{"--user", "liu", "--user", "alice", "user", "list"}, want: []string{"names someone other than"}},
	{name: "login without name", code: 2, args: []string{"login", "--password-stdin"}, stdin: pw, want: []string{"NAME"}},
	{name: "login two names", code: 2, args: []string{"login", "--password-stdin", "nina", "omar"}, stdin: pw, want: []string{"takes NAME but got 2"}},
	{name: "login no password line", code: 2, args: []string{"login", "--password-stdin", "nina"}, want: []string{"no password line"}},
	{name: "password too short", code: 3, stdin: "short-pw-1\n", args: []string{"--user", "alice", "user", "add", "--role", "lab", "--password-stdin", "sam"}, want: []string{"10 characters", "at least 12"}},
	{name: "password contains user name", code: 3, stdin: "sam-harbor-lantern-47\n", args: []string{"--user", "alice", "user", "add", "--role", "lab", "--password-stdin", "sam"}, want: []string{"user name \"sam\""}},
	{name: "password contains printed name", code: 3, stdin: "harbor-reyes-lantern-47\n", args: []string{"--user", "alice", "user", "add", "--role", "lab", "--full-name", "Sam Reyes", "--password-stdin", "sreyes"}, want: []string{`"Reyes"`}},
	{name: "password common", code: 3, stdin: "Password12345\n", args: []string{"--user", "alice", "user", "add", "--role", "lab", "--password-stdin", "sam"}, want: []string{"too easy to guess"}},
	{name: "password keyboard run", code: 3, stdin: "qwertyuiop123\n", args: []string{"--user", "alice", "user", "add", "--role", "lab", "--password-stdin", "sam"}, want: []string{"too easy to guess"}},
	{name: "password repeated", code: 3, stdin: "aaaaaaaaaaaaaaaa\n", args: []string{"--user", "alice", "user", "add", "--role", "lab", "--password-stdin", "sam"}, want: []string{"too easy to guess"}},
	{name: "passwd new weak", code: 3, stdin: pw + "password-password\n", args: []string{"--user", "nina", "user", "passwd", "--password-stdin"}, want: []string{"too easy to guess"}},
	{name: "passwd new same as old", code: 3, stdin: pw + pw, args: []string{"--user", "nina", "user", "passwd", "--password-stdin"}, want: []string{"is the current one"}},
	{name: "reset one-time weak", code: 3, stdin: "nina-nina-nina-1\n", args: []string{"--user", "alice", "user", "reset", "--reason", "forgot", "--password-stdin", "nina"}, want: []string{"user name \"nina\""}},
	{name: "reset own password", code: 3, stdin: "copper-meadow-lynx-42\n", args: []string{"--user", "alice", "user", "reset", "--reason", "forgot", "--password-stdin", "alice"}, want: []string{"user passwd"}},
	{name: "reset by nurse", code: 3, stdin: "copper-meadow-lynx-42\n", args: []string{"--user", "nina", "user", "reset", "--reason", "forgot", "--password-stdin", "omar"}, want: []string{"nina", "user.reset"}},
	{name: "reset without reason", code: 2, stdin: "copper-meadow-lynx-42\n", args: []string{"--user", "alice", "user", "reset", "--password-stdin", "nina"}, want: []string{"--reason"}},
	{name: "role unknown", code: 3, args: []string{"--user", "alice", "user", "role", "--reason", "x", "nina", "surgeon"}, want: []string{`"surgeon"`}},
	{name: "role own", code: 3, args: []string{"--user", "alice", "user", "role", "--reason", "x", "alice", "lab"}, want: []string{"own role"}},
	{name: "role same", code: 3, args: []string{"--user", "alice", "user", "role", "--reason", "x", "nina", "nurse"}, want: []string{"already has role nurse"}},
	{name: "role qa without admin password", code: 2, args: []string{"--user", "alice", "user", "role", "--reason", "x", "--password-stdin", "nina", "qa"}, want: []string{"no password line"}},
	{name: "role unknown user", code: 5, args: []string{"--user", "alice", "user", "role", "--reason", "x", "nobody", "lab"}, want: []string{`"nobody"`}},
	{name: "unlock not locked", code: 3, args: []string{"--user", "alice", "user", "unlock", "--reason", "x", "nina"}, want: []string{"not locked"}},
	{name: "enable active user", code: 3, args: []string{"--user", "alice", "user", "enable", "--reason", "x", "nina"}, want: []string{"not disabled"}},
	{name: "admin makes own look-alike", code: 3, stdin: newUserPw, args: []string{"--user", "alice", "user", "add", "--role", "qa", "--full-name", "Alice Adams", "--password-stdin", "alice2"}, want: []string{"alice2", "reads as the admin's own"}},
	{name: "settings idle zero", code: 3, args: []string{"--user", "alice", "settings", "set", "--idle", "0s", "--reason", "x"}, want: []string{"idle expiry 0s"}},
	{name: "settings idle longer than absolute", code: 3, args: []string{"--user", "alice", "settings", "set", "--idle", "13h", "--reason", "x"}, want: []string{"idle expiry 13h0m0s is longer than absolute expiry 12h0m0s"}},
	{name: "settings lockout not a duration", code: 2, args: []string{"--user", "alice", "settings", "set", "--lockout", "forever", "--reason", "x"}, want: []string{"--lockout", `"forever"`}},
	{name: "settings nothing to set", code: 2, args: []string{"--user", "alice", "settings", "set", "--reason", "x"}, want: []string{"--idle"}},
	{name: "settings by lab", code: 3, args: []string{"--user", "liu", "settings", "set", "--idle", "10m", "--reason", "x"}, want: []string{"liu", "settings.set"}},
	{name: "settings password max age one hour", code: 3, args: []string{"--user", "alice", "settings", "set", "--password-max-age", "1h", "--reason", "x"}, want: []string{"password max age 1h0m0s"}},
}

// TestHostileInput runs every bad input of the catalogue against its own copy
// of the lab database: each exits with the documented code, names the field
// and the bad value, and leaves the file byte-for-byte as it was.
func TestHostileInput(t *testing.T) {
	if n := len(hostileCatalogue); n < 100 {
		t.Fatalf("the catalogue has %d bad inputs; the issue asks for at least 100", n)
	}
	seen := map[string]bool{}
	for i, h := range hostileCatalogue {
		if h.name == "" {
			h.name = "import " + strings.Join(h.want, " ")
		}
		if seen[h.name] {
			t.Fatalf("case %d: duplicate name %q", i, h.name)
		}
		seen[h.name] = true
		t.Run(h.name, func(t *testing.T) {
			dir := t.TempDir()
			db := baseCopy(t, dir, h.base)
			for name, body := range h.files {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			args := make([]string, len(h.args))
			for i, a := range h.args {
				a = strings.ReplaceAll(a, "$DIR/", dir+string(filepath.Separator))
				a = strings.ReplaceAll(a, "$DB", db)
				args[i] = strings.ReplaceAll(a, "$INFUSION", infusionID)
			}
			before := fileSum(t, db)
			got := celltrack(db, h.stdin, args...)
			if got.code != h.code {
				t.Errorf("exit %d, want %d\nstderr: %s", got.code, h.code, got.stderr)
			}
			for _, w := range h.want {
				if !strings.Contains(got.stderr, w) {
					t.Errorf("stderr does not name %q:\n%s", w, got.stderr)
				}
			}
			if fileSum(t, db) != before {
				t.Errorf("the refusal changed the database file")
			}
			if _, err := os.Stat(filepath.Join(dir, "new.db")); err == nil {
				t.Errorf("a refused init left a database file behind")
			}
		})
	}
}
