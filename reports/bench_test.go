package reports

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/c-bata/goptuna"

	"github.com/lorasweep/lorasweep/objective"
	"github.com/lorasweep/lorasweep/sweep"
)

// syntheticData builds an n-trial sweep in memory, shaped like a real one:
// most trials complete, some pruned, a few failed with log tails; the best
// eight and the baseline detailed with 9 prompts × 4 epochs of 128 px
// samples on disk and 320 steps of metrics.
func syntheticData(b *testing.B, n int) *Data {
	b.Helper()
	dir := b.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	spec := fixtureSpec(dir)
	spec.Name = "bench"
	d := &Data{Sweep: "bench", Spec: spec, Direction: goptuna.StudyDirectionMaximize, StopReason: "budget reached"}
	t0 := time.Date(2026, 3, 1, 23, 0, 0, 0, time.UTC)
	var trials []goptuna.FrozenTrial
	for i := 0; i < n; i++ {
		dim := int64(2 << rng.IntN(3))
		lr := math.Exp(math.Log(1e-4) + rng.Float64()*math.Log(300))
		sched := []string{"constant", "cosine", "<i>odd</i>"}[rng.IntN(3)]
		v := 0.8 - 0.05*math.Abs(math.Log10(lr)+2.5) + 0.01*float64(dim)/16 + 0.02*rng.NormFloat64()
		state := goptuna.TrialStateComplete
		attrs := map[string]string{"lorasweep:params": fmt.Sprintf(`{"network_dim":%d,"learning_rate":%g,"lr_scheduler":%q}`, dim, lr, sched),
			"lorasweep:best_epoch": "4"}
		switch {
		case i == 0:
			attrs["lorasweep:baseline"] = "true"
		case i%20 == 7:
			state = goptuna.TrialStateFail
			attrs["lorasweep:fail_reason"] = []string{"nan", "oom", "crash"}[i%3]
			delete(attrs, "lorasweep:best_epoch")
		case i%5 == 3:
			state = goptuna.TrialStatePruned
		}
		trials = append(trials, goptuna.FrozenTrial{ID: i + 1, Number: i, State: state, Value: v, SystemAttrs: attrs,
			DatetimeStart: t0, DatetimeComplete: t0.Add(time.Minute)})
	}
	rows := sweep.Rank(trials, d.Direction)
	d.Trials = make([]Trial, len(rows))
	for k, r := range rows {
		i := r.Number
		start := t0.Add(time.Duration(i/4) * 5 * time.Minute)
		end := start.Add(time.Duration(3+i%3) * time.Minute)
		t := Trial{TrialRow: r, Run: &sweep.RunRecord{TrialID: r.ID, Host: "box", GPUs: []string{fmt.Sprint(i % 4)}, Started: start, Ended: &end}}
		if r.State == "fail" {
			t.Run.Reason, t.Run.LogTail = r.Reason, "line 1\nline 2\nRuntimeError: something <went> wrong"
		}
		if r.Value != nil {
			l, p := *r.Value+0.05*rng.NormFloat64(), *r.Value+0.05*rng.NormFloat64()
			t.Components = []objective.Component{{Name: "likeness", Normalized: l}, {Name: "prompt", Normalized: p}}
			for e := 1; e <= 4; e++ {
				v := *r.Value - 0.01*float64(4-e)
				t.Epochs = append(t.Epochs, sweep.EpochRecord{TrialID: r.ID, Epoch: e, Fraction: float64(e) / 4, Value: &v})
			}
		}
		if k < DefaultDetail || r.Baseline {
			for e := 1; e <= 4; e++ {
				for pi := 0; pi < 9; pi++ {
					path := filepath.Join(dir, fmt.Sprintf("trial-%04d", i), "sample", fmt.Sprintf("e%d_%d.png", e, pi))
					writeBenchPNG(b, path, i+e+pi)
					t.Samples = append(t.Samples, sweep.SampleRecord{TrialID: r.ID, Epoch: e, Path: path, Prompt: fmt.Sprintf("prompt %d", pi), PromptIndex: pi, Seed: 1})
				}
			}
			for s := 1; s <= 320; s++ {
				t.Metrics = append(t.Metrics, sweep.MetricPoint{Step: s, Loss: 0.1 / float64(s), LR: math.NaN()})
			}
			t.Detailed = true
		}
		d.Trials[k] = t
	}
	return d
}

func writeBenchPNG(b *testing.B, path string, seed int) {
	b.Helper()
	writePNGSize(b, path, seed, 512)
}

// BenchmarkWriteHTML measures building the report (charts, importance,
// thumbnails of the grid) at 100, 1,000 and 5,000 trials and reports the
// file size.
func BenchmarkWriteHTML(b *testing.B) {
	for _, n := range []int{100, 1000, 5000} {
		b.Run(fmt.Sprintf("trials=%d", n), func(b *testing.B) {
			d := syntheticData(b, n)
			var size int
			b.ResetTimer()
			for b.Loop() {
				var buf bytes.Buffer
				if err := WriteHTML(&buf, d, Options{}); err != nil {
					b.Fatal(err)
				}
				size = buf.Len()
			}
			b.ReportMetric(float64(size), "bytes/report")
		})
	}
}
