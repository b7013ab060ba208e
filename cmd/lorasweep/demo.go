package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/lorasweep/lorasweep/runner/builtin"
)

// newDemoCmd is `lorasweep demo`: `init DIR` writes the synthetic dataset the
// quickstart trains on; `render` re-renders samples from a saved LoRA.
func newDemoCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Create the demo dataset and re-render samples of the built-in trainer",
	}
	var opts builtin.DemoOptions
	var force bool
	initCmd := &cobra.Command{
		Use:   "init DIR",
		Short: "Write a synthetic LoRA dataset, prompts, references and base.toml into DIR",
		Long: `Write a synthetic LoRA dataset, prompts, references and base.toml into DIR.

DIR must be new or empty: files already there (a README.txt, prompts,
references of your own) are never replaced unless --force is given.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !force {
				if err := refuseNonEmpty(args[0]); err != nil {
					return err
				}
			}
			if err := builtin.InitDemo(args[0], opts); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "demo dataset written to %s (see README.txt)\n", args[0])
			return nil
		},
	}
	initCmd.Flags().BoolVar(&opts.WithReg, "reg", false, "also write regularisation (class) images")
	initCmd.Flags().StringVar(&opts.Trigger, "trigger", "", "trigger word of the subject (default zkx)")
	initCmd.Flags().StringVar(&opts.Class, "class", "", "class word of the subject (default toy)")
	initCmd.Flags().IntVar(&opts.Images, "images", 0, "number of training images (default 8)")
	initCmd.Flags().Int64Var(&opts.Seed, "seed", 0, "seed of the dataset's randomness (default 1)")
	initCmd.Flags().BoolVar(&force, "force", false, "write into DIR even if it has files (the demo's own files there are replaced)")

	var lora, prompts, out string
	renderCmd := &cobra.Command{
		Use:   "render --lora FILE --prompts FILE --out DIR",
		Short: "Render sample prompts from the built-in base model plus a saved LoRA",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			paths, err := builtin.Render(lora, prompts, out)
			if err != nil {
				return err
			}
			for _, p := range paths {
				fmt.Fprintln(cmd.OutOrStdout(), p)
			}
			return nil
		},
	}
	renderCmd.Flags().StringVar(&lora, "lora", "", "LoRA .safetensors written by the built-in trainer")
	renderCmd.Flags().StringVar(&prompts, "prompts", "", "sample prompt file (.txt, .toml or .json)")
	renderCmd.Flags().StringVar(&out, "out", "", "output directory for the PNGs")
	for _, f := range []string{"lora", "prompts", "out"} {
		_ = renderCmd.MarkFlagRequired(f)
	}
	cmd.AddCommand(initCmd, renderCmd)
	return cmd
}

// refuseNonEmpty fails when dir exists and holds anything (or is not a
// folder), naming a few of its entries and how to go ahead anyway.
func refuseNonEmpty(dir string) error {
	fi, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("demo init: %w", err)
	}
	if !fi.IsDir() {
		return usageError{fmt.Errorf("demo init: %s is a file, not a folder", dir)}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("demo init: %w", err)
	}
	if len(entries) == 0 {
		return nil
	}
	var names []string
	for _, e := range entries[:min(len(entries), 3)] {
		names = append(names, e.Name())
	}
	more := ""
	if len(entries) > 3 {
		more = fmt.Sprintf(" and %d more", len(entries)-3)
	}
	return usageError{fmt.Errorf("demo init: %s is not empty (%s%s); not writing over what is there (choose a new folder, or add --force to write the demo's files into it, replacing any of the same names)",
		dir, strings.Join(names, ", "), more)}
}
