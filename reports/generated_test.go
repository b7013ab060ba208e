package reports

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"html"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/c-bata/goptuna"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"

	"github.com/lorasweep/lorasweep/objective"
	"github.com/lorasweep/lorasweep/runner"
	"github.com/lorasweep/lorasweep/storage"
	"github.com/lorasweep/lorasweep/sweep"
)

// genTrial is one trial of a generated sweep. Its value is the mean of its
// last epoch's normalised components unless value is set.
type genTrial struct {
	state  goptuna.TrialState
	params map[string]any
	value  *float64
	reason string
	// comps are the components of each scored epoch (epochs 1, 2, ...).
	comps [][]objective.Component
	// metrics are the trial's step metrics (none: no metric rows).
	metrics  []sweep.MetricPoint
	baseline bool
	// epochValue overrides the stored value of each epoch (NaN/Inf tests).
	epochValue *float64
	// noRun records no run (a trial of the bulk sweeps, written quicker).
	noRun bool
}

// genSweep is a sweep the report tests write into a real SQLite store.
type genSweep struct {
	name   string
	spec   func(root string) *sweep.Spec
	trials func(rng *rand.Rand) []genTrial
}

// writeGenSweep stores g as the controller would: the spec through
// OpenStudy, every trial through Claim, its run, metrics, epochs, value
// and state through the project's storage methods. Light trials (no
// metrics, no epochs) take the fewest writes, so 5,000 of them stay quick.
func writeGenSweep(t testing.TB, dir string, g genSweep) (*storage.Store, int) {
	t.Helper()
	ctx := context.Background()
	store, err := storage.Open(ctx, "sqlite://"+filepath.Join(dir, g.name+".db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	spec := g.spec(filepath.Join(dir, "runs"))
	spec.Name = g.name
	study, err := sweep.OpenStudy(ctx, store, spec, false)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, uint64(len(g.name))))
	t0 := time.Date(2026, 3, 1, 23, 0, 0, 0, time.UTC)
	for i, gt := range g.trials(rng) {
		claim, err := store.Claim(ctx, study.ID, 0)
		if err != nil {
			t.Fatal(err)
		}
		if gt.params != nil {
			raw, err := json.Marshal(gt.params)
			if err != nil {
				t.Fatal(err)
			}
			if err := store.SetTrialSystemAttr(claim.TrialID, "lorasweep:params", string(raw)); err != nil {
				t.Fatal(err)
			}
		}
		if gt.baseline {
			if err := store.SetTrialSystemAttr(claim.TrialID, "lorasweep:baseline", "true"); err != nil {
				t.Fatal(err)
			}
		}
		start := t0.Add(time.Duration(i) * 90 * time.Second)
		run := sweep.RunRecord{TrialID: claim.TrialID, WorkerID: "w1", Host: "box", GPUs: []string{fmt.Sprint(i % 2)},
			TrialDir: filepath.Join(dir, "runs", fmt.Sprintf("trial-%04d", i)), Started: start, Heartbeat: start}
		if !gt.noRun {
			if err := store.StartRun(ctx, run); err != nil {
				t.Fatal(err)
			}
		}
		if len(gt.metrics) > 0 {
			if err := store.RecordMetrics(ctx, claim.TrialID, gt.metrics); err != nil {
				t.Fatal(err)
			}
		}
		best, bestV := 0, math.Inf(-1)
		for k, comps := range gt.comps {
			epoch := k + 1
			v := 0.0
			for _, c := range comps {
				v += c.Normalized / float64(len(comps))
			}
			if gt.epochValue != nil {
				v = *gt.epochValue
			}
			raw, err := json.Marshal(comps)
			if err != nil {
				t.Fatal(err)
			}
			if err := store.RecordEpoch(ctx, sweep.EpochRecord{TrialID: claim.TrialID, Epoch: epoch,
				Fraction: float64(epoch) / float64(len(gt.comps)), Value: &v, Components: string(raw)}); err != nil {
				t.Fatal(err)
			}
			if v > bestV || best == 0 {
				best, bestV = epoch, v
			}
		}
		end := start.Add(time.Duration(60+i%30) * time.Second)
		exit := 0
		run.Ended, run.ExitCode, run.Reason = &end, &exit, gt.reason
		if gt.reason != "" {
			exit = 1
			run.LogTail = "step 3/10 avr_loss=nan\ntrainer stopped: " + gt.reason
		}
		if best > 0 {
			run.BestEpoch = &best
		}
		if !gt.noRun {
			if err := store.FinishRun(ctx, run); err != nil {
				t.Fatal(err)
			}
		}
		if gt.value != nil {
			bestV = *gt.value
		}
		switch {
		case gt.state == goptuna.TrialStateFail:
			if err := store.SetTrialSystemAttr(claim.TrialID, "lorasweep:fail_reason", gt.reason); err != nil {
				t.Fatal(err)
			}
		case gt.state == goptuna.TrialStateRunning:
		default:
			if best > 0 {
				if err := store.SetTrialSystemAttr(claim.TrialID, "lorasweep:best_epoch", fmt.Sprint(best)); err != nil {
					t.Fatal(err)
				}
			}
			if !math.IsInf(bestV, -1) || gt.value != nil {
				if err := store.SetTrialValue(claim.TrialID, bestV); err != nil {
					t.Fatal(err)
				}
			}
		}
		if gt.state != goptuna.TrialStateRunning {
			if err := store.SetTrialState(claim.TrialID, gt.state); err != nil {
				t.Fatal(err)
			}
		}
	}
	return store, study.ID
}

func fptr(v float64) *float64 { return &v }

// quickstartSpec is examples/quickstart.yaml's search space.
func quickstartSpec(root string) *sweep.Spec {
	return &sweep.Spec{
		OutputRoot: root,
		Trainer:    runner.TrainerSpec{Kind: "builtin"},
		Base:       map[string]any{"learning_rate": 0.001, "network_dim": int64(8), "lr_scheduler": "cosine", "max_train_epochs": int64(8)},
		Search: []sweep.Param{
			{Name: "network_dim", Type: sweep.ParamInt, Low: 2, High: 16, Log: true, Target: sweep.TargetArg},
			{Name: "network_alpha", Type: sweep.ParamFloat, Low: 0.25, High: 1, RatioOf: "network_dim", Target: sweep.TargetArg},
			{Name: "learning_rate", Type: sweep.ParamFloat, Low: 1e-4, High: 3e-2, Log: true, Target: sweep.TargetArg},
			{Name: "lr_scheduler", Type: sweep.ParamCategorical, Choices: []any{"constant", "cosine", "cosine_with_restarts"}, Target: sweep.TargetArg},
			{Name: "lr_scheduler_num_cycles", Type: sweep.ParamInt, Low: 1, High: 3, When: map[string][]any{"lr_scheduler": {"cosine_with_restarts"}}, Target: sweep.TargetArg},
			{Name: "rank_dropout", Type: sweep.ParamFloat, Low: 0, High: 0.3, Target: sweep.TargetNetworkArg},
		},
		Sampler:   sweep.SamplerSpec{Kind: "tpe", Seed: 1},
		Pruner:    sweep.PrunerSpec{Kind: "median"},
		Objective: objective.Spec{Direction: "maximize", Scorers: []objective.ScorerSpec{{Kind: "reference", Weight: 1}, {Kind: "health", Weight: 0.5}}},
		Budget:    sweep.Budget{Trials: 12, Parallel: 2},
		Baseline:  true,
	}
}

// conditionalSpec is a 10-parameter conditional space as DESIGN.md's
// example sweep has it, with a narrow log range and long choice names.
func conditionalSpec(root string) *sweep.Spec {
	s := quickstartSpec(root)
	s.Search = []sweep.Param{
		{Name: "network_dim", Type: sweep.ParamInt, Low: 4, High: 128, Log: true, Target: sweep.TargetArg},
		{Name: "network_alpha", Type: sweep.ParamFloat, Low: 0.125, High: 1, RatioOf: "network_dim", Target: sweep.TargetArg},
		{Name: "unet_lr", Type: sweep.ParamFloat, Low: 1e-5, High: 1e-3, Log: true, Target: sweep.TargetArg},
		{Name: "text_encoder_lr", Type: sweep.ParamFloat, Low: 9e-5, High: 1.1e-4, Log: true, Target: sweep.TargetArg},
		{Name: "lr_scheduler", Type: sweep.ParamCategorical, Choices: []any{"cosine", "cosine_with_restarts", "polynomial", "constant_with_warmup"}, Target: sweep.TargetArg},
		{Name: "lr_scheduler_num_cycles", Type: sweep.ParamInt, Low: 1, High: 4, When: map[string][]any{"lr_scheduler": {"cosine_with_restarts"}}, Target: sweep.TargetArg},
		{Name: "lr_scheduler_power", Type: sweep.ParamFloat, Low: 0.5, High: 3, When: map[string][]any{"lr_scheduler": {"polynomial"}}, Target: sweep.TargetArg},
		{Name: "lr_warmup_steps", Type: sweep.ParamFloat, Low: 0, High: 0.1, When: map[string][]any{"lr_scheduler": {"constant_with_warmup"}}, Target: sweep.TargetArg},
		{Name: "optimizer_type", Type: sweep.ParamCategorical, Choices: []any{"AdamW8bit", "Prodigy", "DAdaptAdaptation", "Lion"}, Target: sweep.TargetArg},
		{Name: "network_dropout", Type: sweep.ParamFloat, Low: 0, High: 0.5, Target: sweep.TargetArg},
	}
	s.Budget.Trials = 100
	return s
}

// lossSpec is a one-scorer loss objective (the user reads a loss).
func lossSpec(root string) *sweep.Spec {
	s := quickstartSpec(root)
	s.Objective = objective.Spec{Direction: "minimize", Scorers: []objective.ScorerSpec{{Kind: "loss", Weight: 1}}}
	return s
}

func quickParams(rng *rand.Rand) map[string]any {
	sched := []string{"constant", "cosine", "cosine_with_restarts"}[rng.IntN(3)]
	dim := int64(2 << rng.IntN(3))
	p := map[string]any{"network_dim": dim, "network_alpha": float64(dim) * (0.25 + 0.75*rng.Float64()),
		"learning_rate": math.Exp(math.Log(1e-4) + rng.Float64()*math.Log(300)), "lr_scheduler": sched,
		"rank_dropout": 0.3 * rng.Float64()}
	if sched == "cosine_with_restarts" {
		p["lr_scheduler_num_cycles"] = int64(1 + rng.IntN(3))
	}
	return p
}

func quickComps(rng *rand.Rand, epochs int) [][]objective.Component {
	var out [][]objective.Component
	for e := 0; e < epochs; e++ {
		r, h := 0.5+0.4*rng.Float64(), 0.8+0.2*rng.Float64()
		out = append(out, []objective.Component{
			{Name: "reference", Kind: "reference", Weight: 1, Raw: r, Normalized: r},
			{Name: "health", Kind: "health", Weight: 0.5, Raw: h, Normalized: h},
		})
	}
	return out
}

func stepMetrics(n int, loss, lr float64) []sweep.MetricPoint {
	var out []sweep.MetricPoint
	for s := 1; s <= n; s++ {
		out = append(out, sweep.MetricPoint{Step: s, Loss: loss / math.Sqrt(float64(s)), LR: lr})
	}
	return out
}

// generatedSweeps are the shapes of data no chart may fail on.
var generatedSweeps = []genSweep{
	{name: "empty", spec: quickstartSpec, trials: func(*rand.Rand) []genTrial { return nil }},
	{name: "one-trial", spec: quickstartSpec, trials: func(rng *rand.Rand) []genTrial {
		// The quickstart after its first trial: the baseline alone, every
		// log param with one value.
		return []genTrial{{state: goptuna.TrialStateComplete, baseline: true,
			params: map[string]any{"network_dim": int64(8), "network_alpha": 4.0, "learning_rate": 0.001, "lr_scheduler": "cosine"},
			comps:  quickComps(rng, 4), metrics: stepMetrics(40, 0.2, 0)}}
	}},
	{name: "all-failed", spec: quickstartSpec, trials: func(rng *rand.Rand) []genTrial {
		var out []genTrial
		for i := 0; i < 6; i++ {
			out = append(out, genTrial{state: goptuna.TrialStateFail, params: quickParams(rng), reason: []string{"nan", "oom", "crash"}[i%3]})
		}
		return out
	}},
	{name: "all-pruned", spec: quickstartSpec, trials: func(rng *rand.Rand) []genTrial {
		var out []genTrial
		for i := 0; i < 6; i++ {
			out = append(out, genTrial{state: goptuna.TrialStatePruned, params: quickParams(rng), comps: quickComps(rng, 1), metrics: stepMetrics(10, 0.2, 1e-3)})
		}
		return out
	}},
	{name: "identical-params", spec: quickstartSpec, trials: func(rng *rand.Rand) []genTrial {
		p := map[string]any{"network_dim": int64(4), "network_alpha": 2.0, "learning_rate": 0.002, "lr_scheduler": "constant", "rank_dropout": 0.1}
		var out []genTrial
		for i := 0; i < 12; i++ {
			out = append(out, genTrial{state: goptuna.TrialStateComplete, params: p, comps: quickComps(rng, 2), metrics: stepMetrics(20, 0.2, 0.002)})
		}
		return out
	}},
	{name: "one-log-value", spec: quickstartSpec, trials: func(rng *rand.Rand) []genTrial {
		var out []genTrial
		for i := 0; i < 4; i++ {
			p := quickParams(rng)
			p["learning_rate"], p["network_dim"] = 0.003, int64(8)
			out = append(out, genTrial{state: goptuna.TrialStateComplete, params: p, comps: quickComps(rng, 2)})
		}
		return out
	}},
	{name: "non-finite", spec: quickstartSpec, trials: func(rng *rand.Rand) []genTrial {
		var out []genTrial
		for i, v := range []float64{math.NaN(), math.Inf(1), math.Inf(-1), 0.7, 0.6} {
			ms := stepMetrics(10, 0.2, 1e-3)
			ms[3].Loss, ms[4].Loss, ms[5].LR, ms[6].LR = math.NaN(), math.Inf(1), math.Inf(1), math.NaN()
			ev := v
			out = append(out, genTrial{state: goptuna.TrialStateComplete, params: quickParams(rng), value: fptr(v),
				comps: quickComps(rng, 2), metrics: ms, epochValue: &ev})
			if i == 0 {
				out[i].params["learning_rate"] = 0.0 // outside a log axis
			}
		}
		return out
	}},
	{name: "conditional-100", spec: conditionalSpec, trials: func(rng *rand.Rand) []genTrial {
		var out []genTrial
		scheds := []string{"cosine", "cosine_with_restarts", "polynomial", "constant_with_warmup"}
		for i := 0; i < 100; i++ {
			dim := int64(4 << rng.IntN(6))
			sched := scheds[rng.IntN(4)]
			p := map[string]any{"network_dim": dim, "network_alpha": float64(dim) * (0.125 + 0.875*rng.Float64()),
				"unet_lr": math.Exp(math.Log(1e-5) + rng.Float64()*math.Log(100)), "text_encoder_lr": 9e-5 + 2e-5*rng.Float64(),
				"lr_scheduler": sched, "optimizer_type": []string{"AdamW8bit", "Prodigy", "DAdaptAdaptation", "Lion"}[rng.IntN(4)],
				"network_dropout": 0.5 * rng.Float64()}
			switch sched {
			case "cosine_with_restarts":
				p["lr_scheduler_num_cycles"] = int64(1 + rng.IntN(4))
			case "polynomial":
				p["lr_scheduler_power"] = 0.5 + 2.5*rng.Float64()
			case "constant_with_warmup":
				p["lr_warmup_steps"] = 0.1 * rng.Float64()
			}
			st := goptuna.TrialStateComplete
			switch {
			case i%9 == 4:
				st = goptuna.TrialStatePruned
			case i%13 == 6:
				out = append(out, genTrial{state: goptuna.TrialStateFail, params: p, reason: "oom"})
				continue
			}
			out = append(out, genTrial{state: st, params: p, comps: quickComps(rng, 3), metrics: stepMetrics(30, 0.15+0.1*rng.Float64(), 0)})
		}
		return out
	}},
	{name: "loss-one-step", spec: lossSpec, trials: func(rng *rand.Rand) []genTrial {
		// A trainer that reports one step: one loss, one LR value.
		var out []genTrial
		for i := 0; i < 12; i++ {
			loss := 0.05 + 0.1*rng.Float64()
			n := 0.1 / (0.1 + loss)
			out = append(out, genTrial{state: goptuna.TrialStateComplete, params: quickParams(rng), value: fptr(1 - n),
				comps:   [][]objective.Component{{{Name: "loss", Kind: "loss", Weight: 1, Raw: loss, Normalized: n}}},
				metrics: []sweep.MetricPoint{{Step: 1, Loss: loss, LR: 1.1e-3}}})
		}
		return out
	}},
	{name: "trials-5000", spec: quickstartSpec, trials: func(rng *rand.Rand) []genTrial {
		var out []genTrial
		for i := 0; i < 5000; i++ {
			st := goptuna.TrialStateComplete
			switch {
			case i%17 == 3:
				out = append(out, genTrial{state: goptuna.TrialStateFail, params: quickParams(rng), reason: "nan"})
				continue
			case i%5 == 2:
				st = goptuna.TrialStatePruned
			}
			// Runs for the first trials only: the timeline needs some.
			out = append(out, genTrial{state: st, params: quickParams(rng), value: fptr(0.5 + 0.4*rng.Float64()), noRun: i >= 100})
		}
		return out
	}},
}

// TestGeneratedSweepsReport renders the report and the live page of every
// generated sweep: each must render in full, with no chart degraded to a
// note (these are ordinary data, not broken charts), and the live page must
// answer 200.
func TestGeneratedSweepsReport(t *testing.T) {
	for _, g := range generatedSweeps {
		t.Run(g.name, func(t *testing.T) {
			if g.name == "trials-5000" && (testing.Short() || raceEnabled) {
				t.Skip("writes 5,000 trials (about 20 s; minutes under -race): runs without -short and -race")
			}
			dir := t.TempDir()
			t0 := time.Now()
			store, id := writeGenSweep(t, dir, g)
			t1 := time.Now()
			d, err := Load(context.Background(), store, id)
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			if err := WriteHTML(&buf, d, Options{BaseDir: dir}); err != nil {
				t.Fatalf("report: %v", err)
			}
			t.Logf("%d trials written in %v, loaded and rendered (%d bytes) in %v", len(d.Trials), t1.Sub(t0).Round(time.Millisecond), buf.Len(), time.Since(t1).Round(time.Millisecond))
			if strings.Contains(buf.String(), chartFailure) {
				t.Errorf("a chart was degraded to a note:\n%s", notesOf(buf.String()))
			}
			srv, err := NewServer(store, id, ServerOptions{Token: "t"})
			if err != nil {
				t.Fatal(err)
			}
			rec := httptest.NewRecorder()
			req := httptest.NewRequest("GET", "/live/", nil)
			srv.Handler().ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				t.Errorf("/live/ answered %d: %.300s", rec.Code, rec.Body.String())
			}
			if *shotsDir != "" {
				saveShot(t, g.name, buf.Bytes())
			}
		})
	}
}

var shotsDir = flag.String("screenshots", "", "write each generated sweep's report and a Chromium screenshot of it to this folder")

// notesOf returns the lines of a page that carry a chart failure.
func notesOf(page string) string {
	var out []string
	for _, l := range strings.Split(page, "\n") {
		if strings.Contains(l, chartFailure) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// saveShot writes the page and a full-page screenshot of it under
// -screenshots, for a person to look at.
func saveShot(t *testing.T, name string, page []byte) {
	t.Helper()
	bin := chromium(t)
	if err := os.MkdirAll(*shotsDir, 0o755); err != nil {
		t.Fatal(err)
	}
	html := filepath.Join(*shotsDir, name+".html")
	if err := os.WriteFile(html, page, 0o644); err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs(html)
	profile := t.TempDir()
	cmd := exec.Command(bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--no-first-run", "--user-data-dir="+profile,
		"--screenshot="+strings.TrimSuffix(abs, ".html")+".png", "--window-size=1400,6000", "file://"+abs)
	cmd.Env = append(os.Environ(), "HOME="+profile)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("chromium: %v\n%s", err, tail(string(out)))
	}
}

var svgTextRE = regexp.MustCompile(`(?s)<text x="([-0-9.]+)" y="([-0-9.]+)"[^>]*font-size:([0-9.]+)px">([^<]*)</text>`)

// svgLabel is one text of a chart, where gonum put it.
type svgLabel struct {
	x, y, size float64
	text       string
}

func svgLabels(svg string) []svgLabel {
	var out []svgLabel
	for _, m := range svgTextRE.FindAllStringSubmatch(svg, -1) {
		x, _ := strconv.ParseFloat(m[1], 64)
		y, _ := strconv.ParseFloat(m[2], 64)
		size, _ := strconv.ParseFloat(m[3], 64)
		out = append(out, svgLabel{x, y, size, html.UnescapeString(m[4])})
	}
	return out
}

// floatNoise matches labels that print a float's binary noise.
var floatNoise = regexp.MustCompile(`\d{6,}|e-0\d|e\+`)

// TestChartsReadable draws the charts of a 100-trial, 10-parameter
// conditional sweep (a narrow log axis, long choice names) and of a
// one-step trainer, and checks what a reader sees: tick labels without
// float noise, and no two labels of one row overlapping (widths as gonum
// measures them, with a little room for a wider browser font).
func TestChartsReadable(t *testing.T) {
	sty := plot.New().X.Tick.Label
	for _, name := range []string{"conditional-100", "loss-one-step", "one-trial", "identical-params"} {
		t.Run(name, func(t *testing.T) {
			var g genSweep
			for _, x := range generatedSweeps {
				if x.name == name {
					g = x
				}
			}
			store, id := writeGenSweep(t, t.TempDir(), g)
			d, err := Load(context.Background(), store, id)
			if err != nil {
				t.Fatal(err)
			}
			pg := &page{Charts: map[string]*Chart{}}
			buildCharts(pg, d, Options{}.withDefaults())
			var charts []Chart
			charts = append(charts, pg.Slices...)
			charts = append(charts, pg.Curves...)
			charts = append(charts, pg.Components...)
			for _, c := range pg.Charts {
				if c != nil {
					charts = append(charts, *c)
				}
			}
			for _, c := range charts {
				if c.SVG == "" {
					if strings.Contains(c.Caption, chartFailure) || c.Caption == "" {
						t.Errorf("%s: not drawn: %s", c.Title, c.Caption)
					}
					continue
				}
				rows := map[float64][]svgLabel{}
				for _, l := range svgLabels(string(c.SVG)) {
					if floatNoise.MatchString(l.text) {
						t.Errorf("%s: label %q prints float noise", c.Title, l.text)
					}
					rows[l.y] = append(rows[l.y], l)
				}
				for _, row := range rows {
					sort.Slice(row, func(i, j int) bool { return row[i].x < row[j].x })
					for i := 1; i < len(row); i++ {
						a, b := row[i-1], row[i]
						s := sty
						s.Font.Size = vg.Length(a.size)
						if a.x+float64(s.Width(a.text))*1.1 > b.x {
							t.Errorf("%s: labels %q and %q overlap (x %.1f and %.1f)", c.Title, a.text, b.text, a.x, b.x)
						}
					}
				}
			}
			if imp := pg.Charts["importance"]; name == "identical-params" && (imp == nil || imp.SVG != "" || len(pg.Importance) != 0) {
				t.Errorf("identical params ranked by importance: %+v", pg.Importance)
			}
			if name == "conditional-100" {
				for _, c := range pg.Slices {
					if c.Title != "text_encoder_lr" {
						continue
					}
					var ticks []string
					for _, l := range svgLabels(string(c.SVG)) {
						if l.size == 10 && strings.ContainsAny(l.text, "0123456789") {
							ticks = append(ticks, l.text)
						}
					}
					if len(ticks) < 4 {
						t.Errorf("text_encoder_lr slice has tick labels %q, want a few on each axis", ticks)
					}
				}
			}
		})
	}
}

// TestChartPanicBecomesNote: a chart whose drawing panics (as gonum/plot
// does on some data) becomes a note and the rest of the page is drawn.
func TestChartPanicBecomesNote(t *testing.T) {
	c := drawChart("Odd chart", func() (*Chart, error) { panic("Values must be greater than 0 for a log scale.") })
	if c == nil || c.SVG != "" || !strings.Contains(c.Caption, chartFailure) || !strings.Contains(c.Caption, "log scale") {
		t.Fatalf("panicking chart gave %+v, want a note naming the cause", c)
	}
	c = drawChart("Erring chart", func() (*Chart, error) { return nil, fmt.Errorf("no room") })
	if c == nil || !strings.Contains(c.Caption, "no room") {
		t.Fatalf("erring chart gave %+v, want a note", c)
	}
	if c := drawChart("Empty chart", func() (*Chart, error) { return nil, nil }); c != nil {
		t.Fatalf("a chart with nothing to draw gave %+v, want none", c)
	}
}

// TestGeneratedReportsInChromium opens the one-trial and the 100-trial
// conditional reports in headless Chromium: they load without script
// errors and every chart is there as inline SVG.
func TestGeneratedReportsInChromium(t *testing.T) {
	bin := chromium(t)
	for _, name := range []string{"one-trial", "conditional-100"} {
		t.Run(name, func(t *testing.T) {
			var g genSweep
			for _, x := range generatedSweeps {
				if x.name == name {
					g = x
				}
			}
			dir := t.TempDir()
			store, id := writeGenSweep(t, dir, g)
			d, err := Load(context.Background(), store, id)
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			if err := WriteHTML(&buf, d, Options{BaseDir: dir}); err != nil {
				t.Fatal(err)
			}
			want := strings.Count(buf.String(), "<svg")
			page := filepath.Join(dir, "report.html")
			if err := os.WriteFile(page, buf.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			profile := t.TempDir()
			cmd := exec.Command(bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
				"--disable-component-update", "--disable-sync", "--no-first-run", "--user-data-dir="+profile,
				"--enable-logging=stderr", "--v=0", "--dump-dom", "file://"+page)
			cmd.Env = append(os.Environ(), "HOME="+profile)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("chromium: %v\n%s", err, tail(stderr.String()))
			}
			for _, line := range strings.Split(stderr.String(), "\n") {
				if (strings.Contains(line, "CONSOLE") || strings.Contains(line, "Uncaught")) && consoleErrRE.MatchString(line) {
					t.Errorf("script error in the report: %s", line)
				}
			}
			dom := stdout.String()
			if got := strings.Count(dom, "<svg"); got != want || want < 6 {
				t.Errorf("rendered DOM has %d charts, the report %d (want at least 6)", got, want)
			}
			if strings.Contains(dom, chartFailure) {
				t.Error("a chart could not be drawn")
			}
		})
	}
}
