package faults

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/c-bata/goptuna"

	"github.com/lorasweep/lorasweep/storage"
	"github.com/lorasweep/lorasweep/sweep"
)

// bin is the lorasweep binary built once by TestMain; fixtures holds files
// every test shares read-only (the sample PNG, the fault trainer).
var (
	bin      string
	fixtures string
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	tmp, err := os.MkdirTemp("", "lorasweep-faults-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "faults:", err)
		return 1
	}
	defer os.RemoveAll(tmp)
	// LORASWEEP_FAULTS_BIN runs the suite against a binary built
	// elsewhere (CI builds once for several suites); otherwise this tree's
	// binary is built here.
	if bin = os.Getenv("LORASWEEP_FAULTS_BIN"); bin == "" {
		bin = filepath.Join(tmp, "lorasweep")
		build := exec.Command("go", "build", "-o", bin, "github.com/lorasweep/lorasweep/cmd/lorasweep")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "faults: build lorasweep:", err)
			return 1
		}
	}
	fixtures = filepath.Join(tmp, "fixtures")
	if err := writeFixtures(fixtures); err != nil {
		fmt.Fprintln(os.Stderr, "faults:", err)
		return 1
	}
	return m.Run()
}

// trainerScript is the fault trainer: a POSIX shell script run by the
// command trainer as `sh trainer.sh TRIAL OUTPUT_DIR`. It trains "normally"
// (epoch lines, loss lines, one sample PNG per epoch) unless $PLAN/<trial>
// names a fault. Every process it starts appends its pid to $PLAN/pids so
// the tests can check that none outlives the sweep.
const trainerScript = `#!/bin/sh
trial=$1; out=$2
mode=ok
[ -f "$PLAN/$trial" ] && mode=$(cat "$PLAN/$trial")
echo "$$ $trial" >> "$PLAN/pids"
epochs=${EPOCHS:-3}
mkdir -p "$out/sample"
case $mode in
ignore_term) trap '' TERM ;;
fork) sh -c 'echo "$$ grandchild" >> "$PLAN/pids"; exec sleep 600' & ;;
setsid|setsidhang) setsid sh -c 'echo "$$ escaped" >> "$PLAN/pids"; exec sleep 600' & ;;
esac
echo "fault trainer: trial $trial mode $mode"
# GPULOCK: the test checks that no two trainers share a card, across runs:
# each holds a flock on its card's file while it (or any child) lives.
if [ -n "$GPULOCK" ]; then
  exec 9>>"$GPULOCK/gpu$CUDA_VISIBLE_DEVICES"
  flock -n 9 || echo "trial $trial of $PLAN on GPU $CUDA_VISIBLE_DEVICES" >> "$GPULOCK/overlaps"
  echo "$CUDA_VISIBLE_DEVICES" >> "$GPULOCK/seen"
fi
[ "$mode" = envdump ] && env
e=1
while [ $e -le $epochs ]; do
  echo "epoch $e/$epochs"
  if [ $e -eq 2 ]; then
    case $mode in
    hung|setsidhang) sleep 600 ;;
    slow) i=0; while [ $i -lt 600 ]; do echo "still training $i"; sleep 0.1; i=$((i+1)); done ;;
    ignore_term) sleep 600; sleep 600 ;;
    esac
  fi
  s=1
  while [ $s -le 2 ]; do
    if [ "$mode" = nan ] && [ $e -eq 2 ]; then echo "step $s loss=nan"; else echo "step $s loss=0.$trial$e$s"; fi
    sleep ${STEP_SLEEP:-0.02}
    s=$((s+1))
  done
  case $mode in
  nosamples) ;;
  corruptpng) head -c 3000 /dev/urandom > "$out/sample/e$e.png"; echo "sample: sample/e$e.png" ;;
  *) cp "$IMG" "$out/sample/e$e.png"; echo "sample: sample/e$e.png" ;;
  esac
  if [ $e -eq 2 ]; then
    case $mode in
    exit1) echo "Traceback (most recent call last):"; echo "RuntimeError: injected crash"; exit 1 ;;
    garbage) head -c 65536 /dev/urandom; head -c 3000000 /dev/zero | tr '\000' 'x'; echo; echo "garbage done"; exit 7 ;;
    fill) dd if=/dev/zero of="$out/filler" bs=1024 count=4096 2>/dev/null; dd if=/dev/zero of=/dev/full bs=1024 count=1; exit 1 ;;
    fork) echo "leaving a grandchild behind"; exit 3 ;;
    xss) echo "<script>document.body.setAttribute('data-pwned','log')</script><img src=x onerror=\"document.body.setAttribute('data-pwned','logimg')\">"; exit 1 ;;
    xssdetail) echo "RuntimeError: CUDA out of memory. <script>document.title='pwned';document.body.setAttribute('data-pwned','detail')</script>"; exit 1 ;;
    fillreal) dd if=/dev/zero of="$out/filler" bs=1024 count=8192; exit 1 ;;
    filldb) dd if=/dev/zero of="$PLAN/../db/filler" bs=1024 count=65536 2>/dev/null ;;
    esac
  fi
  e=$((e+1))
done
# breakroot: the output root turns into a file (a mount gone wrong): the
# trials after this one cannot create their folders.
[ "$mode" = breakroot ] && root=$(dirname "$(dirname "$out")") && mv "$root" "$root.moved" && : > "$root"
echo "training finished"
`

// writeFixtures writes the sample image (smooth, varied: what a healthy
// sample looks like to the health scorer) and the fault trainer.
func writeFixtures(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	img := image.NewRGBA(image.Rect(0, 0, 64, 64))
	for y := 0; y < 64; y++ {
		for x := 0; x < 64; x++ {
			r := uint8(40 + 3*x)
			g := uint8(60 + 2*y)
			b := uint8(120 + (x*y)%60)
			if (x-32)*(x-32)+(y-28)*(y-28) < 150 {
				r, g, b = 200, 120, 60
			}
			img.Set(x, y, color.RGBA{r, g, b, 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "sample.png"), buf.Bytes(), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "trainer.sh"), []byte(trainerScript), 0o755)
}

// sweepDir is one test's sweep: a spec using the fault trainer, its
// database and plan folder, all under t.TempDir().
type sweepDir struct {
	t      *testing.T
	dir    string
	name   string
	spec   string
	dsn    string
	plan   string
	runs   string // output root
	extraE []string
}

// specOpts shapes newSweep's spec.
type specOpts struct {
	name     string
	trials   int
	parallel int
	epochs   int
	step     string // seconds each training step sleeps
	dsn      string // default: sqlite in the dir
	extra    string // YAML appended at top level
	scorer   string // objective scorers (YAML list items); default health
	budget   string // extra budget keys
	retries  int    // budget.retries (default 5)
	gpus     string // the spec's gpus (default none)
	env      string // more trainer env entries (", KEY: value")
}

func newSweep(t *testing.T, o specOpts) *sweepDir {
	t.Helper()
	dir := t.TempDir()
	if o.name == "" {
		o.name = "faults"
	}
	if o.trials == 0 {
		o.trials = 4
	}
	if o.parallel == 0 {
		o.parallel = 1
	}
	if o.epochs == 0 {
		o.epochs = 3
	}
	if o.step == "" {
		o.step = "0.02"
	}
	s := &sweepDir{t: t, dir: dir, name: o.name, plan: filepath.Join(dir, "plan"), runs: filepath.Join(dir, "runs")}
	s.dsn = o.dsn
	if s.dsn == "" {
		s.dsn = "sqlite://" + filepath.Join(dir, "sweep.db")
	}
	if err := os.MkdirAll(s.plan, 0o755); err != nil {
		t.Fatal(err)
	}
	if o.retries == 0 {
		o.retries = 5
	}
	if o.gpus == "" {
		o.gpus = "none"
	}
	scorers := o.scorer
	if scorers == "" {
		scorers = "    - {kind: health, weight: 1}\n"
	}
	spec := fmt.Sprintf(`name: %s
storage: %s
output_root: %s
trainer:
  kind: command
  command: [sh, %s, "{trial}", "{output_dir}"]
  env: {PLAN: %s, IMG: %s, EPOCHS: "%d", STEP_SLEEP: "%s"%s}
  loss_regex: 'loss=([0-9.]+|nan)'
  epoch_regex: '^epoch (\d+)/(\d+)'
  sample_regex: '^sample: (\S+)'
  success_regex: '^training finished'
  hang_timeout: 2s
  kill_grace: 1s
search:
  x: {float: [0.0, 1.0]}
  y: {choice: [a, b, c]}
sampler: {kind: random, seed: 7}
objective:
  direction: maximize
  scorers:
%sbudget: {trials: %d, parallel: %d, trial_timeout: 60s, retries: %d%s}
gpus: %s
%s`, o.name, s.dsn, s.runs, filepath.Join(fixtures, "trainer.sh"), s.plan, filepath.Join(fixtures, "sample.png"),
		o.epochs, o.step, o.env, scorers, o.trials, o.parallel, o.retries, o.budget, o.gpus, o.extra)
	s.spec = filepath.Join(dir, "sweep.yaml")
	if err := os.WriteFile(s.spec, []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	return s
}

// setFault makes trial number n run the named fault mode of the trainer.
func (s *sweepDir) setFault(n int, mode string) {
	s.t.Helper()
	if err := os.WriteFile(filepath.Join(s.plan, strconv.Itoa(n)), []byte(mode), 0o644); err != nil {
		s.t.Fatal(err)
	}
}

// command returns `lorasweep args...` run in the sweep's folder.
func (s *sweepDir) command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = s.dir
	cmd.Env = append(os.Environ(), s.extraE...)
	// The test may kill -9 the sweep: put it in its own group so stray
	// output pipes do not keep the test waiting, and kill it if the test
	// ends first.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// run runs `lorasweep args...` to completion and returns its combined output
// and exit code.
func (s *sweepDir) run(timeout time.Duration, args ...string) (string, int) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := s.command(ctx, args...)
	out, err := cmd.CombinedOutput()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			s.t.Fatalf("lorasweep %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		code = ee.ExitCode()
	}
	if ctx.Err() != nil {
		s.t.Fatalf("lorasweep %s: timed out after %v\n%s", strings.Join(args, " "), timeout, out)
	}
	return string(out), code
}

// trialView is one trial as recorded in storage, with its latest run.
type trialView struct {
	Number int
	State  goptuna.TrialState
	Value  float64
	Reason string
	Attrs  map[string]string
	Run    *sweep.RunRecord
	Params map[string]any
}

// trials reads the sweep's trials and runs through the storage's public API.
func (s *sweepDir) trials() []trialView {
	s.t.Helper()
	ctx := context.Background()
	st, err := storage.Open(ctx, s.dsn)
	if err != nil {
		s.t.Fatalf("open storage: %v", err)
	}
	defer st.Close()
	id, err := st.GetStudyIDFromName(s.name)
	if errors.Is(err, storage.ErrStudyNotFound) {
		return nil // killed before the study was created
	}
	if err != nil {
		s.t.Fatalf("find study %s: %v", s.name, err)
	}
	all, err := st.GetAllTrials(id)
	if err != nil {
		s.t.Fatalf("read trials: %v", err)
	}
	runs, err := st.Runs(ctx, id)
	if err != nil {
		s.t.Fatalf("read runs: %v", err)
	}
	byTrial := map[int]*sweep.RunRecord{}
	for i := range runs {
		byTrial[runs[i].TrialID] = &runs[i]
	}
	var out []trialView
	for _, ft := range all {
		v := trialView{Number: ft.Number, State: ft.State, Value: ft.Value, Attrs: ft.SystemAttrs, Run: byTrial[ft.ID], Params: ft.Params}
		v.Reason = ft.SystemAttrs["lorasweep:fail_reason"]
		if v.Run != nil && v.Reason == "" {
			v.Reason = v.Run.Reason
		}
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Number < out[j].Number })
	return out
}

// countStates counts trials per state.
func countStates(ts []trialView) map[goptuna.TrialState]int {
	m := map[goptuna.TrialState]int{}
	for _, t := range ts {
		m[t.State]++
	}
	return m
}

// recordedPids lists every pid the fault trainer and its children wrote.
func (s *sweepDir) recordedPids() []int {
	data, err := os.ReadFile(filepath.Join(s.plan, "pids"))
	if err != nil {
		return nil
	}
	var pids []int
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if p, err := strconv.Atoi(f[0]); err == nil {
			pids = append(pids, p)
		}
	}
	return pids
}

// alive reports whether pid is a live (non-zombie) process.
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil {
		return false
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name.
	if i := bytes.LastIndexByte(data, ')'); i >= 0 && i+2 < len(data) {
		return data[i+2] != 'Z'
	}
	return true
}

// noLeftovers fails the test if any process the trainer started is still
// running within wait (the supervisor needs a moment after its parent dies).
func (s *sweepDir) noLeftovers(wait time.Duration) {
	s.t.Helper()
	deadline := time.Now().Add(wait)
	for {
		var live []int
		for _, p := range s.recordedPids() {
			if alive(p) {
				live = append(live, p)
			}
		}
		if len(live) == 0 {
			return
		}
		if time.Now().After(deadline) {
			for _, p := range live {
				_ = syscall.Kill(p, syscall.SIGKILL)
			}
			s.t.Fatalf("trainer processes left behind: %v", live)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
