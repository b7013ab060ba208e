package sweep

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"

	"go.yaml.in/yaml/v3"

	"github.com/lorasweep/lorasweep/objective"
)

// DefaultStorage is the storage DSN of a spec that names none: an SQLite
// file beside the spec.
const DefaultStorage = "sqlite://lorasweep.db"

// DefaultOutputRoot is the folder, beside the spec, under which trial
// directories go when the spec has no output_root.
const DefaultOutputRoot = "lorasweep-runs"

// SpecError is every error found in one spec. ParseSpecFile returns it when
// there is at least one; warnings found on the way are in Problems too.
type SpecError struct{ Problems []Problem }

// Error lists the problems one per line, errors and warnings alike, in file
// order.
func (e *SpecError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Errors returns only the problems that are errors.
func (e *SpecError) Errors() []Problem {
	var out []Problem
	for _, p := range e.Problems {
		if !p.Warning {
			out = append(out, p)
		}
	}
	return out
}

// String formats the problem as "file:line: field: message"; a warning's
// message starts with "warning: ". Line and field are left out when unknown.
func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		fmt.Fprintf(&b, ":%d", p.Line)
	}
	b.WriteString(": ")
	if p.Field != "" {
		b.WriteString(p.Field)
		b.WriteString(": ")
	}
	if p.Warning {
		b.WriteString("warning: ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// ParseSpecFile reads, decodes and validates the sweep spec at path. On any
// error it returns a *SpecError holding all problems found (errors and
// warnings); otherwise the resolved Spec, whose Warnings hold the warnings.
// Relative paths in the spec are resolved against the spec's directory; the
// Spec holds them absolute. Messages name path as given.
func ParseSpecFile(path string) (*Spec, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read spec: %w", err)
	}
	return ParseSpec(path, data)
}

// ParseSpec is ParseSpecFile for a spec already in memory; path is where it
// came from (messages name it, relative paths start at its directory).
func ParseSpec(path string, data []byte) (*Spec, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("resolve spec path: %w", err)
	}
	p := &specParser{file: path, dir: filepath.Dir(abs), badParams: map[string]bool{}}
	spec := p.parse(data)
	spec.Path = abs
	sortProblems(p.problems)
	for _, pr := range p.problems {
		if !pr.Warning {
			return nil, &SpecError{Problems: p.problems}
		}
	}
	spec.Warnings = p.problems
	return spec, nil
}

func sortProblems(ps []Problem) {
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].Line < ps[j].Line })
}

// IsSpecError reports whether err holds a *SpecError, and returns it.
func IsSpecError(err error) (*SpecError, bool) {
	var se *SpecError
	ok := errors.As(err, &se)
	return se, ok
}

var topLevelKeys = []string{
	"name", "storage", "output_root", "trainer", "search", "sampler", "pruner",
	"objective", "budget", "gpus", "per_gpu", "gpus_per_trial", "baseline", "demo", "keep",
}

func (p *specParser) parse(data []byte) *Spec {
	spec := &Spec{}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		p.problems = append(p.problems, yamlSyntaxProblem(p.file, err))
		return spec
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		p.problems = append(p.problems, Problem{File: p.file, Message: "empty spec: expected a mapping with name, trainer, search, objective and budget"})
		return spec
	}
	root := deref(doc.Content[0])
	entries, ok := p.mapping(root, "", topLevelKeys)
	if !ok {
		return spec
	}
	byKey := map[string]entry{}
	for _, e := range entries {
		byKey[e.key] = e
	}
	for _, req := range []string{"name", "trainer", "search", "objective"} {
		if _, ok := byKey[req]; !ok {
			p.errf(root, req, "missing required key %q", req)
		}
	}

	if e, ok := byKey["name"]; ok {
		if s, ok := p.str(e.v, e.field); ok {
			if !plainName(s) {
				p.errf(e.v, e.field, "%q is not a plain name: use letters, digits, '.', '_' and '-' (it names a folder under output_root, so '/', '..' and absolute paths are refused)", s)
			} else {
				spec.Name = s
			}
		}
	}
	spec.Storage = DefaultStorage
	if e, ok := byKey["storage"]; ok {
		if s, ok := p.str(e.v, e.field); ok {
			if !strings.HasPrefix(s, "sqlite://") && !strings.HasPrefix(s, "postgres://") && !strings.HasPrefix(s, "postgresql://") {
				p.errf(e.v, e.field, "unsupported storage %q: use sqlite://PATH or postgres://USER@HOST:PORT/DB", redactDSN(s))
			}
			spec.Storage = s
		}
	}
	spec.Storage = p.resolveSQLite(spec.Storage)

	root2 := filepath.Join(p.dir, DefaultOutputRoot)
	if e, ok := byKey["output_root"]; ok {
		if s, ok := p.str(e.v, e.field); ok {
			root2 = p.path(s)
		}
	}
	if spec.Name != "" {
		spec.OutputRoot = filepath.Join(root2, spec.Name)
	}

	if e, ok := byKey["demo"]; ok {
		if s, ok := p.str(e.v, e.field); ok {
			spec.Demo = p.path(s)
		}
	}

	tr := p.parseTrainer(byKey, spec)
	if e, ok := byKey["search"]; ok {
		spec.Search = p.parseSearch(e, tr)
	}
	p.parseSampler(byKey, spec)
	p.parsePruner(byKey, spec)
	if e, ok := byKey["objective"]; ok {
		spec.Objective = p.parseObjective(e, spec)
	}
	p.parseBudget(byKey, spec)
	p.parseKeep(byKey, spec)
	p.parseGPUs(byKey, spec)

	spec.Baseline = spec.Trainer.Base != ""
	if e, ok := byKey["baseline"]; ok {
		if b, ok := p.boolVal(e.v, e.field); ok {
			spec.Baseline = b
		}
	}
	if spec.Demo != "" && spec.Trainer.Kind != "" && spec.Trainer.Kind != "builtin" {
		e := byKey["demo"]
		p.errf(e.k, "demo", "demo applies to the builtin trainer only, not %s", spec.Trainer.Kind)
	}
	p.crossChecks(spec, tr)
	return spec
}

// resolveSQLite makes a relative sqlite:// path absolute against the spec's
// directory, as every other relative path in a spec.
func (p *specParser) resolveSQLite(dsn string) string {
	rest, ok := strings.CutPrefix(dsn, "sqlite://")
	if !ok || rest == "" || rest == ":memory:" {
		return dsn
	}
	path, query, _ := strings.Cut(rest, "?")
	path = p.path(path)
	if query != "" {
		path += "?" + query
	}
	return "sqlite://" + path
}

// parseObjective decodes the objective block and checks what the objective
// package cannot know: paths relative to the spec.
func (p *specParser) parseObjective(e entry, spec *Spec) objective.Spec {
	out := objective.Spec{Direction: "maximize"}
	entries, ok := p.mapping(e.v, e.field, []string{"direction", "scorers"})
	if !ok {
		return out
	}
	var scorersNode *yaml.Node
	for _, f := range entries {
		switch f.key {
		case "direction":
			if s, ok := p.str(f.v, f.field); ok {
				if s != "maximize" && s != "minimize" {
					p.errf(f.v, f.field, "unknown direction %q: use maximize or minimize%s", s, didYouMean(s, []string{"maximize", "minimize"}))
				}
				out.Direction = s
			}
		case "scorers":
			scorersNode = f.v
		}
	}
	if scorersNode == nil {
		p.errf(e.k, join(e.field, "scorers"), "missing required key \"scorers\": list at least one scorer")
		return out
	}
	field := join(e.field, "scorers")
	if scorersNode.Kind != yaml.SequenceNode {
		p.errf(scorersNode, field, "expected a list of scorers, got %s", kindName(scorersNode))
		return out
	}
	if len(scorersNode.Content) == 0 {
		p.errf(scorersNode, field, "empty scorer list: list at least one scorer")
	}
	for i, sn := range scorersNode.Content {
		if sc, ok := p.parseScorer(deref(sn), fmt.Sprintf("%s[%d]", field, i), spec); ok {
			out.Scorers = append(out.Scorers, sc)
		}
	}
	return out
}

var scorerKinds = []string{"reference", "preservation", "health", "diversity", "loss", "validation", "command", "rating"}

var scorerKeys = []string{"kind", "weight", "name", "references", "mode", "prompts", "stat", "run", "timeout", "use_gpu"}

func (p *specParser) parseScorer(n *yaml.Node, field string, spec *Spec) (objective.ScorerSpec, bool) {
	sc := objective.ScorerSpec{Weight: 1}
	entries, ok := p.mapping(n, field, scorerKeys)
	if !ok {
		return sc, false
	}
	nodes := map[string]entry{}
	for _, f := range entries {
		nodes[f.key] = f
		switch f.key {
		case "kind":
			if s, ok := p.str(f.v, f.field); ok {
				if !contains(scorerKinds, s) {
					p.errf(f.v, f.field, "unknown scorer kind %q%s (kinds: %s)", s, didYouMean(s, scorerKinds), strings.Join(scorerKinds, ", "))
				}
				sc.Kind = s
			}
		case "weight":
			if v, ok := p.floatVal(f.v, f.field); ok {
				if v < 0 {
					p.errf(f.v, f.field, "weight %g is negative: weights are ≥ 0 (the direction says what is better)", v)
				}
				sc.Weight = v
			}
		case "name":
			sc.Name, _ = p.str(f.v, f.field)
		case "references":
			if s, ok := p.str(f.v, f.field); ok {
				sc.References = p.path(s)
				p.checkPath(f.v, f.field, sc.References, spec, true)
			}
		case "mode":
			if s, ok := p.str(f.v, f.field); ok {
				if s != "paired" && s != "set" {
					p.errf(f.v, f.field, "unknown mode %q: use paired or set%s", s, didYouMean(s, []string{"paired", "set"}))
				}
				sc.Mode = s
			}
		case "prompts":
			if f.v.Kind != yaml.SequenceNode {
				p.errf(f.v, f.field, "expected a list of prompt indexes, got %s", kindName(f.v))
				continue
			}
			for j, c := range f.v.Content {
				if v, ok := p.intVal(deref(c), fmt.Sprintf("%s[%d]", f.field, j)); ok {
					if v < 0 {
						p.errf(c, fmt.Sprintf("%s[%d]", f.field, j), "prompt index %d is negative", v)
					}
					sc.Prompts = append(sc.Prompts, int(v))
				}
			}
		case "stat":
			if s, ok := p.str(f.v, f.field); ok {
				if !contains([]string{"final", "min", "mean"}, s) {
					p.errf(f.v, f.field, "unknown stat %q: use final, min or mean%s", s, didYouMean(s, []string{"final", "min", "mean"}))
				}
				sc.Stat = s
			}
		case "run":
			sc.Run, _ = p.strList(f.v, f.field)
		case "timeout":
			if d, ok := p.duration(f.v, f.field); ok {
				sc.Timeout = d.String()
			}
		case "use_gpu":
			sc.UseGPU, _ = p.boolVal(f.v, f.field)
		}
	}
	if _, ok := nodes["kind"]; !ok {
		p.errf(n, join(field, "kind"), "missing required key \"kind\" (kinds: %s)", strings.Join(scorerKinds, ", "))
		return sc, false
	}
	switch sc.Kind {
	case "reference", "preservation":
		if sc.References == "" {
			p.errf(n, join(field, "references"), "a %s scorer needs references: a folder of reference images", sc.Kind)
		}
	case "command":
		if len(sc.Run) == 0 {
			p.errf(n, join(field, "run"), "a command scorer needs run: the scorer's argv, such as [python, scorers/clip.py]")
		}
	}
	for _, k := range []string{"references", "mode"} {
		if f, ok := nodes[k]; ok && sc.Kind != "reference" && sc.Kind != "preservation" {
			p.errf(f.k, f.field, "%s applies to reference and preservation scorers only, not %s", k, sc.Kind)
		}
	}
	if f, ok := nodes["stat"]; ok && sc.Kind != "loss" {
		p.errf(f.k, f.field, "stat applies to the loss scorer only, not %s", sc.Kind)
	}
	for _, k := range []string{"run", "timeout", "use_gpu"} {
		if f, ok := nodes[k]; ok && sc.Kind != "command" {
			p.errf(f.k, f.field, "%s applies to the command scorer only, not %s", k, sc.Kind)
		}
	}
	return sc, true
}

// checkPath reports a missing file or folder; paths under the demo folder
// may be missing until `lorasweep demo init` writes them.
func (p *specParser) checkPath(n *yaml.Node, field, path string, spec *Spec, wantDir bool) {
	st, err := os.Stat(path)
	if err != nil {
		if spec.Demo != "" && within(spec.Demo, path) {
			return
		}
		p.errf(n, field, "%s does not exist", path)
		return
	}
	if wantDir && !st.IsDir() {
		p.errf(n, field, "%s is a file, expected a folder", path)
	}
	if !wantDir && st.IsDir() {
		p.errf(n, field, "%s is a folder, expected a file", path)
	}
}

// within reports whether path is dir or inside it.
func within(dir, path string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// specAlias has Spec's fields without its methods, so MarshalJSON can
// delegate to the default encoding.
type specAlias Spec

type specWire struct {
	*specAlias
	Base json.RawMessage `json:"base"`
}

// MarshalJSON writes the spec as the study stores it. Base is written with
// typed numbers (floats keep a decimal point) because sd-scripts reads a
// float lr_warmup_steps as a ratio and an int as steps: the stored spec
// must give a worker on another machine the same TOML.
func (s Spec) MarshalJSON() ([]byte, error) {
	base := s.Base
	if base == nil {
		base = map[string]any{}
	}
	raw, err := typedJSON(base)
	if err != nil {
		return nil, fmt.Errorf("encode spec base: %w", err)
	}
	a := specAlias(s)
	return json.Marshal(specWire{specAlias: &a, Base: raw})
}

// UnmarshalJSON reads what MarshalJSON wrote, restoring int64 and float64
// values in Base.
func (s *Spec) UnmarshalJSON(data []byte) error {
	var a specAlias
	w := specWire{specAlias: &a}
	if err := json.Unmarshal(data, &w); err != nil {
		return err
	}
	*s = Spec(a)
	s.Base = nil
	if len(w.Base) > 0 && string(w.Base) != "null" {
		v, err := untypedJSON(w.Base)
		if err != nil {
			return fmt.Errorf("decode spec base: %w", err)
		}
		s.Base, _ = v.(map[string]any)
	}
	return nil
}

// redactDSN hides a password in a DSN so it never reaches a message.
func redactDSN(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		return dsn
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// Describe writes what `lorasweep validate` prints: the sweep's storage,
// output and trainer, the resolved search space as a table, sampler, pruner,
// budget, GPUs and objective, and the warnings.
func (s *Spec) Describe(w io.Writer) error {
	ew := &errWriter{w: w}
	ew.printf("sweep       %s\n", s.Name)
	ew.printf("spec        %s\n", s.Path)
	ew.printf("storage     %s\n", redactDSN(s.Storage))
	ew.printf("output      %s/trial-NNNN\n", s.OutputRoot)
	tr := s.Trainer
	ew.printf("trainer     %s", tr.Kind)
	if tr.Script != "" {
		ew.printf(", script %s", tr.Script)
	}
	if tr.Base != "" {
		ew.printf(", base %s (%d settings with fixed)", tr.Base, len(s.Base))
	}
	ew.printf("\n")
	if len(tr.Command) > 0 {
		ew.printf("command     %s\n", strings.Join(tr.Command, " "))
	}
	if len(tr.Fixed) > 0 {
		keys := make([]string, 0, len(tr.Fixed))
		for k := range tr.Fixed {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = k + "=" + displayValue(tr.Fixed[k])
		}
		ew.printf("fixed       %s\n", strings.Join(parts, ", "))
	}
	if s.Demo != "" {
		if _, err := os.Stat(s.Demo); err != nil {
			ew.printf("demo        %s (not there yet: `lorasweep run` generates it with `lorasweep demo init %s`)\n", s.Demo, s.Demo)
		} else {
			ew.printf("demo        %s\n", s.Demo)
		}
	}
	ew.printf("\nsearch space (%d parameters):\n", len(s.Search))
	tw := tabwriter.NewWriter(ew, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  NAME\tTYPE\tRANGE / CHOICES\tTARGET\tCONDITION")
	for _, p := range s.Search {
		rng := ""
		if p.Type == ParamCategorical {
			rng = strings.Join(p.choiceStrings(), " | ")
		} else {
			rng = fmt.Sprintf("[%s, %s]", fmtNum(p.Low), fmtNum(p.High))
			if p.Step > 0 {
				rng += " step " + fmtNum(p.Step)
			}
			if p.RatioOf != "" {
				rng += " × " + p.RatioOf
			}
		}
		cond := "-"
		if len(p.When) > 0 {
			cond = "when " + whenString(p.When)
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", p.Name, paramKind(p), rng, p.Target, cond)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("describe spec: %w", err)
	}
	ew.printf("\n")
	sm := s.Sampler
	ew.printf("sampler     %s, seed %d", sm.Kind, sm.Seed)
	if sm.Kind == "tpe" {
		if sm.LocalStartup != nil && *sm.LocalStartup {
			ew.printf(", %d startup trials near the best so far (the base config first; 1 in 4 uniform)", sm.StartupTrials)
		} else {
			ew.printf(", %d random startup trials", sm.StartupTrials)
		}
		if sm.Multivariate {
			ew.printf(", multivariate (lr × alpha/dim as one coordinate where alpha is a ratio of dim)")
		} else {
			ew.printf(", univariate")
		}
		if sm.ConstantLiar != nil && !*sm.ConstantLiar {
			ew.printf(", constant liar off")
		} else {
			ew.printf(", constant liar on")
		}
	}
	if len(sm.Unmodelled) > 0 {
		names := make([]string, 0, len(sm.Unmodelled))
		for n := range sm.Unmodelled {
			names = append(names, n)
		}
		sort.Strings(names)
		ew.printf(", drawn at random and not modelled (cannot change training): %s", strings.Join(names, ", "))
	}
	ew.printf("\n")
	pr := s.Pruner
	switch pr.Kind {
	case "median":
		ew.printf("pruner      median, after %d complete trials, from %s of a trial's schedule\n", pr.StartupTrials, pct(pr.WarmupFraction))
	case "successive_halving":
		ew.printf("pruner      successive halving, reduction factor %d, first rung at %s of the schedule\n", pr.ReductionFactor, pct(pr.MinFraction))
	default:
		ew.printf("pruner      none\n")
	}
	b := s.Budget
	ew.printf("budget      ")
	if b.Trials > 0 {
		ew.printf("%d trials", b.Trials)
	} else {
		ew.printf("no trial limit")
	}
	if b.Parallel > 0 {
		ew.printf(", at most %d in parallel", b.Parallel)
	} else {
		ew.printf(", as many in parallel as there are slots")
	}
	if b.Deadline != "" {
		ew.printf(", deadline %s", b.Deadline)
	}
	if b.TrialTimeout > 0 {
		ew.printf(", trial timeout %s", b.TrialTimeout)
	}
	ew.printf(", stop after %d failures in a row, %d retries of interrupted trials\n", b.MaxFailuresInARow, b.Retries)
	g := s.GPUs
	switch g.Mode {
	case "none":
		ew.printf("gpus        none (CPU slots)\n")
	case "list":
		ids := make([]string, len(g.IDs))
		for i, id := range g.IDs {
			ids[i] = fmt.Sprint(id)
		}
		ew.printf("gpus        %s, %d per GPU, %d per trial\n", strings.Join(ids, ", "), g.PerGPU, g.PerTrial)
	default:
		ew.printf("gpus        auto, %d per GPU, %d per trial\n", g.PerGPU, g.PerTrial)
	}
	parts := make([]string, len(s.Objective.Scorers))
	for i, sc := range s.Objective.Scorers {
		parts[i] = fmt.Sprintf("%s×%s", fmtNum(sc.Weight), sc.Kind)
		if sc.References != "" {
			parts[i] += " (" + sc.References + ")"
		}
	}
	ew.printf("objective   %s of %s\n", s.Objective.Direction, strings.Join(parts, " + "))
	if s.Baseline {
		ew.printf("baseline    yes: the base config runs first as trial 0\n")
	} else {
		ew.printf("baseline    no\n")
	}
	if len(s.Warnings) > 0 {
		ew.printf("\nwarnings:\n")
		for _, p := range s.Warnings {
			ew.printf("  %s\n", p)
		}
	}
	if ew.err != nil {
		return fmt.Errorf("describe spec: %w", ew.err)
	}
	return nil
}

func pct(f float64) string { return fmt.Sprintf("%g%%", math.Round(f*1000)/10) }

func displayValue(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = displayValue(e)
		}
		return "[" + strings.Join(parts, " ") + "]"
	}
	return choiceString(v)
}

// errWriter keeps the first write error so Describe checks once.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(b []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(b)
	e.err = err
	return n, err
}

func (e *errWriter) printf(format string, args ...any) { fmt.Fprintf(e, format, args...) }
