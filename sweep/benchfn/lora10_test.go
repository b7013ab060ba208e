package benchfn

import (
	"math"
	"testing"

	"github.com/c-bata/goptuna"
)

// The documented optimum is where the function is 1, nudging any param
// away from it costs, the base config sits in between, and the cliff is NaN.
func TestLoRA10Shape(t *testing.T) {
	opt := map[string]float64{
		"unet_lr": math.Pow(10, -3.8) / 0.5, "text_encoder_lr": math.Pow(10, -4.7) / 0.5, "network_dim": 16,
		"alpha_ratio": 0.5, "network_dropout": 0.1, "rank_dropout": 0.05, "module_dropout": 0, "lr_scheduler_num_cycles": 2,
	}
	if v := Lora10Value("cosine_with_restarts", opt); math.Abs(v-1) > 1e-12 {
		t.Fatalf("optimum %g, want 1", v)
	}
	for k, x := range opt {
		moved := map[string]float64{}
		for k2, x2 := range opt {
			moved[k2] = x2
		}
		moved[k] = x * 1.1
		if x == 0 {
			moved[k] = 0.01
		}
		if v := Lora10Value("cosine_with_restarts", moved); !(v > 1) {
			t.Errorf("moving %s gives %g, not worse than the optimum", k, v)
		}
	}
	// The ridge: the same effective rate with another alpha costs only the
	// small alpha term, while the same lr with another alpha costs a lot.
	ridge := map[string]float64{}
	for k, x := range opt {
		ridge[k] = x
	}
	ridge["alpha_ratio"], ridge["unet_lr"], ridge["text_encoder_lr"] = 0.25, opt["unet_lr"]*2, opt["text_encoder_lr"]*2
	along := Lora10Value("cosine_with_restarts", ridge)
	ridge["unet_lr"], ridge["text_encoder_lr"] = opt["unet_lr"], opt["text_encoder_lr"]
	across := Lora10Value("cosine_with_restarts", ridge)
	if !(along < 1.05 && across > along+0.03) {
		t.Errorf("ridge: along %g, across %g", along, across)
	}
	p := LoRA10()
	base := map[string]float64{}
	for k, x := range p.Base {
		base[k] = x
	}
	if v := Lora10Value(Lora10Schedulers[int(base["lr_scheduler"])], base); v < 1.2 || v > 1.5 {
		t.Errorf("base config %g, want a middling 1.2–1.5", v)
	}
	hot := map[string]float64{}
	for k, x := range opt {
		hot[k] = x
	}
	hot["unet_lr"] = 8e-3
	if v := Lora10Value("cosine_with_restarts", hot); !math.IsNaN(v) {
		t.Errorf("unet_lr 8e-3 at alpha/dim 0.5: %g, want NaN (diverged)", v)
	}
}

// Random search diverges on a fair share of lora10 (the cliff is a region
// to learn, not a corner), and the baseline trial runs the base config.
func TestLoRA10Harness(t *testing.T) {
	p := LoRA10()
	tr, err := Run(p, goptuna.NewRandomSampler(goptuna.RandomSamplerOptionSeed(2)), RunOptions{Trials: 200, Seed: 2, Baseline: true})
	if err != nil {
		t.Fatal(err)
	}
	nan := 0
	for _, v := range tr.True {
		if math.IsNaN(v) {
			nan++
		}
	}
	if nan < 15 || nan > 80 {
		t.Errorf("%d of 200 random trials diverged, want 15–80", nan)
	}
	if tr.Params[0]["network_dim"] != 32 || tr.Params[0]["unet_lr"] != 1e-4 {
		t.Errorf("trial 0 is not the base config: %v", tr.Params[0])
	}
}
