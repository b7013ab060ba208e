package kohya

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Schedule is an LR schedule as sd-scripts builds it in get_scheduler_fix
// (transformers' formulas). Total is T (max_train_steps × processes), Warmup
// is W in steps, Cycles is lr_scheduler_num_cycles, Power is
// lr_scheduler_power, MinLRRatio is lr_scheduler_min_lr_ratio; LRInit (the
// --learning_rate) and LREnd (lr_scheduler_args lr_end; zero means
// transformers' default 1e-7) are used by polynomial only.
type Schedule struct {
	Name                             string
	Total, Warmup, Cycles            int
	Power, MinLRRatio, LRInit, LREnd float64
}

// ResolveWarmup turns an lr_warmup_steps value into steps as sd-scripts
// does: an integer is a step count; a float (as TOML gives it, not converted
// by argparse) is a ratio of total, floored — even 100.0 is a ratio; a
// string is read as the command line's int_or_float ("10%", "0.1", "100").
// nil means 0.
func ResolveWarmup(v any, total int) (int, error) {
	switch x := v.(type) {
	case nil:
		return 0, nil
	case int:
		return checkWarmup(int64(x))
	case int64:
		return checkWarmup(x)
	case float64:
		if x < 0 || math.IsNaN(x) {
			return 0, fmt.Errorf("lr_warmup_steps %v: must not be negative", x)
		}
		return int(x * float64(total)), nil
	case float32:
		return ResolveWarmup(float64(x), total)
	case string:
		s := strings.TrimSpace(x)
		if strings.HasSuffix(s, "%") {
			f, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
			if err != nil {
				return 0, fmt.Errorf("lr_warmup_steps %q: %w", x, err)
			}
			return ResolveWarmup(f/100, total)
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return 0, fmt.Errorf("lr_warmup_steps %q: not a number", x)
		}
		if f < 1 {
			return ResolveWarmup(f, total)
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("lr_warmup_steps %q: a value ≥ 1 must be an integer step count", x)
		}
		return checkWarmup(n)
	}
	return 0, fmt.Errorf("lr_warmup_steps: unsupported type %T", v)
}

func checkWarmup(n int64) (int, error) {
	if n < 0 {
		return 0, fmt.Errorf("lr_warmup_steps %d: must not be negative", n)
	}
	return int(n), nil
}

// Factor returns λ(step), the multiplier applied to every parameter group's
// initial lr at scheduler step step (0-based: the first optimizer step uses
// λ(0)). Unknown names, constant with a warmup, polynomial with
// LRInit ≤ LREnd and an empty decay range are errors, as in sd-scripts.
func (s Schedule) Factor(step int) (float64, error) {
	w := s.Warmup
	st := float64(step)
	warm := func() float64 { return st / float64(max(1, w)) }
	progress := func() float64 { return float64(step-w) / float64(max(1, s.Total-w)) }
	switch s.Name {
	case "constant", "":
		if w != 0 {
			return 0, fmt.Errorf("lr_scheduler constant does not accept lr_warmup_steps (%d); use constant_with_warmup", w)
		}
		return 1, nil
	case "adafactor":
		// AdafactorSchedule hands the optimizer's own relative step through.
		return 1, nil
	case "constant_with_warmup":
		if step < w {
			return warm(), nil
		}
		return 1, nil
	case "linear":
		if step < w {
			return warm(), nil
		}
		return math.Max(0, float64(s.Total-step)/float64(max(1, s.Total-w))), nil
	case "cosine":
		if step < w {
			return warm(), nil
		}
		return math.Max(0, 0.5*(1+math.Cos(math.Pi*0.5*2*progress()))), nil
	case "cosine_with_restarts":
		if step < w {
			return warm(), nil
		}
		p := progress()
		if p >= 1 {
			return 0, nil
		}
		c := float64(max(1, s.Cycles))
		return math.Max(0, 0.5*(1+math.Cos(math.Pi*math.Mod(c*p, 1)))), nil
	case "cosine_with_min_lr":
		if step < w {
			return warm(), nil
		}
		// sd-scripts passes num_cycles = lr_scheduler_num_cycles / 2.
		half := float64(max(1, s.Cycles)) / 2
		f := 0.5 * (1 + math.Cos(math.Pi*half*2*progress()))
		return math.Max(0, f*(1-s.MinLRRatio)+s.MinLRRatio), nil
	case "polynomial":
		lrEnd := s.LREnd
		if lrEnd == 0 {
			lrEnd = 1e-7
		}
		if !(s.LRInit > lrEnd) {
			return 0, fmt.Errorf("polynomial schedule: lr_end (%g) must be smaller than initial lr (%g)", lrEnd, s.LRInit)
		}
		if step < w {
			return warm(), nil
		}
		if step > s.Total {
			return lrEnd / s.LRInit, nil
		}
		decay := s.Total - w
		if decay <= 0 {
			return 0, fmt.Errorf("polynomial schedule: no decay steps (total %d, warmup %d)", s.Total, w)
		}
		power := s.Power
		remaining := 1 - float64(step-w)/float64(decay)
		return ((s.LRInit-lrEnd)*math.Pow(remaining, power) + lrEnd) / s.LRInit, nil
	}
	return 0, fmt.Errorf("unknown lr_scheduler %q (known: constant, constant_with_warmup, linear, cosine, cosine_with_restarts, cosine_with_min_lr, polynomial, adafactor)", s.Name)
}
