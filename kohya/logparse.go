package kohya

import (
	"bytes"
	"math"
	"regexp"
	"strconv"
	"strings"
)

// Failure classes the log parser recognises. They share their spelling with
// runner.Reason so the runner can convert them directly.
const (
	FailOOM      = "oom"
	FailNaN      = "nan"
	FailNoData   = "no-data"
	FailBadArgs  = "bad-args"
	FailDiskFull = "disk-full"
	FailCrash    = "crash"
)

// failureRank orders failure classes: a stronger one seen anywhere wins over
// a weaker one (an OOM is followed by a traceback; the OOM is the cause).
var failureRank = map[string]int{FailCrash: 1, FailBadArgs: 2, FailNoData: 3, FailNaN: 4, FailDiskFull: 5, FailOOM: 6}

// LogEventKind names what one console line of sd-scripts meant.
type LogEventKind string

// Log event kinds.
const (
	LogProgress   LogEventKind = "progress"    // Step/Total, Loss when HasLoss
	LogEpoch      LogEventKind = "epoch"       // `epoch N/M`: Epoch of Epochs started
	LogValidation LogEventKind = "validation"  // Loss is the epoch's validation loss
	LogCheckpoint LogEventKind = "checkpoint"  // Path was saved (Epoch is the current epoch)
	LogModelSaved LogEventKind = "model-saved" // `model saved.`: the final file is written
	// LogCheckpointRemoved: save_last_n_epochs/steps deleted Path.
	LogCheckpointRemoved LogEventKind = "checkpoint-removed"
	LogFailure           LogEventKind = "failure" // Reason (a Fail* class) and Text, the line
)

// LogEvent is one thing a console line said.
type LogEvent struct {
	Kind    LogEventKind
	Step    int
	Total   int
	Epoch   int
	Epochs  int
	Loss    float64
	HasLoss bool
	Path    string
	Reason  string
	Text    string
}

// LogSummary is what a whole log said. Pointers are nil when never seen.
type LogSummary struct {
	Lines          int      `json:"lines"`
	Step           int      `json:"step"`
	Total          int      `json:"total"`
	LastLoss       *float64 `json:"last_loss"`
	MinLoss        *float64 `json:"min_loss"`
	Epoch          int      `json:"epoch"`
	Epochs         int      `json:"epochs"`
	ValidationLoss *float64 `json:"validation_loss"`
	Checkpoints    []string `json:"checkpoints"`
	ModelSaved     bool     `json:"model_saved"`
	// Failure is the strongest failure class seen (a Fail* constant), empty
	// when none; FailureLine the line that showed it; Exception the last
	// Python exception line (`SomeError: message`).
	Failure     string `json:"failure,omitempty"`
	FailureLine string `json:"failure_line,omitempty"`
	Exception   string `json:"exception,omitempty"`
	// ChildExitCode is the trainer's exit status reported by accelerate's
	// CalledProcessError wrapper; -1 when absent. ChildSignal names the
	// signal that killed the trainer when the wrapper says "died with
	// <Signals.SIGKILL: 9>" (the kernel's OOM killer, often).
	ChildExitCode int    `json:"child_exit_code"`
	ChildSignal   string `json:"child_signal,omitempty"`
	// FinalModel is the path of a `saving checkpoint:` line naming the final
	// model ({output_name}.ext, not an -NNNNNN epoch or -stepNNNNNNNN step
	// file): sd-scripts prints it with print(), so it survives a
	// console_log_level that hides `model saved.`. The save began; only the
	// file itself shows that it ended.
	FinalModel string `json:"final_model,omitempty"`
	// OutputName is the output_name the checkpoint file names carry ("" when
	// no checkpoint was named, or sd-scripts' defaults epoch/at/last).
	OutputName string `json:"output_name,omitempty"`
}

// LogParser turns sd-scripts console lines into events. It is a pure
// function of the lines fed to it, in order; the zero value is ready. Lines
// are split on \n and \r (see ScanLogLines); ANSI colour codes are ignored.
type LogParser struct {
	s        LogSummary
	started  bool
	sawTrace bool
	// wrapper is accelerate's CalledProcessError line: the detail of last
	// resort when the trainer itself printed no exception.
	wrapper string
	// trailingExc is an exception line with no training output after it: a
	// log that ends in an exception is a crash even when its traceback
	// header was lost (a pasted excerpt, a wrapped Rich box).
	trailingExc string
}

var (
	ansiRE = regexp.MustCompile(`\x1b\[[0-9;?]*[A-Za-z]`)
	// tqdm bars: `steps:  10%|██   | 160/1600 [02:10<19:30,  1.23it/s, avr_loss=0.0812]`;
	// validation bars carry a longer description.
	barRE = regexp.MustCompile(`((?:epoch )?validation )?steps:\s*\d+%\|[^|]*\|\s*(\d+)/(\d+)(?:\s*\[([^\]]*)\]?)?`)
	// the training loss: `avr_loss=` (current) or `loss=` (older sd-scripts),
	// never val_avg_loss / val_epoch_avg_loss.
	lossRE    = regexp.MustCompile(`(?:^|[\s,])(?:avr_)?loss=([-+0-9.eE]+|nan|inf|-inf)`)
	valLossRE = regexp.MustCompile(`val_epoch_avg_loss=([-+0-9.eE]+|nan|inf)`)
	epochRE   = regexp.MustCompile(`(?:^|[\]\s|])epoch (\d+)/(\d+)\s*$`)
	ckptRE    = regexp.MustCompile(`saving checkpoint: (\S.*?)\s*$`)
	removedRE = regexp.MustCompile(`removing old checkpoint: (\S.*?)\s*$`)
	savedRE   = regexp.MustCompile(`(?:^|\s)model saved\.(?:\s|$)`)
	totalRE   = regexp.MustCompile(`total optimization steps / [^:]*:\s*(\d+)`)
	epochsRE  = regexp.MustCompile(`num epochs / [^:]*:\s*(\d+)`)
	calledRE  = regexp.MustCompile(`CalledProcessError: Command .* (?:returned non-zero exit status (\d+)|died with <Signals\.(SIG[A-Z0-9]+): (\d+)>)`)
	oomRE     = regexp.MustCompile(`CUDA out of memory|OutOfMemoryError`)
	diskRE    = regexp.MustCompile(`No space left on device|Disk quota exceeded`)
	noDataRE  = regexp.MustCompile(`No data found\.`)
	badArgsRE = regexp.MustCompile(`^\S+: error: |error: unrecognized arguments|error: argument `)
	// not anchored: Rich draws it inside a box's top border, and a traceback
	// written right after a tqdm bar's \r shares the bar's line.
	traceRE    = regexp.MustCompile(`Traceback \(most recent call last\)`)
	excRE      = regexp.MustCompile(`^(?:[A-Za-z_][\w.]*\.)?[A-Z]\w*(?:Error|Exception|Interrupt)(?::|$)`)
	nanLatents = regexp.MustCompile(`NaN detected in latents`)
)

// Feed parses one line and returns what it meant (often nothing).
func (p *LogParser) Feed(line string) []LogEvent {
	if !p.started {
		p.s.ChildExitCode = -1
		p.started = true
	}
	p.s.Lines++
	if strings.IndexByte(line, 0x1b) >= 0 {
		line = ansiRE.ReplaceAllString(line, "")
	}
	line = strings.TrimRight(line, " \t\r\n")
	var evs []LogEvent

	if m := matchIf(line, "steps:", barRE); m != nil {
		if m[1] != "" {
			if v := valLossRE.FindStringSubmatch(m[4]); v != nil {
				if f, ok := parseLoss(v[1]); ok {
					p.s.ValidationLoss = &f
					evs = append(evs, LogEvent{Kind: LogValidation, Epoch: p.s.Epoch, Loss: f, HasLoss: true})
				}
			}
		} else {
			step, _ := strconv.Atoi(m[2])
			total, _ := strconv.Atoi(m[3])
			ev := LogEvent{Kind: LogProgress, Step: step, Total: total, Epoch: p.s.Epoch}
			p.s.Step, p.s.Total = step, total
			if l := lossRE.FindStringSubmatch(m[4]); l != nil {
				if f, ok := parseLoss(l[1]); ok {
					ev.Loss, ev.HasLoss = f, true
					p.s.LastLoss = &f
					if !math.IsNaN(f) && (p.s.MinLoss == nil || f < *p.s.MinLoss) {
						v := f
						p.s.MinLoss = &v
					}
				}
			}
			evs = append(evs, ev)
			if ev.HasLoss && math.IsNaN(ev.Loss) {
				evs = append(evs, p.fail(FailNaN, line))
			}
		}
	}
	if m := matchIf(line, "epoch ", epochRE); m != nil {
		p.s.Epoch, _ = strconv.Atoi(m[1])
		p.s.Epochs, _ = strconv.Atoi(m[2])
		evs = append(evs, LogEvent{Kind: LogEpoch, Epoch: p.s.Epoch, Epochs: p.s.Epochs})
	}
	if m := matchIf(line, "saving checkpoint: ", ckptRE); m != nil {
		p.s.Checkpoints = append(p.s.Checkpoints, m[1])
		name, final := CheckpointOutputName(m[1])
		if name != "" {
			p.s.OutputName = name
		}
		if final {
			p.s.FinalModel = m[1]
		}
		evs = append(evs, LogEvent{Kind: LogCheckpoint, Path: m[1], Epoch: p.s.Epoch})
	}
	if m := matchIf(line, "removing old checkpoint: ", removedRE); m != nil {
		evs = append(evs, LogEvent{Kind: LogCheckpointRemoved, Path: m[1], Epoch: p.s.Epoch})
	}
	if strings.Contains(line, "model saved.") && savedRE.MatchString(line) {
		p.s.ModelSaved = true
		evs = append(evs, LogEvent{Kind: LogModelSaved, Epoch: p.s.Epoch})
	}
	if len(evs) > 0 {
		p.trailingExc = "" // training went on after that exception
	}
	if m := matchIf(line, "total optimization steps", totalRE); m != nil && p.s.Total == 0 {
		p.s.Total, _ = strconv.Atoi(m[1])
	}
	if m := matchIf(line, "num epochs", epochsRE); m != nil && p.s.Epochs == 0 {
		p.s.Epochs, _ = strconv.Atoi(m[1])
	}
	trimmed := strings.TrimSpace(line)
	if m := matchIf(line, "CalledProcessError", calledRE); m != nil {
		if m[1] != "" {
			p.s.ChildExitCode, _ = strconv.Atoi(m[1])
		} else {
			p.s.ChildSignal = m[2]
		}
		p.wrapper = trimmed
	}
	if !mayFail(line) {
		return evs
	}
	if strings.HasPrefix(trimmed, "│") {
		// Inside a Rich traceback box: frames and source lines, whose code
		// may mention anything ("out of memory" in an except clause).
		return evs
	}
	switch {
	case oomRE.MatchString(line):
		evs = append(evs, p.fail(FailOOM, trimmed))
	case diskRE.MatchString(line):
		evs = append(evs, p.fail(FailDiskFull, trimmed))
	case noDataRE.MatchString(line):
		evs = append(evs, p.fail(FailNoData, trimmed))
	case badArgsRE.MatchString(trimmed):
		evs = append(evs, p.fail(FailBadArgs, trimmed))
	case nanLatents.MatchString(line):
		evs = append(evs, p.fail(FailCrash, trimmed))
	case traceRE.MatchString(trimmed):
		p.sawTrace = true
		evs = append(evs, p.fail(FailCrash, trimmed))
	}
	if excRE.MatchString(trimmed) && !strings.Contains(trimmed, "CalledProcessError") {
		p.s.Exception = trimmed
		p.trailingExc = trimmed
		if p.s.Failure == FailCrash {
			p.s.FailureLine = trimmed
		}
	}
	return evs
}

var (
	stepCkptRE  = regexp.MustCompile(`^(.*)-step\d{8}$`)
	epochCkptRE = regexp.MustCompile(`^(.*)-\d{6}$`)
)

// CheckpointOutputName reads the output_name from a checkpoint path as
// sd-scripts names them (train_util: {name}-{epoch:06d}, {name}-step{step:08d},
// {name} for the final model); final is true for the last kind. The name is
// "" for sd-scripts' defaults when output_name is unset (epoch, at, last),
// whose sample images carry no prefix.
func CheckpointOutputName(path string) (name string, final bool) {
	base := path[strings.LastIndexAny(path, `/\`)+1:]
	dot := strings.LastIndexByte(base, '.')
	if dot < 0 {
		return "", false // no extension: a diffusers folder or something else
	}
	switch strings.ToLower(base[dot+1:]) {
	case "safetensors", "ckpt", "pt":
		base = base[:dot]
	default:
		return "", false
	}
	name, dflt := base, "last"
	final = true
	if m := stepCkptRE.FindStringSubmatch(base); m != nil {
		name, dflt, final = m[1], "at", false
	} else if m := epochCkptRE.FindStringSubmatch(base); m != nil {
		name, dflt, final = m[1], "epoch", false
	}
	if name == dflt {
		name = ""
	}
	return name, final
}

// matchIf runs re only when line contains lit: most lines match nothing,
// and a substring test is far cheaper than a regexp.
func matchIf(line, lit string, re *regexp.Regexp) []string {
	if !strings.Contains(line, lit) {
		return nil
	}
	return re.FindStringSubmatch(line)
}

// failHints are substrings of every line a failure regexp can match.
var failHints = []string{"memory", "Memory", "No space", "quota", "No data found", "error: ", "NaN detected", "Traceback", "Error", "Exception", "Interrupt"}

func mayFail(line string) bool {
	for _, h := range failHints {
		if strings.Contains(line, h) {
			return true
		}
	}
	return false
}

func (p *LogParser) fail(reason, line string) LogEvent {
	if failureRank[reason] > failureRank[p.s.Failure] {
		p.s.Failure = reason
		p.s.FailureLine = line
	}
	return LogEvent{Kind: LogFailure, Reason: reason, Text: line}
}

// Summary returns what the lines fed so far said. Slices are copies.
func (p *LogParser) Summary() LogSummary {
	s := p.s
	if !p.started {
		s.ChildExitCode = -1
	}
	s.Checkpoints = append([]string(nil), p.s.Checkpoints...)
	if s.Failure == "" && p.trailingExc != "" {
		s.Failure, s.FailureLine = FailCrash, p.trailingExc
	}
	if s.Exception == "" && p.wrapper != "" {
		s.Exception = p.wrapper
		if s.Failure == FailCrash && !excRE.MatchString(s.FailureLine) {
			s.FailureLine = p.wrapper
		}
	}
	return s
}

func parseLoss(s string) (float64, bool) {
	switch s {
	case "nan":
		return math.NaN(), true
	case "inf":
		return math.Inf(1), true
	case "-inf":
		return math.Inf(-1), true
	}
	f, err := strconv.ParseFloat(s, 64)
	return f, err == nil
}

// MaxLogLine is the longest line ScanLogLines returns; longer runs of bytes
// without a line end are cut into several lines so that one runaway line
// (a tensor dump) cannot stop the scanner.
const MaxLogLine = 64 << 10

// ScanLogLines is a bufio.SplitFunc for trainer consoles: \n, \r and \r\n
// each end a line (tqdm redraws its bar after \r), and lines longer than
// MaxLogLine are cut. Use it with a bufio.Scanner whose buffer is larger
// than MaxLogLine (the default 64 KiB plus one byte is enough).
func ScanLogLines(data []byte, atEOF bool) (advance int, token []byte, err error) {
	if i := bytes.IndexAny(data, "\r\n"); i >= 0 {
		if i >= MaxLogLine {
			return MaxLogLine, data[:MaxLogLine], nil
		}
		adv := i + 1
		if data[i] == '\r' && i+1 < len(data) && data[i+1] == '\n' {
			adv++
		} else if data[i] == '\r' && i+1 == len(data) && !atEOF {
			// A lone \r at the end of the buffer may be half of \r\n.
			if len(data) < MaxLogLine {
				return 0, nil, nil
			}
		}
		return adv, data[:i], nil
	}
	if len(data) >= MaxLogLine {
		return MaxLogLine, data[:MaxLogLine], nil
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	return 0, nil, nil
}
