package faults

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestReportEscapesUserText plants script payloads in trial params (a
// categorical choice) and in a failed trial's log tail, writes the report
// and loads it in headless Chromium: no payload runs (each would mark the
// body with data-pwned), and the payload text is shown as text.
func TestReportEscapesUserText(t *testing.T) {
	chromium := "/usr/bin/chromium"
	if _, err := os.Stat(chromium); err != nil {
		t.Skipf("headless Chromium not installed: %v", err)
	}
	s := newSweep(t, specOpts{name: "xss", trials: 3, extra: ""})
	spec, err := os.ReadFile(s.spec)
	if err != nil {
		t.Fatal(err)
	}
	payloadChoice := `y: {choice: ["<img src=x onerror=\"document.body.setAttribute('data-pwned','param')\">", "<script>document.body.setAttribute('data-pwned','param2')</script>"]}`
	text := strings.Replace(string(spec), "y: {choice: [a, b, c]}", payloadChoice, 1)
	if err := os.WriteFile(s.spec, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	s.setFault(1, "xss")
	if out, code := s.run(time.Minute, "run", s.spec); code != 0 {
		t.Fatalf("run exited %d:\n%s", code, out)
	}
	report := filepath.Join(s.dir, "report.html")
	if out, code := s.run(time.Minute, "report", "--storage", s.dsn, "--sweep", s.name, "--out", report); code != 0 {
		t.Fatalf("report exited %d:\n%s", code, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--no-first-run", "--user-data-dir="+filepath.Join(s.dir, "profile"), "--dump-dom", "file://"+report)
	dom, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium: %v", err)
	}
	d := string(dom)
	if strings.Contains(d, "data-pwned=") {
		i := strings.Index(d, "data-pwned=")
		t.Errorf("a planted payload ran: %.80s", d[i:])
	}
	for _, visible := range []string{"&lt;script&gt;document.body.setAttribute", "&lt;img src=x onerror="} {
		if !strings.Contains(d, visible) {
			t.Errorf("payload text %q not shown as text", visible)
		}
	}
}
