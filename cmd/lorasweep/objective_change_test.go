package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

// objSweep is the e2e sweep in a temp dir, driven through the real binary.
type objSweep struct {
	t    *testing.T
	dir  string
	spec string // the spec as last written
}

func (s *objSweep) dsn() string { return "sqlite://" + filepath.Join(s.dir, "sweep.db") }

func (s *objSweep) write(spec string) {
	s.t.Helper()
	s.spec = spec
	if err := os.WriteFile(filepath.Join(s.dir, "sweep.yaml"), []byte(spec), 0o644); err != nil {
		s.t.Fatal(err)
	}
}

// edit replaces old by new in the spec, failing when old is not there.
func (s *objSweep) edit(spec, old, new string) string {
	s.t.Helper()
	if !strings.Contains(spec, old) {
		s.t.Fatalf("spec lacks %q", old)
	}
	return strings.Replace(spec, old, new, 1)
}

func (s *objSweep) cli(args ...string) (string, string, int) {
	s.t.Helper()
	return runCLI(s.t, s.dir, args...)
}

func (s *objSweep) read(args ...string) string {
	s.t.Helper()
	stdout, stderr, code := s.cli(append(args, "--sweep", "e2e", "--storage", s.dsn())...)
	if code != 0 {
		s.t.Fatalf("%v exited %d: %s", args, code, stderr)
	}
	return stdout
}

// snapshot is what a refused resume must leave as it was: every trial
// (values, states, objective versions), the status, the trial folders.
func (s *objSweep) snapshot() string {
	s.t.Helper()
	entries, _ := os.ReadDir(filepath.Join(s.dir, "runs", "e2e"))
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return s.read("trials", "--format", "json") + s.read("status") + strings.Join(names, ",")
}

var (
	statusBestRE = regexp.MustCompile(`(?m)^best: trial (\d+) `)
	reportBestRE = regexp.MustCompile(`Best: trial (\d+), value`)
	exportBestRE = regexp.MustCompile(`export of sweep "e2e", trial (\d+) `)
)

func firstMatch(t *testing.T, what string, re *regexp.Regexp, text string) int {
	t.Helper()
	m := re.FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("%s names no best trial:\n%s", what, text)
	}
	var n int
	fmt.Sscan(m[1], &n)
	return n
}

// runTableBest is the first ranked trial of run's final table.
func runTableBest(t *testing.T, stdout string) int {
	t.Helper()
	lines := strings.Split(stdout, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "rank ") && i+1 < len(lines) {
			f := strings.Fields(lines[i+1])
			if len(f) > 1 && f[0] == "1" {
				var n int
				fmt.Sscan(f[1], &n)
				return n
			}
		}
	}
	t.Fatalf("run printed no ranked table:\n%s", stdout)
	return -1
}

// serveBest starts `lorasweep serve` on a free loopback port and reads the
// best trial from the report page it serves.
func (s *objSweep) serveBest() int {
	s.t.Helper()
	cmd := exec.Command(lorasweepBinary(s.t), "serve", "--sweep", "e2e", "--storage", s.dsn(), "--addr", "127.0.0.1:0")
	cmd.Dir = s.dir
	cmd.Env = append(os.Environ(), "LORASWEEP_STORAGE=")
	out, err := cmd.StdoutPipe()
	if err != nil {
		s.t.Fatal(err)
	}
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGINT)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}()
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := regexp.MustCompile(`on (http://[^/ ]+)/`).FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
			}
		}
		close(addr)
	}()
	var base string
	select {
	case base = <-addr:
	case <-time.After(30 * time.Second):
		s.t.Fatal("serve printed no address in 30 s")
	}
	if base == "" {
		s.t.Fatal("serve exited before listening")
	}
	resp, err := http.Get(base + "/live/")
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		s.t.Fatalf("GET /live/: %d %s", resp.StatusCode, body)
	}
	return firstMatch(s.t, "serve /live/", reportBestRE, string(body))
}

// agree checks that run's final table, trials (table and JSON), status,
// the report, serve and export name the same best trial, and returns it
// with the JSON listing.
func (s *objSweep) agree(runStdout string) (int, []listedTrial) {
	s.t.Helper()
	best := map[string]int{"run": runTableBest(s.t, runStdout)}
	best["trials"] = runTableBest(s.t, s.read("trials"))
	var listing []listedTrial
	if err := json.Unmarshal([]byte(s.read("trials", "--format", "json")), &listing); err != nil {
		s.t.Fatal(err)
	}
	if len(listing) == 0 || listing[0].Rank != 1 {
		s.t.Fatalf("trials --format json: first entry %+v, want rank 1", listing)
	}
	best["trials json"] = listing[0].Number
	best["status"] = firstMatch(s.t, "status", statusBestRE, s.read("status"))
	report := filepath.Join(s.dir, "report.html")
	os.Remove(report)
	s.read("report", "--out", report)
	html, err := os.ReadFile(report)
	if err != nil {
		s.t.Fatal(err)
	}
	best["report"] = firstMatch(s.t, "report", reportBestRE, string(html))
	best["serve"] = s.serveBest()
	_, stderr, code := s.cli("export", "--sweep", "e2e", "--storage", s.dsn(), "--format", "args")
	if code != 0 {
		s.t.Fatalf("export exited %d: %s", code, stderr)
	}
	best["export"] = firstMatch(s.t, "export", exportBestRE, stderr)
	for view, n := range best {
		if n != best["run"] {
			s.t.Errorf("views disagree on the best trial: %v", best)
			break
		}
		_ = view
	}
	return best["run"], listing
}

type listedTrial struct {
	Rank             int      `json:"rank"`
	Number           int      `json:"number"`
	State            string   `json:"state"`
	Value            *float64 `json:"value"`
	ObjectiveVersion int      `json:"objective_version"`
	OlderObjective   bool     `json:"older_objective"`
}

// checkApart: no trial scored under an older objective is ranked, or
// listed above a trial of the current version.
func checkApart(t *testing.T, listing []listedTrial, version int) {
	t.Helper()
	seenOlder := false
	for _, l := range listing {
		if l.Value == nil {
			continue
		}
		switch {
		case l.OlderObjective:
			seenOlder = true
			if l.Rank != 0 || l.ObjectiveVersion >= version {
				t.Errorf("trial %d scored under older objective v%d is ranked %d (current v%d)", l.Number, l.ObjectiveVersion, l.Rank, version)
			}
		default:
			if seenOlder {
				t.Errorf("trial %d of the current objective is listed below an older one: %+v", l.Number, listing)
			}
			if l.ObjectiveVersion != version {
				t.Errorf("trial %d is ranked with objective version %d, current is %d", l.Number, l.ObjectiveVersion, version)
			}
		}
	}
}

// resumeWith runs the sweep again with a bigger budget and the flags,
// expecting success; it returns run's stdout.
func (s *objSweep) resumeWith(spec string, flags ...string) string {
	s.t.Helper()
	s.write(spec)
	stdout, stderr, code := s.cli(append(append([]string{"run", "-q"}, flags...), "sweep.yaml")...)
	if code != 0 {
		s.t.Fatalf("run %v exited %d\nstdout:\n%s\nstderr:\n%s", flags, code, stdout, stderr)
	}
	return stdout
}

func withBudget(spec string, n int) string {
	return regexp.MustCompile(`budget: \{trials: \d+,`).ReplaceAllString(spec, fmt.Sprintf("budget: {trials: %d,", n))
}

// A resume that changes the objective (direction, a weight, the reference
// folder or its images), a fixed arg, the base config or the trainer is
// refused with a diff naming the change, exit 2, nothing written. With the
// flag the sweep goes on under a new objective version, and every view
// names the same best trial; trials that could not be scored again are
// listed apart, never above the current version's.
func TestObjectiveChangeOnResume(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the real binary")
	}
	s := &objSweep{t: t, dir: t.TempDir()}
	base := withBudget(e2eSpec, 3)
	s.write(base)
	first, stderr, code := s.cli("run", "-q", "sweep.yaml")
	if code != 0 {
		t.Fatalf("first run exited %d: %s", code, stderr)
	}
	s.agree(first)

	refs := filepath.Join(s.dir, "demo", "references")
	imgs, err := os.ReadDir(refs)
	if err != nil || len(imgs) < 2 {
		t.Fatalf("demo references: %v %v", imgs, err)
	}
	swapIn := func(refs string) {
		a, b := filepath.Join(refs, imgs[0].Name()), filepath.Join(refs, imgs[1].Name())
		da, _ := os.ReadFile(a)
		db, _ := os.ReadFile(b)
		if err := os.WriteFile(a, db, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(b, da, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	swapRefs := func() { swapIn(refs) }
	baseTOML := filepath.Join(s.dir, "demo", "base.toml")
	origTOML, err := os.ReadFile(baseTOML)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(s.dir, "refs2"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, im := range imgs {
		b, _ := os.ReadFile(filepath.Join(refs, im.Name()))
		os.WriteFile(filepath.Join(s.dir, "refs2", im.Name()), b, 0o644)
	}

	bin := lorasweepBinary(t)
	for _, tc := range []struct {
		name  string
		spec  string
		setup func()
		undo  func()
		want  []string // in the refusal
	}{
		{name: "direction", spec: s.edit(base, "direction: maximize", "direction: minimize"),
			want: []string{"different objective", "direction: maximize → minimize", "--allow-objective-change"}},
		{name: "weight", spec: s.edit(base, "{kind: health, weight: 0.5}", "{kind: health, weight: 2}"),
			want: []string{"scorer health: weight 0.5 → 2", "--allow-objective-change"}},
		{name: "reference folder", spec: s.edit(base, "references: ./demo/references", "references: ./refs2"),
			want: []string{"scorer reference: references", "refs2", "--allow-objective-change"}},
		{name: "reference images", spec: base, setup: swapRefs, undo: swapRefs,
			want: []string{"scorer reference: reference images changed", "--allow-objective-change"}},
		{name: "fixed arg", spec: s.edit(base, "max_train_epochs: 4", "max_train_epochs: 2"),
			want: []string{"different trainer config", "trainer.fixed: max_train_epochs 4 → 2", "--allow-trainer-change"}},
		{name: "base config file", spec: base,
			setup: func() {
				if err := os.WriteFile(baseTOML, []byte(strings.Replace(string(origTOML), "train_batch_size = 2", "train_batch_size = 1", 1)), 0o644); err != nil {
					t.Fatal(err)
				}
			},
			undo: func() { os.WriteFile(baseTOML, origTOML, 0o644) },
			want: []string{"base config: train_batch_size 2 → 1", "--allow-trainer-change"}},
		{name: "trainer", spec: strings.Replace(s.edit(base, "  kind: builtin\n",
			fmt.Sprintf("  kind: command\n  command: [%q, train-builtin, --config_file, \"{config}\"]\n", bin)), "demo: ./demo\n", "", 1),
			want: []string{"trainer.kind: builtin → command", "--allow-trainer-change"}},
	} {
		t.Run("refused/"+tc.name, func(t *testing.T) {
			before := s.snapshot()
			if tc.setup != nil {
				tc.setup()
			}
			if tc.undo != nil {
				defer tc.undo()
			}
			s.write(withBudget(tc.spec, 5))
			defer s.write(base)
			stdout, stderr, code := s.cli("run", "-q", "sweep.yaml")
			if code != 2 {
				t.Errorf("exit %d, want 2\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("refusal lacks %q:\n%s", w, stderr)
				}
			}
			if after := s.snapshot(); after != before {
				t.Errorf("a refused resume changed the sweep:\nbefore %s\nafter  %s", before, after)
			}
		})
	}

	values := func(l []listedTrial) map[int]float64 {
		m := map[int]float64{}
		for _, x := range l {
			if x.Value != nil {
				m[x.Number] = *x.Value
			}
		}
		return m
	}
	_, v1 := s.agree(first)
	old := values(v1)

	// Direction: values are scored again (1 − the weighted mean), so the
	// same trials lead, and every view ranks by the new direction.
	spec := withBudget(s.edit(base, "direction: maximize", "direction: minimize"), 4)
	out := s.resumeWith(spec, "--allow-objective-change")
	best, listing := s.agree(out)
	checkApart(t, listing, 2)
	for n, v := range values(listing) {
		if o, ok := old[n]; ok && math.Abs((1-o)-v) > 1e-9 {
			t.Errorf("trial %d: %v under maximize, %v under minimize; want 1 − the old value", n, o, v)
		}
	}
	for _, l := range listing[1:] {
		if l.Rank > 0 && *l.Value < *listing[0].Value {
			t.Errorf("minimize: trial %d (%v) ranked below best trial %d (%v)", l.Number, *l.Value, best, *listing[0].Value)
		}
	}

	// A weight: stored components are reused under the new weight.
	spec = withBudget(s.edit(spec, "{kind: health, weight: 0.5}", "{kind: health, weight: 2}"), 5)
	out = s.resumeWith(spec, "--allow-objective-change")
	_, listing = s.agree(out)
	checkApart(t, listing, 3)
	for _, l := range listing {
		if l.OlderObjective {
			t.Errorf("trial %d could not be scored again after a weight change", l.Number)
		}
	}

	// Another reference folder with the same images: the reference scorer
	// scores the stored samples again, to the same values.
	prev := values(listing)
	spec = withBudget(s.edit(spec, "references: ./demo/references", "references: ./refs2"), 6)
	out = s.resumeWith(spec, "--allow-objective-change")
	_, listing = s.agree(out)
	checkApart(t, listing, 4)
	for n, v := range values(listing) {
		if o, ok := prev[n]; ok && math.Abs(o-v) > 1e-9 {
			t.Errorf("trial %d: %v before, %v scored again against the same images", n, o, v)
		}
	}

	// Changed reference images need the samples: a trial whose samples are
	// gone cannot be scored again and is listed apart.
	gone := listing[0].Number
	samples, _ := filepath.Glob(filepath.Join(s.dir, "runs", "e2e", fmt.Sprintf("trial-%04d", gone), "output", "sample", "*"))
	if len(samples) == 0 {
		t.Fatalf("trial %d has no samples on disk", gone)
	}
	for _, p := range samples {
		os.Remove(p)
	}
	swapIn(filepath.Join(s.dir, "refs2"))
	out = s.resumeWith(withBudget(spec, 7), "--allow-objective-change")
	best, listing = s.agree(out)
	checkApart(t, listing, 5)
	if best == gone {
		t.Errorf("trial %d, which could not be scored again, is still the best", gone)
	}
	apart := 0
	for _, l := range listing {
		if l.OlderObjective {
			apart++
			if l.Number != gone {
				t.Errorf("trial %d listed apart; only trial %d lost its samples", l.Number, gone)
			}
		}
	}
	if apart != 1 {
		t.Errorf("%d trial(s) listed apart, want 1 (trial %d): %+v", apart, gone, listing)
	}

	// A fixed arg and the base config: nothing trained before compares, so
	// every earlier trial is listed apart and the new ones lead.
	before := map[int]bool{}
	for _, l := range listing {
		before[l.Number] = true
	}
	spec = withBudget(s.edit(spec, "max_train_epochs: 4", "max_train_epochs: 2"), 9)
	out = s.resumeWith(spec, "--allow-trainer-change")
	best, listing = s.agree(out)
	checkApart(t, listing, 6)
	if before[best] {
		t.Errorf("best trial %d was trained before the fixed args changed", best)
	}
	var ranked []int
	for _, l := range listing {
		if l.Rank > 0 {
			ranked = append(ranked, l.Number)
			if before[l.Number] {
				t.Errorf("trial %d, trained before the change, is ranked", l.Number)
			}
		}
	}
	sort.Ints(ranked)
	if len(ranked) != 2 {
		t.Errorf("ranked trials %v, want the 2 trained after the change", ranked)
	}

	if err := os.WriteFile(baseTOML, []byte(strings.Replace(string(origTOML), "train_batch_size = 2", "train_batch_size = 1", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	defer os.WriteFile(baseTOML, origTOML, 0o644)
	out = s.resumeWith(withBudget(spec, 10), "--allow-trainer-change")
	_, listing = s.agree(out)
	checkApart(t, listing, 7)
}
