package objective

// Spec is the `objective:` block of a sweep spec.
type Spec struct {
	// Direction is maximize or minimize; the combined value is reported in
	// this direction.
	Direction string       `yaml:"direction" json:"direction"`
	Scorers   []ScorerSpec `yaml:"scorers" json:"scorers"`
}

// ScorerSpec configures one component of the objective.
type ScorerSpec struct {
	// Kind: reference, preservation, health, diversity, loss, validation,
	// command, rating.
	Kind   string  `yaml:"kind" json:"kind"`
	Weight float64 `yaml:"weight,omitempty" json:"weight,omitempty"`
	// Name distinguishes two scorers of one kind in reports; default Kind.
	Name string `yaml:"name,omitempty" json:"name,omitempty"`

	// reference / preservation: a folder of reference images, matched to
	// samples by prompt index ("paired") or best match in the set ("set").
	References string `yaml:"references,omitempty" json:"references,omitempty"`
	Mode       string `yaml:"mode,omitempty" json:"mode,omitempty"`
	// Prompts restricts the scorer to these prompt indexes (e.g. class-only
	// prompts for preservation). Empty means all.
	Prompts []int `yaml:"prompts,omitempty" json:"prompts,omitempty"`

	// loss: final | min | mean.
	Stat string `yaml:"stat,omitempty" json:"stat,omitempty"`
	// Scale (loss, validation) is the loss that normalises to 0.5:
	// normalised = scale/(scale+loss). Zero means 0.1.
	Scale float64 `yaml:"scale,omitempty" json:"scale,omitempty"`

	// command: argv of an external scorer and its timeout.
	Run     []string `yaml:"run,omitempty" json:"run,omitempty"`
	Timeout string   `yaml:"timeout,omitempty" json:"timeout,omitempty"`
	UseGPU  bool     `yaml:"use_gpu,omitempty" json:"use_gpu,omitempty"`
	// Params (command) are passed verbatim to the external scorer.
	Params map[string]any `yaml:"params,omitempty" json:"params,omitempty"`
}

// Sample is one image to score.
type Sample struct {
	Path        string
	Prompt      string
	PromptIndex int
	Seed        int64
	Epoch       int
}

// EpochInput is what a trial produced up to one saved epoch.
type EpochInput struct {
	TrialNumber int
	Epoch       int
	// Fraction of the trial's schedule (steps) completed at this epoch, 0..1.
	Fraction float64
	Samples  []Sample
	// Losses are the training losses (avr_loss) seen so far, in step order.
	Losses []float64
	// ValidationLoss is the epoch's validation loss, if the trainer gave one.
	ValidationLoss *float64
	Params         map[string]any
	// GPUs the trial held, for command scorers that ask to share the lease.
	GPUs []string
}

// ImageScore is one image's score in one component.
type ImageScore struct {
	Path  string   `json:"path"`
	Score float64  `json:"score"`
	Flags []string `json:"flags,omitempty"`
}

// Component is one scorer's contribution to an epoch's value.
type Component struct {
	Name   string  `json:"name"`
	Kind   string  `json:"kind"`
	Weight float64 `json:"weight"`
	// Raw is the scorer's value in its documented range; Normalized maps it
	// to 0..1 where 1 is best, which the combination uses.
	Raw        float64      `json:"raw"`
	Normalized float64      `json:"normalized"`
	Images     []ImageScore `json:"images,omitempty"`
	Unscorable bool         `json:"unscorable,omitempty"`
	Error      string       `json:"error,omitempty"`
}

// Result is an epoch's score.
type Result struct {
	Value      float64     `json:"value"`
	Components []Component `json:"components"`
	// Unscorable is set when the epoch could not be scored (no samples,
	// undecodable images, a scorer crash); Value is then meaningless.
	Unscorable bool   `json:"unscorable,omitempty"`
	Reason     string `json:"reason,omitempty"`
}
