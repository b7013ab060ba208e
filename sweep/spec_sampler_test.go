package sweep

import (
	"strings"
	"testing"
)

// The sampler block's defaults are the measured best (local startup, 25
// startup trials, univariate) and validate's description names them; the
// switches turn them off or on, and belong to tpe only.
func TestSamplerFeatures(t *testing.T) {
	for _, c := range []struct {
		name, sampler string
		want          []string
		err           string
	}{
		{"defaults", "", []string{"25 startup trials near the best so far", "univariate", "constant liar on"}, ""},
		{"local off", "sampler: {kind: tpe, local_startup: false}\n", []string{"10 random startup trials", "univariate"}, ""},
		{"multivariate", "sampler: {kind: tpe, multivariate: true, startup_trials: 12}\n", []string{"12 startup trials near the best so far", "multivariate"}, ""},
		{"tpe only", "sampler: {kind: random, multivariate: true}\n", nil, "multivariate applies to the tpe sampler only"},
	} {
		t.Run(c.name, func(t *testing.T) {
			path, _ := writeSpec(t, minimal+c.sampler, nil)
			spec, err := ParseSpecFile(path)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err %v, want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			if err := spec.Describe(&b); err != nil {
				t.Fatal(err)
			}
			for _, w := range c.want {
				if !strings.Contains(b.String(), w) {
					t.Errorf("describe lacks %q:\n%s", w, b.String())
				}
			}
		})
	}
}
