package builtin

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/lorasweep/lorasweep/kohya"
)

func TestEffectHigherRankReachesLowerTrainingLoss(t *testing.T) {
	dir := demo(t, false)
	// scale 1 for both, long enough at a constant lr to reach capacity
	common := []string{"--lr_scheduler", "constant", "--learning_rate", "0.003", "--max_train_epochs", "16", "--sample_every_n_epochs", "0", "--save_every_n_epochs", "0"}
	low := train(t, dir, append(common, "--network_dim", "1", "--network_alpha", "1")...)
	high := train(t, dir, append(common, "--network_dim", "16", "--network_alpha", "16")...)
	for _, r := range []runResult{low, high} {
		if r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
	}
	l, h := low.lastLoss(t), high.lastLoss(t)
	t.Logf("final avr_loss: dim 1 = %g, dim 16 = %g", l, h)
	if !(h < 0.85*l) {
		t.Errorf("dim 16 loss %g not clearly below dim 1 loss %g", h, l)
	}
}

func TestEffectFarTooHighLRDivergesToNaN(t *testing.T) {
	dir := demo(t, false)
	tests := []struct {
		name    string
		args    []string
		wantNaN bool
	}{
		{"demo lr trains", nil, false},
		{"adamw lr 3", []string{"--learning_rate", "3"}, true},
		{"lion lr 0.1", []string{"--learning_rate", "0.1", "--optimizer_type", "Lion"}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := train(t, dir, tc.args...)
			if r.code != 0 {
				t.Fatalf("exit %d (NaN is not caught by sd-scripts: want 0): %s", r.code, r.stderr)
			}
			if got := strings.Contains(r.stderr, "avr_loss=nan]"); got != tc.wantNaN {
				t.Errorf("avr_loss=nan shown = %v, want %v (last loss %q)", got, tc.wantNaN, r.stderr[max(0, len(r.stderr)-200):])
			}
			if !strings.Contains(r.stderr, "model saved.") {
				t.Errorf("model saved. missing")
			}
		})
	}
}

func TestEffectOverTrainingHurtsHeldOutAndPreservation(t *testing.T) {
	dir := demo(t, false)
	r := train(t, dir, "--lr_scheduler", "constant", "--learning_rate", "0.003",
		"--max_train_epochs", "24", "--sample_every_n_epochs", "2", "--save_every_n_epochs", "0")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	s := samplesByEpoch(t, r.outDir, "demo")
	bestHeld := math.Inf(1)
	for e := 2; e <= 8; e += 2 {
		bestHeld = math.Min(bestHeld, kindErrors(t, dir, s[e])["heldout"])
	}
	early := kindErrors(t, dir, s[2])
	final := kindErrors(t, dir, s[24])
	t.Logf("held-out MSE best early %.4f final %.4f; class MSE epoch 2 %.4f final %.4f", bestHeld, final["heldout"], early["class"], final["class"])
	if !(final["heldout"] > 2*bestHeld) {
		t.Errorf("held-out error after over-training %.4f not clearly worse than early best %.4f", final["heldout"], bestHeld)
	}
	if !(final["class"] > 1.5*early["class"]) {
		t.Errorf("class (preservation) error %.4f not clearly worse than at epoch 2 %.4f", final["class"], early["class"])
	}
}

func TestEffectRegImagesPreserveClass(t *testing.T) {
	dir := demo(t, true)
	without := train(t, dir, "--sample_every_n_epochs", "8", "--reg_data_dir", "")
	with := train(t, dir, "--sample_every_n_epochs", "8")
	cw := kindErrors(t, dir, samplesByEpoch(t, with.outDir, "demo")[8])["class"]
	cwo := kindErrors(t, dir, samplesByEpoch(t, without.outDir, "demo")[8])["class"]
	t.Logf("class MSE with reg %.4f, without %.4f", cw, cwo)
	if !(cw < 0.5*cwo) {
		t.Errorf("reg images did not preserve the class: %.4f vs %.4f", cw, cwo)
	}
}

func TestSameSeedGivesIdenticalTensors(t *testing.T) {
	dir := demo(t, false)
	args := []string{"--network_dropout", "0.1", "--network_args", "rank_dropout=0.1", "module_dropout=0.1"}
	a := train(t, dir, args...)
	b := train(t, dir, args...)
	c := train(t, dir, append(args, "--seed", "7")...)
	read := func(r runResult) map[string][]float32 {
		_, ts, err := kohya.ReadSafetensors(filepath.Join(r.outDir, "demo.safetensors"))
		if err != nil {
			t.Fatal(err)
		}
		return ts
	}
	ta, tb, tc := read(a), read(b), read(c)
	same := func(x, y map[string][]float32) bool {
		if len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w := y[k]
			if len(v) != len(w) {
				return false
			}
			for i := range v {
				if math.Float32bits(v[i]) != math.Float32bits(w[i]) {
					return false
				}
			}
		}
		return true
	}
	if !same(ta, tb) {
		t.Error("same seed gave different tensors")
	}
	if same(ta, tc) {
		t.Error("different seeds gave identical tensors")
	}
}

// effectiveDelta is scale · up · down of the unet output module: the weight
// change the LoRA applies to the base layer.
func effectiveDelta(t *testing.T, path string) []float64 {
	t.Helper()
	_, ts, err := kohya.ReadSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	name := moduleNames[2]
	down, up, alpha := ts[name+".lora_down.weight"], ts[name+".lora_up.weight"], ts[name+".alpha"][0]
	out, in := moduleShapes[2][0], moduleShapes[2][1]
	r := len(down) / in
	d := make([]float64, out*in)
	for o := 0; o < out; o++ {
		for i := 0; i < in; i++ {
			var s float64
			for k := 0; k < r; k++ {
				s += float64(up[o*r+k]) * float64(down[k*in+i])
			}
			d[o*in+i] = s * float64(alpha) / float64(r)
		}
	}
	return d
}

// With AdamW the first step moves lora_up by ±lr whatever the gradient's
// size (down gets no gradient while up is zero), so the applied weight
// change is proportional to (alpha/dim)·lr: halving alpha/dim is the same
// as halving the learning rate, and doubling it doubles the step.
func TestEffectAlphaOverDimScalesStepSize(t *testing.T) {
	dir := demo(t, false)
	common := []string{"--max_train_steps", "1", "--max_train_epochs", "0", "--network_dim", "8",
		"--optimizer_args", "weight_decay=0", "eps=1e-20", "--lr_scheduler", "constant", "--sample_every_n_epochs", "0"}
	run := func(alpha, lr string) []float64 {
		r := train(t, dir, append(common, "--network_alpha", alpha, "--learning_rate", lr)...)
		if r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		return effectiveDelta(t, filepath.Join(r.outDir, "demo.safetensors"))
	}
	base := run("4", "0.002")    // scale 0.5
	halfLR := run("8", "0.001")  // scale 1, lr/2: same effective step
	doubled := run("8", "0.002") // scale 1: twice the step
	ratio := func(a, b []float64) (float64, float64) {
		var num, den, dev, scale float64
		for i := range a {
			num += a[i] * b[i]
			den += b[i] * b[i]
		}
		k := num / den
		for i := range a {
			dev = math.Max(dev, math.Abs(a[i]-k*b[i]))
			scale = math.Max(scale, math.Abs(a[i]))
		}
		return k, dev / scale
	}
	if k, dev := ratio(halfLR, base); math.Abs(k-1) > 5e-3 || dev > 1e-3 {
		t.Errorf("alpha/dim ×2 with lr ÷2: step ratio %g (max dev %g), want 1", k, dev)
	}
	if k, _ := ratio(doubled, base); math.Abs(k-2) > 1e-2 {
		t.Errorf("alpha/dim ×2: step ratio %g, want 2", k)
	}
}

func TestRenderEqualsTrainerSamples(t *testing.T) {
	dir := demo(t, true)
	tests := []struct {
		name string
		args []string
	}{
		{"default float", nil},
		{"fp16 dropouts", []string{"--save_precision", "fp16", "--network_dropout", "0.2", "--network_args", "rank_dropout=0.1", "module_dropout=0.1", "conv_dim=4"}},
		{"bf16 unet only max-norm", []string{"--save_precision", "bf16", "--network_train_unet_only", "--scale_weight_norms", "0.5", "--network_dim", "4"}},
		{"text encoder only sgd", []string{"--network_train_text_encoder_only", "--optimizer_type", "SGDNesterov", "--learning_rate", "0.5"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := train(t, dir, tc.args...)
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			samples := samplesByEpoch(t, r.outDir, "demo")
			files := map[int]string{8: filepath.Join(r.outDir, "demo.safetensors")}
			for _, e := range []int{2, 4, 6} {
				files[e] = filepath.Join(r.outDir, kohya.CheckpointName("demo", e, "safetensors"))
			}
			for epoch, f := range files {
				out := t.TempDir()
				paths, err := Render(f, filepath.Join(dir, "prompts.txt"), out)
				if err != nil {
					t.Fatal(err)
				}
				if len(paths) != 9 {
					t.Fatalf("epoch %d: %d renders, want 9", epoch, len(paths))
				}
				for _, p := range paths {
					n, ok := kohya.ParseSampleName(p, "demo")
					if !ok || n.Epoch != epoch {
						t.Fatalf("render name %s: parsed %+v ok=%v, want epoch %d", p, n, ok, epoch)
					}
					got, _ := os.ReadFile(p)
					want, err := os.ReadFile(samples[epoch][n.PromptIndex])
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(got, want) {
						t.Errorf("epoch %d prompt %d: render differs from the trainer's sample", epoch, n.PromptIndex)
					}
				}
			}
		})
	}
}

// readHeaderIndependently parses a safetensors file without the kohya
// package: 8-byte little-endian length, JSON header, offsets and sizes.
func readHeaderIndependently(t *testing.T, path string) (map[string]any, map[string]string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n := binary.LittleEndian.Uint64(data[:8])
	if 8+n > uint64(len(data)) {
		t.Fatalf("header length %d beyond file of %d", n, len(data))
	}
	var hdr map[string]json.RawMessage
	if err := json.Unmarshal(data[8:8+n], &hdr); err != nil {
		t.Fatal(err)
	}
	size := map[string]int{"F32": 4, "F16": 2, "BF16": 2}
	var meta map[string]string
	tensors := map[string]any{}
	var end int64
	for k, v := range hdr {
		if k == "__metadata__" {
			if err := json.Unmarshal(v, &meta); err != nil {
				t.Fatalf("metadata is not all strings: %v", err)
			}
			continue
		}
		var ti struct {
			DType       string  `json:"dtype"`
			Shape       []int   `json:"shape"`
			DataOffsets []int64 `json:"data_offsets"`
		}
		if err := json.Unmarshal(v, &ti); err != nil {
			t.Fatal(err)
		}
		elems := 1
		for _, d := range ti.Shape {
			elems *= d
		}
		if got := ti.DataOffsets[1] - ti.DataOffsets[0]; got != int64(elems*size[ti.DType]) {
			t.Errorf("%s: %d bytes for %v %s", k, got, ti.Shape, ti.DType)
		}
		end = max(end, ti.DataOffsets[1])
		tensors[k] = ti
	}
	if int64(8+n)+end != int64(len(data)) {
		t.Errorf("data section ends at %d, file has %d bytes", int64(8+n)+end, len(data))
	}
	return tensors, meta
}

func TestOutputsConsoleAndMetadata(t *testing.T) {
	dir := demo(t, false)
	r := train(t, dir, "--save_precision", "fp16", "--network_args", "rank_dropout=0.1", "--training_comment", "hello",
		"--text_encoder_lr", "0.0005", "0.0001", "--lr_warmup_steps", "0.1", "--lr_scheduler", "cosine_with_restarts", "--lr_scheduler_num_cycles", "2")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	for _, want := range []string{"\nepoch 1/8\n", "\nepoch 8/8\n", "num batches per epoch / 1epochのバッチ数: 40", "total optimization steps / 学習ステップ数: 320",
		"saving checkpoint: " + filepath.Join(r.outDir, "demo-000002.safetensors")} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q", want)
		}
	}
	if !regexp.MustCompile(`\rsteps: 100%\|█+\| 320/320 \[[^\]]*avr_loss=[0-9.e-]+\]`).MatchString(r.stderr) {
		t.Errorf("no final progress line in stderr")
	}
	if !strings.HasSuffix(strings.TrimSpace(r.stderr), "model saved.") {
		t.Errorf("stderr does not end with model saved.")
	}
	for e, want := range map[int]bool{2: true, 4: true, 6: true, 8: false} {
		_, err := os.Stat(filepath.Join(r.outDir, kohya.CheckpointName("demo", e, "safetensors")))
		if (err == nil) != want {
			t.Errorf("checkpoint epoch %d exists=%v, want %v", e, err == nil, want)
		}
	}
	tensors, meta := readHeaderIndependently(t, filepath.Join(r.outDir, "demo.safetensors"))
	for _, name := range moduleNames {
		for _, s := range []string{".lora_down.weight", ".lora_up.weight", ".alpha"} {
			if _, ok := tensors[name+s]; !ok {
				t.Errorf("tensor %s%s missing", name, s)
			}
		}
	}
	wantMeta := map[string]string{
		"ss_network_dim": "8", "ss_network_alpha": "4.0", "ss_learning_rate": "0.001", "ss_text_encoder_lr": "0.0005",
		"ss_unet_lr": "None", "ss_lr_scheduler": "cosine_with_restarts", "ss_lr_warmup_steps": "0.1", "ss_seed": "42",
		"ss_num_epochs": "8", "ss_epoch": "8", "ss_steps": "320", "ss_max_train_steps": "320", "ss_output_name": "demo",
		"ss_training_comment": "hello", "ss_network_args": `{"dropout":null,"rank_dropout":"0.1"}`, "ss_network_dropout": "None",
		"ss_num_train_images": "80", "ss_optimizer": "torch.optim.adamw.AdamW(weight_decay=0.01)",
	}
	for k, v := range wantMeta {
		if meta[k] != v {
			t.Errorf("%s = %q, want %q", k, meta[k], v)
		}
	}
	h, err := kohya.ReadSafetensorsHeader(filepath.Join(r.outDir, "demo-000004.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	if h.Metadata["ss_epoch"] != "4" || h.Tensors[moduleNames[0]+".lora_up.weight"].DType != "F16" {
		t.Errorf("checkpoint epoch 4: ss_epoch %q dtype %q", h.Metadata["ss_epoch"], h.Tensors[moduleNames[0]+".lora_up.weight"].DType)
	}
	s := samplesByEpoch(t, r.outDir, "demo")
	if len(s) != 4 || len(s[8]) != 9 {
		t.Errorf("sample epochs %d (want 4), prompts at epoch 8 %d (want 9)", len(s), len(s[8]))
	}
}

func TestFailureModes(t *testing.T) {
	dir := demo(t, false)
	empty := t.TempDir()
	if err := os.MkdirAll(filepath.Join(empty, "10_zkx toy"), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStderr string
		wantModel  bool
	}{
		{"empty dataset", []string{"--train_data_dir", empty}, 0, "No data found. Please verify arguments", false},
		{"constant with warmup", []string{"--lr_scheduler", "constant", "--lr_warmup_steps", "10"}, 1, "constant_with_warmup", false},
		{"unknown scheduler", []string{"--lr_scheduler", "bogus"}, 1, "unknown lr_scheduler", false},
		{"unrecognized argument", []string{"--no_such_arg", "1"}, 2, "error: unrecognized arguments: --no_such_arg 1", false},
		{"bad int", []string{"--network_dim", "eight"}, 2, "usage: ", false},
		{"int_or_float 1.5 rejected", []string{"--lr_warmup_steps", "1.5"}, 2, "invalid int_or_float", false},
		{"missing config", []string{"--config_file", filepath.Join(dir, "nope")}, 1, "nope.toml not found.", false},
		{"unsupported optimizer", []string{"--optimizer_type", "Prodigy"}, 1, "ImportError", false},
		{"8bit runs as adamw", []string{"--optimizer_type", "AdamW8bit", "--max_train_epochs", "1"}, 0, "runs as AdamW", true},
		{"adafactor", []string{"--optimizer_type", "AdaFactor", "--max_train_epochs", "1"}, 0, "use adafactor_scheduler", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := train(t, dir, tc.args...)
			if r.code != tc.wantCode {
				t.Errorf("exit %d, want %d; stderr: %s", r.code, tc.wantCode, r.stderr)
			}
			if !strings.Contains(r.stderr, tc.wantStderr) {
				t.Errorf("stderr lacks %q:\n%s", tc.wantStderr, r.stderr)
			}
			_, err := os.Stat(filepath.Join(r.outDir, "demo.safetensors"))
			if (err == nil) != tc.wantModel {
				t.Errorf("model exists = %v, want %v", err == nil, tc.wantModel)
			}
		})
	}
}

func TestSectionedTOMLOverridesAndIgnoredKeys(t *testing.T) {
	dir := demo(t, false)
	cfg := `[model]
network_dim = 2
network_alpha = 2.0
[training]
max_train_epochs = 1
train_batch_size = 4
seed = 3
output_name = "sect"
logging_dir = "logs"
mixed_precision = "fp16"
[data]
train_data_dir = "` + filepath.Join(dir, "train") + `"
`
	path := filepath.Join(t.TempDir(), "trial.toml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	var so, se bytes.Buffer
	code := Main([]string{"--config_file", strings.TrimSuffix(path, ".toml"), "--output_dir", out, "--network_dim", "3"}, &so, &se)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, se.String())
	}
	if !strings.Contains(se.String(), "ignoring keys it does not use: logging_dir, mixed_precision\n") {
		t.Errorf("no single warning listing ignored keys:\n%s", se.String())
	}
	h, err := kohya.ReadSafetensorsHeader(filepath.Join(out, "sect.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	if h.Metadata["ss_network_dim"] != "3" || h.Metadata["ss_num_batches_per_epoch"] != "20" || h.Metadata["ss_seed"] != "3" {
		t.Errorf("metadata dim %s batches %s seed %s, want 3, 20, 3", h.Metadata["ss_network_dim"], h.Metadata["ss_num_batches_per_epoch"], h.Metadata["ss_seed"])
	}
	if got := h.Tensors[moduleNames[1]+".lora_down.weight"].Shape; len(got) != 2 || got[0] != 3 {
		t.Errorf("proj_in down shape %v, want rank 3", got)
	}
}

func TestNetworkWeightsAndDimFromWeights(t *testing.T) {
	dir := demo(t, false)
	first := train(t, dir, "--network_dim", "6", "--network_alpha", "3", "--max_train_epochs", "1")
	w := filepath.Join(first.outDir, "demo.safetensors")
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantDim  string
	}{
		{"dim from weights", []string{"--network_weights", w, "--dim_from_weights", "--max_train_epochs", "1"}, 0, "6"},
		{"same dim loads", []string{"--network_weights", w, "--network_dim", "6", "--max_train_epochs", "1"}, 0, "6"},
		{"shape mismatch", []string{"--network_weights", w, "--network_dim", "4", "--max_train_epochs", "1"}, 1, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := train(t, dir, tc.args...)
			if r.code != tc.wantCode {
				t.Fatalf("exit %d want %d: %s", r.code, tc.wantCode, r.stderr)
			}
			if tc.wantCode != 0 {
				return
			}
			h, err := kohya.ReadSafetensorsHeader(filepath.Join(r.outDir, "demo.safetensors"))
			if err != nil {
				t.Fatal(err)
			}
			if h.Metadata["ss_network_dim"] != tc.wantDim {
				t.Errorf("ss_network_dim %s, want %s", h.Metadata["ss_network_dim"], tc.wantDim)
			}
		})
	}
}

// BenchmarkQuickstartTrial is one quickstart-size trial: 8 images × 10
// repeats, batch 2, rank 8, 8 epochs (320 steps), 4 checkpoints and 36
// sample PNGs.
func BenchmarkQuickstartTrial(b *testing.B) {
	dir := demo(b, false)
	b.ReportAllocs()
	for b.Loop() {
		r := train(b, dir)
		if r.code != 0 {
			b.Fatalf("exit %d: %s", r.code, r.stderr)
		}
	}
}

func TestSampleTimingAndNames(t *testing.T) {
	dir := demo(t, false)
	tests := []struct {
		name       string
		args       []string
		wantEpochs []int // epoch-named sample sets
		wantSteps  []int // step-named sample sets
	}{
		{"at first and every 4 epochs", []string{"--sample_at_first", "--sample_every_n_epochs", "4"}, []int{0, 4, 8}, nil},
		{"every 100 steps", []string{"--sample_every_n_epochs", "0", "--sample_every_n_steps", "100"}, nil, []int{100, 200, 300}},
		{"epochs win over steps", []string{"--sample_every_n_epochs", "8", "--sample_every_n_steps", "100"}, []int{8}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := train(t, dir, tc.args...)
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			entries, err := os.ReadDir(filepath.Join(r.outDir, "sample"))
			if err != nil {
				t.Fatal(err)
			}
			epochs, steps := map[int]int{}, map[int]int{}
			for _, e := range entries {
				n, ok := kohya.ParseSampleName(e.Name(), "demo")
				if !ok || !n.HasSeed {
					t.Fatalf("unexpected file %s", e.Name())
				}
				if n.ByStep {
					steps[n.Step]++
				} else {
					epochs[n.Epoch]++
				}
			}
			check := func(kind string, got map[int]int, want []int) {
				if len(got) != len(want) {
					t.Errorf("%s sample sets %v, want %v", kind, got, want)
				}
				for _, w := range want {
					if got[w] != 9 {
						t.Errorf("%s %d: %d images, want 9", kind, w, got[w])
					}
				}
			}
			check("epoch", epochs, tc.wantEpochs)
			check("step", steps, tc.wantSteps)
			if strings.Contains(r.stderr, "]INFO") {
				t.Error("a log line is glued to the progress bar")
			}
		})
	}
}

func TestMaxNormCapsEveryModule(t *testing.T) {
	dir := demo(t, false)
	const maxNorm = 0.3
	free := train(t, dir, "--learning_rate", "0.003")
	capped := train(t, dir, "--learning_rate", "0.003", "--scale_weight_norms", "0.3")
	if !strings.Contains(capped.stderr, "Keys Scaled=") || !strings.Contains(capped.stderr, "Average key norm=") {
		t.Error("progress postfix lacks the max-norm keys")
	}
	norm := func(r runResult) float64 {
		d := effectiveDelta(t, filepath.Join(r.outDir, "demo.safetensors"))
		var s float64
		for _, v := range d {
			s += v * v
		}
		return math.Sqrt(s)
	}
	nf, nc := norm(free), norm(capped)
	t.Logf("proj_out ‖scale·up·down‖: free %.3f, capped %.3f", nf, nc)
	if nf <= maxNorm {
		t.Fatalf("free run norm %.3f already under the cap: test proves nothing", nf)
	}
	if nc > maxNorm*1.001 {
		t.Errorf("capped norm %.4f exceeds scale_weight_norms %g", nc, maxNorm)
	}
	h, err := kohya.ReadSafetensorsHeader(filepath.Join(capped.outDir, "demo.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	if h.Metadata["ss_scale_weight_norms"] != "0.3" {
		t.Errorf("ss_scale_weight_norms %q", h.Metadata["ss_scale_weight_norms"])
	}
}

func TestEffectDropoutAndMaxNormRegularise(t *testing.T) {
	dir := demo(t, false)
	over := []string{"--lr_scheduler", "constant", "--learning_rate", "0.003", "--max_train_epochs", "24",
		"--sample_every_n_epochs", "24", "--save_every_n_epochs", "0"}
	heldOut := func(extra ...string) float64 {
		r := train(t, dir, append(over, extra...)...)
		if r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		return kindErrors(t, dir, samplesByEpoch(t, r.outDir, "demo")[24])["heldout"]
	}
	none := heldOut()
	tests := []struct {
		name string
		args []string
	}{
		{"network dropout", []string{"--network_dropout", "0.3"}},
		{"rank dropout", []string{"--network_args", "rank_dropout=0.3"}},
		{"max-norm", []string{"--scale_weight_norms", "0.5"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := heldOut(tc.args...)
			t.Logf("held-out MSE after over-training: %.4f (none %.4f)", got, none)
			if !(got < 0.8*none) {
				t.Errorf("held-out MSE %.4f not clearly below %.4f without regularisation", got, none)
			}
		})
	}
}

// TestSaveEveryNSteps: save_every_n_steps writes a checkpoint named by
// its step whenever the step is a multiple (the last step too), each
// announced with sd-scripts' `saving checkpoint:` line.
func TestSaveEveryNSteps(t *testing.T) {
	dir := demo(t, false)
	r := train(t, dir, "--sample_every_n_epochs", "0", "--save_every_n_epochs", "0", "--save_every_n_steps", "100")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var steps []int
	for _, line := range strings.Split(r.stdout, "\n") {
		if p, ok := strings.CutPrefix(line, "saving checkpoint: "); ok {
			step, ok := kohya.CheckpointStep(p)
			if !ok {
				t.Fatalf("checkpoint %s is not named by a step", p)
			}
			if _, err := kohya.ReadSafetensorsHeader(p); err != nil {
				t.Errorf("step %d checkpoint: %v", step, err)
			}
			steps = append(steps, step)
		}
	}
	if fmt.Sprint(steps) != "[100 200 300]" {
		t.Errorf("step checkpoints %v, want [100 200 300]", steps)
	}
}
