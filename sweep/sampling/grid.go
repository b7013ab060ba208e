package sampling

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/c-bata/goptuna"
)

// Dim is one named dimension of a search space, in the order the spec lists it.
type Dim struct {
	Name string
	// Dist is a goptuna distribution value, as the spec layer suggests it.
	Dist interface{}
	// LogInt marks a LogUniformDistribution as a log-scale int.
	LogInt bool
}

// ErrGridTooLarge is returned when a grid has more points than the budget
// allows and the caller did not allow a large grid.
var ErrGridTooLarge = errors.New("grid larger than the trial budget")

// ErrGridExhausted is returned when every grid point has been handed out.
var ErrGridExhausted = errors.New("grid exhausted")

// maxGrid guards against a product that overflows or cannot be swept.
const maxGrid = 1 << 31

// GridSize is the number of points of the full product of space. Every dim
// must be discrete or categorical (a continuous dim has no grid).
func GridSize(space []Dim) (int, error) {
	n := 1
	for _, dim := range space {
		d, err := DomainOf(dim.Dist, dim.LogInt)
		if err != nil {
			return 0, fmt.Errorf("grid dim %s: %w", dim.Name, err)
		}
		k := d.Size()
		if k == 0 {
			return 0, fmt.Errorf("grid dim %s: continuous range [%g, %g] has no grid: give it a step or choices", dim.Name, d.Low, d.High)
		}
		if n > maxGrid/k {
			return 0, fmt.Errorf("grid size: more than %d points", maxGrid)
		}
		n *= k
	}
	return n, nil
}

// GridOptions configures the grid sampler.
type GridOptions struct {
	// Budget is the trial budget; 0 means unknown (no check).
	Budget int
	// AllowLarge permits a grid with more points than Budget.
	AllowLarge bool
}

// Grid hands out the points of a small discrete space in a fixed order (the
// last dim varies fastest). It implements goptuna.Sampler.
//
// Workers coordinate through storage without extra writes: a trial's point
// is fixed by its trial number (assigned atomically by storage), counting
// only the trials before it that the sampler drives (enqueued trials, which
// carry fixed_params, are skipped), and points an enqueued trial already
// covers are skipped too. A failed trial keeps its point; it is not retried
// by the grid (retries are enqueued copies).
type Grid struct {
	space   []Dim
	domains []Domain
	size    int
}

// NewGrid checks the space and the budget and returns the sampler.
func NewGrid(space []Dim, opts GridOptions) (*Grid, error) {
	n, err := GridSize(space)
	if err != nil {
		return nil, err
	}
	if opts.Budget > 0 && n > opts.Budget && !opts.AllowLarge {
		return nil, fmt.Errorf("grid of %d points, budget %d trials: %w", n, opts.Budget, ErrGridTooLarge)
	}
	g := &Grid{space: space, size: n}
	for _, dim := range space {
		d, _ := DomainOf(dim.Dist, dim.LogInt) // checked by GridSize
		g.domains = append(g.domains, d)
	}
	return g, nil
}

// Size is the number of grid points.
func (g *Grid) Size() int { return g.size }

// Point returns the internal values of grid point i (0 ≤ i < Size).
func (g *Grid) Point(i int) []float64 {
	p := make([]float64, len(g.domains))
	for j := len(g.domains) - 1; j >= 0; j-- {
		d := g.domains[j]
		k := d.Size()
		idx := i % k
		i /= k
		if d.Kind == Categorical {
			p[j] = float64(idx)
		} else {
			p[j] = d.Low + float64(idx)*d.Step
		}
	}
	return p
}

var _ goptuna.Sampler = (*Grid)(nil)

// Sample returns param's value at the trial's grid point.
func (g *Grid) Sample(study *goptuna.Study, trial goptuna.FrozenTrial, param string, _ interface{}) (float64, error) {
	dim := -1
	for j := range g.space {
		if g.space[j].Name == param {
			dim = j
		}
	}
	if dim < 0 {
		return 0, fmt.Errorf("grid sample %s: not in the grid's space", param)
	}
	trials, err := study.Storage.GetAllTrials(study.ID)
	if err != nil {
		return 0, fmt.Errorf("grid sample %s: %w", param, err)
	}
	before := 0
	taken := map[string]bool{}
	for i := range trials {
		t := &trials[i]
		fixed, ok := t.SystemAttrs["fixed_params"]
		if !ok {
			if t.Number < trial.Number {
				before++
			}
			continue
		}
		var fp map[string]float64
		if json.Unmarshal([]byte(fixed), &fp) == nil {
			if key, ok := g.key(fp); ok {
				taken[key] = true
			}
		}
	}
	for i := 0; i < g.size; i++ {
		p := g.Point(i)
		if taken[pointKey(p)] {
			continue
		}
		if before == 0 {
			return p[dim], nil
		}
		before--
	}
	return 0, fmt.Errorf("grid sample %s for trial %d: %w (%d points)", param, trial.Number, ErrGridExhausted, g.size)
}

// key is the grid key of an enqueued trial's params, false when it does not
// set every dim or lies off the grid.
func (g *Grid) key(fp map[string]float64) (string, bool) {
	p := make([]float64, len(g.space))
	for j, dim := range g.space {
		v, ok := fp[dim.Name]
		if !ok || !g.domains[j].Contains(v) {
			return "", false
		}
		d := g.domains[j]
		if d.Kind == Discrete {
			v = d.Low + math.Round((v-d.Low)/d.Step)*d.Step
		}
		p[j] = v
	}
	return pointKey(p), true
}

func pointKey(p []float64) string {
	var b strings.Builder
	for _, v := range p {
		b.WriteString(strconv.FormatFloat(v, 'g', 12, 64))
		b.WriteByte(',')
	}
	return b.String()
}
