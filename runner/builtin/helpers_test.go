package builtin

import (
	"bytes"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/lorasweep/lorasweep/kohya"
)

// demo writes the demo dataset once per test into a temp dir.
func demo(t testing.TB, reg bool) string {
	t.Helper()
	dir := t.TempDir()
	if err := InitDemo(dir, DemoOptions{WithReg: reg}); err != nil {
		t.Fatal(err)
	}
	return dir
}

type runResult struct {
	code           int
	stdout, stderr string
	outDir         string
}

// train runs Main on the demo's base.toml with overrides (and a fresh
// output_dir).
func train(t testing.TB, dir string, overrides ...string) runResult {
	t.Helper()
	out := t.TempDir()
	args := append([]string{"--config_file", filepath.Join(dir, "base.toml"), "--output_dir", out}, overrides...)
	var so, se bytes.Buffer
	code := Main(args, &so, &se)
	return runResult{code: code, stdout: so.String(), stderr: se.String(), outDir: out}
}

var avrLossRe = regexp.MustCompile(`avr_loss=([-+0-9.einfa]+)\]`)

// lastLoss is the last avr_loss on the progress bar.
func (r runResult) lastLoss(t testing.TB) float64 {
	t.Helper()
	m := avrLossRe.FindAllStringSubmatch(r.stderr, -1)
	if len(m) == 0 {
		t.Fatalf("no avr_loss in stderr:\n%s", r.stderr)
	}
	f, err := strconv.ParseFloat(m[len(m)-1][1], 64)
	if err != nil {
		t.Fatalf("avr_loss %q: %v", m[len(m)-1][1], err)
	}
	return f
}

func readPNG(t testing.TB, path string) *image.NRGBA {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	n, ok := img.(*image.NRGBA)
	if !ok {
		b := img.Bounds()
		n = image.NewNRGBA(b)
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				n.Set(x, y, img.At(x, y))
			}
		}
	}
	return n
}

// pixelMSE is the mean squared RGB difference in [0,1] units.
func pixelMSE(a, b *image.NRGBA) float64 {
	var s float64
	var n int
	for i := range a.Pix {
		if i%4 == 3 {
			continue
		}
		d := (float64(a.Pix[i]) - float64(b.Pix[i])) / 255
		s += d * d
		n++
	}
	return s / float64(n)
}

// samplesByEpoch maps epoch → prompt index → sample path.
func samplesByEpoch(t testing.TB, outDir, outName string) map[int]map[int]string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(outDir, "sample"))
	if err != nil {
		t.Fatal(err)
	}
	m := map[int]map[int]string{}
	for _, e := range entries {
		n, ok := kohya.ParseSampleName(e.Name(), outName)
		if !ok || n.ByStep {
			continue
		}
		if m[n.Epoch] == nil {
			m[n.Epoch] = map[int]string{}
		}
		m[n.Epoch][n.PromptIndex] = filepath.Join(outDir, "sample", e.Name())
	}
	return m
}

// kindErrors is the mean MSE to the references per prompt kind (trained,
// heldout, class) for one epoch's samples.
func kindErrors(t testing.TB, demoDir string, samples map[int]string) map[string]float64 {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(demoDir, "references", "kinds.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	sum, cnt := map[string]float64{}, map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n")[1:] {
		f := strings.Split(line, "\t")
		idx, _ := strconv.Atoi(f[0])
		path, ok := samples[idx]
		if !ok {
			t.Fatalf("no sample for prompt %d", idx)
		}
		ref := readPNG(t, filepath.Join(demoDir, "references", twoDigits(idx)+".png"))
		sum[f[1]] += pixelMSE(readPNG(t, path), ref)
		cnt[f[1]]++
	}
	for k := range sum {
		sum[k] /= float64(cnt[k])
	}
	return sum
}

func twoDigits(i int) string {
	s := strconv.Itoa(i)
	if len(s) < 2 {
		s = "0" + s
	}
	return s
}
