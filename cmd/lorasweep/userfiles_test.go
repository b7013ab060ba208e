package main

import (
	"bufio"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// oneTrialSweep runs the e2e spec with a budget of one trial (the baseline
// alone: every log-scale param has one value, as after the quickstart's
// first trial) and returns its folder.
func oneTrialSweep(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	spec := strings.Replace(e2eSpec, "budget: {trials: 4, parallel: 2}", "budget: {trials: 1, parallel: 1}", 1)
	if spec == e2eSpec {
		t.Fatal("e2e spec has no budget line to change")
	}
	if err := os.WriteFile(filepath.Join(dir, "sweep.yaml"), []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	if stdout, stderr, code := runCLI(t, dir, "run", "sweep.yaml"); code != 0 {
		t.Fatalf("run exited %d\n%s\n%s", code, stdout, stderr)
	}
	return dir
}

// TestReportAfterOneTrial: the report and the live page of a sweep with one
// trial render in full (they failed on its one-value log axes).
func TestReportAfterOneTrial(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the real binary")
	}
	dir := oneTrialSweep(t)
	dsn := "sqlite://" + filepath.Join(dir, "sweep.db")
	_, stderr, code := runCLI(t, dir, "report", "--sweep", "e2e", "--storage", dsn, "--out", "report.html")
	if code != 0 {
		t.Fatalf("report exited %d: %s", code, stderr)
	}
	page, err := os.ReadFile(filepath.Join(dir, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(page), "<svg"); n < 6 || strings.Contains(string(page), "could not be drawn") {
		t.Errorf("report has %d charts or a chart that could not be drawn", n)
	}

	cmd := exec.Command(lorasweepBinary(t), "serve", "--sweep", "e2e", "--storage", dsn, "--addr", "127.0.0.1:0")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "LORASWEEP_STORAGE=")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGINT)
		_ = cmd.Wait()
	}()
	addr := make(chan string, 1)
	go func() {
		re := regexp.MustCompile(`on http://(\S+)/ `)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
				break
			}
		}
		_, _ = io.Copy(io.Discard, out)
	}()
	var a string
	select {
	case a = <-addr:
	case <-time.After(60 * time.Second):
		t.Fatal("serve printed no address")
	}
	resp, err := (&http.Client{Timeout: 60 * time.Second}).Get("http://" + a + "/live/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || strings.Contains(string(body), "could not be drawn") {
		t.Errorf("/live/ answered %d: %.300s", resp.StatusCode, body)
	}
}

// TestReportKeepsExistingFile: report --out never replaces a file the user
// has, says how to (--force), and --force does.
func TestReportKeepsExistingFile(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the real binary")
	}
	dir := oneTrialSweep(t)
	dsn := "sqlite://" + filepath.Join(dir, "sweep.db")
	mine := filepath.Join(dir, "notes.html")
	if err := os.WriteFile(mine, []byte("my notes"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := runCLI(t, dir, "report", "--sweep", "e2e", "--storage", dsn, "--out", "notes.html")
	if code == 0 || !strings.Contains(stderr, "exists") || !strings.Contains(stderr, "--force") {
		t.Errorf("report over an existing file: exit %d, stderr %q; want a refusal that names --force", code, stderr)
	}
	if b, _ := os.ReadFile(mine); string(b) != "my notes" {
		t.Fatalf("the user's file was changed: %.60q", b)
	}
	// The README's line, run twice: the second run refuses the same way.
	for i, want := range []int{0, 2} {
		_, stderr, code := runCLI(t, dir, "report", "--sweep", "e2e", "--storage", dsn, "--out", "report.html")
		if code != want {
			t.Errorf("report run %d exited %d, want %d: %s", i+1, code, want, stderr)
		}
	}
	if _, stderr, code := runCLI(t, dir, "report", "--sweep", "e2e", "--storage", dsn, "--out", "notes.html", "--force"); code != 0 {
		t.Fatalf("report --force exited %d: %s", code, stderr)
	}
	if b, _ := os.ReadFile(mine); !strings.Contains(string(b), "<svg") {
		t.Error("report --force did not replace the file with a report")
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".report-*")); len(left) > 0 {
		t.Errorf("temporary files left behind: %v", left)
	}
}

// TestDemoInitKeepsUserFiles: demo init writes into a new or empty folder,
// refuses one with files (naming --force) and leaves them as they were.
func TestDemoInitKeepsUserFiles(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the real binary")
	}
	dir := t.TempDir()
	user := filepath.Join(dir, "mine")
	if err := os.MkdirAll(user, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{"README.txt": "my readme", "prompts.txt": "my prompts"} {
		if err := os.WriteFile(filepath.Join(user, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, stderr, code := runCLI(t, dir, "demo", "init", "mine")
	if code == 0 || !strings.Contains(stderr, "not empty") || !strings.Contains(stderr, "--force") {
		t.Errorf("demo init over a folder with files: exit %d, stderr %q; want a refusal that names --force", code, stderr)
	}
	for name, body := range map[string]string{"README.txt": "my readme", "prompts.txt": "my prompts"} {
		if b, _ := os.ReadFile(filepath.Join(user, name)); string(b) != body {
			t.Errorf("%s was changed to %.40q", name, b)
		}
	}
	if _, err := os.Stat(filepath.Join(user, "base.toml")); err == nil {
		t.Error("demo init wrote into the refused folder")
	}
	if err := os.MkdirAll(filepath.Join(dir, "empty"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"new", "empty"} {
		if _, stderr, code := runCLI(t, dir, "demo", "init", d); code != 0 {
			t.Errorf("demo init %s exited %d: %s", d, code, stderr)
		}
		if _, err := os.Stat(filepath.Join(dir, d, "base.toml")); err != nil {
			t.Errorf("demo init %s: %v", d, err)
		}
	}
	if _, stderr, code := runCLI(t, dir, "demo", "init", "mine", "--force"); code != 0 {
		t.Fatalf("demo init --force exited %d: %s", code, stderr)
	}
	if b, _ := os.ReadFile(filepath.Join(user, "README.txt")); string(b) == "my readme" {
		t.Error("demo init --force did not write the demo's README.txt")
	}
}
