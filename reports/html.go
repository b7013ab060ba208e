package reports

import (
	"bufio"
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/c-bata/goptuna"
	"gonum.org/v1/plot/plotter"

	"github.com/lorasweep/lorasweep/kohya"
	"github.com/lorasweep/lorasweep/objective"
	"github.com/lorasweep/lorasweep/sweep"
)

// Options shape a report. The zero value is usable.
type Options struct {
	// Now is printed as the report's "generated" time; zero prints none
	// (golden tests and reproducible builds leave it zero).
	Now time.Time
	// TopN is how many of the best trials get a sample-grid row (default 6);
	// the baseline always gets one.
	TopN int
	// Trials are trial numbers also shown in the sample grid (they must have
	// been read in full: Load reads the best few, LoadDetail the rest).
	Trials []int
	// EpochTrials is how many grid rows get an epochs-side-by-side view
	// (default 3).
	EpochTrials int
	// ThumbPx is the longest side of an embedded thumbnail (default 128).
	ThumbPx int
	// BaseDir is the folder the report is written to: links to full-size
	// images are relative to it. Empty: links are file:// URLs.
	BaseDir string
	// MaxPoints caps the points of each dense chart (default 1500).
	MaxPoints int
	// MaxLines caps the parallel-coordinates lines (default 300).
	MaxLines int
	// CurveTrials is how many of the best trials get loss and LR curves
	// (default 5).
	CurveTrials int
	// LogTailLines is how many lines of a failed trial's log tail are shown
	// (default 15); TailsPerReason how many failed trials per reason show
	// theirs (default 5).
	LogTailLines   int
	TailsPerReason int
}

func (o Options) withDefaults() Options {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.TopN, 6)
	def(&o.EpochTrials, 3)
	def(&o.ThumbPx, 128)
	def(&o.MaxPoints, 1500)
	def(&o.MaxLines, 300)
	def(&o.CurveTrials, 5)
	def(&o.LogTailLines, 15)
	def(&o.TailsPerReason, 5)
	return o
}

//go:embed report.html.tmpl
var reportTemplate string

// page is what the template renders.
type page struct {
	Title       string
	Generated   string
	Summary     []kv
	Best        *bestView
	Params      []string
	Rows        []rowView
	Prompts     []promptView
	Grid        []gridRow
	Missing     []string
	Charts      map[string]*Chart
	Components  []Chart
	Slices      []Chart
	Importance  []Importance
	Curves      []Chart
	Failures    []failureGroup
	Rated       []ratedView
	Notes       []string
	StateCounts string
}

type kv struct{ K, V string }

type bestView struct {
	Number   int
	Value    string
	Epoch    string
	Baseline string
	Delta    string
	Params   []kv
}

type rowView struct {
	Rank     int
	Number   int
	State    string
	Value    string
	ValueKey string
	Epoch    string
	EpochKey string
	Params   []string
	Duration string
	DurKey   string
	Note     string
	Class    string
}

type promptView struct {
	Index int
	Text  string
}

type cell struct {
	Thumb template.URL
	Href  string
	Title string
}

type epochRow struct {
	// Label is the candidate ("epoch 2", "step 1600"); State "partial
	// k/n" or "unscorable" when it was not scored on all its images.
	Label string
	Value string
	State string
	Best  bool
	Cells []cell
}

type gridRow struct {
	Number int
	Label  string
	Value  string
	Epoch  string
	Cells  []cell
	Epochs []epochRow
}

type failureGroup struct {
	Reason string
	Count  int
	Trials string
	Tails  []tailView
}

type tailView struct {
	Number int
	Detail string
	Tail   string
}

// WriteHTML renders d as one self-contained HTML page: every image a
// thumbnail embedded as a data URL (linked to the full-size file), every
// chart inline SVG, a few lines of script for sorting and filtering the
// ranking table. All user text is escaped. The same data and options give
// the same bytes.
func WriteHTML(w io.Writer, d *Data, opts Options) error {
	opts = opts.withDefaults()
	tmpl, err := template.New("report").Funcs(template.FuncMap{"pct": func(v float64) string {
		return strconv.FormatFloat(100*v, 'f', 1, 64) + "%"
	}}).Parse(reportTemplate)
	if err != nil {
		return fmt.Errorf("parse report template: %w", err)
	}
	pg, err := buildPage(d, opts)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(w, 1<<16)
	if err := tmpl.Execute(bw, pg); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

func fmtValue(v *float64) string {
	if v == nil {
		return "–"
	}
	return strconv.FormatFloat(*v, 'g', 5, 64)
}

func fmtDuration(s float64) string {
	if s <= 0 {
		return "–"
	}
	return (time.Duration(s*1e3) * time.Millisecond).Round(100 * time.Millisecond).String()
}

func buildPage(d *Data, opts Options) (*page, error) {
	pg := &page{Title: d.Sweep, Charts: map[string]*Chart{}}
	if !opts.Now.IsZero() {
		pg.Generated = opts.Now.Format(time.RFC3339)
	}
	buildSummary(pg, d)
	buildTable(pg, d)
	if err := buildGrid(pg, d, opts); err != nil {
		return nil, err
	}
	buildCharts(pg, d, opts)
	buildFailures(pg, d, opts)
	buildRatings(pg, d)
	return pg, nil
}

// ratedView is one trial of the human-ratings view.
type ratedView struct {
	Place     int
	Number    int
	Value     string
	Rating    string
	Stars     string
	Picks     string
	Judgement int
}

// buildRatings ranks the rated trials by their human rating (0..1, as the
// rating scorer computes it), ties by stored value. It is a view of its
// own: the stored values and the main ranking are never changed by it.
func buildRatings(pg *page, d *Data) {
	if len(d.Ratings) == 0 {
		return
	}
	num := make(map[int]int, len(d.Trials))
	byNumber := make(map[int]*Trial, len(d.Trials))
	for i := range d.Trials {
		num[d.Trials[i].ID] = d.Trials[i].Number
		byNumber[d.Trials[i].Number] = &d.Trials[i]
	}
	ratings := ratingsByNumber(num, d.Ratings)
	type rated struct {
		number, n int
		score     float64
	}
	var list []rated
	for n, vals := range ratings {
		score, k := objective.RatingScore(vals)
		if k > 0 {
			list = append(list, rated{n, k, score})
		}
	}
	maximize := d.Direction != goptuna.StudyDirectionMinimize
	value := func(n int) (float64, bool) {
		if t := byNumber[n]; t != nil && t.Value != nil {
			if maximize {
				return *t.Value, true
			}
			return -*t.Value, true
		}
		return 0, false
	}
	sort.Slice(list, func(i, j int) bool {
		a, b := list[i], list[j]
		if a.score != b.score {
			return a.score > b.score
		}
		va, oka := value(a.number)
		vb, okb := value(b.number)
		if oka != okb {
			return oka
		}
		if va != vb {
			return va > vb
		}
		return a.number < b.number
	})
	for i, r := range list {
		stars, nStars, wins, games := ratings.summary(r.number)
		v := ratedView{Place: i + 1, Number: r.number, Rating: strconv.FormatFloat(r.score, 'f', 2, 64), Judgement: r.n,
			Value: "-", Stars: "-", Picks: "-"}
		if t := byNumber[r.number]; t != nil {
			v.Value = fmtValue(t.Value)
		}
		if nStars > 0 {
			v.Stars = fmt.Sprintf("%.1f (%d)", stars, nStars)
		}
		if games > 0 {
			v.Picks = fmt.Sprintf("%d of %d", wins, games)
		}
		pg.Rated = append(pg.Rated, v)
	}
}

func buildSummary(pg *page, d *Data) {
	counts := map[string]int{}
	for _, t := range d.Trials {
		counts[t.State]++
	}
	var parts []string
	for _, s := range []string{"complete", "pruned", "fail", "running", "waiting"} {
		if counts[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[s], s))
		}
	}
	pg.StateCounts = strings.Join(parts, ", ")
	add := func(k, v string) { pg.Summary = append(pg.Summary, kv{k, v}) }
	add("sweep", d.Sweep)
	if s := d.Spec; s != nil {
		tr := s.Trainer.Kind
		if s.Trainer.Script != "" {
			tr += " (" + s.Trainer.Script + ")"
		}
		add("trainer", tr)
		b := fmt.Sprintf("%d trials", s.Budget.Trials)
		if s.Budget.Trials <= 0 {
			b = "unlimited trials"
		}
		if s.Budget.Parallel > 0 {
			b += fmt.Sprintf(", %d at a time", s.Budget.Parallel)
		}
		if s.Budget.Deadline != "" {
			b += ", deadline " + s.Budget.Deadline
		}
		add("budget", b)
		add("objective", objectiveText(s))
		add("sampler / pruner", s.Sampler.Kind+" / "+orNone(s.Pruner.Kind))
	}
	add("trials", fmt.Sprintf("%d (%s)", len(d.Trials), pg.StateCounts))
	stop := d.StopReason
	if stop == "" {
		stop = "not recorded (still running, or stopped abruptly)"
	}
	add("stop reason", stop)
	if !d.FirstStart.IsZero() {
		add("started", d.FirstStart.UTC().Format(time.RFC3339))
	}
	best := d.Best()
	if best == nil {
		return
	}
	bv := &bestView{Number: best.Number, Value: fmtValue(best.Value) + lossNote(d, best), Epoch: orDash(best.BestLabel())}
	if base := d.Baseline(); base != nil && base.Value != nil && base.Number != best.Number {
		bv.Baseline = fmt.Sprintf("trial %d: %s", base.Number, fmtValue(base.Value))
		diff := *best.Value - *base.Value
		bv.Delta = fmt.Sprintf("%+.4g", diff)
		if *base.Value != 0 {
			bv.Delta += fmt.Sprintf(" (%+.1f%%)", 100*diff/math.Abs(*base.Value))
		}
	} else if base != nil && base.Number == best.Number {
		bv.Baseline = "the baseline is the best trial"
	} else if base != nil {
		bv.Baseline = fmt.Sprintf("trial %d has no value (%s)", base.Number, orNone(base.Reason))
	}
	for _, name := range d.ParamNames() {
		if v, ok := d.Spec.FormatTrainedParam(best.searched(), name); ok {
			bv.Params = append(bv.Params, kv{name, v})
		}
	}
	pg.Best = bv
}

func objectiveText(s *sweep.Spec) string {
	var parts []string
	for _, sc := range s.Objective.Scorers {
		name := sc.Name
		if name == "" {
			name = sc.Kind
		}
		parts = append(parts, fmt.Sprintf("%s×%g", name, sc.Weight))
	}
	return s.Objective.Direction + " " + strings.Join(parts, " + ")
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

func buildTable(pg *page, d *Data) {
	pg.Params = d.ParamNames()
	pg.Rows = make([]rowView, len(d.Trials))
	for i, t := range d.Trials {
		r := rowView{Rank: i + 1, Number: t.Number, State: t.State, Value: fmtValue(t.Value),
			Epoch: orDash(t.BestLabel()), Duration: fmtDuration(t.Duration), Class: t.State}
		if t.Value != nil {
			r.ValueKey = strconv.FormatFloat(*t.Value, 'g', -1, 64)
		}
		r.DurKey = strconv.FormatFloat(t.Duration, 'f', 1, 64)
		if c, ok := bestOf(&d.Trials[i]); ok {
			r.EpochKey = strconv.Itoa(c.epoch + c.step)
		}
		r.Params = make([]string, len(pg.Params))
		for k, name := range pg.Params {
			r.Params[k], _ = d.Spec.FormatTrainedParam(t.searched(), name)
		}
		notes := sweep.TrialNotes(t.TrialRow)
		if t.Baseline {
			r.Class += " baseline"
		}
		if t.OlderObjective {
			r.Class += " older"
		}
		if t.Partial != "" {
			r.Class += " partial"
		}
		r.Note = strings.Join(notes, ", ")
		pg.Rows[i] = r
	}
}

// gridTrials picks the grid's rows: the TopN best trials that have
// samples, the baseline, then the ones asked for, without repeats.
func gridTrials(d *Data, opts Options) []*Trial {
	var out []*Trial
	seen := map[int]bool{}
	add := func(t *Trial) {
		if t != nil && !seen[t.Number] && len(t.Samples) > 0 {
			seen[t.Number] = true
			out = append(out, t)
		}
	}
	n := 0
	for i := range d.Trials {
		t := &d.Trials[i]
		if n >= opts.TopN || t.Value == nil {
			break
		}
		if len(t.Samples) > 0 && !t.Baseline {
			add(t)
			n++
		}
	}
	add(d.Baseline())
	for _, num := range opts.Trials {
		add(d.Trial(num))
	}
	return out
}

// candidate names an epoch (step 0) or a step candidate (epoch 0).
type candidate struct{ epoch, step int }

func (c candidate) label() string { return sweep.CandidateLabel(c.epoch, c.step) }

func sampleCandidate(s sweep.SampleRecord) candidate { return candidate{s.Epoch, s.Step} }

// bestOf is the trial's best candidate; ok is false without one.
func bestOf(t *Trial) (candidate, bool) {
	switch {
	case t.BestStep != nil:
		return candidate{0, *t.BestStep}, true
	case t.BestEpoch != nil:
		return candidate{*t.BestEpoch, 0}, true
	}
	return candidate{}, false
}

// samplesAt returns one sample per prompt index at a candidate: the lowest
// seed (samples are ordered by candidate, prompt index, seed).
func samplesAt(t *Trial, c candidate) map[int]sweep.SampleRecord {
	out := map[int]sweep.SampleRecord{}
	for _, s := range t.Samples {
		if sampleCandidate(s) != c {
			continue
		}
		if _, ok := out[s.PromptIndex]; !ok {
			out[s.PromptIndex] = s
		}
	}
	return out
}

func buildGrid(pg *page, d *Data, opts Options) error {
	for _, n := range opts.Trials {
		t := d.Trial(n)
		if t == nil {
			return fmt.Errorf("report trial %d: no such trial in sweep %q", n, d.Sweep)
		}
		if !t.Detailed {
			return fmt.Errorf("report trial %d: its samples were not loaded (call LoadDetail)", n)
		}
	}
	rows := gridTrials(d, opts)
	prompts := map[int]string{}
	for _, t := range rows {
		for _, s := range t.Samples {
			if _, ok := prompts[s.PromptIndex]; !ok {
				prompts[s.PromptIndex] = s.Prompt
			}
		}
	}
	for i, p := range prompts {
		pg.Prompts = append(pg.Prompts, promptView{Index: i, Text: p})
	}
	sort.Slice(pg.Prompts, func(i, j int) bool { return pg.Prompts[i].Index < pg.Prompts[j].Index })
	th := newThumbnailer(opts.ThumbPx)
	cells := func(t *Trial, c candidate) []cell {
		at := samplesAt(t, c)
		out := make([]cell, len(pg.Prompts))
		for k, p := range pg.Prompts {
			s, ok := at[p.Index]
			if !ok {
				continue
			}
			out[k] = cell{Thumb: th.thumb(s.Path), Href: fileLink(opts.BaseDir, s.Path),
				Title: fmt.Sprintf("trial %d, %s, seed %d: %s", t.Number, sampleCandidate(s).label(), s.Seed, s.Prompt)}
		}
		return out
	}
	// Encode every thumbnail the grid needs up front, in parallel.
	var paths []string
	for i, t := range rows {
		best, hasBest := bestOf(t)
		for _, s := range t.Samples {
			if (hasBest && sampleCandidate(s) == best) || i < opts.EpochTrials || t.Baseline {
				paths = append(paths, s.Path)
			}
		}
	}
	th.prefetch(paths)
	for i, t := range rows {
		epochs := sampleCandidates(t)
		show, ok := bestOf(t)
		if !ok && len(epochs) > 0 {
			show = epochs[len(epochs)-1]
		}
		g := gridRow{Number: t.Number, Value: fmtValue(t.Value) + lossNote(d, t), Epoch: show.label(), Cells: cells(t, show)}
		if t.Partial != "" {
			g.Epoch += " partial " + t.Partial
		}
		g.Label = fmt.Sprintf("trial %d", t.Number)
		if t.Baseline {
			g.Label += " (baseline)"
		}
		if i < opts.EpochTrials || t.Baseline {
			recs := map[candidate]sweep.EpochRecord{}
			for _, e := range t.Epochs {
				recs[candidate{e.Epoch, e.Step}] = e
			}
			for _, c := range epochs {
				e := recs[c]
				g.Epochs = append(g.Epochs, epochRow{Label: c.label(), Value: fmtValue(e.Value), State: candidateState(e),
					Best: c == show, Cells: cells(t, c)})
			}
		}
		pg.Grid = append(pg.Grid, g)
	}
	for p := range th.missing {
		pg.Missing = append(pg.Missing, p)
	}
	sort.Strings(pg.Missing)
	return nil
}

// sampleCandidates lists the candidates a trial has samples of in
// schedule order: epochs, then steps.
func sampleCandidates(t *Trial) []candidate {
	seen := map[candidate]bool{}
	var out []candidate
	for _, s := range t.Samples {
		if c := sampleCandidate(s); !seen[c] {
			seen[c] = true
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if (a.step > 0) != (b.step > 0) {
			return b.step > 0
		}
		if a.epoch != b.epoch {
			return a.epoch < b.epoch
		}
		return a.step < b.step
	})
	return out
}

// candidateState is how a candidate was scored, for its row: "" when on
// all its images, "partial k/n", or "unscorable" with the reason.
func candidateState(e sweep.EpochRecord) string {
	switch {
	case e.Unscorable && e.Reason != "":
		return "unscorable: " + e.Reason
	case e.Unscorable:
		return "unscorable"
	}
	return e.Completeness()
}

func containsTrial(ts []*Trial, t *Trial) bool {
	for _, x := range ts {
		if x.Number == t.Number {
			return true
		}
	}
	return false
}

// thinXYs keeps at most n points, evenly spaced, always the last.
func thinXYs(xys plotter.XYs, n int) plotter.XYs {
	if len(xys) <= n {
		return xys
	}
	out := make(plotter.XYs, 0, n+1)
	step := float64(len(xys)) / float64(n)
	for k := 0; k < n; k++ {
		out = append(out, xys[int(float64(k)*step)])
	}
	if last := xys[len(xys)-1]; out[len(out)-1] != last {
		out = append(out, last)
	}
	return out
}

// lrCurve is the trial's learning rate by step: recorded values when the
// trainer printed them, otherwise kohya's schedule over the trial's config.
// The total step count is the last recorded step scaled up by the share of
// the schedule the trial completed (pruned trials stop early).
func lrCurve(d *Data, t *Trial) plotter.XYs {
	var rec plotter.XYs
	for _, m := range t.Metrics {
		if m.LR > 0 && !math.IsInf(m.LR, 0) {
			rec = append(rec, plotter.XY{X: float64(m.Step), Y: m.LR})
		}
	}
	if len(rec) > 0 || d.Spec == nil || len(t.Metrics) == 0 {
		return rec
	}
	cfg := d.Spec.TrialConfig(t.searched())
	last := t.Metrics[len(t.Metrics)-1].Step
	total := last
	frac := 0.0
	for _, e := range t.Epochs {
		frac = math.Max(frac, e.Fraction)
	}
	if t.State != "complete" && frac > 0 && frac < 1 {
		total = int(math.Round(float64(last) / frac))
	}
	lr := cfgFloat(cfg, "unet_lr")
	if lr <= 0 {
		lr = cfgFloat(cfg, "learning_rate")
	}
	name, _ := cfg["lr_scheduler"].(string)
	if name == "" {
		name = "constant"
	}
	warm, err := kohya.ResolveWarmup(cfg["lr_warmup_steps"], total)
	if err != nil {
		return nil
	}
	s := kohya.Schedule{Name: name, Total: total, Warmup: warm, Cycles: int(cfgFloat(cfg, "lr_scheduler_num_cycles")),
		Power: cfgFloat(cfg, "lr_scheduler_power"), MinLRRatio: cfgFloat(cfg, "lr_scheduler_min_lr_ratio"), LRInit: lr}
	if s.Cycles <= 0 {
		s.Cycles = 1
	}
	if s.Power == 0 {
		s.Power = 1
	}
	var out plotter.XYs
	for _, m := range t.Metrics {
		f, err := s.Factor(m.Step - 1)
		if err != nil {
			return nil
		}
		out = append(out, plotter.XY{X: float64(m.Step), Y: lr * f})
	}
	return out
}

func cfgFloat(cfg map[string]any, key string) float64 {
	f, _ := toFloat(cfg[key])
	return f
}

func buildFailures(pg *page, d *Data, opts Options) {
	groups := map[string]*failureGroup{}
	var order []string
	for i := range d.Trials {
		t := &d.Trials[i]
		if t.State != "fail" {
			continue
		}
		reason := orNone(t.Reason)
		if t.Reason == "" && t.Run != nil && t.Run.Reason != "" {
			reason = t.Run.Reason
		}
		g := groups[reason]
		if g == nil {
			g = &failureGroup{Reason: reason}
			groups[reason] = g
			order = append(order, reason)
		}
		g.Count++
		if g.Trials != "" {
			g.Trials += ", "
		}
		g.Trials += strconv.Itoa(t.Number)
		if len(g.Tails) < opts.TailsPerReason && t.Run != nil {
			g.Tails = append(g.Tails, tailView{Number: t.Number, Detail: t.Run.Detail, Tail: lastLines(t.Run.LogTail, opts.LogTailLines)})
		}
	}
	sort.SliceStable(order, func(i, j int) bool {
		if groups[order[i]].Count != groups[order[j]].Count {
			return groups[order[i]].Count > groups[order[j]].Count
		}
		return order[i] < order[j]
	})
	for _, r := range order {
		pg.Failures = append(pg.Failures, *groups[r])
	}
}

// lastLines keeps the last n lines of s; a progress bar redrawn with \r
// keeps only its last state.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		if k := strings.LastIndexByte(l, '\r'); k >= 0 {
			lines[i] = l[k+1:]
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// ratioNote says, under the importance chart, that ratio_of params are
// judged by the ratio the sampler searched, while tables and slices show
// the value trained.
func ratioNote(spec *sweep.Spec) string {
	if spec == nil {
		return ""
	}
	var parts []string
	for _, p := range spec.Search {
		if p.RatioOf != "" {
			parts = append(parts, p.Name+" is measured by its ratio to "+p.RatioOf)
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return " " + strings.Join(parts, "; ") + " (the coordinate the sampler searches); the tables and slice charts show the value trained."
}
