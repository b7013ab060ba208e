package sweep

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzParseSpec hands arbitrary YAML to the spec parser, as a user's editor
// might. It may refuse a spec, but only with a *SpecError whose problems
// name the file; it must never panic, hang, or write a file.
// Seeds: testdata/fuzz/FuzzParseSpec (the examples' specs and common mistakes).
func FuzzParseSpec(f *testing.F) {
	f.Add([]byte("name: s\ntrainer: {kind: builtin}\nsearch:\n  network_dim: {int: [2, 16], log: true}\nbudget: {trials: 2}\n"))
	f.Add([]byte("name: s\ntrainer: {kind: command, command: [sh, x.sh, '{lr}']}\nsearch:\n  lr: {float: [1e-4, 1e-2], log: true}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		path := filepath.Join(dir, "spec.yaml")
		start := time.Now()
		spec, err := ParseSpec(path, data)
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("%d bytes took %v", len(data), d)
		}
		if err != nil {
			var se *SpecError
			if !errors.As(err, &se) {
				t.Fatalf("error is not a *SpecError: %T %v", err, err)
			}
			if len(se.Problems) == 0 {
				t.Fatal("SpecError without problems")
			}
			for _, p := range se.Problems {
				if p.Message == "" || p.File == "" {
					t.Fatalf("problem without file or message: %+v", p)
				}
			}
		} else if spec == nil {
			t.Fatal("nil spec without error")
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != 0 {
			t.Fatalf("parsing wrote %d entries, first %q", len(entries), entries[0].Name())
		}
	})
}
