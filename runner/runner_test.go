package runner

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lorasweep/lorasweep/internal/proc"
	"github.com/lorasweep/lorasweep/kohya"
	"github.com/pelletier/go-toml/v2"
)

var update = flag.Bool("update", false, "rewrite golden files")

// superviseEnv makes the test binary act as `lorasweep supervise`.
const superviseEnv = "LORASWEEP_RUNNER_TEST_SUPERVISE"

func TestMain(m *testing.M) {
	if os.Getenv(superviseEnv) != "" {
		os.Unsetenv(superviseEnv)
		// os.Args: [binary, "supervise", "--grace", D, "--", argv...]
		os.Exit(proc.Supervise(os.Args[2:], os.Stderr))
	}
	os.Exit(m.Run())
}

const python = "/usr/bin/python3"

// needPython skips when Debian's python3 lacks the libraries the stand-in
// uses (scripts/test installs python3-tqdm python3-rich python3-toml).
func needPython(t *testing.T) {
	t.Helper()
	if err := exec.Command(python, "-c", "import tqdm, rich, toml").Run(); err != nil {
		t.Skipf("stand-in sd-scripts needs %s with tqdm, rich and toml (apt-get install python3-tqdm python3-rich python3-toml): %v", python, err)
	}
}

// fakeSelf writes a stand-in for the lorasweep binary: `supervise` runs the
// test binary as the supervisor, `train-builtin` runs the stand-in
// train_network.py (the builtin trainer speaks the same interface).
func fakeSelf(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	script, _ := filepath.Abs(filepath.Join("testdata", "train_network.py"))
	path := filepath.Join(t.TempDir(), "lorasweep")
	body := fmt.Sprintf(`#!/bin/sh
case "$1" in
supervise) %s=1 exec %q "$@" ;;
train-builtin) shift; exec %s -u %q "$@" ;;
esac
exit 99
`, superviseEnv, exe, python, script)
	if err := os.WriteFile(path, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// dataset writes train_data_dir with one N_class folder of n images and a
// prompt file of two prompts (the second with its own seed).
func dataset(t *testing.T, n int) (dataDir, prompts string) {
	t.Helper()
	root := t.TempDir()
	dataDir = filepath.Join(root, "img")
	sub := filepath.Join(dataDir, "2_sks cat")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		os.WriteFile(filepath.Join(sub, fmt.Sprintf("%02d.png", i)), []byte("png"), 0o644)
		os.WriteFile(filepath.Join(sub, fmt.Sprintf("%02d.txt", i)), []byte("sks cat"), 0o644)
	}
	prompts = filepath.Join(root, "prompts.txt")
	os.WriteFile(prompts, []byte("a photo of sks cat --n blurry\n# comment\nsks cat on a sofa --d 7\n"), 0o644)
	return dataDir, prompts
}

func baseConfig(dataDir, prompts string) kohya.Config {
	return kohya.Config{
		"pretrained_model_name_or_path": "/models/sd15.safetensors",
		"train_data_dir":                dataDir,
		"network_module":                "networks.lora",
		"network_dim":                   int64(8),
		"network_alpha":                 4.0,
		"learning_rate":                 1e-4,
		"unet_lr":                       1e-4,
		"text_encoder_lr":               []any{5e-5},
		"lr_scheduler":                  "cosine_with_restarts",
		"lr_scheduler_num_cycles":       int64(2),
		"lr_warmup_steps":               0.1,
		"network_args":                  []any{"rank_dropout=0.1", "module_dropout=0.05"},
		"optimizer_args":                []any{"weight_decay=0.01"},
		"resolution":                    "512,512",
		"max_train_epochs":              int64(3),
		"save_every_n_epochs":           int64(1),
		"sample_every_n_epochs":         int64(1),
		"sample_prompts":                prompts,
		"seed":                          int64(42),
		"train_batch_size":              int64(1),
	}
}

func newKohyaPool(t *testing.T, env ...string) *Pool {
	t.Helper()
	script, _ := filepath.Abs(filepath.Join("testdata", "train_network.py"))
	p, err := NewPool(context.Background(), PoolConfig{
		Trainer: TrainerSpec{Kind: KindKohya, Script: script, Python: python, SampleSampler: "euler_a",
			KillGrace: Duration(300 * time.Millisecond)},
		GPUs:     GPUSpec{Mode: GPUsNone},
		Parallel: 2,
		Self:     fakeSelf(t),
		Env:      append(StripSecrets(os.Environ()), env...),
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func runJob(t *testing.T, p *Pool, ctx context.Context, job Job) (Outcome, []Event) {
	t.Helper()
	lease, err := p.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer lease.Release()
	var evs []Event
	out := p.Run(ctx, lease, job, func(e Event) { evs = append(evs, e) })
	return out, evs
}

func TestKohyaStandIn(t *testing.T) {
	needPython(t)
	dataDir, prompts := dataset(t, 2)
	for _, tc := range []struct {
		name        string
		env         []string
		timeout     time.Duration
		hang        time.Duration
		emptyData   bool
		ok          bool
		reason      Reason
		warnHas     string
		wantSamples int
	}{
		{name: "success", ok: true, wantSamples: 6},
		{name: "metadata mismatch", env: []string{"STANDIN_WRONG_DIM=7"}, ok: true, warnHas: "ss_network_dim = 7", wantSamples: 6},
		{name: "crash after model saved is a warning", env: []string{"STANDIN_MODE=crash_after_saved"}, ok: true, warnHas: "status 134", wantSamples: 6},
		{name: "oom", env: []string{"STANDIN_MODE=oom"}, reason: ReasonOOM},
		{name: "nan stops the trial", env: []string{"STANDIN_MODE=nan", "STANDIN_STEP_SECONDS=0.2"}, reason: ReasonNaN},
		{name: "crash after last step", env: []string{"STANDIN_MODE=crash_after_last_step"}, reason: ReasonCrash, wantSamples: 6},
		{name: "no data", emptyData: true, reason: ReasonNoData},
		// Limits of a few seconds: Python importing rich and tqdm on a busy
		// machine must print its first lines before the watchers fire, so
		// the failure has a log tail to keep.
		{name: "hung", env: []string{"STANDIN_MODE=hang"}, hang: 3 * time.Second, reason: ReasonHung},
		{name: "timeout", env: []string{"STANDIN_STEP_SECONDS=1"}, timeout: 4 * time.Second, reason: ReasonTimeout},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newKohyaPool(t, tc.env...)
			if tc.hang > 0 {
				p.cfg.Trainer.HangTimeout = Duration(tc.hang)
			}
			cfg := baseConfig(dataDir, prompts)
			if tc.emptyData {
				cfg["train_data_dir"] = t.TempDir()
			}
			job := Job{Number: 3, Dir: filepath.Join(t.TempDir(), "trial-0003"), Config: cfg, Timeout: tc.timeout}
			start := time.Now()
			out, evs := runJob(t, p, context.Background(), job)
			if out.OK != tc.ok || out.Reason != tc.reason {
				t.Fatalf("outcome ok=%v reason=%q detail=%q exit=%d; want ok=%v reason=%q\ntail:\n%s",
					out.OK, out.Reason, out.Detail, out.ExitCode, tc.ok, tc.reason, strings.Join(out.LogTail, "\n"))
			}
			if tc.warnHas != "" && !strings.Contains(strings.Join(out.Warnings, "\n"), tc.warnHas) {
				t.Errorf("warnings %q, want one containing %q", out.Warnings, tc.warnHas)
			}
			if tc.warnHas == "" && tc.ok && len(out.Warnings) > 0 {
				t.Errorf("unexpected warnings %q", out.Warnings)
			}
			if len(out.Samples) != tc.wantSamples {
				t.Errorf("%d samples, want %d", len(out.Samples), tc.wantSamples)
			}
			if el := time.Since(start); el > 20*time.Second {
				t.Errorf("run took %v", el)
			}
			if tc.ok {
				checkSuccess(t, job, out, evs)
			}
			if !tc.ok && len(out.LogTail) == 0 {
				t.Error("no log tail kept for a failure")
			}
		})
	}
}

func checkSuccess(t *testing.T, job Job, out Outcome, evs []Event) {
	t.Helper()
	wantModel := filepath.Join(job.Dir, "output", "trial-0003.safetensors")
	if out.ModelPath != wantModel {
		t.Errorf("model %q, want %q", out.ModelPath, wantModel)
	}
	if len(out.Checkpoints) != 2 || !strings.HasSuffix(out.Checkpoints[1], "trial-0003-000001.safetensors") {
		t.Errorf("checkpoints %v", out.Checkpoints)
	}
	for _, f := range []string{ConfigFile, PromptsFile, ArgvFile, EnvFile, LogFile} {
		if _, err := os.Stat(filepath.Join(job.Dir, f)); err != nil {
			t.Errorf("trial file: %v", err)
		}
	}
	// Samples: epochs 1..3, prompts 0 and 1, with the normalised seeds.
	seeds := map[int]int64{}
	for _, s := range out.Samples {
		seeds[s.PromptIndex] = s.Seed
		if !s.HasSeed || s.Epoch < 1 || s.Epoch > 3 {
			t.Errorf("sample %+v", s)
		}
	}
	if seeds[0] != DefaultPromptSeed || seeds[1] != 7 {
		t.Errorf("sample seeds %v, want 0→%d 1→7", seeds, DefaultPromptSeed)
	}
	// Event order: epoch 1, its samples, checkpoint …, model saved; progress
	// reaches total with a loss.
	var kinds []string
	last := Event{}
	for _, e := range evs {
		if e.Kind == EventProgress {
			last = e
			continue
		}
		kinds = append(kinds, string(e.Kind))
	}
	if last.Step != 12 || last.Total != 12 || !(last.Loss > 0 && last.Loss < 0.2) {
		t.Errorf("last progress %+v, want 12/12 with a loss", last)
	}
	got := strings.Join(kinds, " ")
	// Samples on disk are reported before the line that follows them, so an
	// epoch boundary is never acted on with a stale view of the folder.
	if !strings.HasPrefix(got, "prepared epoch ") || !strings.HasSuffix(got, "samples model-saved") || strings.Count(got, "checkpoint") != 2 || strings.Count(got, "epoch") != 3 {
		t.Errorf("event kinds %q", got)
	}
	var env []string
	data, _ := os.ReadFile(filepath.Join(job.Dir, EnvFile))
	_ = json.Unmarshal(data, &env)
	if !contains(env, "PYTHONUNBUFFERED=1") || !contains(env, "CUDA_VISIBLE_DEVICES=") {
		t.Errorf("env.json %v", env)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestCancel(t *testing.T) {
	needPython(t)
	dataDir, prompts := dataset(t, 2)
	for _, tc := range []struct {
		name   string
		cause  error
		reason Reason
	}{
		{"pruned", ErrPruned, ReasonPruned},
		{"interrupted", context.Canceled, ReasonInterrupted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pidFile := filepath.Join(t.TempDir(), "pid")
			p := newKohyaPool(t, "STANDIN_MODE=ignore_term", "STANDIN_STEP_SECONDS=0.3", "STANDIN_PIDFILE="+pidFile)
			ctx, cancel := context.WithCancelCause(context.Background())
			defer cancel(nil)
			job := Job{Number: 3, Dir: filepath.Join(t.TempDir(), "t"), Config: baseConfig(dataDir, prompts)}
			lease, _ := p.Acquire(ctx)
			defer lease.Release()
			var once sync.Once
			start := time.Now()
			out := p.Run(ctx, lease, job, func(e Event) {
				if e.Kind == EventProgress && e.Step >= 1 {
					once.Do(func() { start = time.Now(); cancel(tc.cause) })
				}
			})
			if out.Reason != tc.reason || out.OK {
				t.Fatalf("reason %q ok %v, want %q", out.Reason, out.OK, tc.reason)
			}
			if el := time.Since(start); el > 300*time.Millisecond+3*time.Second {
				t.Errorf("stop took %v with a 300ms grace", el)
			}
			var pid int
			data, _ := os.ReadFile(pidFile)
			fmt.Sscan(string(data), &pid)
			// Run returns at EOF of the output: the trainer has closed its
			// pipe and is exiting; give the kernel a moment to finish.
			for deadline := time.Now().Add(time.Second); pid != 0 && proc.Alive(pid) && time.Now().Before(deadline); {
				time.Sleep(10 * time.Millisecond)
			}
			if pid == 0 || proc.Alive(pid) {
				st, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
				t.Errorf("trainer pid %d still alive after Run returned: %s", pid, st)
			}
		})
	}
}

func TestBuiltinAdapterPath(t *testing.T) {
	needPython(t)
	dataDir, prompts := dataset(t, 1)
	self := fakeSelf(t)
	p, err := NewPool(context.Background(), PoolConfig{Trainer: TrainerSpec{Kind: KindBuiltin}, Parallel: 1, Self: self})
	if err != nil {
		t.Fatal(err)
	}
	if s := p.Slots(); len(s) != 1 || !s[0].CPU {
		t.Fatalf("builtin slots %+v, want one CPU slot", s)
	}
	job := Job{Number: 3, Dir: filepath.Join(t.TempDir(), "t"), Config: baseConfig(dataDir, prompts)}
	out, _ := runJob(t, p, context.Background(), job)
	if !out.OK {
		t.Fatalf("builtin run failed: %s %s\n%s", out.Reason, out.Detail, strings.Join(out.LogTail, "\n"))
	}
	var argv []string
	data, _ := os.ReadFile(filepath.Join(job.Dir, ArgvFile))
	_ = json.Unmarshal(data, &argv)
	want := []string{self, "train-builtin", "--config_file", filepath.Join(job.Dir, ConfigFile)}
	if strings.Join(argv, " ") != strings.Join(want, " ") {
		t.Errorf("argv %q, want %q", argv, want)
	}
}

// TestGoldenTOML pins the TOML and argv of a trial, and checks the TOML is
// read back with every key a known sd-scripts argument of the right type.
func TestGoldenTOML(t *testing.T) {
	p, err := NewPool(context.Background(), PoolConfig{
		Trainer: TrainerSpec{Kind: KindKohya, Script: "/sd-scripts/sdxl_train_network.py",
			Launcher: []string{"accelerate", "launch", "--num_cpu_threads_per_process", "2"}, SampleSampler: "euler_a"},
		GPUs: GPUSpec{Mode: GPUsNone},
		Env:  []string{},
	})
	if err != nil {
		t.Fatal(err)
	}
	promptDir := t.TempDir()
	prompts := filepath.Join(promptDir, "prompts.txt")
	os.WriteFile(prompts, []byte("a photo of sks cat --n blurry\nsks cat on a sofa --d 7 --w 832 --h 1216\n"), 0o644)
	dir := "/runs/sweep/trial-0003" // only written into the files, never created
	tmp := t.TempDir()
	cfg := baseConfig("/data/img", prompts)
	job := Job{Number: 3, Dir: tmp, Config: cfg}
	lease, _ := p.Acquire(context.Background())
	defer lease.Release()
	pr, err := p.adapter().prepare(context.Background(), lease, job)
	if err != nil {
		t.Fatal(err)
	}
	clean := func(b []byte) []byte {
		return []byte(strings.ReplaceAll(strings.ReplaceAll(string(b), tmp, dir), promptDir, "/prompts"))
	}
	gotTOML, _ := os.ReadFile(filepath.Join(tmp, ConfigFile))
	gotPrompts, _ := os.ReadFile(filepath.Join(tmp, PromptsFile))
	gotArgv, _ := json.MarshalIndent(pr.argv, "", "  ")
	for name, got := range map[string][]byte{"trial.toml": clean(gotTOML), "prompts.txt": gotPrompts, "argv.json": clean(append(gotArgv, '\n'))} {
		golden := filepath.Join("testdata", "golden", name)
		if *update {
			os.MkdirAll(filepath.Dir(golden), 0o755)
			if err := os.WriteFile(golden, got, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("%v (run with -update)", err)
		}
		if string(got) != string(want) {
			t.Errorf("%s differs from golden:\n%s\nwant:\n%s", name, got, want)
		}
	}
	var doc map[string]any
	if err := toml.Unmarshal(gotTOML, &doc); err != nil {
		t.Fatalf("trial TOML does not parse: %v", err)
	}
	keys := make([]string, 0, len(doc))
	for k := range doc {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		a, ok := kohya.LookupArg(k)
		if !ok {
			t.Errorf("key %s is not a known sd-scripts argument", k)
			continue
		}
		v := doc[k]
		if err := kohya.CheckValue(a, normalize(v)); err != nil {
			t.Errorf("key %s: %v", k, err)
		}
	}
	if _, ok := doc["resolution"].(string); !ok {
		t.Errorf("resolution is %T, want a string", doc["resolution"])
	}
	if _, ok := doc["lr_warmup_steps"].(float64); !ok {
		t.Errorf("lr_warmup_steps is %T, want a float (a ratio)", doc["lr_warmup_steps"])
	}
	if _, ok := doc["network_dim"].(int64); !ok {
		t.Errorf("network_dim is %T, want an integer", doc["network_dim"])
	}
}

func normalize(v any) any {
	if l, ok := v.([]any); ok {
		out := make([]any, len(l))
		copy(out, l)
		return out
	}
	return v
}

func TestCommandAdapter(t *testing.T) {
	p, err := NewPool(context.Background(), PoolConfig{
		Trainer: TrainerSpec{
			Kind: KindCommand,
			Command: []string{"/bin/sh", "-c", `echo "lr={lr} cfg={config}"; for e in 1 2; do echo "ep $e/2"; echo "it 5 loss: 0.$e"; ` +
				`touch {output_dir}/img_$e.png; echo "wrote sample img_$e.png"; done; echo "$EXTRA"; echo done`},
			Env:          map[string]string{"EXTRA": "rank={rank}"},
			LossRegex:    `it (?P<step>\d+) loss: (?P<loss>[0-9.]+)`,
			EpochRegex:   `^ep (\d+)/(\d+)`,
			SampleRegex:  `wrote sample (\S+)`,
			SampleGlob:   "*.png",
			SuccessRegex: `^done$`,
		},
		GPUs: GPUSpec{Mode: GPUsNone},
	})
	if err != nil {
		t.Fatal(err)
	}
	job := Job{Number: 1, Dir: filepath.Join(t.TempDir(), "t"), Params: map[string]any{"lr": 0.001, "rank": 8}}
	out, evs := runJob(t, p, context.Background(), job)
	if !out.OK {
		t.Fatalf("command failed: %s %s", out.Reason, out.Detail)
	}
	log, _ := os.ReadFile(out.LogPath)
	if !strings.Contains(string(log), "lr=0.001 cfg="+filepath.Join(job.Dir, ConfigFile)) || !strings.Contains(string(log), "rank=8") {
		t.Errorf("placeholders not expanded:\n%s", log)
	}
	var losses []float64
	epochs := 0
	for _, e := range evs {
		switch e.Kind {
		case EventProgress:
			losses = append(losses, e.Loss)
		case EventEpoch:
			epochs++
		}
	}
	if fmt.Sprint(losses) != "[0.1 0.2]" || epochs != 2 || len(out.Samples) != 2 || out.Samples[1].Epoch != 2 {
		t.Errorf("losses %v epochs %d samples %+v", losses, epochs, out.Samples)
	}
}

func TestDatasetViews(t *testing.T) {
	needPython(t)
	dataDir, prompts := dataset(t, 2)
	p := newKohyaPool(t)
	p.cfg.CacheDir = filepath.Join(t.TempDir(), "views")
	var wg sync.WaitGroup
	var fails atomic.Int32
	for i, res := range []string{"512,512", "512,512", "768,768"} {
		wg.Add(1)
		go func(i int, res string) {
			defer wg.Done()
			cfg := baseConfig(dataDir, prompts)
			cfg["resolution"] = res
			cfg["cache_latents_to_disk"] = true
			job := Job{Number: i + 1, Dir: filepath.Join(t.TempDir(), "t"), Config: cfg}
			lease, _ := p.Acquire(context.Background())
			defer lease.Release()
			if out := p.Run(context.Background(), lease, job, nil); !out.OK {
				fails.Add(1)
			}
		}(i, res)
	}
	wg.Wait()
	if fails.Load() > 0 {
		t.Fatalf("%d trials failed", fails.Load())
	}
	if m, _ := filepath.Glob(filepath.Join(dataDir, "*", "*.npz")); len(m) > 0 {
		t.Errorf("caches written into the user's dataset: %v", m)
	}
	views, _ := filepath.Glob(filepath.Join(p.cfg.CacheDir, "*"))
	if len(views) != 2 {
		t.Fatalf("views %v, want one per resolution", views)
	}
	for _, v := range views {
		npz, _ := filepath.Glob(filepath.Join(v, "*", "*.npz"))
		if len(npz) != 2 {
			t.Errorf("view %s holds %d caches, want 2", v, len(npz))
			continue
		}
		a, _ := os.ReadFile(npz[0])
		b, _ := os.ReadFile(npz[1])
		if string(a) != string(b) {
			t.Errorf("view %s mixes resolutions: %q %q", v, a, b)
		}
	}
}

func TestPreflight(t *testing.T) {
	needPython(t)
	dataDir, prompts := dataset(t, 1)
	script, _ := filepath.Abs(filepath.Join("testdata", "train_network.py"))
	for _, tc := range []struct {
		name    string
		ts      TrainerSpec
		mutate  func(kohya.Config)
		wantErr string
	}{
		{name: "ok", ts: TrainerSpec{Kind: KindKohya, Script: script, Python: python}},
		{name: "missing python", ts: TrainerSpec{Kind: KindKohya, Script: script, Python: "/nonexistent/python"}, wantErr: "trainer.python"},
		{name: "missing script", ts: TrainerSpec{Kind: KindKohya, Script: "/nonexistent/train_network.py", Python: python}, wantErr: "does not exist"},
		{name: "missing launcher", ts: TrainerSpec{Kind: KindKohya, Script: script, Python: python, Launcher: []string{"/nonexistent/accelerate", "launch"}}, wantErr: "trainer.launcher"},
		{name: "unknown key from --help", ts: TrainerSpec{Kind: KindKohya, Script: script, Python: python},
			mutate: func(c kohya.Config) { c["stop_text_encoder_training"] = int64(3) }, wantErr: "stop_text_encoder_training is not an argument of train_network.py"},
		{name: "no N_class folder", ts: TrainerSpec{Kind: KindKohya, Script: script, Python: python},
			mutate: func(c kohya.Config) { c["train_data_dir"] = filepath.Dir(dataDir) + "/none" }, wantErr: "train_data_dir"},
		{name: "missing prompt file", ts: TrainerSpec{Kind: KindKohya, Script: script, Python: python},
			mutate: func(c kohya.Config) { c["sample_prompts"] = "/nonexistent/prompts.txt" }, wantErr: "sample_prompts"},
		{name: "command not found", ts: TrainerSpec{Kind: KindCommand, Command: []string{"/nonexistent/train"}}, wantErr: "not found"},
		{name: "bad command regex", ts: TrainerSpec{Kind: KindCommand, Command: []string{"/bin/sh"}, LossRegex: "("}, wantErr: "loss_regex"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := NewPool(context.Background(), PoolConfig{Trainer: tc.ts, GPUs: GPUSpec{Mode: GPUsNone}, Self: "/x/lorasweep"})
			if err != nil {
				t.Fatal(err)
			}
			cfg := kohya.Config{"train_data_dir": dataDir, "sample_prompts": prompts, "network_dim": int64(4), "resolution": "512,512"}
			if tc.mutate != nil {
				tc.mutate(cfg)
			}
			err = p.Preflight(context.Background(), cfg)
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Errorf("Preflight = %v, want error containing %q", err, tc.wantErr)
			}
		})
	}
}
