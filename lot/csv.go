package lot

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// ImportColumns are the columns of a lot import file, in any order; the first
// line must name them. lot_number, source, cells, viability, volume_ml,
// manufactured and expires are required; donor (uc) or patient (rfib) names the
// source; passage, cryopreserved and location are optional.
var ImportColumns = []string{"lot_number", "source", "donor", "patient", "cells", "viability", "volume_ml",
	"manufactured", "expires", "passage", "cryopreserved", "location"}

// MaxImportRows bounds one import file.
const MaxImportRows = 1_000_000

// MaxImportProblems is how many bad rows an import refusal describes; the
// rest are counted, so a file of the wrong kind gives a readable message.
const MaxImportProblems = 100

// ParseImport reads a lot import CSV. It reports every bad row, with its line
// number and field, in one EINVALID error; it returns rows only when all are
// good. Checks that need the database (unknown donor, duplicate lot number)
// are made by the store in the same all-or-nothing way.
func ParseImport(r io.Reader) ([]ImportRow, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err == io.EOF {
		return nil, Errorf(EINVALID, "the import file is empty; its first line must name the columns: %s", strings.Join(ImportColumns, ","))
	} else if err != nil {
		return nil, Errorf(EINVALID, "line 1: %s", csvProblem(err))
	}
	col := map[string]int{}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		if !containsString(ImportColumns, h) {
			return nil, Errorf(EINVALID, "line 1: column %q is not an import column; the columns are %s", h, strings.Join(ImportColumns, ","))
		}
		if _, dup := col[h]; dup {
			return nil, Errorf(EINVALID, "line 1: column %q appears twice", h)
		}
		col[h] = i
	}
	for _, need := range []string{"lot_number", "source", "cells", "viability", "volume_ml", "manufactured", "expires"} {
		if _, ok := col[need]; !ok {
			return nil, Errorf(EINVALID, "line 1: required column %q is missing; the columns are %s", need, strings.Join(ImportColumns, ","))
		}
	}
	var rows []ImportRow
	var problems []string
	bad := 0 // bad rows, of which the first MaxImportProblems are described
	report := func(line int, format string, args ...any) {
		bad++
		if len(problems) < MaxImportProblems {
			problems = append(problems, fmt.Sprintf("line %d: ", line)+fmt.Sprintf(format, args...))
		}
	}
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			// FieldPos would panic after a failed Read (found by
			// FuzzParseImport); the ParseError carries the line.
			var pe *csv.ParseError
			if !errors.As(err, &pe) {
				return nil, fmt.Errorf("read the import file: %w", err) // I/O: would repeat forever
			}
			report(pe.StartLine, "%s", csvProblem(err))
			continue
		}
		line, _ := cr.FieldPos(0)
		if len(rows)+bad >= MaxImportRows {
			return nil, Errorf(EINVALID, "the import file has more than %d rows; split it", MaxImportRows)
		}
		if len(rec) != len(header) {
			report(line, "has %d fields, the header has %d", len(rec), len(header))
			continue
		}
		row, err := parseImportRow(rec, col)
		if err != nil {
			report(line, "%s", ErrorMessage(err))
			continue
		}
		row.Line = line
		rows = append(rows, row)
	}
	if bad > len(problems) {
		problems = append(problems, fmt.Sprintf("... and %d more bad rows", bad-len(problems)))
	}
	if bad > 0 {
		return nil, importError(bad, problems)
	}
	if len(rows) == 0 {
		return nil, Errorf(EINVALID, "the import file has a header but no rows")
	}
	return rows, nil
}

func parseImportRow(rec []string, col map[string]int) (ImportRow, error) {
	field := func(name string) string {
		if i, ok := col[name]; ok {
			return strings.TrimSpace(rec[i])
		}
		return ""
	}
	var row ImportRow
	var err error
	r := &row.Registration
	r.Number, r.Donor, r.Patient, r.Location = field("lot_number"), field("donor"), field("patient"), field("location")
	if r.Source, err = ParseSource(field("source")); err != nil {
		return row, err
	}
	if r.Cells, err = ParseCells("cells", field("cells")); err != nil {
		return row, err
	}
	if r.Viability, err = ParsePercent("viability", field("viability")); err != nil {
		return row, err
	}
	if r.VolumeML, err = ParseTenths("volume_ml", field("volume_ml")); err != nil {
		return row, err
	}
	if r.Manufactured, err = ParseDate("manufactured", field("manufactured")); err != nil {
		return row, err
	}
	if r.Expires, err = ParseDate("expires", field("expires")); err != nil {
		return row, err
	}
	if p := field("passage"); p != "" {
		if r.Passage, err = strconv.Atoi(p); err != nil {
			return row, Errorf(EINVALID, "passage %q is not a whole number", p)
		}
	}
	if c := field("cryopreserved"); c != "" {
		if r.Cryopreserved, err = ParseDate("cryopreserved", c); err != nil {
			return row, err
		}
	}
	return row, nil
}

// ImportProblem words the refusal err of the import row on line. The rules
// name the field in words ("the cryopreservation date …"); when the refusal
// names its field, the column of the file that holds it is added.
func ImportProblem(line int, err error) string {
	msg := fmt.Sprintf("line %d: %s", line, ErrorMessage(err))
	if c := strings.ReplaceAll(ErrorField(err), "-", "_"); containsString(ImportColumns, c) {
		msg += " (column " + c + ")"
	}
	return msg
}

func csvProblem(err error) string {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return fmt.Sprintf("broken CSV at column %d: %v", pe.Column, pe.Err)
	}
	return err.Error()
}

func containsString(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}
