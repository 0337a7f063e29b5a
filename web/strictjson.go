package web

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/celltrack/celltrack/audit"
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
	if errors.As(err, &sem) {
		// Worded by the field, never by a Go type (web.LoginRequest,
		// lot.Tenths mean nothing to the person who sent it).
		msg := fmt.Sprintf("%s is %s", fieldWords(sem.JSONPointer), jsonKindWords(sem.JSONKind, sem.JSONValue))
		if sem.JSONPointer.LastToken() == audit.SeenField && sem.JSONPointer.Parent() == "" {
			// The page form's wording of the same rule.
			return msg + "; " + audit.SeenRule
		}
		if want := goTypeWords(sem.GoType); want != "" {
			msg += "; it must be " + want
		}
		return msg + " (see /api/v1/openapi.json) — nothing was done"
	}
	if errors.As(err, &syn) {
		return fmt.Sprintf("the request body is not valid JSON (%s at byte %d) — nothing was done", strings.TrimPrefix(syn.Err.Error(), "jsontext: "), syn.ByteOffset)
	}
	return "the request body is not the JSON this call takes — nothing was done"
}

// fieldWords names the value at p: the key "volume_ml", item 3 of the
// body, or the body itself.
func fieldWords(p jsontext.Pointer) string {
	if p == "" {
		return "the request body"
	}
	last := p.LastToken()
	if _, err := strconv.Atoi(last); err == nil {
		return fmt.Sprintf("item %s%s", last, where(p.Parent()))
	}
	return fmt.Sprintf("the value of %q%s", last, where(p.Parent()))
}

// stoppedAt is where in the JSON text data, cut short, reading stopped.
func stoppedAt(data []byte) jsontext.Pointer {
	dec := jsontext.NewDecoder(bytes.NewReader(data))
	for {
		if _, err := dec.ReadToken(); err != nil {
			return dec.StackPointer()
		}
	}
}

// jsonKindWords says what was sent: a JSON string "abc", a number 1.23.
func jsonKindWords(k jsontext.Kind, v jsontext.Value) string {
	var what string
	switch k {
	case '"':
		what = "a string"
	case '0':
		what = "a number"
	case 't', 'f':
		what = "true or false"
	case 'n':
		what = "null"
	case '{':
		what = "an object"
	case '[':
		what = "a list"
	default:
		return "not what this call takes"
	}
	if len(v) > 0 && len(v) <= 40 {
		what += " " + string(v)
	}
	return what
}

// goTypeWords says what a Go type takes, in JSON's words.
func goTypeWords(t reflect.Type) string {
	if t == nil {
		return ""
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == reflect.TypeFor[time.Time]() {
		return "a time, RFC 3339 (2026-11-25T09:00:00Z)"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Struct, reflect.Map:
		return "an object"
	}
	return ""
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
