package kohya

import "testing"

func TestPrecedence(t *testing.T) {
	if !LearningRateUnused(true, true, "cosine") || LearningRateUnused(true, true, "polynomial") ||
		LearningRateUnused(true, false, "cosine") || LearningRateUnused(false, true, "constant") {
		t.Error("learning_rate is unused exactly when both group rates are set and the scheduler is not polynomial")
	}
	for _, c := range []struct {
		typ  string
		args []string
		want bool
	}{
		{"AdaFactor", nil, true},
		{"adafactor", []string{"scale_parameter=False", "relative_step=False"}, false},
		{"Adafactor", []string{"relative_step=True"}, true},
		{"AdamW8bit", nil, false},
	} {
		if got := AdafactorRelativeStep(c.typ, c.args); got != c.want {
			t.Errorf("AdafactorRelativeStep(%q, %q) = %v, want %v", c.typ, c.args, got, c.want)
		}
	}
	if !ScheduleFree("AdamWScheduleFree") || !ScheduleFree("prodigyplus.ProdigyPlusScheduleFree") || ScheduleFree("AdamW") {
		t.Error("ScheduleFree")
	}
	if !SchedulerIgnoresWarmup("adafactor:1e-3") || SchedulerIgnoresWarmup("cosine") {
		t.Error("SchedulerIgnoresWarmup")
	}
}
