package faults

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDSNPasswordNeverShown points every command that takes a storage at
// PostgreSQL DSNs holding a password (flag, LORASWEEP_STORAGE, the spec's
// storage key) that cannot connect, and checks that no output carries the
// password.
func TestDSNPasswordNeverShown(t *testing.T) {
	const pw = "Pw-d0-not-print-7731"
	// Port 1 on loopback refuses at once: the error path is what leaks.
	dsn := "postgres://alice:" + pw + "@127.0.0.1:1/sweeps?sslmode=disable&connect_timeout=2"
	s := newSweep(t, specOpts{name: "secret", dsn: dsn, trials: 1})
	cases := []struct {
		name string
		env  []string
		args []string
	}{
		{"run with the spec's storage", nil, []string{"run", s.spec}},
		{"run with --storage", nil, []string{"run", "--storage", dsn, s.spec}},
		{"run with LORASWEEP_STORAGE", []string{"LORASWEEP_STORAGE=" + dsn}, []string{"run", s.spec}},
		{"trials", []string{"LORASWEEP_STORAGE=" + dsn}, []string{"trials", "--sweep", "secret"}},
		{"trials --storage", nil, []string{"trials", "--storage", dsn, "--sweep", "secret"}},
		{"validate", []string{"LORASWEEP_STORAGE=" + dsn}, []string{"validate", s.spec}},
		{"run verbose", nil, []string{"run", "-v", "--storage", dsn, s.spec}},
		{"report", []string{"LORASWEEP_STORAGE=" + dsn}, []string{"report", "--sweep", "secret"}},
		{"export --storage", nil, []string{"export", "--storage", dsn, "--sweep", "secret"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s.extraE = c.env
			out, code := s.run(time.Minute, c.args...)
			if strings.Contains(out, pw) {
				t.Errorf("exit %d; output shows the password:\n%s", code, out)
			}
			if c.args[0] != "validate" && code == 0 {
				t.Errorf("exit 0 with an unreachable storage:\n%s", out)
			}
		})
	}
	s.extraE = nil
}

// TestTrainerEnvHasNoSecrets runs a trial whose trainer prints its whole
// environment while the parent holds secrets, and checks that neither the
// trial folder (argv.json, env.json, trial.log, outputs) nor the database
// holds any of them; the spec's own env entries do reach the trainer.
func TestTrainerEnvHasNoSecrets(t *testing.T) {
	secrets := map[string]string{
		"PGPASSWORD":            "pgpw-5521",
		"MY_SERVICE_SECRET":     "svc-secret-9913",
		"AWS_SECRET_ACCESS_KEY": "aws-key-4410",
		"GITHUB_TOKEN":          "ghp-token-2210",
		"DATABASE_URL":          "postgres://u:dburl-pw-7788@db/x",
		"OPENAI_API_KEY":        "sk-openai-6602",
	}
	s := newSweep(t, specOpts{name: "envcheck", trials: 1})
	s.setFault(0, "envdump")
	for k, v := range secrets {
		s.extraE = append(s.extraE, k+"="+v)
	}
	// The storage password travels in the environment too.
	s.extraE = append(s.extraE, "LORASWEEP_STORAGE="+s.dsn+"?pw=lsstorage-pw-3319")
	secrets["LORASWEEP_STORAGE"] = "lsstorage-pw-3319"
	out, code := s.run(time.Minute, "run", "--storage", s.dsn, s.spec)
	if code != 0 {
		t.Fatalf("run exited %d:\n%s", code, out)
	}
	log := ""
	err := filepath.WalkDir(s.dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasPrefix(d.Name(), "trainer") {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if d.Name() == "trial.log" {
			log = string(data)
		}
		for k, v := range secrets {
			if strings.Contains(string(data), v) {
				t.Errorf("%s holds the value of %s", p, k)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log, "PLAN="+s.plan) {
		t.Errorf("the spec's env did not reach the trainer (or the dump is missing):\n%.3000s", log)
	}
	if !strings.Contains(log, "PATH=") {
		t.Errorf("the trainer lost PATH:\n%.3000s", log)
	}
}

// TestDSNPasswordNotInReportOrExport runs a sweep on a private PostgreSQL
// server through a DSN with a password (trust auth accepts and ignores it),
// then writes the report and every export format: neither the files nor the
// commands' output hold the password.
func TestDSNPasswordNotInReportOrExport(t *testing.T) {
	pg := startPG(t)
	s := newSweep(t, specOpts{name: "pwreport", dsn: pg.dsn, trials: 2})
	if out, code := s.run(time.Minute, "run", s.spec); code != 0 {
		t.Fatalf("run exited %d:\n%s", code, out)
	}
	cases := []struct {
		name string
		args []string
	}{
		{"report", []string{"report", "--storage", pg.dsn, "--sweep", s.name, "--out", filepath.Join(s.dir, "report.html")}},
		{"export kohya-toml", []string{"export", "--storage", pg.dsn, "--sweep", s.name, "--format", "kohya-toml", "--out", filepath.Join(s.dir, "best.toml")}},
		{"export gui-json", []string{"export", "--storage", pg.dsn, "--sweep", s.name, "--format", "gui-json", "--out", filepath.Join(s.dir, "best.json")}},
		{"export args", []string{"export", "--storage", pg.dsn, "--sweep", s.name, "--format", "args"}},
		{"export csv", []string{"export", "--storage", pg.dsn, "--sweep", s.name, "--format", "csv"}},
		{"export json", []string{"export", "--storage", pg.dsn, "--sweep", s.name, "--format", "json"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, code := s.run(time.Minute, c.args...)
			if strings.Contains(out, pgPassword) {
				t.Errorf("output shows the password:\n%s", out)
			}
			// The command trainer's config is no sd-scripts config: those
			// formats are refused, which must not leak either.
			refused := c.name != "report" && c.name != "export csv" && c.name != "export json"
			if code != 0 && !refused {
				t.Errorf("exit %d:\n%s", code, out)
			}
		})
	}
	files := 0
	err := filepath.WalkDir(s.dir, func(p string, d os.DirEntry, err error) error {
		// The spec is the user's own file, holding the DSN they wrote.
		if err != nil || d.IsDir() || p == s.spec {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		files++
		if strings.Contains(string(data), pgPassword) {
			t.Errorf("%s holds the DSN password", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(s.dir, "report.html")); err != nil {
		t.Errorf("no report written: %v", err)
	}
	t.Logf("%d files checked", files)
}
