package benchfn

import (
	"math"

	"github.com/c-bata/goptuna"
)

// Lora10Schedulers are lora10's lr_scheduler choices, in index order.
var Lora10Schedulers = []string{"constant", "cosine", "cosine_with_restarts", "polynomial"}

// LoRA10 is a 10-parameter LoRA-like loss (lower is better, noise-free
// optimum 1.0) in sd-scripts' names, built on the facts that shape real LoRA
// sweeps (BENCHMARKS.md, "The 10-parameter function", gives the reasoning):
//
//   - a LoRA's update is scaled by alpha/dim, so the rate the network feels is
//     lr × alpha/dim = lr × alpha_ratio, for the U-Net (unet_lr) and the text
//     encoder (text_encoder_lr) each: the loss is a ridge along
//     log lr + log alpha_ratio, not a bowl in either alone;
//   - the best U-Net rate falls slowly with rank and is higher for decaying
//     schedules than for constant; the text encoder wants about 1/8 of the
//     U-Net's effective rate (a joint term) and is weighted less;
//   - rank has a capacity optimum (16); small alpha ratios (< 1/2) cost a
//     little beyond their effect on the rate (updates drown in fp16 noise);
//   - the dropouts regularise: network_dropout and rank_dropout are worth
//     more at high rank, module_dropout only costs, and too much dropout in
//     total costs more;
//   - lr_scheduler_num_cycles exists only for cosine_with_restarts (best 2)
//     and lr_scheduler_power only for polynomial (best 2);
//   - a cliff: an effective U-Net rate above 10^(−2.6 − 0.1·(log2 dim − 4))
//     or a text-encoder rate above 10^−3.4 diverges, and Evaluate returns NaN
//     (the harness tells it as FAIL with reason nan, as avr_loss=nan is).
//
// The optimum is cosine_with_restarts with 2 cycles, dim 16, alpha_ratio 0.5,
// unet_lr 10^−3.8/0.5, text_encoder_lr 10^−4.7/0.5, network_dropout 0.1,
// rank_dropout 0.05, module_dropout 0. Base is a common community setting
// (dim 32, alpha 16, unet_lr 1e-4, text_encoder_lr 5e-5, cosine, no
// dropout): regret about 0.35.
func LoRA10() Problem {
	return Problem{
		Name: "lora10", Optimum: 1, Noise: 0.02,
		LogInt:    map[string]bool{"network_dim": true},
		Effective: map[string]string{"unet_lr": "alpha_ratio", "text_encoder_lr": "alpha_ratio"},
		Base: map[string]float64{
			"unet_lr": 1e-4, "text_encoder_lr": 5e-5, "network_dim": 32, "alpha_ratio": 0.5,
			"lr_scheduler": 1, "network_dropout": 0, "rank_dropout": 0, "module_dropout": 0,
		},
		Evaluate: func(t *goptuna.Trial) (float64, error) {
			p := map[string]float64{}
			for _, d := range []struct {
				name     string
				lo, hi   float64
				log, int bool
			}{
				{"unet_lr", 1e-5, 1e-2, true, false},
				{"text_encoder_lr", 1e-6, 1e-3, true, false},
				{"network_dim", 2, 128, true, true},
				{"alpha_ratio", 0.0625, 1, false, false},
				{"network_dropout", 0, 0.5, false, false},
				{"rank_dropout", 0, 0.5, false, false},
				{"module_dropout", 0, 0.5, false, false},
			} {
				var v float64
				var err error
				if d.log {
					v, err = t.SuggestLogFloat(d.name, d.lo, d.hi)
				} else {
					v, err = t.SuggestFloat(d.name, d.lo, d.hi)
				}
				if err != nil {
					return 0, err
				}
				if d.int {
					v = math.Round(v)
				}
				p[d.name] = v
			}
			sched, err := t.SuggestCategorical("lr_scheduler", Lora10Schedulers)
			if err != nil {
				return 0, err
			}
			switch sched {
			case "cosine_with_restarts":
				c, err := t.SuggestInt("lr_scheduler_num_cycles", 1, 4)
				if err != nil {
					return 0, err
				}
				p["lr_scheduler_num_cycles"] = float64(c)
			case "polynomial":
				if p["lr_scheduler_power"], err = t.SuggestFloat("lr_scheduler_power", 0.5, 4); err != nil {
					return 0, err
				}
			}
			return Lora10Value(sched, p), nil
		},
	}
}

// Lora10Value is LoRA10's noise-free value for params p (external values;
// the scheduler by name); NaN where training diverges.
func Lora10Value(sched string, p map[string]float64) float64 {
	r := math.Log2(p["network_dim"]) - 4
	a := math.Log2(p["alpha_ratio"])
	u := math.Log10(p["unet_lr"] * p["alpha_ratio"])
	e := math.Log10(p["text_encoder_lr"] * p["alpha_ratio"])
	if u > -2.6-0.1*r || e > -3.4 {
		return math.NaN()
	}
	decay := 0.0
	if sched != "constant" {
		decay = 1
	}
	uStar := -4 - 0.15*r + 0.2*decay
	nd, rd, md := p["network_dropout"], p["rank_dropout"], p["module_dropout"]
	ndStar := clamp(0.1+0.05*r, 0, 0.5)
	rdStar := clamp(0.05+0.05*r, 0, 0.3)
	v := 1 + 0.5*sq(u-uStar) + 0.3*sq(e-u+0.9) + 0.08*sq(e-uStar+0.9) +
		0.12*sq(r) + 0.04*sq(a+1) +
		0.8*sq(nd-ndStar) + 0.6*sq(rd-rdStar) + 0.5*sq(md) + sq(math.Max(0, nd+rd+md-0.4))
	switch sched {
	case "constant":
		v += 0.12
	case "cosine":
		v += 0.03
	case "cosine_with_restarts":
		v += 0.06 * sq(p["lr_scheduler_num_cycles"]-2)
	case "polynomial":
		v += 0.015 + 0.08*sq(math.Log2(p["lr_scheduler_power"])-1)
	}
	return v
}

func clamp(x, lo, hi float64) float64 { return math.Min(math.Max(x, lo), hi) }
