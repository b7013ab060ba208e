package main

import (
	"fmt"

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
	initCmd := &cobra.Command{
		Use:   "init DIR",
		Short: "Write a synthetic LoRA dataset, prompts, references and base.toml into DIR",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
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
