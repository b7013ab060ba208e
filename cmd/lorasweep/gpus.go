package main

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/lorasweep/lorasweep/runner"
)

// newGPUsCmd is `lorasweep gpus`: what nvidia-smi reports and which slots a
// sweep with these settings would use.
func newGPUsCmd() *cobra.Command {
	var (
		gpus, trainer, nvidiaSMI string
		perGPU, perTrial, par    int
		asJSON                   bool
	)
	cmd := &cobra.Command{
		Use:   "gpus",
		Short: "Show the GPUs found and the slots a sweep would use",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			spec := runner.GPUSpec{Mode: gpus, PerGPU: perGPU, PerTrial: perTrial}
			if gpus != runner.GPUsAuto && gpus != runner.GPUsNone {
				spec.Mode = runner.GPUsList
				for _, f := range strings.Split(strings.Trim(gpus, "[] "), ",") {
					id, err := strconv.Atoi(strings.TrimSpace(f))
					if err != nil {
						return fmt.Errorf("--gpus %q: want auto, none or a list of ids such as 0,2", gpus)
					}
					spec.IDs = append(spec.IDs, id)
				}
			}
			pool, err := runner.NewPool(cmd.Context(), runner.PoolConfig{
				Trainer: runner.TrainerSpec{Kind: trainer}, GPUs: spec, Parallel: par, NvidiaSMI: nvidiaSMI,
			})
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(w)
				enc.SetIndent("", "  ")
				return enc.Encode(map[string]any{"found": pool.Found(), "slots": pool.Slots(), "notes": pool.Notes()})
			}
			found := pool.Found()
			if len(found) == 0 {
				fmt.Fprintln(w, "GPUs found: none")
			} else {
				fmt.Fprintln(w, "GPUs found:")
				for _, g := range found {
					fmt.Fprintf(w, "  %d  %-28s %6d / %6d MiB used  %s\n", g.Index, g.Name, g.MemoryUsedMiB, g.MemoryTotalMiB, g.UUID)
				}
			}
			for _, n := range pool.Notes() {
				fmt.Fprintln(w, "note:", n)
			}
			fmt.Fprintf(w, "Slots (%d trials at once):\n", len(pool.Slots()))
			for _, s := range pool.Slots() {
				env := "CUDA_VISIBLE_DEVICES=" + strings.Join(s.GPUs, ",")
				if s.CPU {
					env = "CUDA_VISIBLE_DEVICES= (CPU)"
				}
				fmt.Fprintf(w, "  slot %d  %s\n", s.Slot, env)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&gpus, "gpus", "auto", "auto, none, or a list of nvidia-smi indexes such as 0,2")
	f.IntVar(&perGPU, "per-gpu", 1, "trials sharing one card")
	f.IntVar(&perTrial, "gpus-per-trial", 1, "cards leased together for one trial")
	f.IntVar(&par, "parallel", 0, "cap on trials at once (0 = one per slot)")
	f.StringVar(&trainer, "trainer", runner.KindKohya, "trainer kind: kohya, builtin or command (builtin always uses CPU slots)")
	f.StringVar(&nvidiaSMI, "nvidia-smi", "nvidia-smi", "nvidia-smi binary")
	f.BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
