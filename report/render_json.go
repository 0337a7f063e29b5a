package report

import (
	"encoding/json"
	"io"
)

// RenderJSON writes r as indented JSON: the model itself, for programs.
func RenderJSON(w io.Writer, r Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}
