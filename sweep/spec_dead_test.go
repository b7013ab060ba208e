package sweep

import (
	"reflect"
	"sort"
	"strings"
	"testing"
)

// TestDeadDimensions: a searched param sd-scripts never reads given the rest
// is reported and kept out of the sampler's model; one it reads is not.
func TestDeadDimensions(t *testing.T) {
	const lrs = "\n  unet_lr: {float: [1.0e-4, 1.0e-3], log: true}\n  learning_rate: {float: [1.0e-5, 1.0e-3], log: true}"
	tests := []struct {
		name  string
		spec  string
		dead  []string
		warns []string // substrings, one per expected dead-dimension warning
	}{
		{
			name:  "learning_rate under both group rates",
			spec:  strings.Replace(strings.Replace(minimal, "{kind: builtin}", "{kind: builtin, fixed: {text_encoder_lr: 5.0e-5}}", 1), "{int: [4, 32]}", "{int: [4, 32]}"+lrs, 1),
			dead:  []string{"learning_rate"},
			warns: []string{"search.learning_rate: warning: learning_rate cannot change training: unet_lr and text_encoder_lr take precedence"},
		},
		{
			name: "learning_rate still read by polynomial",
			spec: strings.Replace(strings.Replace(minimal, "{kind: builtin}", "{kind: builtin, fixed: {text_encoder_lr: 5.0e-5}}", 1), "{int: [4, 32]}", "{int: [4, 32]}"+lrs+"\n  lr_scheduler: {choice: [cosine, polynomial]}", 1),
		},
		{
			name: "learning_rate read by the text encoder",
			spec: strings.Replace(minimal, "{int: [4, 32]}", "{int: [4, 32]}"+lrs, 1),
		},
		{
			name:  "unet only: text_encoder_lr is moot",
			spec:  strings.Replace(strings.Replace(minimal, "{kind: builtin}", "{kind: builtin, fixed: {network_train_unet_only: true}}", 1), "{int: [4, 32]}", "{int: [4, 32]}"+lrs, 1),
			dead:  []string{"learning_rate"},
			warns: []string{"learning_rate cannot change training"},
		},
		{
			name:  "AdaFactor's relative step overrides the scheduler and the group rates",
			spec:  strings.Replace(strings.Replace(minimal, "{kind: builtin}", "{kind: builtin, fixed: {optimizer_type: AdaFactor}}", 1), "{int: [4, 32]}", "{int: [4, 32]}\n  unet_lr: {float: [1.0e-4, 1.0e-3], log: true}\n  lr_scheduler: {choice: [cosine, linear]}", 1),
			dead:  []string{"lr_scheduler", "unet_lr"},
			warns: []string{"unet_lr cannot change training: optimizer_type AdaFactor with relative_step", "lr_scheduler cannot change training: optimizer_type AdaFactor"},
		},
		{
			name: "AdaFactor without relative step",
			spec: strings.Replace(strings.Replace(minimal, "{kind: builtin}", "{kind: builtin, fixed: {optimizer_type: AdaFactor, optimizer_args: [\"relative_step=False\"]}}", 1), "{int: [4, 32]}", "{int: [4, 32]}\n  lr_scheduler: {choice: [cosine, linear]}", 1),
		},
		{
			name:  "warmup with a scheduler that has none",
			spec:  strings.Replace(strings.Replace(minimal, "{kind: builtin}", "{kind: builtin, fixed: {lr_scheduler: adafactor}}", 1), "{int: [4, 32]}", "{int: [4, 32]}\n  lr_warmup_steps: {int: [0, 100]}", 1),
			dead:  []string{"lr_warmup_steps"},
			warns: []string{"lr_warmup_steps cannot change training: lr_scheduler adafactor has no warmup"},
		},
		{
			name: "warmup with constant_with_warmup is alive",
			spec: strings.Replace(strings.Replace(minimal, "{kind: builtin}", "{kind: builtin, fixed: {lr_scheduler: constant_with_warmup}}", 1), "{int: [4, 32]}", "{int: [4, 32]}\n  lr_warmup_steps: {int: [0, 100]}", 1),
		},
		{
			name:  "cycles with cosine only",
			spec:  strings.Replace(strings.Replace(minimal, "{kind: builtin}", "{kind: builtin, fixed: {lr_scheduler: cosine}}", 1), "{int: [4, 32]}", "{int: [4, 32]}\n  lr_scheduler_num_cycles: {int: [1, 4]}", 1),
			dead:  []string{"lr_scheduler_num_cycles"},
			warns: []string{"lr_scheduler cosine ignores lr_scheduler_num_cycles"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path, dir := writeSpec(t, tc.spec, nil)
			spec, err := ParseSpecFile(path)
			if err != nil {
				t.Fatalf("ParseSpecFile: %v", err)
			}
			var dead []string
			for n := range spec.Sampler.Unmodelled {
				dead = append(dead, n)
			}
			sort.Strings(dead)
			if !reflect.DeepEqual(dead, tc.dead) && len(dead)+len(tc.dead) > 0 {
				t.Errorf("unmodelled %v, want %v", dead, tc.dead)
			}
			got := strings.Join(problemLines(spec.Warnings, dir), "\n")
			for _, w := range tc.warns {
				if !strings.Contains(got, w) {
					t.Errorf("no warning %q in:\n%s", w, got)
				}
			}
			if len(tc.warns) == 0 && strings.Contains(got, "cannot change training") {
				t.Errorf("a live param reported dead:\n%s", got)
			}
			var desc strings.Builder
			if err := spec.Describe(&desc); err != nil {
				t.Fatal(err)
			}
			if len(tc.dead) > 0 && !strings.Contains(desc.String(), "not modelled (cannot change training): "+strings.Join(tc.dead, ", ")) {
				t.Errorf("validate's sampler line does not name %v:\n%s", tc.dead, desc.String())
			}
		})
	}
}
