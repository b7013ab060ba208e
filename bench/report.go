package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Table is one Markdown table of a study's results.
type Table struct {
	Title  string
	Note   string
	Header []string
	Rows   [][]string
}

// Markdown writes the table with its title (a level-3 heading) and note.
func (t Table) Markdown(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "### %s\n\n", t.Title)
	if t.Note != "" {
		fmt.Fprintf(&b, "%s\n\n", t.Note)
	}
	fmt.Fprintf(&b, "| %s |\n|%s\n", strings.Join(t.Header, " | "), strings.Repeat("---|", len(t.Header)))
	for _, r := range t.Rows {
		fmt.Fprintf(&b, "| %s |\n", strings.Join(r, " | "))
	}
	b.WriteString("\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// Result is what a study returns: its tables and its raw numbers (any value
// that encodes to JSON).
type Result struct {
	Study  string
	Tables []Table
	Raw    any
}

// Write saves the result as DIR/<study>.md and DIR/<study>.json.
func (r Result) Write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create output directory: %w", err)
	}
	var b strings.Builder
	for _, t := range r.Tables {
		if err := t.Markdown(&b); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(dir, r.Study+".md"), []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("write tables: %w", err)
	}
	raw, err := json.MarshalIndent(r.Raw, "", " ")
	if err != nil {
		return fmt.Errorf("encode raw numbers: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, r.Study+".json"), raw, 0o644); err != nil {
		return fmt.Errorf("write raw numbers: %w", err)
	}
	return nil
}
