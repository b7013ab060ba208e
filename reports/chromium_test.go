package reports

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// chromium finds Debian's headless-capable browser, or skips: scripts/test
// installs it (apt-get install -y chromium) where apt works.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("chromium not installed (apt-get install -y chromium): skipping the browser rendering test")
	return ""
}

var consoleErrRE = regexp.MustCompile(`(?i)(Uncaught|CONSOLE\(\d+\).*error|SyntaxError|ReferenceError|TypeError)`)

// TestReportInChromium opens the fixed sweep's report in headless Chromium:
// it must render without script errors, show the sample grid with its
// thumbnails, and show the <script> prompt as text (the page title would
// change if it ran).
func TestReportInChromium(t *testing.T) {
	bin := chromium(t)
	dir, html, _ := renderFixture(t)
	page := filepath.Join(dir, "report.html")
	if err := os.WriteFile(page, html, 0o644); err != nil {
		t.Fatal(err)
	}
	profile := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--no-first-run", "--user-data-dir="+profile, "--enable-logging=stderr", "--v=0", "--dump-dom", "file://"+page)
	cmd.Env = append(os.Environ(), "HOME="+profile)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, tail(stderr.String()))
	}
	dom := stdout.String()
	for _, line := range strings.Split(stderr.String(), "\n") {
		if strings.Contains(line, "CONSOLE") || strings.Contains(line, "Uncaught") {
			if consoleErrRE.MatchString(line) {
				t.Errorf("script error in the report: %s", line)
			}
		}
	}
	checks := []struct {
		name string
		ok   bool
	}{
		{"title unchanged (the hostile prompt did not run)", strings.Contains(dom, "<title>lorasweep report: golden &lt;sweep&gt;</title>")},
		{"sample grid rendered", strings.Contains(dom, `id="sample-grid"`)},
		{"thumbnails in the grid", strings.Count(dom, `src="data:image/png;base64,`) >= 3},
		{"hostile prompt shown as text", strings.Contains(dom, `&lt;script&gt;document.title="pwned"&lt;/script&gt; zkx toy &amp; "friends"`)},
		{"charts inline", strings.Count(dom, "<svg") >= 6},
		{"only the report's own script", strings.Count(dom, "<script") == 1},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("%s: not so in the rendered DOM (%d bytes)", c.name, len(dom))
		}
	}
}

func tail(s string) string {
	if len(s) > 2000 {
		return s[len(s)-2000:]
	}
	return s
}
