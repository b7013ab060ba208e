package runner

import (
	"time"

	"github.com/lorasweep/lorasweep/kohya"
)

// TrainerSpec says which trainer runs the trials and how. It is the
// `trainer:` block of a sweep spec.
type TrainerSpec struct {
	// Kind is builtin, kohya or command.
	Kind string `yaml:"kind" json:"kind"`
	// Base is the user's kohya TOML or kohya_ss GUI JSON; its values are the
	// defaults every trial starts from.
	Base string `yaml:"base,omitempty" json:"base,omitempty"`
	// Fixed are sd-scripts arguments applied on top of Base for every trial.
	Fixed map[string]any `yaml:"fixed,omitempty" json:"fixed,omitempty"`

	// kohya: the training script (train_network.py or sdxl_train_network.py),
	// the Python interpreter, and an optional launcher prefix such as
	// [accelerate, launch, --num_cpu_threads_per_process, "2"].
	Script   string   `yaml:"script,omitempty" json:"script,omitempty"`
	Python   string   `yaml:"python,omitempty" json:"python,omitempty"`
	Launcher []string `yaml:"launcher,omitempty" json:"launcher,omitempty"`
	// SampleSampler is the sampler written into normalised sample prompts.
	SampleSampler string `yaml:"sample_sampler,omitempty" json:"sample_sampler,omitempty"`

	// command: argv template with {config}, {output_dir}, {trial_dir} and
	// {param} placeholders, extra environment, and how to read its output.
	Command      []string          `yaml:"command,omitempty" json:"command,omitempty"`
	Env          map[string]string `yaml:"env,omitempty" json:"env,omitempty"`
	LossRegex    string            `yaml:"loss_regex,omitempty" json:"loss_regex,omitempty"`
	EpochRegex   string            `yaml:"epoch_regex,omitempty" json:"epoch_regex,omitempty"`
	SampleRegex  string            `yaml:"sample_regex,omitempty" json:"sample_regex,omitempty"`
	SampleGlob   string            `yaml:"sample_glob,omitempty" json:"sample_glob,omitempty"`
	SuccessRegex string            `yaml:"success_regex,omitempty" json:"success_regex,omitempty"`

	// HangTimeout: a trainer that prints nothing for this long is hung.
	HangTimeout Duration `yaml:"hang_timeout,omitempty" json:"hang_timeout,omitempty"`
	// KillGrace is the time between SIGTERM and SIGKILL on cancel.
	KillGrace Duration `yaml:"kill_grace,omitempty" json:"kill_grace,omitempty"`
}

// GPUSpec is the `gpus:` block: which devices trials may use.
type GPUSpec struct {
	// Mode is auto (every GPU nvidia-smi lists), none (CPU slots only) or
	// list (the IDs in IDs).
	Mode string `yaml:"-" json:"mode"`
	IDs  []int  `yaml:"-" json:"ids,omitempty"`
	// PerGPU trials share one card (small LoRAs on a big GPU).
	PerGPU int `yaml:"-" json:"per_gpu,omitempty"`
	// PerTrial GPUs are leased together for one trial.
	PerTrial int `yaml:"-" json:"gpus_per_trial,omitempty"`
}

// Duration is a time.Duration written as "90s", "2h" in specs and JSON.
type Duration time.Duration

// Reason classifies how a trial's process ended when it did not succeed.
type Reason string

const (
	ReasonNone        Reason = ""
	ReasonOOM         Reason = "oom"
	ReasonNaN         Reason = "nan"
	ReasonCrash       Reason = "crash"
	ReasonTimeout     Reason = "timeout"
	ReasonHung        Reason = "hung"
	ReasonNoData      Reason = "no-data"
	ReasonBadArgs     Reason = "bad-args"
	ReasonDiskFull    Reason = "disk-full"
	ReasonUnwritable  Reason = "unwritable"  // lorasweep could not create the trial's folder or files (read-only, permissions)
	ReasonInterrupted Reason = "interrupted" // cancelled by lorasweep (abort, shutdown)
	ReasonPruned      Reason = "pruned"      // stopped because the pruner said so (not a failure)
)

// DetailPruned is the Outcome.Detail of a trial the pruner stopped: the run
// record keeps it, so a trial whose worker died before setting its state
// can be finished as PRUNED from its records.
const DetailPruned = "stopped by the pruner"

// Job is one trial to train.
type Job struct {
	// Number is the trial number; it names the output so outputs never collide.
	Number int
	// Dir is the trial's own directory. Run creates it; it must not already
	// hold a previous run's files (a retry gets a new trial number and dir).
	Dir string
	// Config is the trial's complete sd-scripts configuration (base, fixed and
	// sampled params merged). The adapter adds output_dir, output_name,
	// logging_dir and the normalised sample_prompts inside Dir.
	Config kohya.Config
	// Params are the trial's user-facing parameter values, for {param}
	// placeholders of the command trainer and for metadata checks.
	Params map[string]any
	// Timeout bounds the whole run; zero means none.
	Timeout time.Duration
}

// EventKind names what a trainer's output line meant.
type EventKind string

const (
	// EventPrepared comes first, once the trial's files are written:
	// Expected is how many sample images each sampled candidate (epoch or
	// step) must produce — one per prompt of the prompts file the trial
	// wrote — or 0 when the trainer's sampling is not known (command
	// trainers).
	EventPrepared   EventKind = "prepared"
	EventProgress   EventKind = "progress"   // Step/Total and Loss (avr_loss) updated
	EventEpoch      EventKind = "epoch"      // a new epoch started: Epoch of Epochs
	EventValidation EventKind = "validation" // Loss holds the epoch's validation loss
	EventCheckpoint EventKind = "checkpoint" // Path holds a saved checkpoint; Epoch its epoch, or Step for a step checkpoint
	EventSamples    EventKind = "samples"    // Samples holds newly found sample images of Epoch
	EventModelSaved EventKind = "model-saved"
	// EventCheckpointRemoved: the trainer deleted the checkpoint at Path
	// (save_last_n_epochs / save_last_n_steps).
	EventCheckpointRemoved EventKind = "checkpoint-removed"
	EventWarning           EventKind = "warning" // Text holds a warning worth keeping
)

// Event is one thing learned from a running trainer.
type Event struct {
	Kind    EventKind
	Time    time.Time
	Step    int
	Total   int
	Epoch   int
	Epochs  int
	Loss    float64
	LR      float64
	Path    string
	Samples []Sample
	Text    string
	// Expected: see EventPrepared.
	Expected int
}

// Sample is one sample image a trainer wrote.
type Sample struct {
	Path        string
	Epoch       int // 0 for sample_at_first; -1 when step-based
	Step        int // for step-based sampling
	PromptIndex int
	Prompt      string
	Seed        int64
	HasSeed     bool
}

// Outcome is how a trial's run ended.
type Outcome struct {
	OK     bool
	Reason Reason // empty when OK
	Detail string // one line a user can act on
	// ExitCode is the trainer's exit status (-1 when killed by a signal).
	ExitCode    int
	LogPath     string
	LogTail     []string
	ModelPath   string         // the final .safetensors
	Checkpoints map[int]string // epoch → per-epoch checkpoint path
	Samples     []Sample
	Warnings    []string
	Started     time.Time
	Ended       time.Time
	GPUs        []string // UUIDs or indexes leased; empty on CPU
	PID         int
}
