package sweep

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/lorasweep/lorasweep/kohya"
)

var paramKeys = []string{"float", "int", "choice", "log", "step", "ratio_of", "when", "target"}

// paramNodes remembers where each part of a param was written, for the
// checks that run once every param is known.
type paramNodes struct {
	key, value, rng, ratio, when *yaml.Node
	whenKeys                     map[string]*yaml.Node
	explicitTarget               bool
}

func (p *specParser) parseSearch(e entry, tr *trainerInfo) []Param {
	entries, ok := p.mapping(e.v, e.field, nil)
	if !ok {
		return nil
	}
	if len(entries) == 0 {
		p.errf(e.v, e.field, "empty search space: list at least one parameter")
		return nil
	}
	var params []Param
	nodes := map[string]*paramNodes{}
	written := map[string]bool{}
	for _, x := range entries {
		written[x.key] = true
		prm, pn, ok := p.parseParam(x, tr)
		if !ok {
			continue
		}
		params = append(params, prm)
		nodes[prm.Name] = pn
	}
	p.checkParamRefs(params, nodes, tr, written)
	return params
}

func (p *specParser) parseParam(x entry, tr *trainerInfo) (Param, *paramNodes, bool) {
	prm := Param{Name: x.key, Line: x.k.Line, Target: TargetArg}
	pn := &paramNodes{key: x.k, value: x.v, whenKeys: map[string]*yaml.Node{}}
	entries, ok := p.mapping(x.v, x.field, paramKeys)
	if !ok {
		return prm, pn, false
	}
	var kinds []entry
	var logE, stepE *entry
	good := true
	for i := range entries {
		f := entries[i]
		switch f.key {
		case "float", "int", "choice":
			kinds = append(kinds, f)
		case "log":
			logE = &entries[i]
			b, ok := p.boolVal(f.v, f.field)
			good = good && ok
			prm.Log = b
		case "step":
			stepE = &entries[i]
			v, ok := p.floatVal(f.v, f.field)
			if ok && v <= 0 {
				p.errf(f.v, f.field, "step must be > 0, got %s", f.v.Value)
				ok = false
			}
			good = good && ok
			prm.Step = v
		case "ratio_of":
			pn.ratio = f.v
			s, ok := p.str(f.v, f.field)
			good = good && ok
			prm.RatioOf = s
		case "when":
			pn.when = f.v
			good = p.parseWhen(f, &prm, pn) && good
		case "target":
			s, ok := p.str(f.v, f.field)
			targets := []string{string(TargetArg), string(TargetNetworkArg), string(TargetDataset)}
			if ok && !contains(targets, s) {
				p.errf(f.v, f.field, "unknown target %q%s (targets: arg, network_arg, dataset)", s, didYouMean(s, targets))
				ok = false
			}
			good = good && ok
			prm.Target = ParamTarget(s)
			pn.explicitTarget = true
		}
	}
	if len(kinds) == 0 {
		p.errf(x.v, x.field, "a parameter needs one of float: [low, high], int: [low, high] or choice: [...]")
		return prm, pn, false
	}
	if len(kinds) > 1 {
		p.errf(kinds[1].k, kinds[1].field, "a parameter has one of float, int or choice, not both %s and %s", kinds[0].key, kinds[1].key)
		return prm, pn, false
	}
	k := kinds[0]
	pn.rng = k.v
	switch k.key {
	case "float", "int":
		prm.Type = ParamFloat
		if k.key == "int" {
			prm.Type = ParamInt
		}
		good = p.parseRange(k, &prm) && good
	case "choice":
		prm.Type = ParamCategorical
		good = p.parseChoices(k, &prm) && good
		if logE != nil {
			p.errf(logE.k, logE.field, "log applies to float and int parameters, not choice")
			good = false
		}
		if stepE != nil {
			p.errf(stepE.k, stepE.field, "step applies to float and int parameters, not choice")
			good = false
		}
	}
	if good && prm.Log && prm.Step > 0 {
		p.errf(stepE.k, stepE.field, "step and log do not mix: a log scale has no even grid")
		good = false
	}
	if good && prm.Step > 0 && prm.Type != ParamCategorical {
		if prm.Type == ParamInt && prm.Step != math.Trunc(prm.Step) {
			p.errf(stepE.v, stepE.field, "an int parameter's step must be an integer, got %s", stepE.v.Value)
			good = false
		} else if n := (prm.High - prm.Low) / prm.Step; math.Abs(n-math.Round(n)) > 1e-9 {
			p.errf(stepE.v, stepE.field, "high − low (%s) is not a multiple of step %s: the grid would not reach high", fmtNum(prm.High-prm.Low), fmtNum(prm.Step))
			good = false
		}
	}
	if prm.RatioOf != "" && prm.Type != ParamFloat {
		p.errf(pn.ratio, join(x.field, "ratio_of"), "ratio_of needs float: [low, high], the range of the ratio")
		good = false
	}
	if tr.kind == "command" {
		if pn.explicitTarget {
			p.errf(x.k, join(x.field, "target"), "target applies to the kohya and builtin trainers; the command trainer's parameters are free-form")
			good = false
		}
		prm.Target = TargetFree
		return prm, pn, good
	}
	if !p.checkParamName(x, &prm, pn, tr) {
		good = false
	}
	return prm, pn, good
}

func fmtNum(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

func (p *specParser) parseRange(k entry, prm *Param) bool {
	n := k.v
	if n.Kind != yaml.SequenceNode || len(n.Content) != 2 {
		p.errf(n, k.field, "expected a list [low, high], got %s", kindName(n))
		return false
	}
	lo, hi := deref(n.Content[0]), deref(n.Content[1])
	var ok1, ok2 bool
	if prm.Type == ParamInt {
		var a, b int64
		a, ok1 = p.intVal(lo, k.field+"[0]")
		b, ok2 = p.intVal(hi, k.field+"[1]")
		prm.Low, prm.High = float64(a), float64(b)
	} else {
		prm.Low, ok1 = p.floatVal(lo, k.field+"[0]")
		prm.High, ok2 = p.floatVal(hi, k.field+"[1]")
	}
	if !ok1 || !ok2 {
		return false
	}
	if prm.Low >= prm.High {
		hint := ""
		if prm.Low == prm.High {
			hint = " (to fix a value, put it in trainer.fixed)"
		}
		p.errf(n, k.field, "low %s must be below high %s%s", fmtNum(prm.Low), fmtNum(prm.High), hint)
		return false
	}
	if prm.Log && prm.Low <= 0 {
		p.errf(n, k.field, "a log scale needs low > 0, got %s", fmtNum(prm.Low))
		return false
	}
	return true
}

func (p *specParser) parseChoices(k entry, prm *Param) bool {
	n := k.v
	if n.Kind != yaml.SequenceNode {
		p.errf(n, k.field, "expected a list of choices, got %s", kindName(n))
		return false
	}
	if len(n.Content) == 0 {
		p.errf(n, k.field, "empty choice list: give at least one choice")
		return false
	}
	seen := map[string]bool{}
	for i, c := range n.Content {
		c = deref(c)
		f := fmt.Sprintf("%s[%d]", k.field, i)
		if c.Kind != yaml.ScalarNode {
			p.errf(c, f, "a choice is a string, number or boolean, got %s", kindName(c))
			return false
		}
		v, ok := p.value(c, f)
		if !ok {
			return false
		}
		s := choiceString(v)
		if seen[s] {
			p.errf(c, f, "duplicate choice %s", s)
			return false
		}
		seen[s] = true
		prm.Choices = append(prm.Choices, v)
	}
	return true
}

func (p *specParser) parseWhen(f entry, prm *Param, pn *paramNodes) bool {
	entries, ok := p.mapping(f.v, f.field, nil)
	if !ok {
		return false
	}
	if len(entries) == 0 {
		p.errf(f.v, f.field, "empty when: name a categorical parameter and its values")
		return false
	}
	prm.When = map[string][]any{}
	good := true
	for _, w := range entries {
		pn.whenKeys[w.key] = w.k
		v, ok := p.value(w.v, w.field)
		if !ok {
			good = false
			continue
		}
		if list, isList := v.([]any); isList {
			if len(list) == 0 {
				p.errf(w.v, w.field, "empty value list")
				good = false
				continue
			}
			prm.When[w.key] = list
		} else {
			prm.When[w.key] = []any{v}
		}
	}
	return good
}

// checkParamName checks a kohya/builtin parameter's name and decides its
// target; it also checks the param's type against the argument's type.
func (p *specParser) checkParamName(x entry, prm *Param, pn *paramNodes, tr *trainerInfo) bool {
	name := prm.Name
	if name == "stop_text_encoder_training" {
		p.errf(x.k, x.field, "%s", msgStopTE)
		return false
	}
	if pn.explicitTarget {
		switch prm.Target {
		case TargetNetworkArg:
			if na, ok := kohya.LookupNetworkArg(name); ok {
				return p.checkNetworkArgType(x, prm, na)
			}
			return true // another network module's arg (LyCORIS algo, …)
		case TargetDataset:
			if !contains(datasetParams, name) {
				p.errf(x.k, x.field, "unknown dataset option %q%s (dataset options: %s)", name, didYouMean(name, datasetParams), strings.Join(datasetParams, ", "))
				return false
			}
			return p.checkIntOnly(x, prm, name)
		}
	}
	if arg, ok := kohya.LookupArg(name); ok {
		prm.Target = TargetArg
		if arg.SDXLOnly && tr.kind == "kohya" && !tr.sdxl {
			p.errf(x.k, x.field, "%s is an argument of sdxl_train_network.py only, and the script is not an SDXL one", name)
			return false
		}
		return p.checkArgType(x, prm, arg)
	}
	if pn.explicitTarget && prm.Target == TargetArg {
		p.errf(x.k, x.field, "unknown sd-scripts argument %q%s", name, didYouMean(name, kohya.ArgNames()))
		return false
	}
	if na, ok := kohya.LookupNetworkArg(name); ok {
		prm.Target = TargetNetworkArg
		return p.checkNetworkArgType(x, prm, na)
	}
	if contains(datasetParams, name) {
		prm.Target = TargetDataset
		return p.checkIntOnly(x, prm, name)
	}
	p.errf(x.k, x.field, "unknown sd-scripts argument %q%s", name, didYouMean(name, argNames()))
	return false
}

func (p *specParser) checkIntOnly(x entry, prm *Param, name string) bool {
	if prm.Type == ParamInt || (prm.Type == ParamCategorical && allOfType[int64](prm.Choices)) {
		if prm.Low < 1 && prm.Type == ParamInt {
			p.errf(x.v, x.field, "%s must be ≥ 1, got a low of %s", name, fmtNum(prm.Low))
			return false
		}
		return true
	}
	p.errf(x.v, x.field, "%s is an integer: use int: [low, high] or a choice of integers", name)
	return false
}

func allOfType[T any](vs []any) bool {
	for _, v := range vs {
		if _, ok := v.(T); !ok {
			return false
		}
	}
	return true
}

func allNumbers(vs []any) bool {
	for _, v := range vs {
		if _, ok := toFloat(v); !ok {
			return false
		}
	}
	return true
}

func (p *specParser) checkArgType(x entry, prm *Param, arg kohya.Arg) bool {
	name := arg.Name
	switch arg.Kind {
	case kohya.KindInt:
		if prm.Type == ParamInt || prm.RatioOf != "" || (prm.Type == ParamCategorical && allOfType[int64](prm.Choices)) {
			return true
		}
		p.errf(x.v, x.field, "%s is an integer argument: use int: [low, high] or a choice of integers", name)
	case kohya.KindFloat, kohya.KindFloatList:
		if prm.Type != ParamCategorical || allNumbers(prm.Choices) {
			return true
		}
		p.errf(x.v, x.field, "%s is a number argument: use float: [low, high] or a choice of numbers", name)
	case kohya.KindIntOrFloat:
		if prm.Type == ParamFloat && prm.High >= 1 {
			p.errf(x.v, x.field, "%s as a float is a ratio of the total steps and must stay below 1, got a high of %s: use int: [low, high] for steps", name, fmtNum(prm.High))
			return false
		}
		if prm.Type == ParamCategorical {
			for _, c := range prm.Choices {
				if f, ok := c.(float64); ok && f >= 1 {
					p.errf(x.v, x.field, "%s choice %s is a float ≥ 1, which sd-scripts reads as a ratio of the total steps: write it as an integer", name, choiceString(c))
					return false
				}
				if _, ok := toFloat(c); !ok {
					p.errf(x.v, x.field, "%s takes integers (steps) or floats below 1 (ratios), got %s", name, describeValue(c))
					return false
				}
			}
		}
		return true
	case kohya.KindBool:
		if prm.Type == ParamCategorical && allOfType[bool](prm.Choices) {
			return true
		}
		p.errf(x.v, x.field, "%s is a flag: use choice: [true, false]", name)
	case kohya.KindString:
		if prm.Type != ParamCategorical || !allOfType[string](prm.Choices) {
			if name == "resolution" {
				p.errf(x.v, x.field, "resolution is a string argument: use choice: [\"512,512\", \"768,768\"]")
				return false
			}
			p.errf(x.v, x.field, "%s is a string argument: use choice: [...] of strings", name)
			return false
		}
		valid := arg.Choices
		if name == "lr_scheduler" {
			valid = lrSchedulers
		}
		if len(valid) > 0 {
			ok := true
			for i, c := range prm.Choices {
				s := c.(string)
				if !validChoice(name, s, valid) {
					field := fmt.Sprintf("%s.choice[%d]", x.field, i)
					p.errf(x.v.Content[0], field, "%q is not a known %s%s", s, name, didYouMean(s, valid))
					ok = false
				}
			}
			return ok
		}
		return true
	default:
		p.errf(x.k, x.field, "%s is a list argument and cannot be searched as a whole: search network args by name (rank_dropout, conv_dim, …) or fix it in trainer.fixed", name)
	}
	return false
}

func validChoice(arg, s string, valid []string) bool {
	if arg == "lr_scheduler" {
		return knownScheduler(s)
	}
	return contains(valid, s)
}

func (p *specParser) checkNetworkArgType(x entry, prm *Param, na kohya.NetworkArg) bool {
	switch na.Kind {
	case kohya.KindInt:
		if prm.Type == ParamInt || prm.RatioOf != "" || (prm.Type == ParamCategorical && allOfType[int64](prm.Choices)) {
			return true
		}
		p.errf(x.v, x.field, "network arg %s is an integer: use int: [low, high] or a choice of integers", na.Name)
		return false
	case kohya.KindFloat:
		if prm.Type != ParamCategorical || allNumbers(prm.Choices) {
			return true
		}
		p.errf(x.v, x.field, "network arg %s is a number: use float: [low, high] or a choice of numbers", na.Name)
		return false
	}
	return true
}

// checkParamRefs checks when and ratio_of, which name other parameters, and
// refuses cycles among them.
//
// A reference to a param that is written but was refused (its own error is
// already reported) is not reported again.
func (p *specParser) checkParamRefs(params []Param, nodes map[string]*paramNodes, tr *trainerInfo, written map[string]bool) {
	byName := map[string]*Param{}
	names := make([]string, 0, len(params))
	for i := range params {
		byName[params[i].Name] = &params[i]
		names = append(names, params[i].Name)
	}
	field := func(prm *Param, rest string) string { return "search." + prm.Name + "." + rest }
	for i := range params {
		prm := &params[i]
		pn := nodes[prm.Name]
		for dep, vals := range prm.When {
			kn := pn.whenKeys[dep]
			f := field(prm, "when."+dep)
			if dep == prm.Name {
				p.refErr(prm, kn, f, "a parameter cannot depend on itself")
				delete(prm.When, dep)
				continue
			}
			other, ok := byName[dep]
			if !ok && written[dep] {
				p.badParams[prm.Name] = true
				delete(prm.When, dep)
				continue
			}
			if !ok {
				p.refErr(prm, kn, f, "no parameter %q in search%s", dep, didYouMean(dep, names))
				delete(prm.When, dep)
				continue
			}
			if other.Type != ParamCategorical {
				p.refErr(prm, kn, f, "when needs a categorical parameter (choice: [...]); %s is %s", dep, paramKind(*other))
				delete(prm.When, dep)
				continue
			}
			choices := make([]string, len(other.Choices))
			for j, c := range other.Choices {
				choices[j] = choiceString(c)
			}
			for _, v := range vals {
				s := choiceString(v)
				if !contains(choices, s) {
					p.refErr(prm, kn, f, "%s is not a choice of %s%s (choices: %s)", quoteChoice(v), dep, didYouMean(s, choices), strings.Join(choices, ", "))
				}
			}
		}
		if prm.RatioOf != "" {
			f := "search." + prm.Name + ".ratio_of"
			if prm.RatioOf == prm.Name {
				p.refErr(prm, pn.ratio, f, "a parameter cannot be a ratio of itself")
			} else if written[prm.RatioOf] && byName[prm.RatioOf] == nil {
				p.badParams[prm.Name] = true
			} else if other, ok := byName[prm.RatioOf]; ok {
				if other.Type == ParamCategorical && !allNumbers(other.Choices) {
					p.refErr(prm, pn.ratio, f, "%s is not numeric: ratio_of needs a number", prm.RatioOf)
				}
			} else if tr.checksNames() {
				if _, ok := tr.baseValue(prm.RatioOf); !ok {
					p.refErr(prm, pn.ratio, f, "no parameter %q in search and no value for it in the base config or trainer.fixed%s", prm.RatioOf, didYouMean(prm.RatioOf, names))
				}
			} else {
				p.refErr(prm, pn.ratio, f, "no parameter %q in search%s", prm.RatioOf, didYouMean(prm.RatioOf, names))
			}
		}
	}
	if cyc := findCycle(params); cyc != nil {
		prm := byName[cyc[0]]
		p.errf(nodes[prm.Name].key, "search."+prm.Name, "when/ratio_of form a cycle: %s", strings.Join(cyc, " → "))
	}
}

// refErr reports an error in a param's references and marks the param bad.
func (p *specParser) refErr(prm *Param, n *yaml.Node, field, format string, args ...any) {
	p.badParams[prm.Name] = true
	p.errf(n, field, format, args...)
}

// paramKind names a param's distribution for messages: float, log-float,
// int, log-int, step-int, step-float or categorical.
func paramKind(prm Param) string {
	switch prm.Type {
	case ParamCategorical:
		return "categorical"
	case ParamInt:
		if prm.Log {
			return "log-int"
		}
		if prm.Step > 0 {
			return "step-int"
		}
		return "int"
	}
	if prm.Log {
		return "log-float"
	}
	if prm.Step > 0 {
		return "step-float"
	}
	return "float"
}

// deps lists the params a param needs first: its when conditions and its
// ratio_of, sorted for determinism.
func (prm Param) deps() []string {
	var out []string
	for d := range prm.When {
		out = append(out, d)
	}
	if prm.RatioOf != "" {
		out = append(out, prm.RatioOf)
	}
	sortStrings(out)
	return out
}

func findCycle(params []Param) []string {
	byName := map[string]Param{}
	for _, prm := range params {
		byName[prm.Name] = prm
	}
	state := map[string]int{} // 1 visiting, 2 done
	var stack []string
	var found []string
	var visit func(n string) bool
	visit = func(n string) bool {
		prm, ok := byName[n]
		if !ok {
			return false
		}
		switch state[n] {
		case 1:
			for i, s := range stack {
				if s == n {
					found = append(append([]string(nil), stack[i:]...), n)
				}
			}
			return true
		case 2:
			return false
		}
		state[n] = 1
		stack = append(stack, n)
		for _, d := range prm.deps() {
			if d != n && visit(d) {
				return true
			}
		}
		stack = stack[:len(stack)-1]
		state[n] = 2
		return false
	}
	for _, prm := range params {
		if visit(prm.Name) {
			return found
		}
	}
	return nil
}

// choiceString is a choice's canonical string form: goptuna's categorical
// choices are strings, and floats keep a decimal point so 1 and 1.0 differ.
func choiceString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	case int:
		return strconv.Itoa(x)
	case float64:
		s := strconv.FormatFloat(x, 'g', -1, 64)
		if !strings.ContainsAny(s, ".eEIN") {
			s += ".0"
		}
		return s
	case bool:
		return strconv.FormatBool(x)
	}
	return fmt.Sprint(v)
}

func quoteChoice(v any) string {
	if s, ok := v.(string); ok {
		return strconv.Quote(s)
	}
	return choiceString(v)
}
