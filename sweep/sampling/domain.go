package sampling

import (
	"errors"
	"fmt"
	"math"
)

// Kind is how a sampler must treat a parameter's values.
type Kind int

const (
	// Continuous values anywhere in [Low, High].
	Continuous Kind = iota
	// Discrete values on the grid Low, Low+Step, … ≤ High.
	Discrete
	// Categorical values are indices into Choices.
	Categorical
)

// ErrUnknownDistribution is returned for a distribution that is not one of
// goptuna's six (as a value or a pointer).
var ErrUnknownDistribution = errors.New("unknown distribution")

// Domain is a goptuna distribution as the samplers see it: its kind, its
// external bounds and grid, and whether it is modelled in log space.
type Domain struct {
	Kind    Kind
	Log     bool
	Low     float64
	High    float64 // the largest value on the grid for Discrete
	Step    float64 // > 0 for Discrete (1 for ints)
	Choices []string
}

// DomainOf describes dist. logInt marks a LogUniformDistribution as a
// log-scale integer (goptuna has no log-int distribution): it becomes a
// Discrete domain with Step 1 modelled in log space.
func DomainOf(dist interface{}, logInt bool) (Domain, error) {
	var d Domain
	switch v := dist.(type) {
	case goptunaUniform:
		d = Domain{Kind: Continuous, Low: v.Low, High: v.High}
	case *goptunaUniform:
		return DomainOf(*v, logInt)
	case goptunaLogUniform:
		d = Domain{Kind: Continuous, Log: true, Low: v.Low, High: v.High}
		if logInt {
			d = Domain{Kind: Discrete, Log: true, Low: math.Ceil(v.Low), High: math.Floor(v.High), Step: 1}
			if d.Low < 1 {
				return Domain{}, fmt.Errorf("log-int domain [%g, %g]: low must be at least 1", v.Low, v.High)
			}
		}
		if d.Low <= 0 {
			return Domain{}, fmt.Errorf("log domain [%g, %g]: low must be positive", v.Low, v.High)
		}
	case *goptunaLogUniform:
		return DomainOf(*v, logInt)
	case goptunaInt:
		d = Domain{Kind: Discrete, Low: float64(v.Low), High: float64(v.High), Step: 1}
	case *goptunaInt:
		return DomainOf(*v, logInt)
	case goptunaStepInt:
		if v.Step <= 0 {
			return Domain{}, fmt.Errorf("step-int domain: step %d must be positive", v.Step)
		}
		d = Domain{Kind: Discrete, Low: float64(v.Low), High: float64(v.High), Step: float64(v.Step)}
	case *goptunaStepInt:
		return DomainOf(*v, logInt)
	case goptunaDiscrete:
		if v.Q <= 0 {
			return Domain{}, fmt.Errorf("discrete domain: step %g must be positive", v.Q)
		}
		d = Domain{Kind: Discrete, Low: v.Low, High: v.High, Step: v.Q}
	case *goptunaDiscrete:
		return DomainOf(*v, logInt)
	case goptunaCategorical:
		if len(v.Choices) == 0 {
			return Domain{}, errors.New("categorical domain: no choices")
		}
		return Domain{Kind: Categorical, Low: 0, High: float64(len(v.Choices) - 1), Choices: v.Choices}, nil
	case *goptunaCategorical:
		return DomainOf(*v, logInt)
	default:
		return Domain{}, fmt.Errorf("describe %T: %w", dist, ErrUnknownDistribution)
	}
	if d.High < d.Low {
		return Domain{}, fmt.Errorf("domain [%g, %g]: high below low", d.Low, d.High)
	}
	if d.Kind == Discrete {
		// The top of the grid, not the nominal high: a step that does not
		// divide the range must never yield a value above High.
		n := math.Floor((d.High-d.Low)/d.Step + 1e-9)
		d.High = d.Low + n*d.Step
	}
	return d, nil
}

// Size is the number of distinct values (0 for Continuous unless Low == High).
func (d Domain) Size() int {
	switch d.Kind {
	case Categorical:
		return len(d.Choices)
	case Discrete:
		return int(math.Round((d.High-d.Low)/d.Step)) + 1
	default:
		if d.Low == d.High {
			return 1
		}
		return 0
	}
}

// ToModel maps an external value to the space the samplers model it in
// (log for Log domains).
func (d Domain) ToModel(x float64) float64 {
	if d.Log {
		return math.Log(x)
	}
	return x
}

// FromModel is the inverse of ToModel.
func (d Domain) FromModel(m float64) float64 {
	if d.Log {
		return math.Exp(m)
	}
	return m
}

// ModelBounds is the interval a sampler draws from in model space. A
// discrete domain's interval reaches half a step beyond its end points so
// that every grid value owns a bin of the same width (in linear space).
func (d Domain) ModelBounds() (lo, hi float64) {
	if d.Kind == Discrete {
		return d.ToModel(d.Low - d.Step/2), d.ToModel(d.High + d.Step/2)
	}
	return d.ToModel(d.Low), d.ToModel(d.High)
}

// Bin is the model-space interval of values that round to grid value v.
func (d Domain) Bin(v float64) (lo, hi float64) {
	if d.Kind != Discrete {
		m := d.ToModel(v)
		return m, m
	}
	return d.ToModel(v - d.Step/2), d.ToModel(v + d.Step/2)
}

// Snap maps a model-space draw to the nearest valid external value.
func (d Domain) Snap(m float64) float64 {
	x := d.FromModel(m)
	if d.Kind == Discrete {
		x = d.Low + math.Round((x-d.Low)/d.Step)*d.Step
	}
	return math.Min(math.Max(x, d.Low), d.High)
}

// Contains reports whether an internal value lies in the domain (on the grid
// for Discrete, a valid index for Categorical).
func (d Domain) Contains(x float64) bool {
	if math.IsNaN(x) || x < d.Low-1e-9*math.Max(1, math.Abs(d.Low)) || x > d.High+1e-9*math.Max(1, math.Abs(d.High)) {
		return false
	}
	switch d.Kind {
	case Categorical:
		return x == math.Trunc(x)
	case Discrete:
		k := (x - d.Low) / d.Step
		return math.Abs(k-math.Round(k)) < 1e-6
	}
	return true
}
