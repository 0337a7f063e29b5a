package web

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// strictJSONMessage words a refusal of decode for the person or script that
// sent the body: which key was doubled or not known, and where.
func strictJSONMessage(err error, v any) string {
	var syn *jsontext.SyntacticError
	if errors.As(err, &syn) && errors.Is(syn.Err, jsontext.ErrDuplicateName) {
		return fmt.Sprintf("key %q appears more than once%s in the request body; send each key once — nothing was done",
			syn.JSONPointer.LastToken(), where(syn.JSONPointer.Parent()))
	}
	var sem *jsonv2.SemanticError
	if errors.As(err, &sem) && errors.Is(sem.Err, jsonv2.ErrUnknownName) {
		key := sem.JSONPointer.LastToken()
		msg := fmt.Sprintf("key %q%s is not one this call takes", key, where(sem.JSONPointer.Parent()))
		if want := sameBut(v, key); want != "" {
			msg += fmt.Sprintf("; keys are matched exactly, case included: write %q", want)
		} else {
			msg += " (keys are matched exactly, case included; see /api/v1/openapi.json)"
		}
		return msg + " — nothing was done"
	}
	return fmt.Sprintf("the request body is not the JSON this call takes: %v — nothing was done", err)
}

// where names the object holding a key, when it is not the body itself.
func where(p jsontext.Pointer) string {
	if p == "" {
		return ""
	}
	return fmt.Sprintf(" (in %s)", p)
}

// sameBut returns the documented key of v's type (its json tags, embedded
// structs included) that differs from key only by case, or "".
func sameBut(v any, key string) string {
	t := reflect.TypeOf(v)
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var found string
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || found != "" {
			return
		}
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if f.Anonymous && name == "" {
				walk(f.Type)
				continue
			}
			if name == "" || name == "-" {
				continue
			}
			if strings.EqualFold(name, key) && name != key {
				found = name
				return
			}
		}
	}
	if t != nil {
		walk(t)
	}
	return found
}
