package bench

import (
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/lorasweep/lorasweep/reports"
	"github.com/lorasweep/lorasweep/storage"
)

// reportSpec is a sweep whose trainer does no work: it copies one sample
// image into its output folder and prints a loss, so a sweep of thousands of
// trials is stored exactly as `run` stores any sweep (trials, runs, epochs,
// samples, metrics) in minutes.
const reportSpec = `name: %s
storage: sqlite://./sweep.db
output_root: ./runs
trainer:
  kind: command
  command: [sh, -c, "echo 'epoch 1/1'; cp %s {output_dir}/sample-e1.png; echo 'step 1 loss={x}'"]
  epoch_regex: 'epoch (\d+)/(\d+)'
  loss_regex: 'step (?P<step>\d+) loss=(?P<loss>[0-9.eE+-]+)'
  sample_glob: '*.png'
search:
  x: {float: [0.0, 1.0]}
  y: {float: [1.0e-5, 1.0e-2], log: true}
  z: {choice: [constant, cosine, cosine_with_restarts]}
sampler: {kind: tpe, seed: 1}
objective:
  direction: minimize
  scorers:
    - {kind: loss, stat: final}
budget: {trials: %d, parallel: 2}
gpus: none
`

// ReportPoint is one sweep size's measurements.
type ReportPoint struct {
	Trials int `json:"trials"`
	// Run and Report are the `lorasweep run` and `lorasweep report`
	// processes: wall time and peak RSS.
	Run    ProcStat `json:"run"`
	Report ProcStat `json:"report"`
	// Bytes is the HTML file's size.
	Bytes int64 `json:"bytes"`
	// LoadSeconds and BuildSeconds split the report in-process:
	// reports.Load (reading the sweep) and reports.WriteHTML (charts,
	// thumbnails, HTML).
	LoadSeconds  float64 `json:"load_s"`
	BuildSeconds float64 `json:"build_s"`
}

// Report is study 6: a real sweep of 1,000 and 5,000 trials (quick: 200 and
// 1,000) run by `lorasweep run` with a trainer that does no work, then
// `lorasweep report` on it: the report's build time and size, and the peak
// RSS of both commands; plus reports.Load and WriteHTML timed in-process.
func Report(ctx context.Context, c Config) (Result, error) {
	if c.Lorasweep == "" {
		return Result{}, fmt.Errorf("--lorasweep BINARY is required for the report study")
	}
	sizes := []int{1000, 5000}
	if c.Quick {
		sizes = []int{200, 1000}
	}
	sample := filepath.Join(c.WorkDir, "report-sample.png")
	if err := writeSamplePNG(sample, 512); err != nil {
		return Result{}, err
	}
	var raw []ReportPoint
	t := Table{
		Title: "Report: build time, size and peak memory",
		Note: "A sweep of N trials run by `lorasweep run` (command trainer that only copies one 512 px sample and prints a loss; TPE, 3 params, 2 slots, SQLite), " +
			"then `lorasweep report` on it. Wall times and peak RSS (the process's own VmHWM, polled every 20 ms) of each process; load/build: reports.Load and reports.WriteHTML timed in-process.",
		Header: []string{"trials", "`run` wall", "`run` peak RSS", "`report` wall", "`report` peak RSS", "load", "build", "HTML size"},
	}
	for _, n := range sizes {
		name := fmt.Sprintf("report-%d", n)
		dir := filepath.Join(c.WorkDir, name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return Result{}, fmt.Errorf("create sweep directory: %w", err)
		}
		if err := os.WriteFile(filepath.Join(dir, "sweep.yaml"), []byte(fmt.Sprintf(reportSpec, name, sample, n)), 0o644); err != nil {
			return Result{}, fmt.Errorf("write spec: %w", err)
		}
		pt := ReportPoint{Trials: n}
		var err error
		if pt.Run, err = measureCmd(ctx, dir, c.Lorasweep, "run", "sweep.yaml"); err != nil {
			return Result{}, err
		}
		if pt.Report, err = measureCmd(ctx, dir, c.Lorasweep, "report", "--storage", "sqlite://./sweep.db", "--sweep", name, "--out", "report.html"); err != nil {
			return Result{}, err
		}
		fi, err := os.Stat(filepath.Join(dir, "report.html"))
		if err != nil {
			return Result{}, fmt.Errorf("stat report: %w", err)
		}
		pt.Bytes = fi.Size()
		if pt.LoadSeconds, pt.BuildSeconds, err = timeReport(ctx, dir, name); err != nil {
			return Result{}, err
		}
		raw = append(raw, pt)
		t.Rows = append(t.Rows, []string{strconv.Itoa(n),
			fmt.Sprintf("%.0f s", pt.Run.WallSeconds), fmt.Sprintf("%.0f MB", float64(pt.Run.PeakRSSKB)/1024),
			fmt.Sprintf("%.2f s", pt.Report.WallSeconds), fmt.Sprintf("%.0f MB", float64(pt.Report.PeakRSSKB)/1024),
			fmt.Sprintf("%.2f s", pt.LoadSeconds), fmt.Sprintf("%.2f s", pt.BuildSeconds),
			fmt.Sprintf("%.2f MB", float64(pt.Bytes)/1e6)})
	}
	return Result{Study: "report", Tables: []Table{t}, Raw: raw}, nil
}

// timeReport reads the sweep in dir and builds its report in-process, as
// `lorasweep report` does, timing the two halves.
func timeReport(ctx context.Context, dir, name string) (load, build float64, err error) {
	store, err := storage.Open(ctx, "sqlite://"+filepath.Join(dir, "sweep.db"))
	if err != nil {
		return 0, 0, err
	}
	defer store.Close()
	id, err := store.GetStudyIDFromName(name)
	if err != nil {
		return 0, 0, fmt.Errorf("find sweep %s: %w", name, err)
	}
	t0 := time.Now()
	d, err := reports.Load(ctx, store, id)
	if err != nil {
		return 0, 0, err
	}
	if err := d.LoadDetail(ctx, store); err != nil {
		return 0, 0, err
	}
	load = time.Since(t0).Seconds()
	t0 = time.Now()
	if err := reports.WriteHTML(io.Discard, d, reports.Options{Now: time.Now(), BaseDir: dir}); err != nil {
		return 0, 0, fmt.Errorf("build report: %w", err)
	}
	return load, time.Since(t0).Seconds(), nil
}

// writeSamplePNG writes a px×px image with smooth gradients and some noise,
// so it compresses about as a rendered sample does.
func writeSamplePNG(path string, px int) error {
	img := image.NewRGBA(image.Rect(0, 0, px, px))
	r := rand.New(rand.NewPCG(1, 2))
	for y := 0; y < px; y++ {
		for x := 0; x < px; x++ {
			n := uint8(r.IntN(24))
			img.Set(x, y, color.RGBA{uint8(x*255/px) + n, uint8(y*255/px) + n, uint8((x+y)*127/px) + n, 255})
		}
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("write sample: %w", err)
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return fmt.Errorf("write sample: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write sample: %w", err)
	}
	return nil
}
