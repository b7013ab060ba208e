package reports

import (
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/c-bata/goptuna"

	"github.com/lorasweep/lorasweep/objective"
	"github.com/lorasweep/lorasweep/runner"
	"github.com/lorasweep/lorasweep/storage"
	"github.com/lorasweep/lorasweep/sweep"
)

// hostilePrompt must appear in the report as text, never as markup.
const hostilePrompt = `<script>document.title="pwned"</script> zkx toy & "friends"`

var fixturePrompts = []string{"zkx toy, on grass", hostilePrompt, "a photo of a toy"}

// fixtureSpec is the fixed sweep the golden tests render.
func fixtureSpec(root string) *sweep.Spec {
	return &sweep.Spec{
		Name:       "golden <sweep>",
		OutputRoot: root,
		Trainer:    runner.TrainerSpec{Kind: "builtin"},
		Base:       map[string]any{"learning_rate": 0.001, "network_dim": int64(8), "lr_scheduler": "cosine", "max_train_epochs": int64(4)},
		Search: []sweep.Param{
			{Name: "network_dim", Type: sweep.ParamInt, Low: 2, High: 16, Log: true, Target: sweep.TargetArg},
			{Name: "learning_rate", Type: sweep.ParamFloat, Low: 1e-4, High: 3e-2, Log: true, Target: sweep.TargetArg},
			{Name: "lr_scheduler", Type: sweep.ParamCategorical, Choices: []any{"constant", "cosine", "<i>odd</i>"}, Target: sweep.TargetArg},
		},
		Sampler:   sweep.SamplerSpec{Kind: "tpe", Seed: 1},
		Pruner:    sweep.PrunerSpec{Kind: "median"},
		Objective: objective.Spec{Direction: "maximize", Scorers: []objective.ScorerSpec{{Kind: "reference", Name: "likeness", Weight: 1}, {Kind: "command", Name: "prompt", Weight: 1}}},
		Budget:    sweep.Budget{Trials: 14, Parallel: 2},
		Baseline:  true,
	}
}

// writePNG writes a small deterministic image.
func writePNG(t testing.TB, path string, seed int) {
	t.Helper()
	writePNGSize(t, path, seed, 24)
}

// writePNGSize writes a deterministic size×size gradient.
func writePNGSize(t testing.TB, path string, seed, size int) {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, size, size))
	for y := 0; y < size; y++ {
		for x := 0; x < size; x++ {
			img.Set(x, y, color.RGBA{R: uint8(seed * 37), G: uint8(x * 240 / size), B: uint8(y*240/size + seed), A: 255})
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
}

type fixtureTrial struct {
	state  goptuna.TrialState
	params map[string]any
	reason string
	tail   string
	// likeness and prompt components per sampled epoch (2 and 4).
	comps [][2]float64
}

// buildFixture writes the golden sweep into a fresh SQLite store under dir
// through goptuna's Storage API and the project's record methods, exactly
// as the controller would, with a fixed clock.
func buildFixture(t testing.TB, dir string) (*storage.Store, int) {
	t.Helper()
	ctx := context.Background()
	store, err := storage.Open(ctx, "sqlite://"+filepath.Join(dir, "fixture.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	spec := fixtureSpec(filepath.Join(dir, "runs"))
	study, err := sweep.OpenStudy(ctx, store, spec, false)
	if err != nil {
		t.Fatal(err)
	}
	id := study.ID
	t0 := time.Date(2026, 3, 1, 23, 0, 0, 0, time.UTC)
	scheds := []string{"constant", "cosine", "<i>odd</i>"}
	var trials []fixtureTrial
	trials = append(trials, fixtureTrial{state: goptuna.TrialStateComplete, params: nil, comps: [][2]float64{{0.60, 0.70}, {0.62, 0.71}}})
	for i := 1; i <= 10; i++ {
		l := 0.4 + 0.05*float64(i%7)
		p := 0.9 - 0.04*float64(i%5)
		trials = append(trials, fixtureTrial{
			state:  goptuna.TrialStateComplete,
			params: map[string]any{"network_dim": int64(2 << (i % 3)), "learning_rate": 1e-4 * math.Pow(2, float64(i%8)), "lr_scheduler": scheds[i%3]},
			comps:  [][2]float64{{l - 0.05, p}, {l, p - 0.02}},
		})
	}
	trials = append(trials,
		fixtureTrial{state: goptuna.TrialStatePruned, params: map[string]any{"network_dim": int64(16), "learning_rate": 0.02, "lr_scheduler": "constant"}, comps: [][2]float64{{0.2, 0.3}}},
		fixtureTrial{state: goptuna.TrialStateFail, params: map[string]any{"network_dim": int64(16), "learning_rate": 0.03, "lr_scheduler": "constant"}, reason: "nan",
			tail: "steps:  50%|█████     | 10/20 [00:01<00:01, avr_loss=nan]\nINFO <script>alert(1)</script> loss is nan"},
		fixtureTrial{state: goptuna.TrialStateFail, params: map[string]any{"network_dim": int64(4), "learning_rate": 0.001, "lr_scheduler": "cosine"}, reason: "oom",
			tail: "torch.cuda.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB"},
	)
	for i, ft := range trials {
		claim, err := store.Claim(ctx, id, 0)
		if err != nil {
			t.Fatal(err)
		}
		if claim.Number != i {
			t.Fatalf("claimed trial number %d, want %d", claim.Number, i)
		}
		if ft.params != nil {
			raw, _ := json.Marshal(ft.params)
			if err := store.SetTrialSystemAttr(claim.TrialID, "lorasweep:params", string(raw)); err != nil {
				t.Fatal(err)
			}
		}
		start := t0.Add(time.Duration(i/2) * 10 * time.Minute).Add(time.Duration(i%2) * 30 * time.Second)
		trialDir := filepath.Join(dir, "runs", fmt.Sprintf("trial-%04d", i))
		run := sweep.RunRecord{TrialID: claim.TrialID, WorkerID: "w1", Host: "box", GPUs: []string{fmt.Sprint(i % 2)},
			TrialDir: trialDir, LogPath: filepath.Join(trialDir, "trial.log"), Started: start, Heartbeat: start}
		if err := store.StartRun(ctx, run); err != nil {
			t.Fatal(err)
		}
		var metrics []sweep.MetricPoint
		for s := 1; s <= 40; s++ {
			metrics = append(metrics, sweep.MetricPoint{Step: s, Loss: 0.1 / float64(s+i), LR: 0})
		}
		if err := store.RecordMetrics(ctx, claim.TrialID, metrics); err != nil {
			t.Fatal(err)
		}
		best, bestV := 0, math.Inf(-1)
		for k, c := range ft.comps {
			epoch := 2 * (k + 1)
			v := (c[0] + c[1]) / 2
			comps, _ := json.Marshal([]objective.Component{
				{Name: "likeness", Kind: "reference", Weight: 1, Raw: c[0], Normalized: c[0]},
				{Name: "prompt", Kind: "command", Weight: 1, Raw: c[1], Normalized: c[1]},
			})
			if err := store.RecordEpoch(ctx, sweep.EpochRecord{TrialID: claim.TrialID, Epoch: epoch, Fraction: float64(epoch) / 4,
				Value: &v, Components: string(comps)}); err != nil {
				t.Fatal(err)
			}
			var samples []sweep.SampleRecord
			for pi, prompt := range fixturePrompts {
				path := filepath.Join(trialDir, "output", "sample", fmt.Sprintf("trial-%04d_e%06d_%02d_%d.png", i, epoch, pi, 1000+pi))
				writePNG(t, path, i*10+epoch+pi)
				samples = append(samples, sweep.SampleRecord{TrialID: claim.TrialID, Epoch: epoch, Path: path, Prompt: prompt, PromptIndex: pi, Seed: int64(1000 + pi)})
			}
			if err := store.RecordSamples(ctx, samples); err != nil {
				t.Fatal(err)
			}
			if err := store.SetTrialIntermediateValue(claim.TrialID, epoch*250, v); err != nil {
				t.Fatal(err)
			}
			if v > bestV {
				best, bestV = epoch, v
			}
		}
		end := start.Add(time.Duration(3+i%4) * time.Minute)
		exit := 0
		run.Ended, run.ExitCode, run.Reason, run.LogTail = &end, &exit, ft.reason, ft.tail
		if ft.reason != "" {
			exit = 1
			run.Detail = "trainer said: <b>" + ft.reason + "</b>"
		}
		if best > 0 {
			run.BestEpoch = &best
		}
		if err := store.FinishRun(ctx, run); err != nil {
			t.Fatal(err)
		}
		if ft.state == goptuna.TrialStateFail {
			if err := store.SetTrialSystemAttr(claim.TrialID, "lorasweep:fail_reason", ft.reason); err != nil {
				t.Fatal(err)
			}
		} else {
			if err := store.SetTrialSystemAttr(claim.TrialID, "lorasweep:best_epoch", fmt.Sprint(best)); err != nil {
				t.Fatal(err)
			}
			if err := store.SetTrialValue(claim.TrialID, bestV); err != nil {
				t.Fatal(err)
			}
		}
		if err := store.SetTrialState(claim.TrialID, ft.state); err != nil {
			t.Fatal(err)
		}
	}
	if err := store.SetStudySystemAttr(id, "lorasweep:stop_reason", string(sweep.StopBudget)); err != nil {
		t.Fatal(err)
	}
	return store, id
}
