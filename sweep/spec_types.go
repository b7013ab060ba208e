package sweep

import (
	"github.com/lorasweep/lorasweep/objective"
	"github.com/lorasweep/lorasweep/runner"
)

// Spec is a resolved sweep spec: what to train, over which space, how to
// propose, prune and score, and within which budget. ParseSpec builds it from
// YAML; the study stores it as JSON so every machine sees the same sweep.
type Spec struct {
	Name    string `json:"name"`
	Storage string `json:"-"` // never stored: it may hold a password
	// OutputRoot is the absolute directory under which each trial gets its
	// own folder (trial-0007). Default: lorasweep-runs/<name> beside the spec.
	OutputRoot string             `json:"output_root"`
	Trainer    runner.TrainerSpec `json:"trainer"`
	// Base is the imported base config (Trainer.Base read and translated)
	// with Trainer.Fixed applied: every trial starts from it.
	Base      map[string]any `json:"base"`
	Search    []Param        `json:"search"`
	Sampler   SamplerSpec    `json:"sampler"`
	Pruner    PrunerSpec     `json:"pruner"`
	Objective objective.Spec `json:"objective"`
	Budget    Budget         `json:"budget"`
	GPUs      runner.GPUSpec `json:"gpus"`
	// ObjectiveVersion is the sweep's objective version this spec scores
	// under: 1, bumped by each objective or trainer change allowed on
	// resume. Set when the study is opened (never in YAML).
	ObjectiveVersion int `json:"objective_version,omitempty"`
	// Baseline enqueues the base config as trial 0, the value to beat.
	Baseline bool `json:"baseline"`
	// Keep is the checkpoint retention policy.
	Keep Retention `json:"keep,omitempty"`
	// Demo is the absolute directory of the builtin trainer's demo dataset
	// (`demo:` in the spec), empty when the sweep does not use it. Files
	// under it may be missing until `lorasweep demo init Demo` writes them.
	Demo string `json:"demo,omitempty"`
	// Path is the spec file; Warnings are non-fatal findings of ParseSpec.
	Path     string    `json:"-"`
	Warnings []Problem `json:"-"`
}

// ParamType is a search-space parameter's distribution family.
type ParamType string

const (
	ParamFloat       ParamType = "float"
	ParamInt         ParamType = "int"
	ParamCategorical ParamType = "categorical"
)

// ParamTarget says where a sampled value goes in the trainer's config.
type ParamTarget string

const (
	TargetArg        ParamTarget = "arg"         // an sd-scripts argument
	TargetNetworkArg ParamTarget = "network_arg" // a key=value entry of network_args
	TargetDataset    ParamTarget = "dataset"     // a dataset option such as num_repeats
	TargetFree       ParamTarget = "free"        // command trainer: only {name} placeholders
)

// Param is one dimension of the search space.
type Param struct {
	Name string    `json:"name"`
	Type ParamType `json:"type"`
	// Low/High bound float and int params (inclusive); Log samples in log
	// space; Step > 0 makes a float or int param discrete on that grid.
	Low  float64 `json:"low,omitempty"`
	High float64 `json:"high,omitempty"`
	Log  bool    `json:"log,omitempty"`
	Step float64 `json:"step,omitempty"`
	// Choices of a categorical: strings, float64 or int64 values.
	Choices []any `json:"choices,omitempty"`
	// RatioOf names another param: the sampled value is a ratio of it
	// (network_alpha = ratio × network_dim).
	RatioOf string `json:"ratio_of,omitempty"`
	// When makes the param exist only when each named categorical param has
	// one of the listed values.
	When   map[string][]any `json:"when,omitempty"`
	Target ParamTarget      `json:"target"`
	Line   int              `json:"-"`
}

// SamplerSpec picks and configures the sampler.
type SamplerSpec struct {
	Kind string `json:"kind"` // tpe | random | grid
	Seed int64  `json:"seed"`
	// StartupTrials are sampled at random before TPE models the history.
	StartupTrials int `json:"startup_trials,omitempty"`
	// ConstantLiar counts RUNNING trials as bad observations (default on).
	ConstantLiar *bool `json:"constant_liar,omitempty"`
	// AllowLargeGrid lets a grid exceed the trial budget.
	AllowLargeGrid bool `json:"allow_large_grid,omitempty"`
	// LocalStartup (default on) draws most startup trials near the best
	// trial so far, the base config before any: a prior, never a bound.
	LocalStartup *bool `json:"local_startup,omitempty"`
	// Multivariate models the unconditional params jointly (default off:
	// it measured worse at small budgets).
	Multivariate bool `json:"multivariate,omitempty"`
	// Unmodelled are searched params that cannot change training given the
	// rest (validation finds them; name → why): the sampler draws them at
	// random and keeps them out of its model.
	Unmodelled map[string]string `json:"-"`
}

// PrunerSpec picks and configures early stopping.
type PrunerSpec struct {
	Kind string `json:"kind"` // none | median | successive_halving
	// StartupTrials complete before anything is pruned (median).
	StartupTrials int `json:"startup_trials,omitempty"`
	// WarmupFraction of its schedule a trial completes before it can be pruned.
	WarmupFraction float64 `json:"warmup_fraction,omitempty"`
	// ReductionFactor and MinFraction shape successive halving's rungs.
	ReductionFactor int     `json:"reduction_factor,omitempty"`
	MinFraction     float64 `json:"min_fraction,omitempty"`
}

// Budget bounds the sweep.
type Budget struct {
	Trials int `json:"trials"`
	// Parallel caps concurrent trials; never more than the slots available.
	Parallel int `json:"parallel"`
	// Deadline: a clock time ("07:00", next occurrence after the sweep first
	// starts) or a duration from the first start ("8h"); empty for none.
	Deadline          string          `json:"deadline,omitempty"`
	TrialTimeout      runner.Duration `json:"trial_timeout,omitempty"`
	MaxFailuresInARow int             `json:"max_failures_in_a_row,omitempty"`
	// Retries re-enqueue an interrupted trial up to this many times.
	Retries int `json:"retries"`
	// OnOOM is the retry policy for a trial that ran out of GPU memory:
	// OOMNone (default), OOMSmallerBatch or OOMGradientCheckpointing. The
	// retry is a new trial linked to the failed one.
	OnOOM string `json:"on_oom,omitempty"`
	// RepeatTop re-trains the RepeatTop best configs RepeatSeeds more times
	// with new seeds once the budget's trials are finished; the ranking then
	// uses each config's mean. The repeats come on top of Trials.
	RepeatTop   int `json:"repeat_top,omitempty"`
	RepeatSeeds int `json:"repeat_seeds,omitempty"`
}

// OOM retry policies (Budget.OnOOM).
const (
	OOMNone                  = "none"
	OOMSmallerBatch          = "smaller_batch"
	OOMGradientCheckpointing = "gradient_checkpointing"
)

// Retention says which checkpoints a sweep keeps on disk (`keep:`).
type Retention struct {
	// Mode is KeepAll (default), KeepBestEpoch or KeepBestTrials.
	Mode string `json:"mode,omitempty"`
	// Trials is N of best-trials:N.
	Trials int `json:"trials,omitempty"`
}

// Retention modes.
const (
	KeepAll        = "all"
	KeepBestEpoch  = "best-epoch"
	KeepBestTrials = "best-trials"
)

// Problem is one finding about a spec, tied to where it was found.
type Problem struct {
	File    string
	Line    int
	Field   string // dotted path: search.netwrok_dim
	Message string
	Warning bool
}
