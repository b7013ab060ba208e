package kohya

import "strings"

// Which settings sd-scripts reads at all, given the others. A key that it
// never reads is a dead dimension when searched: it changes no trial.

// LearningRateUnused reports whether --learning_rate cannot change a LoRA
// run: the U-Net groups take unet_lr and the text-encoder groups take
// text_encoder_lr whenever those are set (0 included, which drops the
// group), unless the scheduler is polynomial, whose decay is computed from
// learning_rate and then applied to each group's own rate.
func LearningRateUnused(unetLRSet, textEncoderLRSet bool, scheduler string) bool {
	return unetLRSet && textEncoderLRSet && scheduler != "polynomial"
}

// AdafactorRelativeStep reports whether optimizer_type/optimizer_args select
// AdaFactor with its relative step on (sd-scripts' default for AdaFactor):
// it then trains with its own adafactor schedule whatever lr_scheduler says,
// and ignores unet_lr and text_encoder_lr.
func AdafactorRelativeStep(optimizerType string, optimizerArgs []string) bool {
	if !strings.EqualFold(optimizerType, "adafactor") {
		return false
	}
	for _, a := range optimizerArgs {
		k, v, ok := strings.Cut(a, "=")
		if ok && strings.TrimSpace(k) == "relative_step" {
			return !strings.EqualFold(strings.TrimSpace(v), "false")
		}
	}
	return true
}

// ScheduleFree reports whether optimizer_type is a schedule-free optimizer:
// sd-scripts gives it a dummy scheduler, so every lr_scheduler setting is
// ignored.
func ScheduleFree(optimizerType string) bool {
	return strings.HasSuffix(strings.ToLower(optimizerType), "schedulefree")
}

// SchedulerIgnoresWarmup reports whether an lr_scheduler value builds a
// schedule without a warmup part (constant is not one: it refuses a warmup).
func SchedulerIgnoresWarmup(scheduler string) bool {
	return scheduler == "adafactor" || strings.HasPrefix(scheduler, "adafactor:")
}
