package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Reading commands on a file that is not a lorasweep database (an empty
// file, a text file) refuse it by name and leave it untouched: they never
// write a schema into it.
func TestReadCommandsRefuseNonDatabases(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the real binary")
	}
	dir := t.TempDir()
	for _, tc := range []struct{ name, body, want string }{
		{"empty.db", "", "empty (0 bytes)"},
		{"notes.db", "my notes\n", "not a SQLite database"},
	} {
		path := filepath.Join(dir, tc.name)
		if err := os.WriteFile(path, []byte(tc.body), 0o644); err != nil {
			t.Fatal(err)
		}
		for _, args := range [][]string{
			{"trials", "--sweep", "x"},
			{"status", "--sweep", "x"},
			{"report", "--sweep", "x", "--out", filepath.Join(dir, "r.html")},
			{"export", "--sweep", "x"},
		} {
			_, stderr, code := runCLI(t, dir, append(args, "--storage", "sqlite://"+path)...)
			if code == 0 || !strings.Contains(stderr, tc.want) || !strings.Contains(stderr, tc.name) {
				t.Errorf("%s on %s: exit %d, stderr %q; want a refusal naming the file", args[0], tc.name, code, stderr)
			}
			if b, err := os.ReadFile(path); err != nil || string(b) != tc.body {
				t.Fatalf("%s changed %s to %d bytes (%v)", args[0], tc.name, len(b), err)
			}
		}
	}
}

// A preflight failure says "preflight:" once. The kohya trainer's script
// cannot print its --help here (python is /bin/false), so a base config key
// is checked against the built-in table and found unknown.
func TestPreflightMessage(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the real binary")
	}
	dir := t.TempDir()
	data := filepath.Join(dir, "data", "10_zkx toy")
	if err := os.MkdirAll(data, 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		filepath.Join(data, "a.png"):           "\x89PNG\r\n\x1a\n",
		filepath.Join(dir, "prompts.txt"):      "zkx toy\n",
		filepath.Join(dir, "train_network.py"): "",
		filepath.Join(dir, "base.toml"):        "pretrained_model_name_or_path = \"m\"\nnetwork_module = \"networks.lora\"\ntrain_data_dir = \"" + filepath.Join(dir, "data") + "\"\nsample_prompts = \"" + filepath.Join(dir, "prompts.txt") + "\"\nnot_a_real_arg = 3\n",
		filepath.Join(dir, "sweep.yaml"): `name: pf
storage: sqlite://sweep.db
output_root: ./runs
trainer:
  kind: kohya
  script: ./train_network.py
  python: /bin/false
  base: ./base.toml
  fixed: {max_train_epochs: 1}
search:
  learning_rate: {float: [1.0e-5, 1.0e-3], log: true}
objective: {direction: minimize, scorers: [{kind: loss}]}
budget: {trials: 1}
gpus: none
`,
	}
	for p, body := range files {
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, stderr, code := runCLI(t, dir, "run", "sweep.yaml")
	if code == 0 || !strings.Contains(stderr, "preflight: config key not_a_real_arg") {
		t.Fatalf("run exited %d, stderr %q; want a preflight failure naming the key", code, stderr)
	}
	if n := strings.Count(stderr, "preflight:"); n != 1 {
		t.Errorf("stderr says preflight: %d times, want once:\n%s", n, stderr)
	}
}
