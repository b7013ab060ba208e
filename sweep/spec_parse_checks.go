package sweep

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/lorasweep/lorasweep/kohya"
	"github.com/lorasweep/lorasweep/runner"
)

const msgStopTE = "train_network.py does not support stop_text_encoder_training (only train_db.py defines it: sd-scripts ignores it in a config file and rejects it on the command line); remove it, or train the text encoder less with text_encoder_lr"

// lrSchedulers are the --lr_scheduler values sd-scripts can build
// (get_scheduler_fix); "adafactor:<lr>" is accepted too.
var lrSchedulers = []string{
	"constant", "constant_with_warmup", "linear", "cosine", "cosine_with_restarts",
	"polynomial", "adafactor", "piecewise_constant", "inverse_sqrt", "cosine_with_min_lr",
	"warmup_stable_decay",
}

// cycleSchedulers read lr_scheduler_num_cycles; powerSchedulers read
// lr_scheduler_power. The others ignore them silently.
var cycleSchedulers = []string{"cosine_with_restarts", "cosine_with_min_lr", "warmup_stable_decay"}
var powerSchedulers = []string{"polynomial"}

func knownScheduler(s string) bool {
	return contains(lrSchedulers, s) || strings.HasPrefix(s, "adafactor:")
}

func sortStrings(s []string) { sort.Strings(s) }

// crossChecks finds the traps that involve several keys: they need the
// whole spec.
func (p *specParser) crossChecks(spec *Spec, tr *trainerInfo) {
	if tr.kind == "" {
		return
	}
	byName := map[string]*Param{}
	for i := range spec.Search {
		if !p.badParams[spec.Search[i].Name] {
			byName[spec.Search[i].Name] = &spec.Search[i]
		}
	}
	// Where a key's fixed value came from, for messages.
	where := func(key string) (*yaml.Node, string) {
		if n, ok := tr.fixed[key]; ok {
			return n, "trainer.fixed." + key
		}
		return tr.baseNode, "trainer.base"
	}
	paramNode := func(prm *Param) *yaml.Node { return &yaml.Node{Line: prm.Line} }

	if tr.kind == "command" {
		p.checkCommand(spec, tr)
		return
	}

	if prm, ok := byName["seed"]; ok {
		p.warnf(paramNode(prm), "search.seed", "searching seed optimises noise, not the LoRA: fix seed in trainer.fixed and compare settings instead")
	}

	if tr.kind == "kohya" {
		p.checkConsoleLog(spec, where)
	}

	// Schedulers: which ones trials can use.
	scheds, schedSearched := p.schedulers(spec, tr, byName)
	if !schedSearched {
		if s, ok := spec.Base["lr_scheduler"].(string); ok && !knownScheduler(s) {
			n, f := where("lr_scheduler")
			p.errf(n, f, "unknown lr_scheduler %q%s", s, didYouMean(s, lrSchedulers))
			return
		}
	}
	if _, custom := spec.Base["lr_scheduler_type"]; custom {
		scheds = nil // a custom scheduler class: sd-scripts ignores lr_scheduler
	}
	schedsFor := func(prm *Param) []string {
		if vals, ok := prm.When["lr_scheduler"]; ok && schedSearched {
			var out []string
			for _, v := range vals {
				if s, ok := v.(string); ok && contains(scheds, s) {
					out = append(out, s)
				}
			}
			return out
		}
		return scheds
	}
	without := func(list, drop []string) []string {
		var out []string
		for _, s := range list {
			if !contains(drop, s) {
				out = append(out, s)
			}
		}
		return out
	}
	intersect := func(list, keep []string) []string {
		var out []string
		for _, s := range list {
			if contains(keep, s) {
				out = append(out, s)
			}
		}
		return out
	}

	// lr_warmup_steps with constant: sd-scripts raises ValueError.
	if prm, ok := byName["lr_warmup_steps"]; ok && prm.High > 0 {
		if s := schedsFor(prm); contains(s, "constant") {
			if schedSearched {
				p.errf(paramNode(prm), "search.lr_warmup_steps", "lr_warmup_steps can be set while lr_scheduler is constant, which sd-scripts refuses (ValueError): add when: {lr_scheduler: [%s]}", strings.Join(without(scheds, []string{"constant"}), ", "))
			} else {
				p.errf(paramNode(prm), "search.lr_warmup_steps", "lr_warmup_steps with lr_scheduler constant%s: sd-scripts refuses a warmup with constant (ValueError); use constant_with_warmup", defaultNote(spec))
			}
		}
	} else if v, ok := spec.Base["lr_warmup_steps"]; ok && nonZero(v) && contains(scheds, "constant") {
		n, f := where("lr_warmup_steps")
		if schedSearched {
			p.errf(n, f, "lr_warmup_steps is %s while lr_scheduler can be constant, which sd-scripts refuses (ValueError): drop constant from the choices or use constant_with_warmup", formatValue(v))
		} else {
			p.errf(n, f, "lr_warmup_steps with lr_scheduler constant%s: sd-scripts refuses a warmup with constant (ValueError); use constant_with_warmup", defaultNote(spec))
		}
	}

	// Cycles and power for schedulers that ignore them.
	for _, c := range []struct {
		key   string
		users []string
	}{{"lr_scheduler_num_cycles", cycleSchedulers}, {"lr_scheduler_power", powerSchedulers}} {
		if prm, ok := byName[c.key]; ok {
			ign := without(schedsFor(prm), c.users)
			if len(ign) > 0 && len(scheds) > 0 {
				hint := "set lr_scheduler to " + strings.Join(c.users, " or ")
				if use := intersect(scheds, c.users); schedSearched && len(use) > 0 {
					hint = "add when: {lr_scheduler: " + whenList(use) + "}"
				}
				p.warnf(paramNode(prm), "search."+c.key, "lr_scheduler %s ignores %s (read only by %s): %s", strings.Join(ign, ", "), c.key, strings.Join(c.users, ", "), hint)
				if len(intersect(schedsFor(prm), c.users)) == 0 {
					markDead(spec, c.key, "no lr_scheduler it runs with reads it")
				}
			}
		} else if n, ok := tr.fixed[c.key]; ok && len(scheds) > 0 && len(intersect(scheds, c.users)) == 0 {
			p.warnf(n, "trainer.fixed."+c.key, "lr_scheduler %s ignores %s (read only by %s)", strings.Join(scheds, ", "), c.key, strings.Join(c.users, ", "))
		}
	}

	p.checkAlphaDim(spec, tr, byName, where, paramNode)
	p.checkDataset(spec, tr, byName)
	p.checkDead(spec, byName, schedsFor, paramNode)
}

// markDead records a searched param that cannot change training: the
// sampler draws it without modelling it.
func markDead(spec *Spec, name, why string) {
	if spec.Sampler.Unmodelled == nil {
		spec.Sampler.Unmodelled = map[string]string{}
	}
	spec.Sampler.Unmodelled[name] = why
}

// checkDead warns about searched params that sd-scripts never reads given
// the rest of the config (kohya knows which), and keeps them out of the
// sampler's model.
func (p *specParser) checkDead(spec *Spec, byName map[string]*Param, schedsFor func(*Param) []string, paramNode func(*Param) *yaml.Node) {
	always := func(key string) bool { // set in every trial
		if prm, ok := byName[key]; ok {
			return len(prm.When) == 0
		}
		v, ok := spec.Base[key]
		return ok && v != nil
	}
	dead := func(key, why string) {
		if prm, ok := byName[key]; ok && len(prm.When) == 0 {
			if _, done := spec.Sampler.Unmodelled[key]; done {
				return
			}
			p.warnf(paramNode(prm), "search."+key, "%s cannot change training: %s; the sampler draws it without modelling it (remove it from search)", key, why)
			markDead(spec, key, why)
		}
	}
	opt, _ := spec.Base["optimizer_type"].(string)
	if _, searched := byName["optimizer_type"]; searched {
		opt = ""
	}
	var optArgs []string
	if list, ok := spec.Base["optimizer_args"].([]any); ok {
		for _, a := range list {
			if s, ok := a.(string); ok {
				optArgs = append(optArgs, s)
			}
		}
	}
	schedKeys := []string{"lr_scheduler", "lr_scheduler_num_cycles", "lr_scheduler_power", "lr_warmup_steps"}
	switch {
	case kohya.AdafactorRelativeStep(opt, optArgs):
		why := "optimizer_type " + opt + " with relative_step (its default) uses its own schedule and rates; set optimizer_args [\"relative_step=False\"] to use them"
		for _, k := range append([]string{"unet_lr", "text_encoder_lr"}, schedKeys...) {
			dead(k, why)
		}
		return
	case kohya.ScheduleFree(opt):
		for _, k := range schedKeys {
			dead(k, "optimizer_type "+opt+" is schedule-free: sd-scripts gives it a dummy scheduler")
		}
		return
	}
	if prm, ok := byName["learning_rate"]; ok {
		teSet := always("text_encoder_lr") || spec.Base["network_train_unet_only"] == true
		scheds := schedsFor(prm)
		if len(scheds) == 0 {
			scheds = []string{""} // a custom scheduler class
		}
		unused := true
		for _, s := range scheds {
			unused = unused && kohya.LearningRateUnused(always("unet_lr"), teSet, s)
		}
		if unused {
			dead("learning_rate", "unet_lr and text_encoder_lr take precedence (text_encoder_lr is moot with network_train_unet_only), and only the polynomial scheduler reads learning_rate besides them")
		}
	}
	if prm, ok := byName["lr_warmup_steps"]; ok {
		if s := schedsFor(prm); len(s) > 0 && !slices.ContainsFunc(s, func(x string) bool { return !kohya.SchedulerIgnoresWarmup(x) }) {
			dead("lr_warmup_steps", "lr_scheduler "+strings.Join(s, ", ")+" has no warmup")
		}
	}
}

// checkConsoleLog warns about sd-scripts' logging settings that take lines
// lorasweep reads off the console (library/utils.py setup_logging: a level
// above INFO drops logger lines below it; console_log_file sends all of them
// to the file). print() and tqdm output (progress bars, `epoch N/M`,
// `saving checkpoint:`, tracebacks) is not logging and always stays.
func (p *specParser) checkConsoleLog(spec *Spec, where func(string) (*yaml.Node, string)) {
	const saved = "`model saved.` (INFO): success is then taken from exit status 0 and a readable final model, noted on each trial"
	if f, _ := spec.Base["console_log_file"].(string); f != "" {
		n, field := where("console_log_file")
		msg := "console_log_file sends every sd-scripts log message to " + f + " instead of the console lorasweep reads: it loses " + saved +
			", and logged errors such as `No data found.` (such a trial fails as a crash without its cause); progress bars, `epoch N/M` and `saving checkpoint:` lines are printed, not logged, and stay"
		if filepath.IsAbs(f) {
			msg += "; every trial overwrites this one file (a relative name lands in each trial's own folder)"
		}
		p.warnf(n, field, "%s", msg)
		return
	}
	lvl, _ := spec.Base["console_log_level"].(string)
	var lost string
	switch lvl {
	case "WARNING":
		lost = saved + ", and sd-scripts' other INFO notes in trial.log (sample generation, optimizer, dataset)"
	case "ERROR":
		lost = saved + ", and sd-scripts' warnings and INFO notes in trial.log"
	case "CRITICAL":
		lost = saved + ", and logged errors such as `No data found.` (such a trial fails as a crash without its cause)"
	default:
		return
	}
	n, field := where("console_log_level")
	p.warnf(n, field, "console_log_level = %s hides sd-scripts' logger lines below %s from the console lorasweep reads: it loses %s; progress bars, `epoch N/M` and `saving checkpoint:` lines are printed, not logged, and stay", lvl, lvl, lost)
}

func whenList(s []string) string {
	if len(s) == 1 {
		return s[0]
	}
	return "[" + strings.Join(s, ", ") + "]"
}

func defaultNote(spec *Spec) string {
	if _, ok := spec.Base["lr_scheduler"]; !ok {
		return " (sd-scripts' default when lr_scheduler is unset)"
	}
	return ""
}

func nonZero(v any) bool {
	f, ok := toFloat(v)
	return !ok || f != 0
}

// schedulers lists the lr_scheduler values trials can run with, and whether
// lr_scheduler is searched.
func (p *specParser) schedulers(spec *Spec, tr *trainerInfo, byName map[string]*Param) ([]string, bool) {
	if prm, ok := byName["lr_scheduler"]; ok && prm.Type == ParamCategorical {
		var out []string
		for _, c := range prm.Choices {
			if s, ok := c.(string); ok {
				out = append(out, s)
			}
		}
		return out, true
	}
	if s, ok := spec.Base["lr_scheduler"].(string); ok {
		return []string{s}, false
	}
	return []string{"constant"}, false
}

// checkAlphaDim warns when network_alpha can exceed network_dim: sd-scripts
// allows it, but scale = alpha/dim > 1 amplifies the updates.
func (p *specParser) checkAlphaDim(spec *Spec, tr *trainerInfo, byName map[string]*Param, where func(string) (*yaml.Node, string), paramNode func(*Param) *yaml.Node) {
	const advice = "sd-scripts allows it, but alpha > dim scales the LoRA's updates up (alpha/dim > 1), which is usually advised against"
	maxOf := func(prm *Param) float64 {
		if prm.Type == ParamCategorical {
			m := math.Inf(-1)
			for _, c := range prm.Choices {
				if f, ok := toFloat(c); ok && f > m {
					m = f
				}
			}
			return m
		}
		return prm.High
	}
	minOf := func(prm *Param) float64 {
		if prm.Type == ParamCategorical {
			m := math.Inf(1)
			for _, c := range prm.Choices {
				if f, ok := toFloat(c); ok && f < m {
					m = f
				}
			}
			return m
		}
		return prm.Low
	}
	dimP, dimSearched := byName["network_dim"]
	baseDim, baseDimOK := toFloat(spec.Base["network_dim"])
	minDim, haveDim := baseDim, baseDimOK
	if dimSearched && dimP.Type != ParamCategorical || dimSearched && allNumbers(dimP.Choices) {
		minDim, haveDim = minOf(dimP), true
	}
	if alphaP, ok := byName["network_alpha"]; ok {
		if alphaP.RatioOf == "network_dim" {
			if alphaP.High > 1 {
				p.warnf(paramNode(alphaP), "search.network_alpha", "a ratio above 1 (up to %s) makes network_alpha exceed network_dim: %s", fmtNum(alphaP.High), advice)
			}
			return
		}
		if alphaP.RatioOf != "" {
			return
		}
		if mx := maxOf(alphaP); haveDim && mx > minDim {
			p.warnf(paramNode(alphaP), "search.network_alpha", "network_alpha can exceed network_dim (alpha up to %s, dim down to %s): %s; use {ratio_of: network_dim, float: [0.125, 1.0]} to keep alpha ≤ dim", fmtNum(mx), fmtNum(minDim), advice)
		}
		return
	}
	alpha, ok := toFloat(spec.Base["network_alpha"])
	if !ok || !haveDim || alpha <= minDim {
		return
	}
	n, f := where("network_alpha")
	if dimSearched {
		p.warnf(n, f, "network_alpha %s exceeds network_dim when dim is below it (dim down to %s): %s; search network_alpha as {ratio_of: network_dim, float: [0.125, 1.0]}", fmtNum(alpha), fmtNum(minDim), advice)
	} else {
		p.warnf(n, f, "network_alpha %s exceeds network_dim %s: %s", fmtNum(alpha), fmtNum(minDim), advice)
	}
}

// checkDataset looks at train_data_dir the way sd-scripts will: folders
// named N_class tokens, with images.
func (p *specParser) checkDataset(spec *Spec, tr *trainerInfo, byName map[string]*Param) {
	_, hasDC := spec.Base["dataset_config"]
	dir, hasDir := spec.Base["train_data_dir"].(string)
	if prm, ok := byName["num_repeats"]; ok && !hasDC && !hasDir {
		p.errf(&yaml.Node{Line: prm.Line}, "search.num_repeats", "num_repeats needs a dataset: set train_data_dir (N_name folders) in the base config or trainer.fixed")
	}
	if !hasDir || hasDC {
		return
	}
	n, f := tr.fixed["train_data_dir"], "trainer.fixed.train_data_dir"
	if n == nil {
		n, f = tr.baseNode, "trainer.base"
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		if spec.Demo != "" && within(spec.Demo, dir) {
			return
		}
		if f == "trainer.base" {
			p.errf(n, f, "train_data_dir %s cannot be read", dir)
		}
		return // fixed paths were already reported missing
	}
	// sd-scripts' folder convention (generate_dreambooth_subsets_config_by_
	// subdirs): "<repeats>_<class tokens>", other folders skipped.
	subsets, images := 0, 0
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		head, _, _ := strings.Cut(e.Name(), "_")
		if r, err := strconv.Atoi(head); err != nil || r < 1 {
			p.warnf(n, f, "folder %q in %s has no N_ prefix with N ≥ 1 (such as 10_%s): sd-scripts skips it", e.Name(), dir, e.Name())
			continue
		}
		subsets++
		files, _ := os.ReadDir(filepath.Join(dir, e.Name()))
		for _, img := range files {
			if !img.IsDir() && imageExts[strings.ToLower(filepath.Ext(img.Name()))] {
				images++
			}
		}
	}
	if subsets == 0 {
		p.errf(n, f, "%s has no image folders named N_name (such as \"10_sks dog\", N = repeats): sd-scripts would find no data", dir)
		return
	}
	if images == 0 {
		p.errf(n, f, "the folders in %s hold no images (.png, .jpg, .jpeg, .webp, .bmp): sd-scripts would find no data", dir)
	}
}

// imageExts are sd-scripts' IMAGE_EXTENSIONS, compared in lower case.
var imageExts = map[string]bool{".png": true, ".jpg": true, ".jpeg": true, ".webp": true, ".bmp": true}

var placeholderRE = regexp.MustCompile(`\{([A-Za-z0-9_.-]+)\}`)

// checkCommand checks a command trainer's placeholders against the search
// parameters and the built-in placeholders.
func (p *specParser) checkCommand(spec *Spec, tr *trainerInfo) {
	valid := append([]string(nil), commandPlaceholders...)
	for _, prm := range spec.Search {
		valid = append(valid, prm.Name)
	}
	for i, a := range spec.Trainer.Command {
		for _, m := range placeholderRE.FindAllStringSubmatch(a, -1) {
			if !contains(valid, m[1]) {
				p.errf(tr.node, fmt.Sprintf("trainer.command[%d]", i), "unknown placeholder {%s}%s (placeholders: search parameters and %s)", m[1], didYouMean(m[1], valid), strings.Join(commandPlaceholders, ", "))
			}
		}
	}
}

var samplerKinds = []string{"tpe", "random", "grid"}
var prunerKinds = []string{"none", "median", "successive_halving"}

func (p *specParser) parseSampler(byKey map[string]entry, spec *Spec) {
	s := &spec.Sampler
	s.Kind = "tpe"
	e, ok := byKey["sampler"]
	if ok {
		entries, ok := p.mapping(e.v, e.field, []string{"kind", "seed", "startup_trials", "constant_liar", "allow_large_grid", "local_startup", "multivariate"})
		if !ok {
			return
		}
		for _, f := range entries {
			switch f.key {
			case "kind":
				if v, ok := p.str(f.v, f.field); ok {
					if !contains(samplerKinds, v) {
						p.errf(f.v, f.field, "unknown sampler %q%s (samplers: tpe, random, grid)", v, didYouMean(v, samplerKinds))
					}
					s.Kind = v
				}
			case "seed":
				s.Seed, _ = p.intVal(f.v, f.field)
			case "startup_trials":
				if v, ok := p.intVal(f.v, f.field); ok {
					if v < 0 {
						p.errf(f.v, f.field, "startup_trials must be ≥ 0, got %d", v)
					}
					s.StartupTrials = int(v)
				}
			case "constant_liar":
				if b, ok := p.boolVal(f.v, f.field); ok {
					s.ConstantLiar = &b
				}
			case "allow_large_grid":
				s.AllowLargeGrid, _ = p.boolVal(f.v, f.field)
			case "local_startup":
				if b, ok := p.boolVal(f.v, f.field); ok {
					s.LocalStartup = &b
				}
			case "multivariate":
				s.Multivariate, _ = p.boolVal(f.v, f.field)
			}
		}
		for _, f := range entries {
			if (f.key == "startup_trials" || f.key == "constant_liar" || f.key == "local_startup" || f.key == "multivariate") && s.Kind != "tpe" {
				p.errf(f.k, f.field, "%s applies to the tpe sampler only, not %s", f.key, s.Kind)
			}
			if f.key == "allow_large_grid" && s.Kind != "grid" {
				p.errf(f.k, f.field, "allow_large_grid applies to the grid sampler only, not %s", s.Kind)
			}
		}
	}
	if s.Kind == "tpe" && s.LocalStartup == nil {
		on := true
		s.LocalStartup = &on
	}
	if s.Kind == "tpe" && s.StartupTrials == 0 {
		// The best measured on lsbench's ablation (BENCHMARKS.md): 25 trials
		// near the best so far beat 10 random ones at every budget to 100.
		s.StartupTrials = 10
		if *s.LocalStartup {
			s.StartupTrials = 25
		}
	}
	if s.Kind == "tpe" && s.ConstantLiar == nil {
		on := true
		s.ConstantLiar = &on
	}
}

func (p *specParser) parsePruner(byKey map[string]entry, spec *Spec) {
	pr := &spec.Pruner
	pr.Kind = "none"
	e, ok := byKey["pruner"]
	if !ok {
		return
	}
	entries, ok := p.mapping(e.v, e.field, []string{"kind", "startup_trials", "warmup_fraction", "reduction_factor", "min_fraction"})
	if !ok {
		return
	}
	for _, f := range entries {
		switch f.key {
		case "kind":
			if v, ok := p.str(f.v, f.field); ok {
				if !contains(prunerKinds, v) {
					p.errf(f.v, f.field, "unknown pruner %q%s (pruners: none, median, successive_halving)", v, didYouMean(v, prunerKinds))
				}
				pr.Kind = v
			}
		case "startup_trials":
			if v, ok := p.intVal(f.v, f.field); ok {
				if v < 0 {
					p.errf(f.v, f.field, "startup_trials must be ≥ 0, got %d", v)
				}
				pr.StartupTrials = int(v)
			}
		case "warmup_fraction", "min_fraction":
			if v, ok := p.floatVal(f.v, f.field); ok {
				if v < 0 || v >= 1 {
					p.errf(f.v, f.field, "%s is a fraction of the schedule in [0, 1), got %s", f.key, fmtNum(v))
				}
				if f.key == "warmup_fraction" {
					pr.WarmupFraction = v
				} else {
					pr.MinFraction = v
				}
			}
		case "reduction_factor":
			if v, ok := p.intVal(f.v, f.field); ok {
				if v < 2 {
					p.errf(f.v, f.field, "reduction_factor must be ≥ 2, got %d", v)
				}
				pr.ReductionFactor = int(v)
			}
		}
	}
	for _, f := range entries {
		switch {
		case (f.key == "startup_trials" || f.key == "warmup_fraction") && pr.Kind != "median":
			p.errf(f.k, f.field, "%s applies to the median pruner only, not %s", f.key, pr.Kind)
		case (f.key == "reduction_factor" || f.key == "min_fraction") && pr.Kind != "successive_halving":
			p.errf(f.k, f.field, "%s applies to the successive_halving pruner only, not %s", f.key, pr.Kind)
		}
	}
	switch pr.Kind {
	case "median":
		if pr.StartupTrials == 0 {
			pr.StartupTrials = 5
		}
	case "successive_halving":
		if pr.ReductionFactor == 0 {
			pr.ReductionFactor = 3
		}
		if pr.MinFraction == 0 {
			pr.MinFraction = 0.25
		}
	}
}

var deadlineClockRE = regexp.MustCompile(`^([01]?[0-9]|2[0-3]):[0-5][0-9]$`)

func (p *specParser) parseBudget(byKey map[string]entry, spec *Spec) {
	b := &spec.Budget
	b.MaxFailuresInARow = 5
	b.Retries = 1
	e, ok := byKey["budget"]
	if !ok {
		p.errf(&yaml.Node{Line: 1}, "budget", "missing required key \"budget\": give at least trials: N or a deadline")
		return
	}
	entries, ok := p.mapping(e.v, e.field, []string{"trials", "parallel", "deadline", "trial_timeout", "max_failures_in_a_row", "retries", "on_oom", "repeat_top", "repeat_seeds"})
	if !ok {
		return
	}
	nonNeg := func(f entry) int {
		v, ok := p.intVal(f.v, f.field)
		if ok && v < 0 {
			p.errf(f.v, f.field, "%s must be ≥ 0, got %d", f.key, v)
		}
		return int(v)
	}
	for _, f := range entries {
		switch f.key {
		case "trials":
			b.Trials = nonNeg(f)
		case "parallel":
			b.Parallel = nonNeg(f)
		case "deadline":
			if s, ok := p.str(f.v, f.field); ok {
				var d runner.Duration
				if !deadlineClockRE.MatchString(s) && d.UnmarshalText([]byte(s)) != nil {
					p.errf(f.v, f.field, "invalid deadline %q: use a clock time such as \"07:00\" or a duration such as 8h", s)
				}
				b.Deadline = s
			}
		case "trial_timeout":
			b.TrialTimeout, _ = p.duration(f.v, f.field)
		case "max_failures_in_a_row":
			b.MaxFailuresInARow = nonNeg(f)
		case "retries":
			b.Retries = nonNeg(f)
		case "on_oom":
			b.OnOOM = p.parseOnOOM(f)
		case "repeat_top":
			b.RepeatTop = nonNeg(f)
		case "repeat_seeds":
			b.RepeatSeeds = nonNeg(f)
		}
	}
	if b.Trials == 0 && b.Deadline == "" {
		p.errf(e.v, "budget.trials", "set trials: N (or a deadline), or the sweep never ends")
	}
}

func (p *specParser) parseGPUs(byKey map[string]entry, spec *Spec) {
	g := &spec.GPUs
	g.Mode = "auto"
	if spec.Trainer.Kind == "builtin" {
		g.Mode = "none"
	}
	g.PerGPU, g.PerTrial = 1, 1
	if e, ok := byKey["gpus"]; ok {
		switch {
		case e.v.Kind == yaml.ScalarNode && e.v.Tag == "!!str":
			if e.v.Value != "auto" && e.v.Value != "none" {
				p.errf(e.v, e.field, "expected auto, none or a list of GPU indexes such as [0, 2], got %q", e.v.Value)
			} else {
				g.Mode = e.v.Value
			}
		case e.v.Kind == yaml.SequenceNode:
			g.Mode = "list"
			seen := map[int64]bool{}
			for i, c := range e.v.Content {
				f := fmt.Sprintf("%s[%d]", e.field, i)
				if v, ok := p.intVal(deref(c), f); ok {
					if v < 0 || seen[v] {
						p.errf(c, f, "GPU index %d is negative or listed twice", v)
						continue
					}
					seen[v] = true
					g.IDs = append(g.IDs, int(v))
				}
			}
			if len(e.v.Content) == 0 {
				p.errf(e.v, e.field, "empty GPU list: use none for CPU slots")
			}
		default:
			p.errf(e.v, e.field, "expected auto, none or a list of GPU indexes such as [0, 2], got %s", kindName(e.v))
		}
	}
	for _, key := range []string{"per_gpu", "gpus_per_trial"} {
		e, ok := byKey[key]
		if !ok {
			continue
		}
		v, ok := p.intVal(e.v, e.field)
		if !ok {
			continue
		}
		if v < 1 {
			p.errf(e.v, e.field, "%s must be ≥ 1, got %d", key, v)
			continue
		}
		if key == "per_gpu" {
			g.PerGPU = int(v)
		} else {
			g.PerTrial = int(v)
			if g.Mode == "list" && int(v) > len(g.IDs) {
				p.errf(e.v, e.field, "gpus_per_trial %d is more than the %d GPUs listed in gpus", v, len(g.IDs))
			}
		}
	}
	if g.PerGPU > 1 && g.PerTrial > 1 {
		p.errf(byKey["per_gpu"].v, "per_gpu", "per_gpu > 1 (trials sharing a card) and gpus_per_trial > 1 (a trial spanning cards) do not mix")
	}
	if spec.Sampler.Kind == "grid" {
		p.checkGrid(spec)
	}
}

// checkGrid needs every parameter to be finite and the grid to fit the
// budget unless allow_large_grid says otherwise.
func (p *specParser) checkGrid(spec *Spec) {
	size := 1.0
	for _, prm := range spec.Search {
		switch {
		case prm.Type == ParamCategorical:
			size *= float64(len(prm.Choices))
		case prm.Type == ParamInt && prm.Step > 0:
			size *= math.Floor((prm.High-prm.Low)/prm.Step) + 1
		case prm.Type == ParamInt:
			size *= prm.High - prm.Low + 1
		case prm.Step > 0:
			size *= math.Floor((prm.High-prm.Low)/prm.Step+1e-9) + 1
		default:
			p.errf(&yaml.Node{Line: prm.Line}, "search."+prm.Name, "the grid sampler needs a finite set: give this float parameter a step, or use choice: [...]")
			return
		}
	}
	if spec.Budget.Trials > 0 && size > float64(spec.Budget.Trials) && !spec.Sampler.AllowLargeGrid {
		p.errf(&yaml.Node{Line: 1}, "sampler.kind", "the grid has %s points but budget.trials is %d: shrink the grid, raise trials, or set sampler.allow_large_grid: true", fmtNum(size), spec.Budget.Trials)
	}
}
