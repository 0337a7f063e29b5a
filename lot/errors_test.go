package lot

import (
	"fmt"
	"testing"
)

// A check worded for any caller is tied to the input it checked by
// OnField, which never overrides a field the refusal already names, and
// leaves nil and errors that are not refusals as they are.
func TestOnField(t *testing.T) {
	err := OnField("reason", ValidateText("the reason", "", true))
	if ErrorCode(err) != EINVALID || ErrorMessage(err) != "the reason is required" || ErrorField(err) != "reason" {
		t.Errorf("blank reason: %v (code %s, field %q)", err, ErrorCode(err), ErrorField(err))
	}
	if err := OnField("patient", FieldErrorf("mrn", ECONFLICT, "x")); ErrorField(err) != "mrn" {
		t.Errorf("a named field was overridden: %q", ErrorField(err))
	}
	if err := OnField("reason", nil); err != nil {
		t.Errorf("nil became %v", err)
	}
	plain := fmt.Errorf("disk full")
	if err := OnField("reason", plain); err != plain || ErrorField(err) != "" {
		t.Errorf("a plain error became %v (field %q)", err, ErrorField(err))
	}
	if f := ErrorField(fmt.Errorf("wrapped: %w", FieldErrorf("db", ENODB, "no database"))); f != "db" {
		t.Errorf("field through a wrap: %q, want db", f)
	}
}
