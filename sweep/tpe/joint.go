package tpe

import (
	"math"
	"slices"
	"sort"
	"sync"

	"github.com/c-bata/goptuna"
	"github.com/lorasweep/lorasweep/sweep/sampling"
)

// The multivariate TPE: one Parzen estimator over every parameter that all
// finished observations share (the unconditional group), each observation a
// product kernel, so l(x)/g(x) sees interactions (a ridge along
// lr × alpha/dim) that per-parameter estimators cannot. Conditional params
// (present in some trials only) stay univariate. A trial's joint proposal is
// made once, at its first Sample call, and handed out param by param.

// jointDim is one dimension of the joint model.
type jointDim struct {
	name   string
	d      sampling.Domain
	lo, hi float64 // model-space bounds
	// scale names the param whose value multiplies this one in model
	// space (Options.Effective): the coordinate is log(x) + log(scale).
	scale string
}

type jointCache struct {
	mu      sync.Mutex
	entries map[int]map[string]float64
	fifo    []int
}

func (c *jointCache) get(id int) (map[string]float64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.entries[id]
	return v, ok
}

func (c *jointCache) put(id int, v map[string]float64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = map[int]map[string]float64{}
	}
	if _, ok := c.entries[id]; ok {
		return
	}
	if len(c.fifo) >= cacheSize {
		delete(c.entries, c.fifo[0])
		c.fifo = c.fifo[1:]
	}
	c.entries[id] = v
	c.fifo = append(c.fifo, id)
}

const cacheSize = 16

// joint returns param's value from trial's joint proposal, and false when
// param is not in the joint group (or the model has too few observations).
func (s *Sampler) joint(study *goptuna.Study, trial goptuna.FrozenTrial, param string, d sampling.Domain) (float64, bool, error) {
	prop, ok := s.joints.get(trial.ID)
	if !ok {
		h, err := s.cache.Get(study, trial, s.opts.ConstantLiar)
		if err != nil {
			return 0, false, err
		}
		prop = s.proposeJoint(h, trial.Number)
		s.joints.put(trial.ID, prop)
	}
	v, ok := prop[param]
	if !ok || !d.Contains(v) {
		return 0, false, nil
	}
	return v, true, nil
}

// proposeJoint builds the joint estimators from h and returns the best of
// Candidates draws from l(x), as internal values by param (nil when there
// is no group of two or more params, or too few finished observations).
func (s *Sampler) proposeJoint(h sampling.History, number int) map[string]float64 {
	dims := s.jointDims(h)
	if len(dims) < 2 {
		return nil
	}
	// Observations with every dim, in model coordinates.
	idx := map[int]int{} // ByNumber index → row
	var rows [][]float64
	finished := 0
	for i := range h.ByNumber {
		o := &h.ByNumber[i]
		row, ok := s.jointRow(o, dims)
		if !ok {
			continue
		}
		idx[i] = len(rows)
		rows = append(rows, row)
		if !o.Running {
			finished++
		}
	}
	if finished < s.opts.StartupTrials {
		return nil
	}
	n := len(rows)
	nBelow := min(max(s.opts.Gamma(n), 0), n)
	isBelow := make([]bool, n)
	k := 0
	for _, i := range h.Order {
		if k == nBelow {
			break
		}
		if r, ok := idx[i]; ok {
			isBelow[r] = true
			k++
		}
	}
	var bRows, aRows [][]float64
	for r := range rows { // oldest first: rows follow ByNumber
		if isBelow[r] {
			bRows = append(bRows, rows[r])
		} else {
			aRows = append(aRows, rows[r])
		}
	}
	l := s.newJointKDE(dims, bRows)
	g := s.newJointKDE(dims, aRows)
	r := sampling.NewRand(s.opts.Seed, number, "\x00joint")
	best, bestScore := []float64(nil), math.Inf(-1)
	for range s.opts.Candidates {
		x := s.feasible(dims, l.sample(r))
		if score := l.logPDF(x) - g.logPDF(x); best == nil || score > bestScore {
			best, bestScore = x, score
		}
	}
	out := make(map[string]float64, len(dims))
	for j, dm := range dims {
		if dm.d.Kind == sampling.Categorical {
			out[dm.name] = best[j]
		}
	}
	for j, dm := range dims {
		m := best[j]
		if dm.d.Kind == sampling.Categorical {
			continue
		}
		if dm.scale != "" {
			m -= math.Log(s.scaleValue(dims, best, dm.scale))
			lo, hi := dm.d.ModelBounds()
			m = math.Min(math.Max(m, lo), hi)
		}
		out[dm.name] = dm.d.Snap(m)
	}
	return out
}

// feasible moves a draw's effective-rate coordinates to where the rate
// itself is inside its bounds for the drawn scale, so that the point scored
// is the point proposed.
func (s *Sampler) feasible(dims []jointDim, x []float64) []float64 {
	for j, dm := range dims {
		if dm.scale == "" {
			continue
		}
		ls := math.Log(s.scaleValue(dims, x, dm.scale))
		lo, hi := dm.d.ModelBounds()
		x[j] = math.Min(math.Max(x[j]-ls, lo), hi) + ls
	}
	return x
}

// scaleValue is the external value of dims' param name in candidate x.
func (s *Sampler) scaleValue(dims []jointDim, x []float64, name string) float64 {
	for j, dm := range dims {
		if dm.name == name {
			return dm.d.Snap(x[j])
		}
	}
	return 1
}

// jointDims is the group: numeric and categorical params that every
// finished observation has, with the newest observation's domain, sorted by
// name (a stable order whatever the maps say).
func (s *Sampler) jointDims(h sampling.History) []jointDim {
	count := map[string]int{}
	doms := map[string]sampling.Domain{}
	finished := 0
	for i := range h.ByNumber {
		o := &h.ByNumber[i]
		if o.Running {
			continue
		}
		finished++
		for name, dist := range o.Dists {
			if s.opts.Unmodelled[name] {
				continue
			}
			d, err := sampling.DomainOf(dist, s.opts.LogInt[name])
			if err != nil || d.Low == d.High {
				continue
			}
			count[name]++
			doms[name] = d
		}
	}
	var names []string
	for name, c := range count {
		if c == finished {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	dims := make([]jointDim, 0, len(names))
	for _, name := range names {
		d := doms[name]
		lo, hi := d.ModelBounds()
		dm := jointDim{name: name, d: d, lo: lo, hi: hi}
		if sc, ok := s.opts.Effective[name]; ok && d.Log && d.Kind == sampling.Continuous {
			if sd, ok := doms[sc]; ok && count[sc] == finished && sd.Kind == sampling.Continuous && !sd.Log && sd.Low > 0 {
				dm.scale = sc
				dm.lo, dm.hi = lo+math.Log(sd.Low), hi+math.Log(sd.High)
			}
		}
		dims = append(dims, dm)
	}
	return dims
}

// jointRow is o's point in the joint model's coordinates.
func (s *Sampler) jointRow(o *sampling.Observation, dims []jointDim) ([]float64, bool) {
	row := make([]float64, len(dims))
	for j, dm := range dims {
		v, ok := o.Value(dm.name, dm.d)
		if !ok {
			return nil, false
		}
		if dm.d.Kind != sampling.Categorical {
			v = dm.d.ToModel(v)
		}
		if dm.scale != "" {
			sv, ok := o.Params[dm.scale]
			if !ok || sv <= 0 {
				return nil, false
			}
			v += math.Log(sv)
		}
		row[j] = v
	}
	return row, true
}

// jointKDE is a mixture of product kernels: truncated Gaussians on numeric
// dims (one bandwidth per dim, Scott's rule as Optuna's multivariate TPE),
// smoothed indicator kernels on categorical ones; plus one prior component
// (centred on Options.Prior where given, bandwidth the full range).
type jointKDE struct {
	dims  []jointDim
	mu    [][]float64 // component × dim (category index for categoricals)
	sigma []float64   // dim → bandwidth (numeric); the prior uses the range
	logW  []float64
	cum   []float64
	eps   float64 // categorical smoothing
	prior int     // index of the prior component, −1 if none
}

func (s *Sampler) newJointKDE(dims []jointDim, rows [][]float64) *jointKDE {
	n := len(rows)
	e := &jointKDE{dims: dims, prior: -1}
	ws := s.opts.Weights(n)
	e.mu = append(e.mu, rows...)
	w := append([]float64(nil), ws...)
	if s.opts.PriorWeight > 0 || n == 0 {
		c := make([]float64, len(dims))
		for j, dm := range dims {
			c[j] = (dm.lo + dm.hi) / 2
			if dm.d.Kind == sampling.Categorical {
				c[j] = -1 // uniform
			}
			if pv, ok := s.opts.Prior[dm.name]; ok && dm.scale == "" {
				if dm.d.Kind == sampling.Categorical {
					c[j] = -1
				} else if dm.d.Contains(pv) {
					c[j] = dm.d.ToModel(pv)
				}
			}
		}
		e.prior = len(e.mu)
		e.mu = append(e.mu, c)
		w = append(w, max(s.opts.PriorWeight, 1e-12))
	}
	e.sigma = make([]float64, len(dims))
	nd := float64(len(dims))
	for j, dm := range dims {
		width := dm.hi - dm.lo
		e.sigma[j] = math.Max(0.2*width*math.Pow(float64(max(n, 1)), -1/(nd+4)), width/math.Min(100, float64(n+1)))
	}
	e.eps = s.opts.PriorWeight / float64(n+1)
	var tot float64
	for _, x := range w {
		tot += x
	}
	e.logW = make([]float64, len(w))
	e.cum = make([]float64, len(w))
	acc := 0.0
	for i, x := range w {
		e.logW[i] = math.Log(x / tot)
		acc += x / tot
		e.cum[i] = acc
	}
	return e
}

func (e *jointKDE) bandwidth(i, j int) float64 {
	if i == e.prior {
		return e.dims[j].hi - e.dims[j].lo
	}
	return e.sigma[j]
}

// catProb is component i's probability of category c on dim j.
func (e *jointKDE) catProb(i, j, c int) float64 {
	k := float64(len(e.dims[j].d.Choices))
	mu := int(e.mu[i][j])
	if mu < 0 {
		return 1 / k
	}
	p := e.eps / (1 + k*e.eps)
	if c == mu {
		p += 1 / (1 + k*e.eps)
	}
	return p
}

func (e *jointKDE) sample(r randSource) []float64 {
	u := r.Float64() * e.cum[len(e.cum)-1]
	i, _ := slices.BinarySearch(e.cum, u)
	i = min(i, len(e.mu)-1)
	x := make([]float64, len(e.dims))
	for j, dm := range e.dims {
		if dm.d.Kind == sampling.Categorical {
			k := len(dm.d.Choices)
			v, acc := r.Float64(), 0.0
			x[j] = float64(k - 1)
			for c := range k {
				acc += e.catProb(i, j, c)
				if v < acc {
					x[j] = float64(c)
					break
				}
			}
			continue
		}
		mu, sd := e.mu[i][j], e.bandwidth(i, j)
		a, b := phi((dm.lo-mu)/sd), phi((dm.hi-mu)/sd)
		p := a + r.Float64()*(b-a)
		v := mu + sd*math.Sqrt2*math.Erfinv(2*p-1)
		if math.IsNaN(v) {
			v = mu
		}
		x[j] = math.Min(math.Max(v, dm.lo), dm.hi)
	}
	return x
}

func (e *jointKDE) logPDF(x []float64) float64 {
	terms := make([]float64, len(e.mu))
	m := math.Inf(-1)
	for i := range e.mu {
		t := e.logW[i]
		for j, dm := range e.dims {
			if dm.d.Kind == sampling.Categorical {
				t += math.Log(e.catProb(i, j, int(x[j])))
				continue
			}
			mu, sd := e.mu[i][j], e.bandwidth(i, j)
			z := (x[j] - mu) / sd
			t += -z*z/2 - math.Log(sd) - log2Pi/2 - logMass((dm.lo-mu)/sd, (dm.hi-mu)/sd)
		}
		terms[i] = t
		m = math.Max(m, t)
	}
	if math.IsInf(m, -1) {
		return m
	}
	var s float64
	for _, t := range terms {
		s += math.Exp(t - m)
	}
	return m + math.Log(s)
}
