package main

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/c-bata/goptuna"

	"github.com/lorasweep/lorasweep/runner"
	"github.com/lorasweep/lorasweep/sweep"
)

// liveView shows a running sweep: on a terminal, one redrawn progress line
// per running trial plus a totals line; otherwise plain lines when trials
// start and finish (logs and CI keep a readable record).
type liveView struct {
	w    io.Writer
	tty  bool
	spec *sweep.Spec
	now  func() time.Time

	mu       sync.Mutex
	ctl      *sweep.Controller
	running  map[int]*liveTrial
	done     int
	pruned   int
	failed   int
	best     float64
	bestN    int
	hasBest  bool
	drawn    int
	lastDraw time.Time
}

// liveTrial is one running trial's latest progress.
type liveTrial struct {
	number  int
	gpus    []string
	started time.Time
	epoch   int
	epochs  int
	step    int
	total   int
	loss    float64
}

func newLiveView(w io.Writer, spec *sweep.Spec, tty bool) *liveView {
	return &liveView{w: w, tty: tty, spec: spec, now: time.Now, running: map[int]*liveTrial{}}
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// attach sets the controller's hooks to feed the view.
func (v *liveView) attach(ctl *sweep.Controller) {
	v.ctl = ctl
	ctl.OnTrialStart = v.trialStarted
	ctl.OnTrialDone = v.trialDone
	ctl.OnEvent = v.event
	ctl.OnPhase = func(phase string) {
		v.println(fmt.Sprintf("phase: %s (re-training the %d best configs with %d new seeds each)", phase, v.spec.Budget.RepeatTop, v.spec.Budget.RepeatSeeds))
	}
	ctl.OnFreed = func(paths []string, n int64) {
		v.println(fmt.Sprintf("retention: deleted %d checkpoint(s), %s freed", len(paths), formatBytes(n)))
	}
}

func (v *liveView) trialStarted(n int, gpus []string, params map[string]any) {
	v.mu.Lock()
	v.running[n] = &liveTrial{number: n, gpus: gpus, started: v.now()}
	v.mu.Unlock()
	v.println(fmt.Sprintf("trial %d started on %s: %s", n, strings.Join(gpus, ","), v.spec.FormatTrainedParams(params)))
}

func (v *liveView) trialDone(s sweep.TrialSummary) {
	v.mu.Lock()
	delete(v.running, s.Number)
	switch s.State {
	case goptuna.TrialStateComplete:
		v.done++
	case goptuna.TrialStatePruned:
		v.pruned++
	default:
		v.failed++
	}
	if s.HasValue {
		maximize := sweep.Direction(v.spec.Objective.Direction) == goptuna.StudyDirectionMaximize
		if !v.hasBest || (maximize && s.Value > v.best) || (!maximize && s.Value < v.best) {
			v.best, v.bestN, v.hasBest = s.Value, s.Number, true
		}
	}
	v.mu.Unlock()
	v.println(trialDoneLine(s))
}

func (v *liveView) event(n int, ev runner.Event) {
	v.mu.Lock()
	t, ok := v.running[n]
	if !ok {
		v.mu.Unlock()
		return
	}
	switch ev.Kind {
	case runner.EventProgress:
		t.step, t.total, t.loss = ev.Step, ev.Total, ev.Loss
	case runner.EventEpoch:
		t.epoch, t.epochs = ev.Epoch, ev.Epochs
	}
	// A redraw at most every 200ms: trainers print progress many times a
	// second and a terminal is slower than that.
	redraw := v.tty && v.now().Sub(v.lastDraw) >= 200*time.Millisecond
	if redraw {
		v.redrawLocked()
	}
	v.mu.Unlock()
}

// println prints a line above the live block (or as a plain line).
func (v *liveView) println(line string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if !v.tty {
		fmt.Fprintln(v.w, line)
		return
	}
	v.clearLocked()
	fmt.Fprintln(v.w, line)
	v.redrawLocked()
}

func (v *liveView) clearLocked() {
	if v.drawn > 0 {
		fmt.Fprintf(v.w, "\x1b[%dA\x1b[J", v.drawn)
		v.drawn = 0
	}
}

func (v *liveView) redrawLocked() {
	v.clearLocked()
	lines := v.linesLocked()
	for _, l := range lines {
		fmt.Fprintf(v.w, "\r\x1b[K%s\n", l)
	}
	v.drawn = len(lines)
	v.lastDraw = v.now()
}

// linesLocked renders one line per running trial and a totals line.
func (v *liveView) linesLocked() []string {
	nums := make([]int, 0, len(v.running))
	for n := range v.running {
		nums = append(nums, n)
	}
	sort.Ints(nums)
	now := v.now()
	var out []string
	for _, n := range nums {
		t := v.running[n]
		gpu := strings.Join(t.gpus, ",")
		if gpu == "" {
			gpu = "cpu"
		}
		line := fmt.Sprintf("  trial %-4d %-8s epoch %d/%d", t.number, gpu, t.epoch, t.epochs)
		if t.total > 0 {
			// Trainers whose lines carry no step count show none.
			line += fmt.Sprintf("  step %d/%d", t.step, t.total)
		}
		line += fmt.Sprintf("  loss %.4g", t.loss)
		if t.total > 0 && t.step > 0 {
			el := now.Sub(t.started)
			eta := time.Duration(float64(el) * float64(t.total-t.step) / float64(t.step))
			line += "  ETA " + eta.Round(time.Second).String()
		}
		out = append(out, line)
	}
	tot := fmt.Sprintf("  done %d  pruned %d  failed %d  running %d", v.done, v.pruned, v.failed, len(v.running))
	if v.hasBest {
		tot += fmt.Sprintf("  best %.4g (trial %d)", v.best, v.bestN)
	}
	if v.ctl != nil {
		if d := v.ctl.Deadline(); !d.IsZero() {
			tot += "  deadline in " + d.Sub(now).Round(time.Minute).String()
		}
	}
	return append(out, tot)
}

// close erases the live block so the final ranking prints cleanly.
func (v *liveView) close() {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.tty {
		v.clearLocked()
	}
}
