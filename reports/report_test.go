package reports

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"gonum.org/v1/plot/plotter"
)

var update = flag.Bool("update", false, "rewrite golden files")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (run with -update to create): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (%d bytes, want %d); rerun with -update after checking the change", name, len(got), len(want))
	}
}

// renderFixture builds the fixed sweep and renders its report, written in
// dir (image links are relative to it).
func renderFixture(t *testing.T) (string, []byte, *Data) {
	t.Helper()
	dir := t.TempDir()
	store, id := buildFixture(t, dir)
	d, err := Load(context.Background(), store, id)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := WriteHTML(&buf, d, Options{BaseDir: dir}); err != nil {
		t.Fatal(err)
	}
	return dir, buf.Bytes(), d
}

func TestReportGolden(t *testing.T) {
	dir, html, d := renderFixture(t)
	golden(t, "report.golden.html", html)

	// The same data renders the same bytes: a second load and render.
	store, id := buildFixture(t, t.TempDir())
	d2, err := Load(context.Background(), store, id)
	if err != nil {
		t.Fatal(err)
	}
	var again bytes.Buffer
	if err := WriteHTML(&again, d2, Options{BaseDir: dir}); err != nil {
		t.Fatal(err)
	}
	// Paths differ between the two temp dirs only in the missing-files list
	// and links, which both point into their own dir: compare the charts.
	if a, b := svgs(html), svgs(again.Bytes()); strings.Join(a, "") != strings.Join(b, "") {
		t.Error("charts differ between two renders of the same sweep")
	}
	if len(d.Trials) != 14 {
		t.Fatalf("loaded %d trials, want 14", len(d.Trials))
	}
}

var svgRE = regexp.MustCompile(`(?s)<svg.*?</svg>`)

func svgs(html []byte) []string {
	var out []string
	for _, m := range svgRE.FindAll(html, -1) {
		out = append(out, string(m))
	}
	return out
}

func TestChartsGolden(t *testing.T) {
	_, _, d := renderFixture(t)
	opts := Options{}.withDefaults()
	hist, err := historyChart(d, opts.MaxPoints)
	if err != nil {
		t.Fatal(err)
	}
	comps := componentCharts(d, opts.MaxPoints)
	slices := sliceCharts(d, opts.MaxPoints)
	par, err := parallelChart(d, opts.MaxLines)
	if err != nil {
		t.Fatal(err)
	}
	imp, err := importanceChart(ParamImportance(d))
	if err != nil {
		t.Fatal(err)
	}
	tl, err := timelineChart(d)
	if err != nil {
		t.Fatal(err)
	}
	charts := map[string]*Chart{"history.svg": hist, "parallel.svg": par, "importance.svg": imp, "timeline.svg": tl}
	if len(comps) != 1 {
		t.Fatalf("%d component charts, want 1 (likeness vs prompt)", len(comps))
	}
	charts["components.svg"] = &comps[0]
	for _, s := range slices {
		charts["slice-"+s.Title+".svg"] = &s
	}
	if len(slices) != 3 {
		t.Errorf("%d slice charts, want one per param (3)", len(slices))
	}
	for name, c := range charts {
		t.Run(name, func(t *testing.T) {
			if c == nil {
				t.Fatal("chart not drawn")
			}
			if !strings.HasPrefix(string(c.SVG), "<svg") {
				t.Errorf("chart does not start with <svg: %.40q", c.SVG)
			}
			golden(t, filepath.Join("charts", strings.ReplaceAll(name, "<", "_")), []byte(c.SVG))
		})
	}
}

func TestReportContent(t *testing.T) {
	dir, html, _ := renderFixture(t)
	s := string(html)
	tests := []struct {
		name string
		want string
		not  bool
	}{
		{name: "prompt escaped in grid", want: `&lt;script&gt;document.title=&#34;pwned&#34;&lt;/script&gt; zkx toy &amp; &#34;friends&#34;`},
		{name: "no raw prompt script", want: `<script>document.title`, not: true},
		{name: "log tail escaped", want: `INFO &lt;script&gt;alert(1)&lt;/script&gt; loss is nan`},
		{name: "detail escaped", want: `trainer said: &lt;b&gt;nan&lt;/b&gt;`},
		{name: "choice escaped", want: `&lt;i&gt;odd&lt;/i&gt;`},
		{name: "sweep name escaped", want: `golden &lt;sweep&gt;`},
		{name: "sample grid", want: `<table class="grid" id="sample-grid">`},
		{name: "thumbnail embedded", want: `src="data:image/png;base64,`},
		{name: "relative link", want: `href="runs/trial-0`},
		{name: "baseline row", want: `trial 0 (baseline)`},
		{name: "stop reason", want: `budget reached`},
		{name: "failure groups", want: `nan: 1 trial</h3>`},
		{name: "oom group", want: `oom: 1 trial</h3>`},
		{name: "pareto", want: `Pareto front`},
		{name: "importance method", want: `PED-ANOVA`},
		{name: "no absolute temp paths in links", want: `href="file://` + dir, not: true},
	}
	if n := strings.Count(s, "<script"); n != 1 {
		t.Errorf("report has %d script elements, want only the table's one", n)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := strings.Contains(s, tc.want); got == tc.not {
				t.Errorf("report contains %q = %v, want %v", tc.want, got, !tc.not)
			}
		})
	}
}

func TestMissingImagesListed(t *testing.T) {
	dir := t.TempDir()
	store, id := buildFixture(t, dir)
	d, err := Load(context.Background(), store, id)
	if err != nil {
		t.Fatal(err)
	}
	gone := d.Best().Samples[0].Path
	if err := os.Remove(gone); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := WriteHTML(&buf, d, Options{BaseDir: dir}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "could not be read") || !strings.Contains(buf.String(), gone) {
		t.Error("a sample file that cannot be read is not listed")
	}
}

func TestAskedTrialsMustBeLoaded(t *testing.T) {
	dir := t.TempDir()
	store, id := buildFixture(t, dir)
	d, err := Load(context.Background(), store, id)
	if err != nil {
		t.Fatal(err)
	}
	worst := d.Trials[len(d.Trials)-3].Number // a pruned trial, not detailed by default
	if err := WriteHTML(&bytes.Buffer{}, d, Options{Trials: []int{worst}}); err == nil {
		t.Fatal("WriteHTML accepted a trial whose samples were not loaded")
	}
	if err := d.LoadDetail(context.Background(), store, worst); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := WriteHTML(&buf, d, Options{Trials: []int{worst}, EpochTrials: 1}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "trial "+strconv.Itoa(worst)+"</b>") {
		t.Errorf("asked-for trial %d has no grid row", worst)
	}
	if err := d.LoadDetail(context.Background(), store, 999); err == nil {
		t.Error("LoadDetail accepted an unknown trial number")
	}
}

func TestParetoFront(t *testing.T) {
	tests := []struct {
		name string
		xys  plotter.XYs
		want []int
	}{
		{name: "single", xys: plotter.XYs{{X: 1, Y: 1}}, want: []int{0}},
		{name: "dominated", xys: plotter.XYs{{X: 1, Y: 1}, {X: 0.5, Y: 0.5}}, want: []int{0}},
		{name: "trade-off", xys: plotter.XYs{{X: 0.9, Y: 0.1}, {X: 0.1, Y: 0.9}, {X: 0.5, Y: 0.5}, {X: 0.4, Y: 0.4}}, want: []int{0, 2, 1}},
		{name: "tie on x keeps higher y", xys: plotter.XYs{{X: 0.5, Y: 0.2}, {X: 0.5, Y: 0.6}}, want: []int{1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := paretoFront(tc.xys)
			if len(got) != len(tc.want) {
				t.Fatalf("front %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("front %v, want %v", got, tc.want)
				}
			}
		})
	}
}

func TestLastLines(t *testing.T) {
	tests := []struct {
		name string
		in   string
		n    int
		want string
	}{
		{name: "keeps last", in: "a\nb\nc\n", n: 2, want: "b\nc"},
		{name: "carriage return keeps final state", in: "x\nstep 1\rstep 2\rstep 3", n: 5, want: "x\nstep 3"},
		{name: "short", in: "only", n: 3, want: "only"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := lastLines(tc.in, tc.n); got != tc.want {
				t.Errorf("lastLines = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestFileLink(t *testing.T) {
	tests := []struct {
		name, base, path, want string
	}{
		{name: "relative", base: "/r", path: "/r/runs/a b#1.png", want: "runs/a%20b%231.png"},
		{name: "parent", base: "/r/out", path: "/r/runs/x.png", want: "../runs/x.png"},
		{name: "no base", base: "", path: "/r/x.png", want: "file:///r/x.png"},
		{name: "colon first segment", base: "/r", path: "/r/c:x.png", want: "./c:x.png"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := fileLink(tc.base, tc.path); got != tc.want {
				t.Errorf("fileLink(%q, %q) = %q, want %q", tc.base, tc.path, got, tc.want)
			}
		})
	}
}
