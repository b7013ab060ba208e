package faults

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// goodSpec is a valid builtin-trainer spec; the cases below break it the
// ways users do.
const goodSpec = `name: ok
trainer:
  kind: builtin
  fixed: {train_data_dir: ./data, max_train_epochs: 2}
search:
  network_dim: {int: [2, 8]}
  learning_rate: {float: [1.0e-4, 1.0e-2], log: true}
  lr_scheduler: {choice: [constant, cosine]}
objective:
  scorers:
    - {kind: health}
budget: {trials: 2}
gpus: none
`

// TestBadSpecs feeds `validate` and `run` every kind of mistake a user
// makes in a spec. Each must be refused with exit code 2 and a message
// naming the file, the line, the field and what is valid, and nothing may
// be written (no database, no trial folders).
func TestBadSpecs(t *testing.T) {
	cases := []struct {
		name, old, new string
		want           []string // substrings of the message, after file:line
		line           int
	}{
		{"typo in a search param", "network_dim: {int", "netwrok_dim: {int", []string{"search.netwrok_dim", "did you mean network_dim"}, 6},
		{"typo in a top-level key", "gpus: none", "gpu: none", []string{"gpu"}, 13},
		{"wrong type", "budget: {trials: 2}", "budget: {trials: many}", []string{"budget.trials"}, 12},
		{"inverted range", "[1.0e-4, 1.0e-2]", "[1.0e-2, 1.0e-4]", []string{"search.learning_rate", "must be below"}, 7},
		{"unknown scheduler", "[constant, cosine]", "[constant, cosin]", []string{"lr_scheduler", "cosine"}, 8},
		{"missing base file", "kind: builtin\n", "kind: builtin\n  base: ./nope.toml\n", []string{"trainer.base", "nope.toml"}, 4},
		{"missing dataset", "./data", "./nodata", []string{"train_data_dir", "nodata"}, 4},
		{"dataset folder without N_ prefix", "./data", "./unprefixed", []string{"train_data_dir", "N_"}, 4},
		{"name escapes the output root", "name: ok", "name: ../evil", []string{"name", "not a plain name"}, 1},
		{"absolute name", "name: ok", "name: /tmp/evil", []string{"name", "not a plain name"}, 1},
		{"output_name escapes the trial folder", "max_train_epochs: 2}", "max_train_epochs: 2, output_name: ../../x}", []string{"output_name", "not a plain name"}, 4},
		{"unknown trainer kind", "kind: builtin", "kind: kohyaa", []string{"trainer.kind"}, 3},
		{"yaml syntax", "gpus: none", "gpus: [none", []string{"yaml"}, 0},
		{"negative budget", "budget: {trials: 2}", "budget: {trials: -3}", []string{"budget.trials"}, 12},
	}
	dir := t.TempDir()
	for _, d := range []string{"data/10_cat", "unprefixed/cat"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
		img, _ := os.ReadFile(filepath.Join(fixtures, "sample.png"))
		if err := os.WriteFile(filepath.Join(dir, d, "01.png"), img, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s := &sweepDir{t: t, dir: dir}
	if err := os.WriteFile(filepath.Join(dir, "ok.yaml"), []byte(goodSpec), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, code := s.run(time.Minute, "validate", "ok.yaml"); code != 0 {
		t.Fatalf("the good spec is refused (exit %d):\n%s", code, out)
	}
	before := listTree(t, dir)
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if !strings.Contains(goodSpec, c.old) {
				t.Fatalf("case does not apply: %q not in the spec", c.old)
			}
			file := "bad" + itoa(i) + ".yaml"
			if err := os.WriteFile(filepath.Join(dir, file), []byte(strings.Replace(goodSpec, c.old, c.new, 1)), 0o644); err != nil {
				t.Fatal(err)
			}
			before[file] = true
			for _, verb := range []string{"validate", "run"} {
				out, code := s.run(time.Minute, verb, file)
				if code != 2 {
					t.Errorf("%s: exit %d, want 2:\n%s", verb, code, out)
				}
				where := regexp.QuoteMeta(file) + `:\d+`
				if c.line > 0 {
					where = regexp.QuoteMeta(file) + ":" + itoa(c.line) + ":"
				}
				if !regexp.MustCompile(where).MatchString(out) {
					t.Errorf("%s: message does not point at %s:\n%s", verb, where, out)
				}
				for _, w := range c.want {
					if !strings.Contains(out, w) {
						t.Errorf("%s: message lacks %q:\n%s", verb, w, out)
					}
				}
			}
			after := listTree(t, dir)
			for p := range after {
				if !before[p] {
					t.Errorf("a refused spec wrote %s", p)
				}
			}
		})
	}
}

// TestAlphaAboveDimWarns: alpha > dim is legal in sd-scripts, so the spec
// is accepted, but validate says so, naming the field.
func TestAlphaAboveDimWarns(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "data/10_cat"), 0o755); err != nil {
		t.Fatal(err)
	}
	img, _ := os.ReadFile(filepath.Join(fixtures, "sample.png"))
	if err := os.WriteFile(filepath.Join(dir, "data/10_cat/01.png"), img, 0o644); err != nil {
		t.Fatal(err)
	}
	spec := strings.Replace(goodSpec, "max_train_epochs: 2}", "max_train_epochs: 2, network_alpha: 16}", 1)
	spec = strings.Replace(spec, "network_dim: {int: [2, 8]}", "network_dim: {int: [2, 8]}\n  network_alpha: {float: [1, 32]}", 1)
	if err := os.WriteFile(filepath.Join(dir, "alpha.yaml"), []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	s := &sweepDir{t: t, dir: dir}
	out, code := s.run(time.Minute, "validate", "alpha.yaml")
	if code != 0 && code != 2 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	if !regexp.MustCompile(`alpha\.yaml:\d+: search\.network_alpha: .*(exceed|above|ratio_of)`).MatchString(out) {
		t.Errorf("no message about alpha above dim:\n%s", out)
	}
}

// listTree lists every path under dir, relative to it.
func listTree(t *testing.T, dir string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out[rel] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
