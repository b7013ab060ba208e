package kohya

import (
	"bufio"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func parseLogFile(t testing.TB, path string) (LogSummary, []LogEvent) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var p LogParser
	var evs []LogEvent
	sc := bufio.NewScanner(f)
	sc.Split(ScanLogLines)
	for sc.Scan() {
		evs = append(evs, p.Feed(sc.Text())...)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return p.Summary(), evs
}

func TestLogParserFixtures(t *testing.T) {
	type want struct {
		step, total, epoch, epochs int
		last, min                  float64 // NaN: never seen; last may be NaN when nanLast
		nanLast                    bool
		checkpoints                int
		saved                      bool
		failure                    string
		failureHas                 string
		childExit                  int
		validation                 float64
	}
	none := math.NaN()
	for _, tc := range []struct {
		file string
		want want
	}{
		{"success.log", want{step: 12, total: 12, epoch: 3, epochs: 3, last: 0.0876, min: 0.0876, checkpoints: 2, saved: true, childExit: -1, validation: none}},
		{"old_loss_postfix.log", want{step: 12, total: 12, epoch: 3, epochs: 3, last: 0.101, min: 0.101, checkpoints: 2, saved: true, childExit: -1, validation: none}},
		{"glued_epoch.log", want{step: 12, total: 12, epoch: 3, epochs: 3, last: 0.0876, min: 0.0876, checkpoints: 2, saved: true, childExit: -1, validation: none}},
		{"nan.log", want{step: 4, total: 12, epoch: 1, epochs: 3, nanLast: true, min: 0.121, failure: FailNaN, failureHas: "avr_loss=nan", childExit: -1, validation: none}},
		{"no_data_rich_wrapped.log", want{last: none, min: none, failure: FailNoData, failureHas: "No data found.", childExit: -1, validation: none}},
		{"accelerate_called_process_error.log", want{step: 1, total: 12, epochs: 3, last: 0.12, min: 0.12, failure: FailCrash, failureHas: "AssertionError: full_fp16", childExit: 1, validation: none}},
		{"oom_new_style.log", want{step: 1, total: 12, epochs: 3, last: 0.12, min: 0.12, failure: FailOOM, failureHas: "torch.OutOfMemoryError", childExit: -1, validation: none}},
		{"oom_old_style.log", want{total: 12, epochs: 3, last: none, min: none, failure: FailOOM, failureHas: "RuntimeError: CUDA out of memory", childExit: -1, validation: none}},
		{"crash_after_last_step.log", want{step: 12, total: 12, epoch: 3, epochs: 3, last: 0.0876, min: 0.0876, checkpoints: 2, failure: FailCrash, failureHas: "illegal memory access", childExit: -1, validation: none}},
		{"bad_args.log", want{last: none, min: none, failure: FailBadArgs, failureHas: "unrecognized arguments: --stop_text_encoder_training", childExit: -1, validation: none}},
		{"disk_full.log", want{step: 4, total: 12, epoch: 1, epochs: 3, last: 0.11, min: 0.11, failure: FailDiskFull, failureHas: "No space left", childExit: -1, validation: none}},
		{"crash_after_model_saved.log", want{step: 12, total: 12, epoch: 3, epochs: 3, last: 0.0876, min: 0.0876, checkpoints: 2, saved: true, failure: FailCrash, failureHas: "DataLoader worker", childExit: -1, validation: none}},
		{"validation.log", want{step: 4, total: 4, epoch: 1, epochs: 1, last: 0.11, min: 0.11, saved: true, childExit: -1, validation: 0.0734}},
		// layouts of users' consoles (gen_layouts.py): each ends in an
		// exception, so each is a crash, never "no error seen"
		{"plain_traceback_chained.log", want{step: 4, total: 12, epoch: 1, epochs: 3, last: 0.1107, min: 0.1107, checkpoints: 1, failure: FailCrash, failureHas: "RuntimeError: caption lookup failed", childExit: -1, validation: none}},
		// the source lines in the Rich box mention CUDA out of memory: not an OOM
		{"rich_traceback.log", want{step: 8, total: 12, epoch: 2, epochs: 3, last: 0.0981, min: 0.0981, checkpoints: 2, failure: FailCrash, failureHas: "ZeroDivisionError: float division by zero", childExit: -1, validation: none}},
		{"glued_traceback.log", want{step: 5, total: 12, epoch: 2, epochs: 3, last: 0.148, min: 0.1107, checkpoints: 1, failure: FailCrash, failureHas: "ZeroDivisionError", childExit: -1, validation: none}},
		{"accelerate_child_killed.log", want{step: 4, total: 12, epoch: 1, epochs: 3, last: 0.1107, min: 0.1107, checkpoints: 1, failure: FailCrash, failureHas: "died with <Signals.SIGKILL: 9>", childExit: -1, validation: none}},
		{"saved_then_upload_crash.log", want{step: 12, total: 12, epoch: 3, epochs: 3, last: 0.0868, min: 0.0868, checkpoints: 3, saved: true, failure: FailCrash, failureHas: "HfHubHTTPError: 401", childExit: -1, validation: none}},
		{"excerpt_ends_in_exception.log", want{step: 4, total: 12, epoch: 1, epochs: 3, last: 0.1107, min: 0.1107, checkpoints: 1, failure: FailCrash, failureHas: "OSError: [Errno 5]", childExit: -1, validation: none}},
		// console_log_level = "WARNING": every INFO line is gone, `model saved.` too
		{"log_level_warning.log", want{step: 12, total: 12, epoch: 3, epochs: 3, last: 0.0868, min: 0.0868, checkpoints: 3, childExit: -1, validation: none}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			s, _ := parseLogFile(t, filepath.Join("testdata", "logs", tc.file))
			w := tc.want
			if s.Step != w.step || s.Total != w.total || s.Epoch != w.epoch || s.Epochs != w.epochs {
				t.Errorf("step/total/epoch/epochs = %d/%d/%d/%d, want %d/%d/%d/%d", s.Step, s.Total, s.Epoch, s.Epochs, w.step, w.total, w.epoch, w.epochs)
			}
			checkF := func(name string, got *float64, want float64, wantNaN bool) {
				switch {
				case wantNaN:
					if got == nil || !math.IsNaN(*got) {
						t.Errorf("%s = %v, want NaN", name, got)
					}
				case math.IsNaN(want):
					if got != nil {
						t.Errorf("%s = %v, want none", name, *got)
					}
				case got == nil || *got != want:
					t.Errorf("%s = %v, want %v", name, got, want)
				}
			}
			checkF("last loss", s.LastLoss, w.last, w.nanLast)
			checkF("min loss", s.MinLoss, w.min, false)
			checkF("validation loss", s.ValidationLoss, w.validation, false)
			if len(s.Checkpoints) != w.checkpoints || s.ModelSaved != w.saved {
				t.Errorf("checkpoints %v saved %v, want %d %v", s.Checkpoints, s.ModelSaved, w.checkpoints, w.saved)
			}
			if s.Failure != w.failure || !strings.Contains(s.FailureLine, w.failureHas) {
				t.Errorf("failure %q %q, want %q containing %q", s.Failure, s.FailureLine, w.failure, w.failureHas)
			}
			if s.ChildExitCode != w.childExit {
				t.Errorf("child exit %d, want %d", s.ChildExitCode, w.childExit)
			}
		})
	}
}

func TestLogParserNames(t *testing.T) {
	s, _ := parseLogFile(t, filepath.Join("testdata", "logs", "log_level_warning.log"))
	if s.OutputName != "trial-0001" || s.FinalModel != "/runs/t1/out/trial-0001.safetensors" {
		t.Errorf("output name %q, final model %q; want trial-0001 and its final file", s.OutputName, s.FinalModel)
	}
	s, _ = parseLogFile(t, filepath.Join("testdata", "logs", "accelerate_child_killed.log"))
	if s.ChildSignal != "SIGKILL" || s.ChildExitCode != -1 {
		t.Errorf("child signal %q exit %d, want SIGKILL -1", s.ChildSignal, s.ChildExitCode)
	}
	for _, tc := range []struct {
		path, name string
		final      bool
	}{
		{"/o/my_lora-000003.safetensors", "my_lora", false},
		{`C:\out\my-lora-step00000400.safetensors`, "my-lora", false},
		{"/o/my_lora.safetensors", "my_lora", true},
		{"/o/my_lora-v2.ckpt", "my_lora-v2", true},
		{"/o/epoch-000002.safetensors", "", false}, // output_name unset: sd-scripts' defaults
		{"/o/at-step00000010.pt", "", false},
		{"/o/last.safetensors", "", true},
		{"/o/my_lora-000003", "", false}, // a diffusers folder
	} {
		name, final := CheckpointOutputName(tc.path)
		if name != tc.name || final != tc.final {
			t.Errorf("CheckpointOutputName(%q) = %q %v, want %q %v", tc.path, name, final, tc.name, tc.final)
		}
	}
}

func TestLogParserEvents(t *testing.T) {
	_, evs := parseLogFile(t, filepath.Join("testdata", "logs", "success.log"))
	var kinds []string
	for _, e := range evs {
		if e.Kind != LogProgress {
			kinds = append(kinds, string(e.Kind))
		}
	}
	// the first checkpoint line follows epoch 1's steps, before epoch 2 starts
	want := "epoch checkpoint epoch checkpoint epoch model-saved"
	if got := strings.Join(kinds, " "); got != want {
		t.Errorf("events %q, want %q", got, want)
	}
	for _, e := range evs {
		if e.Kind == LogCheckpoint {
			if e.Path != "/runs/t1/out/trial-0001-000001.safetensors" || e.Epoch != 1 {
				t.Errorf("first checkpoint %q epoch %d", e.Path, e.Epoch)
			}
			break
		}
	}
}

func TestLogParserLines(t *testing.T) {
	for _, tc := range []struct {
		name, line string
		kind       LogEventKind
		step       int
		loss       float64
	}{
		{"tqdm avr_loss", "steps:  10%|█▌   | 160/1600 [02:10<19:30,  1.23it/s, avr_loss=0.0812]", LogProgress, 160, 0.0812},
		{"max norm keys first", "steps:  10%|█▌   | 160/1600 [02:10<19:30,  1.23it/s, Keys Scaled=3, Average key norm=0.5, avr_loss=0.0812]", LogProgress, 160, 0.0812},
		{"ansi colours", "\x1b[32msteps:  10%|█▌   | 160/1600 [02:10<19:30,  1.23it/s, avr_loss=1e-05]\x1b[0m", LogProgress, 160, 1e-05},
		{"validation bar is not training", "validation steps: 100%|███| 2/2 [00:01<00:00, val_avg_loss=0.3, timestep=500]", "", 0, 0},
		{"num epochs line is not an epoch", "  num epochs / epoch数: 10", "", 0, 0},
		{"epoch incremented is not an epoch", "epoch is incremented. current_epoch: 1, epoch: 2", "", 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var p LogParser
			evs := p.Feed(tc.line)
			if tc.kind == "" {
				for _, e := range evs {
					if e.Kind == LogProgress || e.Kind == LogEpoch {
						t.Errorf("unexpected %v", e)
					}
				}
				return
			}
			if len(evs) == 0 || evs[0].Kind != tc.kind || evs[0].Step != tc.step || evs[0].Loss != tc.loss {
				t.Errorf("events %+v, want %s step %d loss %v", evs, tc.kind, tc.step, tc.loss)
			}
		})
	}
}

func TestScanLogLines(t *testing.T) {
	long := strings.Repeat("x", MaxLogLine+10)
	for _, tc := range []struct {
		name, in string
		want     []string
	}{
		{"newlines", "a\nb\n", []string{"a", "b"}},
		{"carriage returns", "\rbar 1\rbar 2\nepoch 1/2\n", []string{"", "bar 1", "bar 2", "epoch 1/2"}},
		{"crlf is one end", "a\r\nb", []string{"a", "b"}},
		{"long line cut", long + "\nend\n", []string{strings.Repeat("x", MaxLogLine), "xxxxxxxxxx", "end"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc := bufio.NewScanner(strings.NewReader(tc.in))
			sc.Split(ScanLogLines)
			var got []string
			for sc.Scan() {
				got = append(got, sc.Text())
			}
			if sc.Err() != nil {
				t.Fatal(sc.Err())
			}
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("got %d lines %.80q, want %d %.80q", len(got), got, len(tc.want), tc.want)
			}
		})
	}
}

func BenchmarkLogParser(b *testing.B) {
	data, err := os.ReadFile(filepath.Join("testdata", "logs", "success.log"))
	if err != nil {
		b.Fatal(err)
	}
	lines := strings.FieldsFunc(string(data), func(r rune) bool { return r == '\n' || r == '\r' })
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var p LogParser
		for _, l := range lines {
			p.Feed(l)
		}
	}
	b.ReportMetric(float64(len(lines)), "lines/op")
}
