package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/lorasweep/lorasweep/reports"
)

func newReportCmd() *cobra.Command {
	var dsn, name, out string
	var top, thumb int
	var force bool
	var trials []int
	cmd := &cobra.Command{
		Use:   "report --sweep NAME [--out FILE]",
		Short: "Write a sweep's morning-after HTML report",
		Long: `Write one self-contained HTML file about a sweep: summary, ranking of every
trial, a sample grid of the best trials (and the baseline) at their best
epoch, objective components with the Pareto front, optimization history,
parameter slices, parallel coordinates and importance (PED-ANOVA), loss and
LR curves, a GPU timeline and failures with their log tails.

Images are embedded as thumbnails and link to the full-size files by a path
relative to the report, so keep the report next to the runs folder (or on a
shared filesystem) for the links to work. It opens offline.

An existing file at --out is never replaced unless --force is given.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				out = name + "-report.html"
			}
			abs, err := filepath.Abs(out)
			if err != nil {
				return fmt.Errorf("resolve --out: %w", err)
			}
			// Refuse before reading the sweep: the user learns at once.
			if err := refuseExisting(abs, force); err != nil {
				return err
			}
			store, _, id, err := openSweep(cmd, dsn, name)
			if err != nil {
				return err
			}
			defer store.Close()
			ctx := cmd.Context()
			d, err := reports.Load(ctx, store, id)
			if err != nil {
				return err
			}
			if err := d.LoadDetail(ctx, store, trials...); err != nil {
				return usageError{err}
			}
			// Write beside the target and rename: a report open in a browser
			// is never seen half-written.
			tmp, err := os.CreateTemp(filepath.Dir(abs), ".report-*.html")
			if err != nil {
				return fmt.Errorf("create report: %w", err)
			}
			defer os.Remove(tmp.Name())
			opts := reports.Options{Now: time.Now(), TopN: top, Trials: trials, ThumbPx: thumb, BaseDir: filepath.Dir(abs)}
			if err := reports.WriteHTML(tmp, d, opts); err != nil {
				tmp.Close()
				return err
			}
			if err := tmp.Close(); err != nil {
				return fmt.Errorf("write report: %w", err)
			}
			if err := os.Chmod(tmp.Name(), 0o644); err != nil {
				return fmt.Errorf("write report: %w", err)
			}
			if err := placeReport(tmp.Name(), abs, force); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s (%d trials)\n", out, len(d.Trials))
			return nil
		},
	}
	addStorageFlag(cmd, &dsn)
	cmd.Flags().StringVar(&name, "sweep", "", "sweep name")
	cmd.Flags().StringVar(&out, "out", "", "report file (default NAME-report.html)")
	cmd.Flags().IntVar(&top, "top", 6, "best trials shown in the sample grid")
	cmd.Flags().IntSliceVar(&trials, "trial", nil, "also show these trial numbers in the sample grid (repeatable)")
	cmd.Flags().IntVar(&thumb, "thumb", 128, "longest side of embedded thumbnails, in pixels")
	cmd.Flags().BoolVar(&force, "force", false, "replace the --out file if it exists")
	return cmd
}

// refuseExisting fails when path exists and force is not set, saying how
// to replace it.
func refuseExisting(path string, force bool) error {
	if force {
		return nil
	}
	if _, err := os.Lstat(path); err == nil {
		return usageError{fmt.Errorf("report: %s exists; not overwriting it (add --force to replace it, or choose another --out)", path)}
	}
	return nil
}

// placeReport moves the finished report from tmp to path: with force by a
// rename (a browser showing the old one never sees a half-written file),
// else by a hard link, which fails rather than replace a file that appeared
// meanwhile. Where hard links are not supported it renames after checking
// again.
func placeReport(tmp, path string, force bool) error {
	if force {
		if err := os.Rename(tmp, path); err != nil {
			return fmt.Errorf("write report: %w", err)
		}
		return nil
	}
	err := os.Link(tmp, path)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, fs.ErrExist):
		return refuseExisting(path, false)
	}
	if err := refuseExisting(path, false); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}
