package builtin

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// param is one trainable tensor with its gradient and optimizer state.
type param struct {
	data, grad []float32
	rows, cols int // for Adafactor's factored moments
	group      int
	m, v       []float32
	vr, vc     []float32
	step       int
}

// group is an optimizer parameter group (text encoder or unet).
type group struct {
	desc string
	lr   float64 // initial lr; the schedule's λ multiplies it
}

// optimizer updates params given each group's current lr.
type optimizer interface {
	step(params []*param, lrs []float64)
	// describe is the ss_optimizer value.
	describe() string
}

// optArgs parses optimizer_args "k=v" with Python literal values.
func optArgs(args []string) (map[string]string, error) {
	out := map[string]string{}
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if !ok {
			return nil, fmt.Errorf("ValueError: optimizer_args entry %q is not key=value", a)
		}
		out[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return out, nil
}

func pyFloat(k, s string) (float64, error) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("ValueError: optimizer_args %s=%s is not a number", k, s)
	}
	return f, nil
}

func pyBool(k, s string) (bool, error) {
	switch s {
	case "True":
		return true, nil
	case "False":
		return false, nil
	}
	return false, fmt.Errorf("ValueError: optimizer_args %s=%s is not True or False", k, s)
}

func pyPair(k, s string) ([2]float64, error) {
	parts := strings.Split(strings.Trim(s, "()[] "), ",")
	if len(parts) != 2 {
		return [2]float64{}, fmt.Errorf("ValueError: optimizer_args %s=%s needs two values", k, s)
	}
	var p [2]float64
	for i, x := range parts {
		f, err := pyFloat(k, strings.TrimSpace(x))
		if err != nil {
			return p, err
		}
		p[i] = f
	}
	return p, nil
}

// newOptimizer builds the optimizer sd-scripts would for optimizer_type
// (case-insensitive). notice is a one-line message for substituted types.
func newOptimizer(name string, args []string) (opt optimizer, notice string, err error) {
	kv, err := optArgs(args)
	if err != nil {
		return nil, "", err
	}
	r := &optArgReader{kv: kv, used: map[string]bool{}}
	lower := strings.ToLower(name)
	switch lower {
	case "adamw8bit", "pagedadamw8bit", "pagedadamw", "pagedadamw32bit":
		notice = fmt.Sprintf("builtin trainer: %s runs as AdamW (no bitsandbytes on CPU)", name)
		lower = "adamw"
	case "lion8bit", "pagedlion8bit":
		notice = fmt.Sprintf("builtin trainer: %s runs as Lion", name)
		lower = "lion"
	case "sgdnesterov8bit":
		notice = fmt.Sprintf("builtin trainer: %s runs as SGDNesterov", name)
		lower = "sgdnesterov"
	}
	switch lower {
	case "", "adamw":
		o := &adamW{b1: 0.9, b2: 0.999, eps: 1e-8, wd: 0.01}
		r.float("weight_decay", &o.wd)
		r.float("eps", &o.eps)
		r.pair("betas", &o.b1, &o.b2)
		opt = o
	case "sgdnesterov":
		o := &sgdNesterov{momentum: 0.9}
		r.float("momentum", &o.momentum)
		r.float("weight_decay", &o.wd)
		opt = o
	case "lion":
		o := &lion{b1: 0.9, b2: 0.99}
		r.float("weight_decay", &o.wd)
		r.pair("betas", &o.b1, &o.b2)
		opt = o
	case "adafactor":
		o := &adafactor{relative: true, scaleParam: true, clip: 1, decay: -0.8, eps1: 1e-30, eps2: 1e-3}
		r.bool("relative_step", &o.relative)
		r.bool("scale_parameter", &o.scaleParam)
		r.bool("warmup_init", &o.warmupInit)
		r.float("clip_threshold", &o.clip)
		r.float("decay_rate", &o.decay)
		r.float("weight_decay", &o.wd)
		opt = o
	default:
		return nil, "", fmt.Errorf("ImportError: optimizer_type %q is not available in the builtin trainer (AdamW, AdamW8bit, PagedAdamW*, SGDNesterov, Lion, AdaFactor)", name)
	}
	if r.err != nil {
		return nil, "", r.err
	}
	for k := range kv {
		if !r.used[k] {
			return nil, "", fmt.Errorf("TypeError: %s.__init__() got an unexpected keyword argument '%s'", opt.describe(), k)
		}
	}
	return opt, notice, nil
}

// optArgReader reads optimizer_args values into an optimizer's fields,
// remembering which keys the optimizer knows (the rest are a TypeError, as
// in torch) and the first value that does not parse.
type optArgReader struct {
	kv   map[string]string
	used map[string]bool
	err  error
}

// value marks key used and returns its text when present and no earlier
// value failed.
func (r *optArgReader) value(key string) (string, bool) {
	r.used[key] = true
	v, ok := r.kv[key]
	return v, ok && r.err == nil
}

func (r *optArgReader) float(key string, dst *float64) {
	if v, ok := r.value(key); ok {
		f, err := pyFloat(key, v)
		if err != nil {
			r.err = err
			return
		}
		*dst = f
	}
}

func (r *optArgReader) pair(key string, a, b *float64) {
	if v, ok := r.value(key); ok {
		p, err := pyPair(key, v)
		if err != nil {
			r.err = err
			return
		}
		*a, *b = p[0], p[1]
	}
}

func (r *optArgReader) bool(key string, dst *bool) {
	if v, ok := r.value(key); ok {
		b, err := pyBool(key, v)
		if err != nil {
			r.err = err
			return
		}
		*dst = b
	}
}

type adamW struct{ b1, b2, eps, wd float64 }

func (o *adamW) describe() string {
	return fmt.Sprintf("torch.optim.adamw.AdamW(weight_decay=%s)", pyRepr(o.wd))
}

func (o *adamW) step(params []*param, lrs []float64) {
	for _, p := range params {
		lr := lrs[p.group]
		if p.m == nil {
			p.m = make([]float32, len(p.data))
			p.v = make([]float32, len(p.data))
		}
		p.step++
		bc1 := 1 - math.Pow(o.b1, float64(p.step))
		bc2 := math.Sqrt(1 - math.Pow(o.b2, float64(p.step)))
		decay := float32(1 - lr*o.wd)
		stepSize := float32(lr / bc1)
		b1, b2 := float32(o.b1), float32(o.b2)
		for i, g := range p.grad {
			p.data[i] *= decay
			p.m[i] = b1*p.m[i] + (1-b1)*g
			p.v[i] = b2*p.v[i] + (1-b2)*g*g
			denom := float32(math.Sqrt(float64(p.v[i])))/float32(bc2) + float32(o.eps)
			p.data[i] -= stepSize * p.m[i] / denom
		}
	}
}

type sgdNesterov struct{ momentum, wd float64 }

func (o *sgdNesterov) describe() string {
	return fmt.Sprintf("torch.optim.sgd.SGD(momentum=%s,nesterov=True)", pyRepr(o.momentum))
}

func (o *sgdNesterov) step(params []*param, lrs []float64) {
	mu := float32(o.momentum)
	for _, p := range params {
		lr := float32(lrs[p.group])
		first := p.m == nil
		if first {
			p.m = make([]float32, len(p.data))
		}
		for i, g := range p.grad {
			g += float32(o.wd) * p.data[i]
			if first {
				p.m[i] = g
			} else {
				p.m[i] = mu*p.m[i] + g
			}
			p.data[i] -= lr * (g + mu*p.m[i])
		}
	}
}

type lion struct{ b1, b2, wd float64 }

func (o *lion) describe() string {
	return fmt.Sprintf("lion_pytorch.lion_pytorch.Lion(weight_decay=%s)", pyRepr(o.wd))
}

func (o *lion) step(params []*param, lrs []float64) {
	b1, b2 := float32(o.b1), float32(o.b2)
	for _, p := range params {
		lr := float32(lrs[p.group])
		if p.m == nil {
			p.m = make([]float32, len(p.data))
		}
		for i, g := range p.grad {
			p.data[i] *= 1 - lr*float32(o.wd)
			u := b1*p.m[i] + (1-b1)*g
			switch {
			case u > 0:
				p.data[i] -= lr
			case u < 0:
				p.data[i] += lr
			case u != u:
				p.data[i] = u
			}
			p.m[i] = b2*p.m[i] + (1-b2)*g
		}
	}
}

// adafactor follows transformers' Adafactor without momentum (beta1=None).
type adafactor struct {
	relative, scaleParam, warmupInit bool
	clip, decay, eps1, eps2, wd      float64
}

func (o *adafactor) describe() string {
	return fmt.Sprintf("transformers.optimization.Adafactor(relative_step=%s,scale_parameter=%s,warmup_init=%s)",
		pyBool2(o.relative), pyBool2(o.scaleParam), pyBool2(o.warmupInit))
}

func pyBool2(b bool) string {
	if b {
		return "True"
	}
	return "False"
}

func rms(x []float32) float64 {
	var s float64
	for _, v := range x {
		s += float64(v) * float64(v)
	}
	return math.Sqrt(s / float64(max(1, len(x))))
}

func (o *adafactor) step(params []*param, lrs []float64) {
	for _, p := range params {
		p.step++
		t := float64(p.step)
		rel := lrs[p.group]
		if o.relative {
			minStep := 1e-2
			if o.warmupInit {
				minStep = 1e-6 * t
			}
			rel = math.Min(minStep, 1/math.Sqrt(t))
		}
		scale := 1.0
		if o.scaleParam {
			scale = math.Max(o.eps2, rms(p.data))
		}
		lr := rel * scale
		beta2t := 1 - math.Pow(t, o.decay)
		upd := make([]float64, len(p.grad))
		if p.rows > 1 && p.cols > 1 {
			if p.vr == nil {
				p.vr = make([]float32, p.rows)
				p.vc = make([]float32, p.cols)
			}
			for r := 0; r < p.rows; r++ {
				var s float64
				for c := 0; c < p.cols; c++ {
					g := float64(p.grad[r*p.cols+c])
					s += g*g + o.eps1
				}
				p.vr[r] = float32(beta2t*float64(p.vr[r]) + (1-beta2t)*s/float64(p.cols))
			}
			for c := 0; c < p.cols; c++ {
				var s float64
				for r := 0; r < p.rows; r++ {
					g := float64(p.grad[r*p.cols+c])
					s += g*g + o.eps1
				}
				p.vc[c] = float32(beta2t*float64(p.vc[c]) + (1-beta2t)*s/float64(p.rows))
			}
			var meanR float64
			for _, v := range p.vr {
				meanR += float64(v)
			}
			meanR /= float64(p.rows)
			for r := 0; r < p.rows; r++ {
				rf := 1 / math.Sqrt(float64(p.vr[r])/meanR)
				for c := 0; c < p.cols; c++ {
					cf := 1 / math.Sqrt(float64(p.vc[c]))
					upd[r*p.cols+c] = rf * cf * float64(p.grad[r*p.cols+c])
				}
			}
		} else {
			if p.v == nil {
				p.v = make([]float32, len(p.data))
			}
			for i, g := range p.grad {
				gg := float64(g)
				p.v[i] = float32(beta2t*float64(p.v[i]) + (1-beta2t)*(gg*gg+o.eps1))
				upd[i] = gg / math.Sqrt(float64(p.v[i]))
			}
		}
		var s float64
		for _, u := range upd {
			s += u * u
		}
		denom := math.Max(1, math.Sqrt(s/float64(max(1, len(upd))))/o.clip)
		for i, u := range upd {
			if o.wd != 0 {
				p.data[i] -= float32(o.wd * lr * float64(p.data[i]))
			}
			p.data[i] -= float32(u / denom * lr)
		}
	}
}

// pyRepr formats a float as Python's repr does for common values.
func pyRepr(f float64) string {
	switch {
	case math.IsNaN(f):
		return "nan"
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	}
	if f == math.Trunc(f) && math.Abs(f) < 1e16 {
		return strconv.FormatFloat(f, 'f', 1, 64)
	}
	s := strconv.FormatFloat(f, 'g', -1, 64)
	if strings.Contains(s, "e") {
		// Python writes 1e-05 like Go, but switches to exponent form
		// only below 1e-4 or from 1e16.
		if math.Abs(f) >= 1e-4 && math.Abs(f) < 1e16 {
			s = strconv.FormatFloat(f, 'f', -1, 64)
		}
	}
	return s
}
