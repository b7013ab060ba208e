package sweep_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/c-bata/goptuna"

	"github.com/lorasweep/lorasweep/runner"
	"github.com/lorasweep/lorasweep/sweep"
)

func TestControllerRetriesOOMWithChangedParams(t *testing.T) {
	tests := []struct {
		name   string
		policy string
		// changed is the param the retry sets and its value.
		key  string
		want any
	}{
		{name: "smaller batch", policy: "smaller_batch", key: "train_batch_size", want: int64(2)},
		{name: "gradient checkpointing", policy: "gradient_checkpointing", key: "gradient_checkpointing", want: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			st := openStore(t, dir)
			spec := writeSpec(t, dir, "oom", 4, ", on_oom: {retry: "+tc.policy+"}")
			spec.Base["train_batch_size"] = int64(4)
			r := newFakeRunner(1, 2)
			r.behave = func(job runner.Job) *runner.Outcome {
				if job.Config["train_batch_size"] == int64(4) && job.Config["gradient_checkpointing"] != true {
					return &runner.Outcome{Reason: runner.ReasonOOM, Detail: "CUDA out of memory", ExitCode: 1}
				}
				return nil
			}
			ctl := newController(spec, st, r)
			ctl.Parallel = 1
			res, err := ctl.Run(context.Background(), false)
			if err != nil {
				t.Fatal(err)
			}
			trials := trialsOf(t, st, res.StudyID)
			if len(trials) != 4 {
				t.Fatalf("want 4 trials (2 OOM + 2 retries), got %d", len(trials))
			}
			for _, tr := range trials {
				row := sweep.RowFromTrial(tr)
				if tr.Number%2 == 0 {
					if row.Reason != "oom" {
						t.Errorf("trial %d: reason %q, want oom", tr.Number, row.Reason)
					}
					continue
				}
				if row.Enqueued != sweep.EnqueuedOOMRetry || tr.SystemAttrs["lorasweep:oom_retry_of"] != strconv.Itoa(tr.Number-1) {
					t.Errorf("trial %d: not linked as the OOM retry of %d: %v", tr.Number, tr.Number-1, tr.SystemAttrs)
				}
				if row.State != "complete" || row.Params[tc.key] != tc.want {
					t.Errorf("trial %d: state %s, %s=%v, want complete with %v", tr.Number, row.State, tc.key, row.Params[tc.key], tc.want)
				}
				if row.Params["x"] != sweep.RowFromTrial(trials[tr.Number-1]).Params["x"] {
					t.Errorf("trial %d: retry changed the sampled params", tr.Number)
				}
			}
		})
	}
}

func TestControllerRepeatsTopConfigsWithNewSeeds(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	spec := writeSpec(t, dir, "repeat", 4, ", repeat_top: 2, repeat_seeds: 2")
	ctl := newController(spec, st, newFakeRunner(2, 2))
	ctl.HeartbeatEvery = 10 * time.Millisecond
	phases := 0
	ctl.OnPhase = func(string) { phases++ }
	res, err := ctl.Run(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	if res.Stop != sweep.StopBudget || phases != 1 {
		t.Errorf("stop %q after %d repeat phases, want budget after 1", res.Stop, phases)
	}
	trials := trialsOf(t, st, res.StudyID)
	if len(trials) != 8 {
		t.Fatalf("want 4 trials + 2×2 repeats, got %d", len(trials))
	}
	groups := sweep.RankRepeats(trials, goptuna.StudyDirectionMaximize)
	if len(groups) != 2 {
		t.Fatalf("want 2 repeated configs, got %+v", groups)
	}
	best := sweep.Rank(trials[:4], goptuna.StudyDirectionMaximize)
	top := map[int]bool{best[0].Number: true, best[1].Number: true}
	for _, g := range groups {
		if !top[g.Number] || len(g.Values) != 3 || len(g.Repeats) != 2 {
			t.Errorf("group %+v: want one of the 2 best trials with 3 values", g)
		}
		seeds := map[any]bool{}
		for _, n := range g.Repeats {
			row := sweep.RowFromTrial(trials[n])
			seeds[row.Params["seed"]] = true
			if row.Params["x"] != g.Params["x"] || !row.Outside {
				t.Errorf("repeat %d: params %v, outside %v; want the config's x and out of the sampler's history", n, row.Params, row.Outside)
			}
		}
		if len(seeds) != 2 {
			t.Errorf("group %d: repeats share a seed", g.Number)
		}
	}
}

// fileRunner writes the checkpoint and model files a trainer would, so the
// retention policy has real files to delete.
type fileRunner struct{ *fakeRunner }

const ckptSize = 1000

func (r fileRunner) Run(ctx context.Context, lease sweep.Lease, job runner.Job, onEvent func(runner.Event)) runner.Outcome {
	out := r.fakeRunner.Run(ctx, lease, job, func(ev runner.Event) {
		if ev.Kind == runner.EventCheckpoint {
			_ = os.WriteFile(ev.Path, make([]byte, ckptSize), 0o644)
		}
		onEvent(ev)
	})
	if out.ModelPath != "" {
		_ = os.WriteFile(out.ModelPath, make([]byte, ckptSize), 0o644)
	}
	return out
}

func TestControllerRetentionDeletesWhatCannotWin(t *testing.T) {
	tests := []struct {
		name string
		keep sweep.Retention
		// kept is how many checkpoint files survive among the 4 trials.
		kept int
	}{
		{name: "all", keep: sweep.Retention{Mode: sweep.KeepAll}, kept: 12},
		{name: "best epoch", keep: sweep.Retention{Mode: sweep.KeepBestEpoch}, kept: 4},
		{name: "best trial", keep: sweep.Retention{Mode: sweep.KeepBestTrials, Trials: 1}, kept: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			st := openStore(t, dir)
			spec := writeSpec(t, dir, "keep", 4, "")
			spec.Keep = tc.keep
			ctl := newController(spec, st, fileRunner{newFakeRunner(2, 3)})
			res, err := ctl.Run(context.Background(), false)
			if err != nil {
				t.Fatal(err)
			}
			files, _ := filepath.Glob(filepath.Join(spec.OutputRoot, "trial-*", "*.safetensors"))
			if len(files) != tc.kept {
				t.Errorf("%d checkpoint files left, want %d: %v", len(files), tc.kept, files)
			}
			if want := int64((12 - tc.kept) * ckptSize); res.FreedBytes != want {
				t.Errorf("freed %d bytes, want %d", res.FreedBytes, want)
			}
			rows := sweep.Rank(trialsOf(t, st, res.StudyID), goptuna.StudyDirectionMaximize)
			bestEpochs, err := st.Epochs(context.Background(), rows[0].ID)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range bestEpochs {
				if e.Epoch == *rows[0].BestEpoch {
					if _, err := os.Stat(e.Checkpoint); err != nil || e.Deleted {
						t.Errorf("the best trial's best checkpoint is gone: %v deleted=%v", err, e.Deleted)
					}
				} else if tc.keep.Mode != sweep.KeepAll && !e.Deleted {
					t.Errorf("epoch %d of the best trial not marked deleted", e.Epoch)
				}
			}
		})
	}
}

func TestControllerReapsTrialsOfDeadLocalWorkers(t *testing.T) {
	tests := []struct {
		name   string
		host   string
		alive  bool
		reaped bool
	}{
		{name: "dead worker on this host", host: "test", alive: false, reaped: true},
		{name: "live worker on this host", host: "test", alive: true, reaped: false},
		{name: "worker on another host", host: "other", alive: false, reaped: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			st := openStore(t, dir)
			spec := writeSpec(t, dir, "dead", 2, "")
			ctx := context.Background()
			study, err := sweep.OpenStudy(ctx, st, spec, false)
			if err != nil {
				t.Fatal(err)
			}
			claim, err := st.Claim(ctx, study.ID, 2)
			if err != nil {
				t.Fatal(err)
			}
			if err := st.StartRun(ctx, sweep.RunRecord{TrialID: claim.TrialID, WorkerID: tc.host + ":999999:0badf00d", Host: tc.host}); err != nil {
				t.Fatal(err)
			}
			ctl := newController(spec, st, newFakeRunner(1, 2))
			ctl.WorkerID, ctl.Host = "test:1", "test"
			ctl.StaleAfter = time.Hour
			ctl.Alive = func(pid int) bool { return pid != 999999 || tc.alive }
			// With the budget claimed while the other worker's trial still
			// runs, the controller waits for it (it may yet be reaped and
			// re-run); the test ends that wait by draining once its own
			// trial is done.
			ctl.HeartbeatEvery = 20 * time.Millisecond
			drain := make(chan struct{})
			var once sync.Once
			ctl.Drain = drain
			ctl.OnTrialDone = func(sweep.TrialSummary) {
				if !tc.reaped {
					once.Do(func() { close(drain) })
				}
			}
			res, err := ctl.Run(ctx, false)
			if err != nil {
				t.Fatal(err)
			}
			first, err := st.GetTrial(claim.TrialID)
			if err != nil {
				t.Fatal(err)
			}
			if got := first.State == goptuna.TrialStateFail; got != tc.reaped {
				t.Fatalf("trial 0 state %v, reaped want %v", first.State, tc.reaped)
			}
			trials := trialsOf(t, st, res.StudyID)
			if tc.reaped {
				if first.SystemAttrs["lorasweep:fail_reason"] != "interrupted" || len(trials) != 3 {
					t.Errorf("want trial 0 interrupted and re-run by its copy within budget 2, got %d trials, attrs %v", len(trials), first.SystemAttrs)
				}
			} else if len(trials) != 2 {
				t.Errorf("want 2 trials, got %d", len(trials))
			}
		})
	}
}

func TestEnqueueFileRunsConfigsOnceAndFlagsThem(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	spec := writeSpec(t, dir, "enq", 2, "")
	ctx := context.Background()
	study, err := sweep.OpenStudy(ctx, st, spec, false)
	if err != nil {
		t.Fatal(err)
	}
	yamlFile := filepath.Join(dir, "known.yaml")
	jsonFile := filepath.Join(dir, "known.json")
	badFile := filepath.Join(dir, "bad.yaml")
	for path, body := range map[string]string{
		yamlFile: "- {x: 0.3, mode: a}\n",
		jsonFile: `[{"x": 0.25}]`,
		badFile:  "- {netwrok_dim: 4}\n",
	} {
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name    string
		file    string
		added   int
		wantErr bool
	}{
		{name: "yaml list", file: yamlFile, added: 1},
		{name: "json without mode: outside the space", file: jsonFile, added: 1},
		{name: "same file again is skipped", file: yamlFile, added: 0},
		{name: "unknown name", file: badFile, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, err := sweep.EnqueueFile(ctx, st, study.ID, spec, tc.file)
			if (err != nil) != tc.wantErr || n != tc.added {
				t.Fatalf("added %d, err %v; want %d, error %v", n, err, tc.added, tc.wantErr)
			}
		})
	}
	r := newFakeRunner(1, 2)
	var xs []any
	r.behave = func(job runner.Job) *runner.Outcome { xs = append(xs, job.Config["x"]); return nil }
	ctl := newController(spec, st, r)
	ctl.Parallel = 1
	res, err := ctl.Run(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	trials := trialsOf(t, st, res.StudyID)
	if len(trials) != 2 {
		t.Fatalf("want the 2 enqueued configs to use the budget, got %d trials", len(trials))
	}
	in, out := sweep.RowFromTrial(trials[0]), sweep.RowFromTrial(trials[1])
	if in.Enqueued != sweep.EnqueuedFile || in.Outside || len(trials[0].Params) == 0 {
		t.Errorf("in-space config: %+v, goptuna params %v; want flagged and in the sampler's history", in, trials[0].Params)
	}
	if !out.Outside || len(trials[1].Params) != 0 || out.Params["x"] != 0.25 {
		t.Errorf("out-of-space config: %+v, goptuna params %v; want its own values, outside the history", out, trials[1].Params)
	}
	if len(xs) != 2 || xs[1] != 0.25 {
		t.Errorf("trainer configs' x = %v, want the enqueued 0.25 on the second", xs)
	}
}

// TestEnqueueFileChecksEveryValueFirst: a file with one bad value among
// good configs is refused as a whole, every problem named with its file,
// line and key, and nothing of it is enqueued.
func TestEnqueueFileChecksEveryValueFirst(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	spec := writeSpec(t, dir, "enqcheck", 4, "")
	ctx := context.Background()
	study, err := sweep.OpenStudy(ctx, st, spec, false)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "known.yaml")
	body := "- {x: 0.3, mode: a}\n" +
		"- x: 2.5\n" +
		"  mode: b\n" +
		"- {x: fast, mode: c}\n" +
		"- {x: 0.5, mdoe: a}\n"
	if err := os.WriteFile(file, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	n, err := sweep.EnqueueFile(ctx, st, study.ID, spec, file)
	se, ok := sweep.IsSpecError(err)
	if n != 0 || !ok {
		t.Fatalf("added %d, err %v; want a refusal listing the problems", n, err)
	}
	want := []string{
		file + ":2: config 2: x: the number 2.5 lies outside the search space (float [0, 1])",
		file + `:4: config 3: x: expected a number (float [0, 1]), got the string "fast"`,
		file + `:4: config 3: mode: the string "c" is not one of the choices [a, b]`,
		file + `:5: config 4: mdoe: "mdoe" is neither a search parameter nor an sd-scripts argument (did you mean mode?)`,
	}
	if len(se.Problems) != len(want) {
		t.Fatalf("problems:\n%v\nwant %d", err, len(want))
	}
	for i, w := range want {
		if got := se.Problems[i].String(); got != w {
			t.Errorf("problem %d:\n got %s\nwant %s", i, got, w)
		}
	}
	trials := trialsOf(t, st, study.ID)
	if len(trials) != 0 {
		t.Errorf("%d trials enqueued from a refused file, want none", len(trials))
	}
}

// TestEnqueuedWholeFloatChoiceStaysInSpace: a categorical choice 1.0
// survives being stored as JSON and read back (it used to come back as
// the integer 1 and be judged outside the space), and a file writing it as
// 1 is the same config.
func TestEnqueuedWholeFloatChoiceStaysInSpace(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	path := filepath.Join(dir, "float.yaml")
	if err := os.WriteFile(path, []byte(`name: floatchoice
output_root: ./runs
trainer:
  kind: command
  command: [trainer, "{config}", "{x}", "{w}"]
search:
  x: {float: [0.0, 1.0]}
  w: {choice: [1.0, 2.5]}
sampler: {kind: random, seed: 3}
objective: {direction: maximize, scorers: [{kind: loss}]}
budget: {trials: 1, parallel: 1}
gpus: none
baseline: false
`), 0o644); err != nil {
		t.Fatal(err)
	}
	spec, err := sweep.ParseSpecFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	study, err := sweep.OpenStudy(ctx, st, spec, false)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "known.json")
	if err := os.WriteFile(file, []byte(`[{"x": 0.5, "w": 1.0}, {"x": 0.5, "w": 1}]`), 0o644); err != nil {
		t.Fatal(err)
	}
	n, err := sweep.EnqueueFile(ctx, st, study.ID, spec, file)
	if err != nil || n != 1 {
		t.Fatalf("added %d, err %v; want 1 (1 and 1.0 are the same choice)", n, err)
	}
	r := newFakeRunner(1, 2)
	var ws []any
	r.behave = func(job runner.Job) *runner.Outcome { ws = append(ws, job.Config["w"]); return nil }
	ctl := newController(spec, st, r)
	ctl.Parallel = 1
	if _, err := ctl.Run(ctx, false); err != nil {
		t.Fatal(err)
	}
	trials := trialsOf(t, st, study.ID)
	if len(trials) != 1 {
		t.Fatalf("%d trials, want the enqueued one", len(trials))
	}
	row := sweep.RowFromTrial(trials[0])
	if row.Outside || row.Params["w"] != 1.0 || trials[0].Params["w"] != "1.0" {
		t.Errorf("enqueued w=1.0: outside %v, params %#v, goptuna params %v; want inside the space, the float 1.0", row.Outside, row.Params, trials[0].Params)
	}
	if len(ws) != 1 || ws[0] != 1.0 {
		t.Errorf("trainer got w = %#v, want the float 1.0", ws)
	}
}

// A worker on another host recorded its run's end and died before setting
// the trial's state: the trial is finished from its records by tell's rules
// (PRUNED for a run the pruner stopped, FAIL with the run's reason), never
// failed as interrupted and trained again.
func TestControllerFinishesEndedRunsFromRecords(t *testing.T) {
	tests := []struct {
		name   string
		reason string
		detail string
		state  goptuna.TrialState
		extra  string
	}{
		{name: "pruned", detail: runner.DetailPruned, state: goptuna.TrialStatePruned},
		{name: "complete", state: goptuna.TrialStateComplete},
		{name: "crash", reason: "crash", detail: "trainer exited with status 1", state: goptuna.TrialStateFail},
		{name: "oom with on_oom", reason: "oom", detail: "CUDA out of memory", state: goptuna.TrialStateFail, extra: ", on_oom: {retry: smaller_batch}"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			st := openStore(t, dir)
			spec := writeSpec(t, dir, "ended", 2, tc.extra)
			spec.Base["train_batch_size"] = int64(4)
			ctx := context.Background()
			study, err := sweep.OpenStudy(ctx, st, spec, false)
			if err != nil {
				t.Fatal(err)
			}
			claim, err := st.ClaimAs(ctx, study.ID, 2, "other:5:0badf00d", "other")
			if err != nil {
				t.Fatal(err)
			}
			if err := st.SetTrialSystemAttr(claim.TrialID, "lorasweep:params", `{"x":0.5,"mode":"a"}`); err != nil {
				t.Fatal(err)
			}
			for i, v := range []float64{0.3, 0.7} {
				v := v
				if err := st.RecordEpoch(ctx, sweep.EpochRecord{TrialID: claim.TrialID, Epoch: i + 1, Fraction: float64(i+1) / 3, Value: &v}); err != nil {
					t.Fatal(err)
				}
			}
			ended, exit, best := time.Now().Add(-time.Minute), -1, 2
			if err := st.FinishRun(ctx, sweep.RunRecord{TrialID: claim.TrialID, Ended: &ended, ExitCode: &exit, BestEpoch: &best,
				Reason: tc.reason, Detail: tc.detail}); err != nil {
				t.Fatal(err)
			}
			ctl := newController(spec, st, newFakeRunner(1, 2))
			ctl.WorkerID, ctl.Host = "test:1:00000001", "test"
			ctl.Alive = func(int) bool { return true }
			ctl.StaleAfter, ctl.HeartbeatEvery = time.Hour, 20*time.Millisecond
			res, err := ctl.Run(ctx, false)
			if err != nil {
				t.Fatal(err)
			}
			got, err := st.GetTrial(claim.TrialID)
			if err != nil {
				t.Fatal(err)
			}
			if got.State != tc.state || got.SystemAttrs["lorasweep:fail_reason"] != tc.reason || got.SystemAttrs["lorasweep:best_epoch"] != "2" {
				t.Errorf("trial 0: %v %v, want %v reason %q best epoch 2", got.State, got.SystemAttrs, tc.state, tc.reason)
			}
			if tc.state != goptuna.TrialStateFail && got.Value != 0.7 {
				t.Errorf("trial 0 value %v, want the best epoch's 0.7", got.Value)
			}
			trials := trialsOf(t, st, res.StudyID)
			if n := len(trials); n != 2 {
				t.Fatalf("%d trials, want 2: nothing re-run", n)
			}
			if got, want := trials[1].SystemAttrs["lorasweep:oom_retry_of"], map[bool]string{true: "0"}[tc.reason == "oom"]; got != want {
				t.Errorf("trial 1 oom_retry_of %q, want %q (the on_oom policy, as tell applies it)", got, want)
			}
		})
	}
}
