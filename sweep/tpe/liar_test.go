package tpe_test

import (
	"testing"

	"github.com/lorasweep/lorasweep/sweep/benchfn"
)

// TestConstantLiarFewerDuplicates simulates 4 parallel workers on the 6-D
// LoRA-like function (seeds 1–10, 100 trials): with the constant liar, fewer
// proposals land within 0.05 (max-norm, scaled) of a trial still running.
func TestConstantLiarFewerDuplicates(t *testing.T) {
	p := benchfn.LoRALike()
	seeds := seedRange(1, 10)
	at := []int{50, 100}
	with := measure(t, p, seeds, at, 4, newTPE(p, true))
	without := measure(t, p, seeds, at, 4, newTPE(p, false))
	t.Logf("near-duplicates: liar %d, no liar %d; regret@100 liar %.4f ± %.4f, no liar %.4f ± %.4f",
		with.dups, without.dups, with.mean[1], with.se[1], without.mean[1], without.se[1])
	if with.dups >= without.dups {
		t.Errorf("constant liar gave %d near-duplicates, without %d", with.dups, without.dups)
	}
}
