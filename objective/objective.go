package objective

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"
)

// Scorer kinds.
const (
	KindReference    = "reference"
	KindPreservation = "preservation"
	KindHealth       = "health"
	KindDiversity    = "diversity"
	KindLoss         = "loss"
	KindValidation   = "validation"
	KindCommand      = "command"
	KindRating       = "rating"
)

// Directions of the combined value.
const (
	Maximize = "maximize"
	Minimize = "minimize"
)

// Loss statistics.
const (
	StatFinal = "final"
	StatMin   = "min"
	StatMean  = "mean"
)

// DefaultLossScale is the loss that normalises to 0.5 when ScorerSpec.Scale
// is zero: typical SD noise-prediction MSE lies around 0.05–0.15.
const DefaultLossScale = 0.1

// DefaultCommandTimeout bounds an external scorer when ScorerSpec.Timeout is
// empty.
const DefaultCommandTimeout = 10 * time.Minute

// Objective scores a trial's saved epochs with the configured scorers and
// combines them. It is safe for concurrent use by several trials.
type Objective struct {
	direction string
	scorers   []scorer
	ratings   RatingSource
	super     []string
}

// scorer is one resolved component.
type scorer struct {
	spec    ScorerSpec
	name    string
	weight  float64
	refs    *refCache // reference, preservation, and command with references
	timeout time.Duration
	runDir  string // command: working directory (the spec's folder)
}

// Option configures an Objective.
type Option func(*Objective)

// WithRatings gives the rating scorer its source of human ratings.
func WithRatings(src RatingSource) Option { return func(o *Objective) { o.ratings = src } }

// WithSupervisor runs external scorers under lorasweep's process supervisor
// (argv such as [self, "supervise"]) so they die with lorasweep.
func WithSupervisor(argv []string) Option {
	return func(o *Objective) { o.super = append([]string(nil), argv...) }
}

// New validates spec (see Validate) and returns its Objective. baseDir
// resolves relative reference folders and is the command scorers' working
// directory. Reference images are read on first use, not here.
func New(spec Spec, baseDir string, opts ...Option) (*Objective, error) {
	if errs := Validate(spec, baseDir); len(errs) > 0 {
		return nil, fmt.Errorf("objective: %w", errors.Join(errs...))
	}
	o := &Objective{direction: spec.Direction}
	if o.direction == "" {
		o.direction = Maximize
	}
	for _, opt := range opts {
		opt(o)
	}
	for i, s := range spec.Scorers {
		sc := scorer{spec: s, name: scorerName(spec.Scorers, i), weight: s.Weight, runDir: baseDir}
		if sc.weight == 0 {
			sc.weight = 1
		}
		if s.References != "" {
			sc.refs = &refCache{dir: resolve(baseDir, s.References)}
		}
		if s.Kind == KindCommand {
			sc.timeout = DefaultCommandTimeout
			if s.Timeout != "" {
				sc.timeout, _ = time.ParseDuration(s.Timeout) // checked by Validate
			}
		}
		o.scorers = append(o.scorers, sc)
	}
	return o, nil
}

func resolve(baseDir, p string) string {
	if filepath.IsAbs(p) || baseDir == "" {
		return p
	}
	return filepath.Join(baseDir, p)
}

// scorerName is the component's name: Name, else Kind, suffixed with its
// position when two components would share it.
func scorerName(all []ScorerSpec, i int) string {
	base := func(s ScorerSpec) string {
		if s.Name != "" {
			return s.Name
		}
		return s.Kind
	}
	n := base(all[i])
	for j, s := range all {
		if j != i && base(s) == n {
			return fmt.Sprintf("%s#%d", n, i+1)
		}
	}
	return n
}

// Direction is "maximize" or "minimize": the direction in which
// Result.Value is better.
func (o *Objective) Direction() string { return o.direction }

// NeedsSamples is false when only loss, validation and rating scorers are
// used, so epochs can be scored without sample images.
func (o *Objective) NeedsSamples() bool {
	for _, s := range o.scorers {
		switch s.spec.Kind {
		case KindLoss, KindValidation, KindRating:
		default:
			return true
		}
	}
	return false
}

// NeedsGPU reports whether a command scorer asked to run on the trial's GPU
// lease (use_gpu): the caller must then keep the lease until ScoreEpoch
// returns. Otherwise scoring may overlap the next trial's training.
func (o *Objective) NeedsGPU() bool {
	for _, s := range o.scorers {
		if s.spec.Kind == KindCommand && s.spec.UseGPU {
			return true
		}
	}
	return false
}

// ScoreEpoch scores one saved epoch. Each component gets a raw value in its
// documented range and a normalised value in 0..1 (1 best); Value is their
// weighted mean (maximize) or one minus it (minimize). Rating components are
// not part of Value (ratings never rewrite stored values; see Rerank).
//
// An epoch that cannot be scored — no samples, a missing or undecodable
// image, no loss, a scorer that crashed — is returned as Unscorable with a
// Reason; the components that could be computed are still returned. The
// error is non-nil only when ctx ended or an internal failure occurred.
func (o *Objective) ScoreEpoch(ctx context.Context, in EpochInput) (Result, error) {
	var res Result
	var feats []*features
	var sampleErr error
	if o.NeedsSamples() {
		if len(in.Samples) == 0 {
			sampleErr = fmt.Errorf("no sample images for epoch %d", in.Epoch)
		} else {
			paths := make([]string, len(in.Samples))
			for i, s := range in.Samples {
				paths[i] = s.Path
			}
			feats, sampleErr = loadAll(ctx, paths)
		}
		if err := ctx.Err(); err != nil {
			return Result{}, fmt.Errorf("score epoch %d: %w", in.Epoch, err)
		}
	}
	var reasons []string
	var sumW, sumWN float64
	for _, s := range o.scorers {
		if s.spec.Kind == KindRating {
			continue
		}
		c := Component{Name: s.name, Kind: s.spec.Kind, Weight: s.weight}
		var err error
		switch s.spec.Kind {
		case KindLoss, KindValidation:
			c.Raw, c.Normalized, err = scoreLoss(s.spec, in)
		case KindCommand:
			if sampleErr != nil {
				err = sampleErr
				break
			}
			err = o.runCommand(ctx, s, in, &c)
		default:
			if sampleErr != nil {
				err = sampleErr
				break
			}
			samples, sf := selectPrompts(s.spec.Prompts, in.Samples, feats)
			err = scoreBuiltin(ctx, s, samples, sf, &c)
		}
		if cerr := ctx.Err(); cerr != nil {
			return Result{}, fmt.Errorf("score epoch %d: %w", in.Epoch, cerr)
		}
		if err != nil {
			c.Unscorable, c.Error, c.Raw, c.Normalized = true, err.Error(), 0, 0
			reasons = append(reasons, s.name+": "+err.Error())
		} else {
			sumW += s.weight
			sumWN += s.weight * c.Normalized
		}
		res.Components = append(res.Components, c)
	}
	if len(reasons) > 0 {
		res.Unscorable = true
		res.Reason = fmt.Sprintf("epoch %d unscorable: %s", in.Epoch, strings.Join(reasons, "; "))
		return res, nil
	}
	if sumW == 0 {
		return Result{}, fmt.Errorf("score epoch %d: no weighted component", in.Epoch)
	}
	res.Value = sumWN / sumW
	if o.direction == Minimize {
		res.Value = 1 - res.Value
	}
	return res, nil
}

// selectPrompts keeps the samples whose prompt index is in prompts (all when
// empty).
func selectPrompts(prompts []int, samples []Sample, feats []*features) ([]Sample, []*features) {
	if len(prompts) == 0 {
		return samples, feats
	}
	keep := map[int]bool{}
	for _, p := range prompts {
		keep[p] = true
	}
	var s []Sample
	var f []*features
	for i := range samples {
		if keep[samples[i].PromptIndex] {
			s = append(s, samples[i])
			f = append(f, feats[i])
		}
	}
	return s, f
}

func scoreBuiltin(ctx context.Context, s scorer, samples []Sample, feats []*features, c *Component) error {
	if len(samples) == 0 {
		return fmt.Errorf("no samples of prompts %v in this epoch", s.spec.Prompts)
	}
	var err error
	switch s.spec.Kind {
	case KindHealth:
		c.Raw, c.Images = scoreHealth(samples, feats)
	case KindDiversity:
		c.Raw, c.Images, err = scoreDiversity(samples, feats)
	case KindReference, KindPreservation:
		refs, rf, lerr := s.refs.load(ctx)
		if lerr != nil {
			return lerr
		}
		mode := s.spec.Mode
		if mode == "" {
			mode = ModePaired
		}
		c.Raw, c.Images, err = scoreReference(mode, samples, feats, refs, rf)
	default:
		return fmt.Errorf("unknown scorer kind %q", s.spec.Kind)
	}
	c.Normalized = c.Raw
	return err
}

// scoreLoss returns the raw loss and its normalisation scale/(scale+loss).
// A NaN or infinite loss is an error: the trial diverged.
func scoreLoss(spec ScorerSpec, in EpochInput) (raw, norm float64, err error) {
	if spec.Kind == KindValidation {
		if in.ValidationLoss == nil {
			return 0, 0, fmt.Errorf("no validation loss for epoch %d (the dataset needs validation_split > 0)", in.Epoch)
		}
		raw = *in.ValidationLoss
	} else {
		if len(in.Losses) == 0 {
			return 0, 0, fmt.Errorf("no training loss seen up to epoch %d", in.Epoch)
		}
		raw, err = lossStat(spec.Stat, in.Losses, in.Epoch)
		if err != nil {
			return 0, 0, err
		}
	}
	if math.IsNaN(raw) || math.IsInf(raw, 0) {
		return 0, 0, fmt.Errorf("loss is %v: training diverged", raw)
	}
	scale := spec.Scale
	if scale <= 0 {
		scale = DefaultLossScale
	}
	return raw, scale / (scale + max(0, raw)), nil
}

// lossStat: final is the last avr_loss (already a one-epoch moving average
// in sd-scripts), min the lowest seen, mean the mean of this epoch's share
// of the values (len/epoch of them, the last ones).
func lossStat(stat string, losses []float64, epoch int) (float64, error) {
	for _, l := range losses {
		if math.IsNaN(l) || math.IsInf(l, 0) {
			return l, nil
		}
	}
	switch stat {
	case "", StatFinal:
		return losses[len(losses)-1], nil
	case StatMin:
		m := losses[0]
		for _, l := range losses {
			m = min(m, l)
		}
		return m, nil
	case StatMean:
		n := len(losses)
		if epoch > 1 {
			n = max(1, len(losses)/epoch)
		}
		var s float64
		for _, l := range losses[len(losses)-n:] {
			s += l
		}
		return s / float64(n), nil
	}
	return 0, fmt.Errorf("unknown loss stat %q", stat)
}

// loadAll decodes paths concurrently; the first failure (by index) wins so
// the message is deterministic.
func loadAll(ctx context.Context, paths []string) ([]*features, error) {
	feats := make([]*features, len(paths))
	errs := make([]error, len(paths))
	work := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < min(runtime.GOMAXPROCS(0), len(paths)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				if ctx.Err() != nil {
					errs[i] = ctx.Err()
					continue
				}
				feats[i], errs[i] = loadFeatures(paths[i])
			}
		}()
	}
	for i := range paths {
		work <- i
	}
	close(work)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return feats, nil
}
