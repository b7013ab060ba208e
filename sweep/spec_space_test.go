package sweep

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/c-bata/goptuna"

	"github.com/lorasweep/lorasweep/kohya"
)

var update = flag.Bool("update", false, "rewrite golden files")

const spaceSpec = `name: space
trainer:
  kind: builtin
  fixed: {learning_rate: 1.0e-4, network_args: ["conv_dim=4", "rank_dropout=0.5"]}
search:
  network_dim:   {int: [4, 128], log: true}
  network_alpha: {ratio_of: network_dim, float: [0.125, 1.0]}
  max_train_epochs: {int: [4, 16], step: 4}
  unet_lr:       {float: [1.0e-5, 1.0e-3], log: true}
  network_dropout: {float: [0.0, 0.5], step: 0.1}
  train_batch_size: {int: [1, 4]}
  lr_scheduler:  {choice: [cosine, cosine_with_restarts, polynomial]}
  lr_scheduler_num_cycles: {int: [1, 4], when: {lr_scheduler: cosine_with_restarts}}
  lr_scheduler_power: {float: [0.5, 3.0], when: {lr_scheduler: polynomial}}
  rank_dropout:  {float: [0.0, 0.3]}
  scale_weight_norms: {choice: [1, 2.5]}
objective: {scorers: [{kind: health}]}
budget: {trials: 10}
`

func parseString(t *testing.T, spec string) *Spec {
	t.Helper()
	path, _ := writeSpec(t, spec, nil)
	s, err := ParseSpecFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestDistributions(t *testing.T) {
	s := parseString(t, spaceSpec)
	d := s.Distributions()
	want := map[string]interface{}{
		"network_dim":             goptuna.LogUniformDistribution{Low: 4, High: 128},
		"network_alpha":           goptuna.UniformDistribution{Low: 0.125, High: 1},
		"max_train_epochs":        goptuna.StepIntUniformDistribution{Low: 4, High: 16, Step: 4},
		"unet_lr":                 goptuna.LogUniformDistribution{Low: 1e-5, High: 1e-3},
		"network_dropout":         goptuna.DiscreteUniformDistribution{Low: 0, High: 0.5, Q: 0.1},
		"train_batch_size":        goptuna.IntUniformDistribution{Low: 1, High: 4},
		"lr_scheduler":            goptuna.CategoricalDistribution{Choices: []string{"cosine", "cosine_with_restarts", "polynomial"}},
		"lr_scheduler_num_cycles": goptuna.IntUniformDistribution{Low: 1, High: 4},
		"lr_scheduler_power":      goptuna.UniformDistribution{Low: 0.5, High: 3},
		"rank_dropout":            goptuna.UniformDistribution{Low: 0, High: 0.3},
		"scale_weight_norms":      goptuna.CategoricalDistribution{Choices: []string{"1", "2.5"}},
	}
	if !reflect.DeepEqual(d, want) {
		t.Errorf("Distributions() =\n%#v\nwant\n%#v", d, want)
	}
	if got := s.LogIntParams(); !reflect.DeepEqual(got, map[string]bool{"network_dim": true}) {
		t.Errorf("LogIntParams() = %v", got)
	}
}

func TestSuggestParamsHonoursWhen(t *testing.T) {
	s := parseString(t, spaceSpec)
	study, err := goptuna.CreateStudy("t", goptuna.StudyOptionSampler(goptuna.NewRandomSampler(goptuna.RandomSamplerOptionSeed(3))))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for i := 0; i < 60; i++ {
		id, err := study.Storage.CreateNewTrial(study.ID)
		if err != nil {
			t.Fatal(err)
		}
		params, err := s.SuggestParams(goptuna.Trial{Study: study, ID: id})
		if err != nil {
			t.Fatal(err)
		}
		sched := params["lr_scheduler"].(string)
		seen[sched] = true
		_, hasCycles := params["lr_scheduler_num_cycles"]
		_, hasPower := params["lr_scheduler_power"]
		if hasCycles != (sched == "cosine_with_restarts") || hasPower != (sched == "polynomial") {
			t.Fatalf("trial %d: conditions not honoured: %v", i, params)
		}
		dim := params["network_dim"].(int64)
		if dim < 4 || dim > 128 {
			t.Fatalf("log-int network_dim %d out of range", dim)
		}
		if e := params["max_train_epochs"].(int64); e%4 != 0 {
			t.Fatalf("step int max_train_epochs %d off grid", e)
		}
		if _, ok := params["scale_weight_norms"].(int64); !ok {
			if _, ok := params["scale_weight_norms"].(float64); !ok {
				t.Fatalf("categorical lost its type: %T", params["scale_weight_norms"])
			}
		}
		// Reading the stored trial back gives the same params.
		ft, err := study.Storage.GetTrial(id)
		if err != nil {
			t.Fatal(err)
		}
		back, err := s.ParamsFromInternal(ft.InternalParams)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(back, params) {
			t.Fatalf("ParamsFromInternal = %v, want %v", back, params)
		}
		internal, inside, err := s.InternalFromParams(params)
		if err != nil || !inside {
			t.Fatalf("InternalFromParams(%v) inside=%v err=%v", params, inside, err)
		}
		again, _ := s.ParamsFromInternal(internal)
		if !reflect.DeepEqual(again, params) {
			t.Fatalf("round trip = %v, want %v", again, params)
		}
	}
	if len(seen) != 3 {
		t.Errorf("60 random trials saw schedulers %v", seen)
	}
}

func TestInternalFromParams(t *testing.T) {
	s := parseString(t, spaceSpec)
	base := map[string]any{
		"network_dim": int64(32), "network_alpha": 0.5, "max_train_epochs": int64(8), "unet_lr": 1e-4,
		"network_dropout": 0.1, "train_batch_size": int64(2), "lr_scheduler": "cosine", "rank_dropout": 0.1,
		"scale_weight_norms": int64(1),
	}
	with := func(k string, v any) map[string]any {
		m := map[string]any{}
		for a, b := range base {
			m[a] = b
		}
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	tests := []struct {
		name    string
		params  map[string]any
		inside  bool
		wantErr string
	}{
		{"inside", base, true, ""},
		{"plain int accepted", with("network_dim", 32), true, ""},
		{"above high", with("network_dim", int64(256)), false, ""},
		{"off the step grid", with("max_train_epochs", int64(6)), false, ""},
		{"not a choice", with("lr_scheduler", "constant"), false, ""},
		{"condition fails", with("lr_scheduler_power", 2.0), false, ""},
		{"active param missing", with("rank_dropout", nil), false, ""},
		{"unknown name", with("netwrok_dim", int64(3)), false, "convert param netwrok_dim: not in the search space"},
		{"string for a number", with("unet_lr", "1e-4"), false, `convert param unet_lr: expected a number, got the string "1e-4"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, inside, err := s.InternalFromParams(tc.params)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || inside != tc.inside {
				t.Fatalf("inside = %v, err = %v; want inside %v", inside, err, tc.inside)
			}
		})
	}
}

// TestTrialConfigGolden pins the TOML a trial trains with: arguments typed,
// network args merged into network_args, alpha = ratio × dim.
func TestTrialConfigGolden(t *testing.T) {
	s := parseString(t, spaceSpec)
	params := map[string]any{
		"network_dim": int64(32), "network_alpha": 0.5, "max_train_epochs": int64(8), "unet_lr": 0.0002,
		"network_dropout": 0.1, "train_batch_size": int64(2), "lr_scheduler": "cosine_with_restarts",
		"lr_scheduler_num_cycles": int64(3), "rank_dropout": 0.25, "scale_weight_norms": int64(1),
	}
	got, err := kohya.WriteTOML(s.TrialConfig(params))
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "specs", "trial_config.golden.toml")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("TrialConfig TOML:\n%s\nwant:\n%s", got, want)
	}
	// The base must not be changed by building a trial's config.
	if args := displayValue(s.Base["network_args"]); args != "[conv_dim=4 rank_dropout=0.5]" {
		t.Errorf("base network_args changed to %s", args)
	}
	// ParamsFromConfig reads the params back out of the trial's config.
	back := s.ParamsFromConfig(s.TrialConfig(params))
	if !reflect.DeepEqual(back, params) {
		t.Errorf("ParamsFromConfig = %v, want %v", back, params)
	}
}

func TestSpecJSONRoundTrip(t *testing.T) {
	s := parseString(t, spaceSpec)
	data, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var back Spec
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	params := map[string]any{"network_dim": int64(16), "network_alpha": 1.0, "lr_scheduler": "cosine", "scale_weight_norms": 2.5}
	a, _ := kohya.WriteTOML(s.TrialConfig(params))
	b, _ := kohya.WriteTOML(back.TrialConfig(params))
	if string(a) != string(b) {
		t.Errorf("TOML after a JSON round trip:\n%s\nbefore:\n%s", b, a)
	}
	if !reflect.DeepEqual(back.Search[10].Choices, []any{int64(1), 2.5}) {
		t.Errorf("choices after round trip: %#v", back.Search[10].Choices)
	}
}

func TestDiffSpaces(t *testing.T) {
	a := parseString(t, spaceSpec)
	changed := strings.Replace(spaceSpec, "{int: [4, 128], log: true}", "{int: [4, 256], log: true}", 1)
	changed = strings.Replace(changed, "  rank_dropout:  {float: [0.0, 0.3]}\n", "  module_dropout: {float: [0.0, 0.3]}\n", 1)
	changed = strings.Replace(changed, "polynomial]}", "polynomial, constant_with_warmup]}", 1)
	b := parseString(t, changed)
	ja, _ := a.SpaceJSON()
	jb, _ := b.SpaceJSON()
	got := DiffSpaces(ja, jb)
	want := []string{
		"lr_scheduler: choices [cosine, cosine_with_restarts, polynomial] → [cosine, cosine_with_restarts, polynomial, constant_with_warmup]",
		"added module_dropout: float [0, 0.3]",
		"network_dim: high 128 → 256",
		"removed rank_dropout: float [0, 0.3]",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("DiffSpaces =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if d := DiffSpaces(ja, ja); len(d) != 0 {
		t.Errorf("a space differs from itself: %v", d)
	}
}

func BenchmarkParseSpec(b *testing.B) {
	dir := b.TempDir()
	path := filepath.Join(dir, "spec.yaml")
	if err := os.WriteFile(path, []byte(spaceSpec), 0o644); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := ParseSpecFile(path); err != nil {
			b.Fatal(err)
		}
	}
}

// TestTrainedParams: views get a ratio_of param as the value TrialConfig
// gives the trainer (reference from the trial, else the base), with the
// ratio beside it when formatted; other params pass unchanged.
func TestTrainedParams(t *testing.T) {
	spec := &Spec{
		Base: map[string]any{"network_dim": int64(8)},
		Search: []Param{
			{Name: "network_dim", Type: ParamInt, Low: 4, High: 64, Target: TargetArg},
			{Name: "network_alpha", Type: ParamFloat, Low: 0.25, High: 1, RatioOf: "network_dim", Target: TargetArg},
			{Name: "lr_scheduler", Type: ParamCategorical, Choices: []any{"cosine", "constant"}, Target: TargetArg},
		},
	}
	tests := []struct {
		name   string
		params map[string]any
		alpha  any
		cell   string
		line   string
	}{
		{name: "reference in the trial", params: map[string]any{"network_dim": int64(3), "network_alpha": 0.6901667296565467, "lr_scheduler": "cosine"},
			alpha: 2.07050018896964, cell: "2.071 (0.6902×network_dim)",
			line: "lr_scheduler=cosine network_alpha=2.071 (0.6902×network_dim) network_dim=3"},
		{name: "reference from the base", params: map[string]any{"network_alpha": 0.5}, alpha: 4.0, cell: "4 (0.5×network_dim)",
			line: "network_alpha=4 (0.5×network_dim)"},
		{name: "no ratio param", params: map[string]any{"network_dim": int64(16), "train_batch_size": int64(2)},
			line: "network_dim=16 train_batch_size=2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := spec.TrainedParams(tc.params)
			if tc.alpha != nil {
				if got["network_alpha"] != tc.alpha || got["network_alpha"] != spec.TrialConfig(tc.params)["network_alpha"] {
					t.Errorf("network_alpha %#v, want %#v as TrialConfig writes it (%#v)", got["network_alpha"], tc.alpha, spec.TrialConfig(tc.params)["network_alpha"])
				}
				if r := spec.Ratios(tc.params)["network_alpha"]; r != tc.params["network_alpha"] {
					t.Errorf("ratio %#v, want the searched %#v", r, tc.params["network_alpha"])
				}
				if c, ok := spec.FormatTrainedParam(tc.params, "network_alpha"); !ok || c != tc.cell {
					t.Errorf("cell %q, want %q", c, tc.cell)
				}
			} else if spec.Ratios(tc.params) != nil {
				t.Errorf("ratios %v for params without a ratio_of param", spec.Ratios(tc.params))
			}
			for k, v := range tc.params {
				if k != "network_alpha" && got[k] != v {
					t.Errorf("%s = %#v, want it unchanged (%#v)", k, got[k], v)
				}
			}
			if l := spec.FormatTrainedParams(tc.params); l != tc.line {
				t.Errorf("line %q, want %q", l, tc.line)
			}
		})
	}
	// The input is not changed, and a nil spec shows params as stored.
	p := map[string]any{"network_alpha": 0.5}
	spec.TrainedParams(p)
	var none *Spec
	if p["network_alpha"] != 0.5 || none.TrainedParams(p)["network_alpha"] != 0.5 || none.FormatTrainedParams(p) != "network_alpha=0.5" {
		t.Errorf("input changed or nil spec converted: %v", p)
	}
}

// TestCheckValue: what --enqueue accepts for each param type, typed as
// the space types it, and what it refuses.
func TestCheckValue(t *testing.T) {
	dim := Param{Name: "network_dim", Type: ParamInt, Low: 4, High: 64, Step: 4}
	alpha := Param{Name: "network_alpha", Type: ParamFloat, Low: 0.25, High: 1, RatioOf: "network_dim"}
	w := Param{Name: "w", Type: ParamCategorical, Choices: []any{1.0, 2.5, "x"}}
	tests := []struct {
		p    Param
		in   any
		want any
		err  string
	}{
		{p: dim, in: int64(16), want: int64(16)},
		{p: dim, in: 16.0, want: int64(16)},
		{p: dim, in: int64(18), err: "the integer 18 lies outside the search space (step-int [4, 64] step 4)"},
		{p: dim, in: 16.5, err: "expected an integer (step-int [4, 64] step 4), got the number 16.5"},
		{p: dim, in: "16", err: `expected a number (step-int [4, 64] step 4), got the string "16"`},
		{p: alpha, in: int64(1), want: 1.0},
		{p: alpha, in: 8.0, err: "the number 8 lies outside the search space (float [0.25, 1] × network_dim); network_alpha is searched as a ratio of network_dim: write the ratio, not the value trained"},
		{p: w, in: int64(1), want: 1.0},
		{p: w, in: 2.5, want: 2.5},
		{p: w, in: "x", want: "x"},
		{p: w, in: true, err: "true is not one of the choices [1.0, 2.5, x]"},
	}
	for _, tc := range tests {
		got, msg := tc.p.checkValue(tc.in)
		if msg != tc.err || (msg == "" && got != tc.want) {
			t.Errorf("%s %#v: got %#v %q, want %#v %q", tc.p.Name, tc.in, got, msg, tc.want, tc.err)
		}
	}
}
