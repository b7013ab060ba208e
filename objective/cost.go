package objective

import "fmt"

// SamplingWarnShare is the share of a trial's time spent sampling above
// which `validate` warns.
const SamplingWarnShare = 0.25

// Cost is the sampling load of one trial, in UNet evaluations at 512×512
// (the unit a GPU's speed is quoted in), so it compares with training.
type Cost struct {
	// Images is the number of sample images per trial.
	Images int
	// Evals is UNet evaluations, in 512² equivalents: steps × 2 (classifier-
	// free guidance runs the UNet on the conditional and unconditional
	// input) × pixels/512², per image.
	Evals float64
}

// SamplingCost is the sampling load of one trial: prompts × seedsPerPrompt
// images per saved epoch (savedEpochs of them, counting a sample_at_first
// pass as one), each of width×height pixels and steps sampler steps (0
// means sd-scripts' default, 30). Cost scales linearly in pixels, which
// understates SDXL's attention cost a little.
func SamplingCost(prompts, seedsPerPrompt, savedEpochs, width, height, steps int) Cost {
	if steps <= 0 {
		steps = 30
	}
	if width <= 0 {
		width = 512
	}
	if height <= 0 {
		height = 512
	}
	n := max(0, prompts) * max(1, seedsPerPrompt) * max(0, savedEpochs)
	return Cost{Images: n, Evals: float64(n) * float64(steps) * 2 * float64(width*height) / (512 * 512)}
}

// TrainingEvals is the training load in the same unit: one step of
// batchSize images at width×height costs about three UNet evaluations per
// image (forward and backward).
func TrainingEvals(steps, batchSize, width, height int) float64 {
	return float64(max(0, steps)) * float64(max(1, batchSize)) * 3 * float64(width*height) / (512 * 512)
}

// Share is the fraction of a trial's GPU time spent sampling, given its
// training load from TrainingEvals.
func (c Cost) Share(trainingEvals float64) float64 {
	if c.Evals+trainingEvals <= 0 {
		return 0
	}
	return c.Evals / (c.Evals + trainingEvals)
}

// Warning returns a sentence for `validate` when sampling takes at least
// SamplingWarnShare of the trial, else "".
func (c Cost) Warning(trainingEvals float64) string {
	s := c.Share(trainingEvals)
	if s < SamplingWarnShare {
		return ""
	}
	return fmt.Sprintf("sampling %d images per trial takes about %.0f%% of each trial's GPU time; fewer prompts, seeds or sampled epochs (sample_every_n_epochs), smaller sizes or fewer steps would cut it", c.Images, 100*s)
}
