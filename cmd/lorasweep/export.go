package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/lorasweep/lorasweep/reports"
)

func newExportCmd() *cobra.Command {
	var dsn, name, trial, format, out, outputDir, outputName, copyModel string
	cmd := &cobra.Command{
		Use:   "export --sweep NAME [--trial N|best] [--format kohya-toml|gui-json|args|csv|json]",
		Short: "Export a trial's config back to kohya, or every trial as CSV/JSON",
		Long: `Export a sweep's best trial (or --trial N) for training outside lorasweep:

  kohya-toml  a flat TOML for train_network.py --config_file: the trial's config
              exactly as trained (same epochs and LR schedule), paths absolute,
              output_dir/output_name as --output-dir/--output-name say (default:
              the base config's). Comment lines name the best epoch and its
              checkpoint.
  gui-json    a kohya_ss GUI LoRA config for "Load config".
  args        the trainer's command line (accelerate launch …) with every
              argument inline.
  csv, json   every trial: params, value, state, best epoch, files.

The best epoch's .safetensors is named on stderr; --copy-model DEST copies
it (DEST a file, or a folder to copy into as OUTPUT_NAME.safetensors). Output
goes to stdout unless --out FILE.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := reports.ParseExportFormat(format)
			if err != nil {
				return usageError{err}
			}
			number := reports.BestTrial
			if trial != "best" {
				n, err := strconv.Atoi(trial)
				if err != nil || n < 0 {
					return usageError{fmt.Errorf("--trial %q: use a trial number or best", trial)}
				}
				number = n
			}
			if copyModel != "" && !f.PerTrial() {
				return usageError{fmt.Errorf("--copy-model goes with a per-trial format (kohya-toml, gui-json, args), not %s", f)}
			}
			store, spec, id, err := openSweep(cmd, dsn, name)
			if err != nil {
				return err
			}
			defer store.Close()
			ctx := cmd.Context()
			var buf bytes.Buffer
			if !f.PerTrial() {
				list, err := reports.ListTrials(ctx, store, spec, id)
				if err != nil {
					return err
				}
				if f == reports.FormatCSV {
					err = reports.WriteTrialsCSV(&buf, spec, list)
				} else {
					err = reports.WriteTrialsJSON(&buf, list)
				}
				if err != nil {
					return err
				}
				return writeExport(cmd.OutOrStdout(), out, buf.Bytes())
			}
			ex, err := reports.LoadTrialExport(ctx, store, spec, id, reports.TrialOptions{Trial: number, OutputDir: outputDir, OutputName: outputName})
			if err != nil {
				return err
			}
			switch f {
			case reports.FormatKohyaTOML:
				data, err := ex.KohyaTOML()
				if err != nil {
					return err
				}
				buf.Write(data)
			case reports.FormatGUIJSON:
				data, err := ex.GUIJSON()
				if err != nil {
					return err
				}
				buf.Write(data)
			case reports.FormatArgs:
				self, _ := os.Executable()
				argv, err := ex.Argv(self)
				if err != nil {
					return err
				}
				buf.WriteString(reports.ShellJoin(argv))
				buf.WriteByte('\n')
			}
			if err := writeExport(cmd.OutOrStdout(), out, buf.Bytes()); err != nil {
				return err
			}
			info := cmd.ErrOrStderr()
			for _, line := range ex.Header()[:1] {
				fmt.Fprintln(info, line)
			}
			if ex.BestEpoch > 0 {
				fmt.Fprintf(info, "best epoch: %d\n", ex.BestEpoch)
			}
			if ex.BestStep > 0 {
				fmt.Fprintf(info, "best step: %d\n", ex.BestStep)
			}
			if ex.Partial != "" {
				fmt.Fprintf(info, "warning: trial %d was scored on %s of its sample images only: partial evidence\n", ex.Number, ex.Partial)
			}
			if ex.Checkpoint != "" {
				fmt.Fprintf(info, "checkpoint: %s\n", ex.Checkpoint)
			}
			for _, n := range ex.Notes {
				fmt.Fprintf(info, "note: %s\n", n)
			}
			if copyModel != "" {
				dest, err := ex.CopyCheckpoint(copyModel)
				if err != nil {
					return err
				}
				fmt.Fprintf(info, "copied checkpoint to %s\n", dest)
			}
			return nil
		},
	}
	addStorageFlag(cmd, &dsn)
	fl := cmd.Flags()
	fl.StringVar(&name, "sweep", "", "sweep name")
	fl.StringVar(&trial, "trial", "best", "trial number, or best (the best complete trial)")
	names := make([]string, len(reports.ExportFormats))
	for i, f := range reports.ExportFormats {
		names[i] = string(f)
	}
	fl.StringVar(&format, "format", string(reports.FormatKohyaTOML), "output format: "+strings.Join(names, ", "))
	fl.StringVar(&out, "out", "", "write to FILE instead of stdout (an existing file is not overwritten)")
	fl.StringVar(&outputDir, "output-dir", "", "output_dir of the exported config (default: the base config's)")
	fl.StringVar(&outputName, "output-name", "", "output_name of the exported config (default: the base config's)")
	fl.StringVar(&copyModel, "copy-model", "", "copy the best epoch's .safetensors to this file or folder")
	return cmd
}

// writeExport writes data to stdout, or to path when set, refusing to
// replace an existing file.
func writeExport(stdout io.Writer, path string, data []byte) error {
	if path == "" {
		_, err := stdout.Write(data)
		return err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("resolve --out: %w", err)
	}
	f, err := os.OpenFile(abs, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("write export: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write export: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write export: %w", err)
	}
	return nil
}
