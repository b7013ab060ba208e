package runner

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/lorasweep/lorasweep/internal/proc"
	"github.com/lorasweep/lorasweep/kohya"
)

// Default limits used when the TrainerSpec leaves them zero.
const (
	DefaultKillGrace = 10 * time.Second
	// DefaultHangTimeout is generous: sd-scripts prints nothing while it
	// loads a checkpoint or caches latents of a large dataset.
	DefaultHangTimeout = 30 * time.Minute
	logTailLines       = 40
)

// Files written into Job.Dir by Run.
const (
	ConfigFile  = "trial.toml"
	PromptsFile = "prompts.txt"
	ArgvFile    = "argv.json"
	EnvFile     = "env.json"
	LogFile     = "trial.log"
)

// prepared is what an adapter sets up for one run.
type prepared struct {
	argv       []string
	env        []string // additions to the base environment
	outputDir  string
	outputName string
	prompts    []kohya.Prompt
	config     kohya.Config       // the config written (kohya, builtin)
	release    func()             // returned by dataset views; may be nil
	warmUntil  func(started bool) // called once training has started (or the run ended without); may be nil
	seen       map[string]bool    // sample files already reported
	warnings   []string           // kept in the outcome
	exited     bool               // the trainer is gone: the last scan
}

// adapter is one trainer's contract: build argv/env/files, parse lines into
// events, find artifacts and decide the outcome.
type adapter interface {
	prepare(ctx context.Context, lease *Lease, job Job) (*prepared, error)
	newParser(pr *prepared) lineParser
	// scanSamples lists sample images not reported yet; epoch is the epoch
	// new files belong to when their names do not say (command trainers).
	scanSamples(pr *prepared, epoch int) []Sample
	finish(pr *prepared, st *runState, out *Outcome)
}

// lineParser turns one console line into events; failure is a Reason that
// must stop the trainer at once (nan), or "".
type lineParser interface {
	feed(line string) (evs []Event, stop Reason, stopDetail string)
	summary() kohya.LogSummary
}

// runState is what Run observed, handed to the adapter's finish.
type runState struct {
	exitCode   int
	stopReason Reason
	stopDetail string
	modelSaved bool
	parser     lineParser
}

func (p *Pool) adapter() adapter {
	switch p.cfg.Trainer.Kind {
	case KindCommand:
		return &commandAdapter{pool: p}
	default:
		return &kohyaAdapter{pool: p}
	}
}

// Run prepares job.Dir (config TOML, prompts, argv.json, env.json,
// trial.log), starts the trainer under a supervisor in its own process group
// on the lease, streams events to onEvent (called from the calling goroutine,
// in order; it must not block long), and returns how it ended. When ctx is
// done the trainer is stopped (SIGTERM, grace, SIGKILL to the group); if
// context.Cause(ctx) is ErrPruned the reason is ReasonPruned, otherwise
// ReasonInterrupted. A trainer printing nothing for the hang timeout is
// stopped as hung; one running past job.Timeout as timeout; one whose loss
// turns NaN as nan.
func (p *Pool) Run(ctx context.Context, lease *Lease, job Job, onEvent func(Event)) Outcome {
	if onEvent == nil {
		onEvent = func(Event) {}
	}
	out := Outcome{Started: time.Now(), ExitCode: -1, Checkpoints: map[int]string{}}
	if !lease.CPU() {
		out.GPUs = lease.GPUs()
	}
	fail := func(r Reason, format string, a ...any) Outcome {
		out.Reason, out.Detail, out.Ended = r, fmt.Sprintf(format, a...), time.Now()
		return out
	}
	if err := os.MkdirAll(job.Dir, 0o755); err != nil {
		return fail(writeReason(err), "create trial dir: %v", err)
	}
	out.LogPath = filepath.Join(job.Dir, LogFile)
	if _, err := os.Stat(out.LogPath); err == nil {
		return fail(ReasonCrash, "trial dir %s already holds a run; a retry needs a new dir", job.Dir)
	}
	ad := p.adapter()
	pr, err := ad.prepare(ctx, lease, job)
	if err != nil {
		var re *reasonError
		if errors.As(err, &re) {
			return fail(re.reason, "%v", re.err)
		}
		return fail(ReasonCrash, "prepare trial: %v", err)
	}
	if pr.release != nil {
		defer pr.release()
	}
	env := append(append(append([]string(nil), p.cfg.Env...), lease.Env()...), pr.env...)
	added := append(lease.Env(), pr.env...)
	if err := writeJSON(filepath.Join(job.Dir, ArgvFile), pr.argv); err != nil {
		return fail(writeReason(err), "write argv: %v", err)
	}
	if err := writeJSON(filepath.Join(job.Dir, EnvFile), added); err != nil {
		return fail(writeReason(err), "write env: %v", err)
	}
	logf, err := os.OpenFile(out.LogPath, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return fail(writeReason(err), "create log: %v", err)
	}
	defer logf.Close()

	grace := p.cfg.Trainer.KillGrace.D()
	if grace <= 0 {
		grace = DefaultKillGrace
	}
	spec := proc.Spec{Argv: pr.argv, Env: env, Dir: job.Dir, Grace: grace, Hold: lease.files}
	if p.cfg.Self != "" {
		spec.Supervisor = []string{p.cfg.Self, "supervise"}
	}
	pc, err := proc.Start(spec)
	if err != nil {
		return fail(ReasonCrash, "%v", err)
	}
	out.PID = pc.PID()
	p.log.Info("trial started", "trial", job.Number, "pid", out.PID, "gpus", lease.GPUs(), "dir", job.Dir)

	st := &runState{parser: ad.newParser(pr)}
	var stopMu sync.Mutex
	stop := func(r Reason, detail string) {
		stopMu.Lock()
		first := st.stopReason == ""
		if first {
			st.stopReason, st.stopDetail = r, detail
		}
		stopMu.Unlock()
		if first {
			go pc.Stop()
		}
	}

	// Watchers: cancellation, timeout and silence. They only ever stop the
	// process; the reading loop below sees EOF and finishes. They run until
	// the output ends, not until the group leader exits: a descendant that
	// left the group (setsid) can hold the pipe open after the trainer is
	// gone, so once the leader has exited the output is drained for at most
	// the kill grace, then its holders are killed and the pipe closed.
	var lastOutput atomic.Int64
	lastOutput.Store(time.Now().UnixNano())
	hang := p.cfg.Trainer.HangTimeout.D()
	if hang <= 0 {
		hang = DefaultHangTimeout
	}
	readDone := make(chan struct{})
	watchDone := make(chan struct{})
	var strays []int
	var endRead sync.Once
	// stopWatch ends the watchers once the output is read (deferred too, so
	// no return path leaves them running).
	stopWatch := func() {
		endRead.Do(func() { close(readDone) })
		<-watchDone
	}
	defer stopWatch()
	go func() {
		defer close(watchDone)
		var timeout <-chan time.Time
		if job.Timeout > 0 {
			t := time.NewTimer(job.Timeout)
			defer t.Stop()
			timeout = t.C
		}
		tick := time.NewTicker(min(hang/4, time.Second))
		defer tick.Stop()
		cancelled, leader := ctx.Done(), pc.Done()
		var drain <-chan time.Time
		// cut ends a drain that outlasted its bound or was cut short. Once
		// the leader has exited, its verdict stands: a cancel or timeout
		// then only ends the drain.
		cut := func() {
			strays = pc.KillOutputHolders()
			drain, timeout, cancelled = nil, nil, nil
		}
		for {
			select {
			case <-readDone:
				return
			case <-leader:
				leader = nil
				t := time.NewTimer(grace)
				defer t.Stop()
				drain = t.C
			case <-drain:
				cut()
			case <-cancelled:
				cancelled = nil
				switch {
				case leader == nil:
					cut()
				case errors.Is(context.Cause(ctx), ErrPruned):
					stop(ReasonPruned, DetailPruned)
				default:
					stop(ReasonInterrupted, "stopped by lorasweep")
				}
			case <-timeout:
				timeout = nil
				if leader == nil {
					cut()
				} else {
					stop(ReasonTimeout, fmt.Sprintf("ran longer than the trial timeout %v", job.Timeout))
				}
			case <-tick.C:
				if silent := time.Since(time.Unix(0, lastOutput.Load())); silent > hang && leader != nil {
					stop(ReasonHung, fmt.Sprintf("printed nothing for %v", silent.Round(time.Second)))
				}
			}
		}
	}()

	tail := make([]string, 0, logTailLines)
	r := io.TeeReader(&touchReader{r: pc.Output(), t: &lastOutput}, logf)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), kohya.MaxLogLine+1)
	sc.Split(kohya.ScanLogLines)
	lines := make(chan string, 64)
	go func() {
		defer close(lines)
		for sc.Scan() {
			lines <- sc.Text()
		}
		// A read error after the group is gone is of no interest; the exit
		// status and the log decide the outcome.
		_, _ = io.Copy(io.Discard, r)
	}()
	onEvent(Event{Kind: EventPrepared, Time: time.Now(), Expected: len(pr.prompts)})
	report := func(s []Sample, epoch int) {
		if len(s) > 0 {
			out.Samples = append(out.Samples, s...)
			onEvent(Event{Kind: EventSamples, Time: time.Now(), Epoch: epoch, Samples: s})
		}
	}
	// Samples are also looked for between lines: a trainer may print its
	// next line before its last image lands, and a candidate is scored only
	// once all its images are there.
	rescan := time.NewTicker(p.sampleRescanEvery())
	defer rescan.Stop()
	warmed := false
	epoch := 0 // the epoch whose samples new unnamed files are
read:
	for {
		var line string
		select {
		case l, ok := <-lines:
			if !ok {
				break read
			}
			line = l
		case <-rescan.C:
			report(ad.scanSamples(pr, epoch), epoch)
			continue
		}
		if line == "" {
			continue
		}
		if len(tail) == logTailLines {
			copy(tail, tail[1:])
			tail = tail[:logTailLines-1]
		}
		tail = append(tail, tailLine(line))
		evs, r, detail := st.parser.feed(line)
		for _, ev := range evs {
			ev.Time = time.Now()
			if ev.Kind == EventProgress && !warmed && pr.warmUntil != nil {
				// Training has begun, so any latent caching is done.
				warmed = true
				pr.warmUntil(true)
			}
			if ev.Kind == EventModelSaved {
				st.modelSaved = true
			}
			if ev.Kind == EventSamples {
				out.Samples = append(out.Samples, ev.Samples...)
			}
			if ev.Kind == EventCheckpoint && ev.Path != "" && ev.Step == 0 {
				out.Checkpoints[ev.Epoch] = ev.Path
			}
			if ev.Kind == EventEpoch || ev.Kind == EventCheckpoint || ev.Kind == EventModelSaved {
				// What the trainer wrote before this line belongs to what
				// came before it: report it first, so an epoch boundary is
				// never acted on with a stale view of the sample folder.
				report(ad.scanSamples(pr, epoch), epoch)
			}
			if ev.Kind == EventEpoch {
				epoch = ev.Epoch
			}
			onEvent(ev)
		}
		if r != "" {
			stop(r, detail)
		}
	}
	stopWatch()
	if len(strays) > 0 {
		out.Warnings = append(out.Warnings, fmt.Sprintf("processes %v left the trainer's process group and held its output open after it exited: killed", strays))
	}
	if pr.warmUntil != nil && !warmed {
		pr.warmUntil(false)
	}
	code, werr := pc.Wait()
	if werr != nil {
		out.Warnings = append(out.Warnings, "wait: "+werr.Error())
	}
	out.ExitCode = code
	if pc.Stopped() {
		out.ExitCode = -1
	}
	st.exitCode = out.ExitCode
	pr.exited = true
	report(ad.scanSamples(pr, epoch), 0)
	out.LogTail = tail
	out.Warnings = append(out.Warnings, pr.warnings...)
	ad.finish(pr, st, &out)
	out.Ended = time.Now()
	p.log.Info("trial ended", "trial", job.Number, "ok", out.OK, "reason", out.Reason, "exit", out.ExitCode)
	return out
}

// maxTailLine bounds one line of Outcome.LogTail: the tail is stored with
// the run, and a trainer printing a tensor dump or binary garbage must not
// put megabytes into the database (trial.log keeps every byte).
const maxTailLine = 2000

// tailLine makes a console line fit for the stored log tail: cut to
// maxTailLine bytes, valid UTF-8 and without NUL bytes, which PostgreSQL
// refuses in text columns.
func tailLine(line string) string {
	if len(line) > maxTailLine {
		line = line[:maxTailLine] + " …[cut]"
	}
	line = strings.ToValidUTF8(line, "\uFFFD")
	return strings.ReplaceAll(line, "\x00", "\uFFFD")
}

// writeReason classifies a failure to write the trial's own files: a full
// disk or quota is disk-full, anything else (read-only filesystem,
// permissions, a file where a folder should be) unwritable. Both are the
// environment's fault, never the params'.
func writeReason(err error) Reason {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return ReasonDiskFull
	}
	return ReasonUnwritable
}

// reasonError is a prepare error with the reason it should be recorded as.
type reasonError struct {
	reason Reason
	err    error
}

func (e *reasonError) Error() string { return e.err.Error() }
func (e *reasonError) Unwrap() error { return e.err }

type touchReader struct {
	r io.Reader
	t *atomic.Int64
}

func (t *touchReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if n > 0 {
		t.t.Store(time.Now().UnixNano())
	}
	return n, err
}

func writeJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}
