package sweep

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/c-bata/goptuna"

	"github.com/lorasweep/lorasweep/kohya"
)

// Values in a params map (SuggestParams, ParamsFromInternal, TrialConfig's
// input) are typed as a user wrote them: int64 for int params, float64 for
// float params, and a categorical's own choice (string, int64, float64 or
// bool). A ratio_of param holds the ratio; TrialConfig multiplies it out.

// LogIntParams names the int parameters sampled on a log scale. Their
// distribution is a goptuna.LogUniformDistribution (goptuna has no log-int),
// so samplers must round what they propose for them.
func (s *Spec) LogIntParams() map[string]bool {
	out := map[string]bool{}
	for _, p := range s.Search {
		if p.Type == ParamInt && p.Log {
			out[p.Name] = true
		}
	}
	return out
}

// Distributions maps each parameter to its goptuna distribution (a value,
// not a pointer, as goptuna's samplers type-switch on values): float →
// UniformDistribution, log float and log int → LogUniformDistribution,
// float with step → DiscreteUniformDistribution, int →
// IntUniformDistribution, int with step → StepIntUniformDistribution,
// categorical → CategoricalDistribution of the choices' string forms.
func (s *Spec) Distributions() map[string]interface{} {
	out := make(map[string]interface{}, len(s.Search))
	for _, p := range s.Search {
		out[p.Name] = p.distribution()
	}
	return out
}

func (p Param) distribution() interface{} {
	switch {
	case p.Type == ParamCategorical:
		return goptuna.CategoricalDistribution{Choices: p.choiceStrings()}
	case p.Log:
		return goptuna.LogUniformDistribution{Low: p.Low, High: p.High}
	case p.Type == ParamInt && p.Step > 0:
		return goptuna.StepIntUniformDistribution{Low: int(p.Low), High: int(p.High), Step: int(p.Step)}
	case p.Type == ParamInt:
		return goptuna.IntUniformDistribution{Low: int(p.Low), High: int(p.High)}
	case p.Step > 0:
		return goptuna.DiscreteUniformDistribution{Low: p.Low, High: p.High, Q: p.Step}
	}
	return goptuna.UniformDistribution{Low: p.Low, High: p.High}
}

func (p Param) choiceStrings() []string {
	out := make([]string, len(p.Choices))
	for i, c := range p.Choices {
		out[i] = choiceString(c)
	}
	return out
}

// ordered returns the params so that each comes after the params its when
// conditions and ratio_of name; ties keep spec order.
func (s *Spec) ordered() []Param {
	byName := map[string]Param{}
	for _, p := range s.Search {
		byName[p.Name] = p
	}
	done := map[string]bool{}
	var out []Param
	var visit func(p Param, depth int)
	visit = func(p Param, depth int) {
		if done[p.Name] || depth > len(s.Search) {
			return
		}
		for _, d := range p.deps() {
			if dp, ok := byName[d]; ok {
				visit(dp, depth+1)
			}
		}
		if !done[p.Name] {
			done[p.Name] = true
			out = append(out, p)
		}
	}
	for _, p := range s.Search {
		visit(p, 0)
	}
	return out
}

// active reports whether p's when conditions hold for the values chosen so
// far; a condition on a param that is absent fails.
func (p Param) active(chosen map[string]any) bool {
	for dep, vals := range p.When {
		v, ok := chosen[dep]
		if !ok {
			return false
		}
		cs := choiceString(normalizeNumber(v))
		match := false
		for _, w := range vals {
			if choiceString(w) == cs {
				match = true
				break
			}
		}
		if !match {
			return false
		}
	}
	return true
}

// SuggestParams asks the trial for every active parameter, parents before
// children (so `when` is decided on the parent's value and a param whose
// condition fails is not suggested at all), and returns the typed values.
func (s *Spec) SuggestParams(t goptuna.Trial) (map[string]any, error) {
	out := map[string]any{}
	for _, p := range s.ordered() {
		if !p.active(out) {
			continue
		}
		v, err := p.suggest(&t)
		if err != nil {
			return nil, fmt.Errorf("suggest %s: %w", p.Name, err)
		}
		out[p.Name] = v
	}
	return out, nil
}

func (p Param) suggest(t *goptuna.Trial) (any, error) {
	switch d := p.distribution().(type) {
	case goptuna.CategoricalDistribution:
		s, err := t.SuggestCategorical(p.Name, d.Choices)
		if err != nil {
			return nil, err
		}
		for i, c := range d.Choices {
			if c == s {
				return p.Choices[i], nil
			}
		}
		return nil, fmt.Errorf("choice %q not in the space", s)
	case goptuna.LogUniformDistribution:
		v, err := t.SuggestLogFloat(p.Name, d.Low, d.High)
		if err != nil {
			return nil, err
		}
		return p.external(v), nil
	case goptuna.StepIntUniformDistribution:
		v, err := t.SuggestStepInt(p.Name, d.Low, d.High, d.Step)
		return int64(v), err
	case goptuna.IntUniformDistribution:
		v, err := t.SuggestInt(p.Name, d.Low, d.High)
		return int64(v), err
	case goptuna.DiscreteUniformDistribution:
		v, err := t.SuggestDiscreteFloat(p.Name, d.Low, d.High, d.Q)
		return v, err
	case goptuna.UniformDistribution:
		return t.SuggestFloat(p.Name, d.Low, d.High)
	}
	return nil, fmt.Errorf("no distribution for %s", p.Name)
}

// external maps an internal (goptuna) value to the param's typed value.
func (p Param) external(v float64) any {
	switch {
	case p.Type == ParamInt && p.Step > 0:
		n := math.Round((v - p.Low) / p.Step)
		return int64(p.Low + n*p.Step)
	case p.Type == ParamInt:
		r := math.Round(v)
		// Rounding a log-int near a bound must not leave the range.
		return int64(math.Max(p.Low, math.Min(p.High, r)))
	case p.Step > 0:
		return math.Floor((v-p.Low)/p.Step+0.5)*p.Step + p.Low
	}
	return v
}

// ParamsFromInternal turns stored internal values (goptuna's floats;
// categorical indexes) back into typed params. An unknown name or a
// categorical index out of range is an error: the stored trial does not
// belong to this space.
func (s *Spec) ParamsFromInternal(internal map[string]float64) (map[string]any, error) {
	byName := s.paramIndex()
	out := make(map[string]any, len(internal))
	for name, v := range internal {
		p, ok := byName[name]
		if !ok {
			return nil, fmt.Errorf("read param %s: not in the search space", name)
		}
		if p.Type == ParamCategorical {
			i := int(v)
			if float64(i) != v || i < 0 || i >= len(p.Choices) {
				return nil, fmt.Errorf("read param %s: choice index %v out of range", name, v)
			}
			out[name] = p.Choices[i]
			continue
		}
		out[name] = p.external(v)
	}
	return out, nil
}

func (s *Spec) paramIndex() map[string]Param {
	m := make(map[string]Param, len(s.Search))
	for _, p := range s.Search {
		m[p.Name] = p
	}
	return m
}

// InternalFromParams converts a user's typed params (an enqueued config,
// the baseline) into goptuna's internal values. Values that lie outside
// the space (out of range, off the step grid, not a choice, present while
// their when condition fails) are left out of the map and inside is false;
// so is a missing active param. An unknown name or a value of the wrong kind
// (a string for a float param) is an error.
func (s *Spec) InternalFromParams(params map[string]any) (map[string]float64, bool, error) {
	byName := s.paramIndex()
	for name := range params {
		if _, ok := byName[name]; !ok {
			return nil, false, fmt.Errorf("convert param %s: not in the search space", name)
		}
	}
	out := map[string]float64{}
	inside := true
	chosen := map[string]any{}
	for _, p := range s.ordered() {
		v, present := params[p.Name]
		if !p.active(chosen) {
			if present {
				inside = false
			}
			continue
		}
		if !present {
			inside = false
			continue
		}
		chosen[p.Name] = v
		if p.Type == ParamCategorical {
			idx := p.choiceIndex(v)
			if idx < 0 {
				inside = false
				continue
			}
			out[p.Name] = float64(idx)
			continue
		}
		f, ok := toFloat(normalizeNumber(v))
		if !ok {
			return nil, false, fmt.Errorf("convert param %s: expected a number, got %s", p.Name, describeValue(v))
		}
		if !p.contains(f) {
			inside = false
			continue
		}
		out[p.Name] = f
	}
	return out, inside, nil
}

// choiceIndex finds v among a categorical's choices: by its written form,
// else as the same number (an integer 1 read back from JSON is the choice
// 1.0); -1 when it is none of them.
func (p Param) choiceIndex(v any) int {
	v = normalizeNumber(v)
	cs := choiceString(v)
	for i, c := range p.Choices {
		if choiceString(c) == cs {
			return i
		}
	}
	if f, ok := toFloat(v); ok {
		for i, c := range p.Choices {
			if g, ok := toFloat(c); ok && g == f {
				return i
			}
		}
	}
	return -1
}

// checkValue checks a user's value for p (an --enqueue file's) and returns
// it typed as the space types it (int64 for int, float64 for float, the
// choice itself for a categorical); a non-empty string says what is wrong
// and what would be valid.
func (p Param) checkValue(v any) (any, string) {
	v = normalizeNumber(v)
	if p.Type == ParamCategorical {
		if i := p.choiceIndex(v); i >= 0 {
			return p.Choices[i], ""
		}
		return nil, fmt.Sprintf("%s is not one of the choices [%s]", describeValue(v), strings.Join(p.choiceStrings(), ", "))
	}
	f, ok := toFloat(v)
	if !ok {
		return nil, fmt.Sprintf("expected a number (%s), got %s", p.summary(), describeValue(v))
	}
	if p.Type == ParamInt && f != math.Trunc(f) {
		return nil, fmt.Sprintf("expected an integer (%s), got %s", p.summary(), describeValue(v))
	}
	if !p.contains(f) {
		msg := fmt.Sprintf("%s lies outside the search space (%s)", describeValue(v), p.summary())
		if p.RatioOf != "" {
			msg += fmt.Sprintf("; %s is searched as a ratio of %s: write the ratio, not the value trained", p.Name, p.RatioOf)
		}
		return nil, msg
	}
	if p.Type == ParamInt {
		return int64(f), ""
	}
	return f, ""
}

// canonicalParams types stored params as the space does (checkValue), so a
// whole float read back as an integer is the float again; values that do
// not fit the space, and names outside it, are kept as they are.
func (s *Spec) canonicalParams(params map[string]any) map[string]any {
	byName := s.paramIndex()
	out := make(map[string]any, len(params))
	for k, v := range params {
		out[k] = v
		if p, ok := byName[k]; ok {
			if cv, msg := p.checkValue(v); msg == "" {
				out[k] = cv
			}
		}
	}
	return out
}

func (p Param) contains(f float64) bool {
	const eps = 1e-9
	if f < p.Low-eps*math.Abs(p.Low) || f > p.High+eps*math.Abs(p.High) {
		return false
	}
	if p.Type == ParamInt && f != math.Trunc(f) {
		return false
	}
	if p.Step > 0 {
		n := (f - p.Low) / p.Step
		if math.Abs(n-math.Round(n)) > 1e-6 {
			return false
		}
	}
	return true
}

// normalizeNumber maps Go's other number types onto int64 and float64.
func normalizeNumber(v any) any {
	switch x := v.(type) {
	case int:
		return int64(x)
	case int32:
		return int64(x)
	case float32:
		return float64(x)
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	}
	return v
}

// TrialConfig is the trial's sd-scripts configuration: the base (base
// config with trainer.fixed applied) plus the params. Arguments are set with
// the argument's TOML type (an int for network_dim, a float for
// learning_rate); network args become "key=value" entries of network_args,
// replacing an entry with the same key; a ratio_of param is multiplied by
// its reference (network_alpha = ratio × network_dim, the reference taken
// from params or else from the base). Dataset params (num_repeats) are not
// arguments: see DatasetParams. Output paths are not set: the runner does.
func (s *Spec) TrialConfig(params map[string]any) kohya.Config {
	cfg := kohya.Config(s.Base).Clone()
	if cfg == nil {
		cfg = kohya.Config{}
	}
	for _, p := range s.Search {
		v, ok := params[p.Name]
		if !ok {
			continue
		}
		v = s.trainedValue(p, params, v)
		switch p.Target {
		case TargetArg, TargetFree:
			cfg[p.Name] = v
		case TargetNetworkArg:
			cfg["network_args"] = mergeNetworkArg(cfg["network_args"], p.Name, v)
		}
	}
	return cfg
}

// trainedValue is param p's value v as the trainer gets it: a ratio_of
// param multiplied by its reference (from params, else the base), then
// typed as its argument is written.
func (s *Spec) trainedValue(p Param, params map[string]any, v any) any {
	v = normalizeNumber(v)
	if p.RatioOf != "" {
		ref, ok := params[p.RatioOf]
		if !ok {
			ref = s.Base[p.RatioOf]
		}
		r, ok1 := toFloat(v)
		b, ok2 := toFloat(normalizeNumber(ref))
		if ok1 && ok2 {
			v = r * b
		}
	}
	switch p.Target {
	case TargetArg:
		if arg, ok := kohya.LookupArg(p.Name); ok {
			v = typedFor(arg.Kind, v)
		}
	case TargetNetworkArg:
		if na, ok := kohya.LookupNetworkArg(p.Name); ok {
			v = typedFor(na.Kind, v)
		}
	}
	return v
}

// TrainedParams returns params as they were trained, for every view: a
// ratio_of param's ratio multiplied out by its reference (network_alpha
// 0.5 of network_dim 16 is 8), exactly as TrialConfig writes it; other
// values are copied unchanged. The sampler, the importance chart and
// --enqueue files keep the ratio, the searched coordinate. s may be nil.
func (s *Spec) TrainedParams(params map[string]any) map[string]any {
	out := make(map[string]any, len(params))
	for k, v := range params {
		out[k] = v
	}
	if s == nil {
		return out
	}
	for _, p := range s.Search {
		if v, ok := params[p.Name]; ok && p.RatioOf != "" {
			out[p.Name] = s.trainedValue(p, params, v)
		}
	}
	return out
}

// Ratios returns the searched ratio of each ratio_of param params holds
// (network_alpha → 0.5), nil when there is none. s may be nil.
func (s *Spec) Ratios(params map[string]any) map[string]any {
	var out map[string]any
	for _, p := range s.ratioParams() {
		if v, ok := params[p.Name]; ok {
			if out == nil {
				out = map[string]any{}
			}
			out[p.Name] = normalizeNumber(v)
		}
	}
	return out
}

func (s *Spec) ratioParams() []Param {
	if s == nil {
		return nil
	}
	var out []Param
	for _, p := range s.Search {
		if p.RatioOf != "" {
			out = append(out, p)
		}
	}
	return out
}

// FormatTrainedParam renders params[name] as trained, for tables and
// listings: a ratio_of param reads "2.07 (0.6902×network_dim)", the value
// trained with the searched ratio beside it. ok is false when params does
// not hold name. s may be nil.
func (s *Spec) FormatTrainedParam(params map[string]any, name string) (string, bool) {
	v, ok := params[name]
	if !ok {
		return "", false
	}
	for _, p := range s.ratioParams() {
		if p.Name == name {
			return fmt.Sprintf("%s (%s×%s)", FormatValue(s.trainedValue(p, params, v)), FormatValue(normalizeNumber(v)), p.RatioOf), true
		}
	}
	return FormatValue(v), true
}

// FormatTrainedParams is FormatParams of the values as trained, each ratio
// beside its ratio_of param's value: "network_alpha=8 (0.5×network_dim)
// network_dim=16".
func (s *Spec) FormatTrainedParams(params map[string]any) string {
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		v, _ := s.FormatTrainedParam(params, k)
		parts[i] = k + "=" + v
	}
	return strings.Join(parts, " ")
}

// typedFor converts a numeric value to the type an argument kind is written
// with; other values pass through.
func typedFor(kind kohya.ArgKind, v any) any {
	f, isNum := toFloat(v)
	if !isNum {
		return v
	}
	switch kind {
	case kohya.KindInt:
		return int64(math.Round(f))
	case kohya.KindFloat, kohya.KindFloatList:
		return f
	}
	return v
}

// DatasetParams returns the params that change the dataset rather than an
// argument (num_repeats), for the runner to apply when it prepares the
// trial's dataset config.
func (s *Spec) DatasetParams(params map[string]any) map[string]any {
	out := map[string]any{}
	for _, p := range s.Search {
		if v, ok := params[p.Name]; ok && p.Target == TargetDataset {
			out[p.Name] = v
		}
	}
	return out
}

// ParamsFromConfig reads the search parameters' values out of a complete
// config (the base config, for the baseline trial): arguments by name,
// network args from network_args entries, a ratio_of param as value ÷
// reference. Params the config does not set are left out; InternalFromParams
// then says whether the result lies inside the space.
func (s *Spec) ParamsFromConfig(c kohya.Config) map[string]any {
	netArgs := map[string]string{}
	switch list := c["network_args"].(type) {
	case []any:
		for _, e := range list {
			if str, ok := e.(string); ok {
				k, v, _ := strings.Cut(str, "=")
				netArgs[strings.TrimSpace(k)] = strings.TrimSpace(v)
			}
		}
	case []string:
		for _, str := range list {
			k, v, _ := strings.Cut(str, "=")
			netArgs[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	out := map[string]any{}
	for _, p := range s.Search {
		var v any
		var ok bool
		switch p.Target {
		case TargetArg, TargetFree:
			v, ok = c[p.Name]
		case TargetNetworkArg:
			var str string
			if str, ok = netArgs[p.Name]; ok {
				v = parseLoose(str)
			}
		}
		if !ok || v == nil {
			continue
		}
		v = normalizeNumber(v)
		if p.RatioOf != "" {
			num, ok1 := toFloat(v)
			den, ok2 := toFloat(normalizeNumber(c[p.RatioOf]))
			if !ok1 || !ok2 || den == 0 {
				continue
			}
			v = num / den
		}
		switch p.Type {
		case ParamInt:
			if f, ok := toFloat(v); ok && f == math.Trunc(f) {
				v = int64(f)
			}
		case ParamFloat:
			if f, ok := toFloat(v); ok {
				v = f
			}
		case ParamCategorical:
			// A float choice 1.0 and a config's integer 1 are one value.
			for _, ch := range p.Choices {
				a, ok1 := toFloat(ch)
				b, ok2 := toFloat(v)
				if ok1 && ok2 && a == b {
					v = ch
				}
			}
		}
		out[p.Name] = v
	}
	return out
}

// parseLoose reads a network_args value: an integer, a float, else the text.
func parseLoose(s string) any {
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return i
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return f
	}
	return s
}

// SpaceJSON is the canonical JSON of the search space (params sorted by
// name, numbers typed: floats keep a decimal point), for storing with the
// study and comparing with DiffSpaces.
func (s *Spec) SpaceJSON() ([]byte, error) {
	params := append([]Param(nil), s.Search...)
	sort.Slice(params, func(i, j int) bool { return params[i].Name < params[j].Name })
	if params == nil {
		params = []Param{}
	}
	b, err := json.Marshal(params)
	if err != nil {
		return nil, fmt.Errorf("encode search space: %w", err)
	}
	return b, nil
}

// DiffSpaces compares two SpaceJSON outputs and describes each difference
// in one line ("network_dim: high 128 → 256", "added rank_dropout: float
// [0, 0.3]"); nil when they describe the same space.
func DiffSpaces(stored, current []byte) []string {
	var a, b []Param
	if err := json.Unmarshal(stored, &a); err != nil {
		return []string{fmt.Sprintf("stored search space is unreadable: %v", err)}
	}
	if err := json.Unmarshal(current, &b); err != nil {
		return []string{fmt.Sprintf("current search space is unreadable: %v", err)}
	}
	am, bm := map[string]Param{}, map[string]Param{}
	var names []string
	for _, p := range a {
		am[p.Name] = p
		names = append(names, p.Name)
	}
	for _, p := range b {
		bm[p.Name] = p
		if _, ok := am[p.Name]; !ok {
			names = append(names, p.Name)
		}
	}
	sort.Strings(names)
	var out []string
	for _, n := range names {
		pa, inA := am[n]
		pb, inB := bm[n]
		switch {
		case !inA:
			out = append(out, fmt.Sprintf("added %s: %s", n, pb.summary()))
		case !inB:
			out = append(out, fmt.Sprintf("removed %s: %s", n, pa.summary()))
		default:
			out = append(out, diffParam(pa, pb)...)
		}
	}
	return out
}

func diffParam(a, b Param) []string {
	var out []string
	add := func(field, x, y string) {
		if x != y {
			out = append(out, fmt.Sprintf("%s: %s %s → %s", a.Name, field, x, y))
		}
	}
	add("type", paramKind(a), paramKind(b))
	if a.Type != ParamCategorical || b.Type != ParamCategorical {
		add("low", fmtNum(a.Low), fmtNum(b.Low))
		add("high", fmtNum(a.High), fmtNum(b.High))
		add("step", fmtNum(a.Step), fmtNum(b.Step))
	}
	add("choices", "["+strings.Join(a.choiceStrings(), ", ")+"]", "["+strings.Join(b.choiceStrings(), ", ")+"]")
	add("ratio_of", orNone(a.RatioOf), orNone(b.RatioOf))
	add("when", whenString(a.When), whenString(b.When))
	add("target", string(a.Target), string(b.Target))
	return out
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func whenString(w map[string][]any) string {
	if len(w) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(w))
	for k := range w {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		vals := make([]string, len(w[k]))
		for j, v := range w[k] {
			vals[j] = choiceString(v)
		}
		parts[i] = k + " in [" + strings.Join(vals, ", ") + "]"
	}
	return strings.Join(parts, " and ")
}

// summary is a param's one-line description: "log-int [4, 128]",
// "categorical [cosine, polynomial]", "float [0.125, 1] × network_dim".
func (p Param) summary() string {
	var b strings.Builder
	b.WriteString(paramKind(p))
	if p.Type == ParamCategorical {
		b.WriteString(" [" + strings.Join(p.choiceStrings(), ", ") + "]")
	} else {
		fmt.Fprintf(&b, " [%s, %s]", fmtNum(p.Low), fmtNum(p.High))
		if p.Step > 0 {
			fmt.Fprintf(&b, " step %s", fmtNum(p.Step))
		}
	}
	if p.RatioOf != "" {
		b.WriteString(" × " + p.RatioOf)
	}
	if len(p.When) > 0 {
		b.WriteString(" when " + whenString(p.When))
	}
	return b.String()
}

// paramWire is Param's JSON form with typed choices and when values, so a
// float choice 1.0 does not come back as the integer 1.
type paramWire struct {
	Name    string          `json:"name"`
	Type    ParamType       `json:"type"`
	Low     float64         `json:"low,omitempty"`
	High    float64         `json:"high,omitempty"`
	Log     bool            `json:"log,omitempty"`
	Step    float64         `json:"step,omitempty"`
	Choices json.RawMessage `json:"choices,omitempty"`
	RatioOf string          `json:"ratio_of,omitempty"`
	When    json.RawMessage `json:"when,omitempty"`
	Target  ParamTarget     `json:"target"`
}

// MarshalJSON writes the param with typed numbers in choices and when.
func (p Param) MarshalJSON() ([]byte, error) {
	w := paramWire{Name: p.Name, Type: p.Type, Low: p.Low, High: p.High, Log: p.Log, Step: p.Step, RatioOf: p.RatioOf, Target: p.Target}
	var err error
	if len(p.Choices) > 0 {
		if w.Choices, err = typedJSON(p.Choices); err != nil {
			return nil, fmt.Errorf("encode param %s: %w", p.Name, err)
		}
	}
	if len(p.When) > 0 {
		m := make(map[string]any, len(p.When))
		for k, v := range p.When {
			m[k] = v
		}
		if w.When, err = typedJSON(m); err != nil {
			return nil, fmt.Errorf("encode param %s: %w", p.Name, err)
		}
	}
	return json.Marshal(w)
}

// UnmarshalJSON reads what MarshalJSON wrote: a number with a decimal point
// or exponent is a float64, other numbers are int64.
func (p *Param) UnmarshalJSON(data []byte) error {
	var w paramWire
	if err := json.Unmarshal(data, &w); err != nil {
		return err
	}
	*p = Param{Name: w.Name, Type: w.Type, Low: w.Low, High: w.High, Log: w.Log, Step: w.Step, RatioOf: w.RatioOf, Target: w.Target}
	if len(w.Choices) > 0 {
		v, err := untypedJSON(w.Choices)
		if err != nil {
			return fmt.Errorf("decode param %s choices: %w", w.Name, err)
		}
		p.Choices, _ = v.([]any)
	}
	if len(w.When) > 0 {
		v, err := untypedJSON(w.When)
		if err != nil {
			return fmt.Errorf("decode param %s when: %w", w.Name, err)
		}
		m, _ := v.(map[string]any)
		p.When = map[string][]any{}
		for k, x := range m {
			list, _ := x.([]any)
			p.When[k] = list
		}
	}
	return nil
}

// typedJSON encodes v (strings, int64, float64, bool, nil, []any, []string,
// map[string]any) with floats always carrying a decimal point or exponent.
func typedJSON(v any) (json.RawMessage, error) {
	var b bytes.Buffer
	if err := writeTyped(&b, v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func writeTyped(b *bytes.Buffer, v any) error {
	switch x := v.(type) {
	case nil:
		b.WriteString("null")
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Errorf("cannot encode %v in JSON", x)
		}
		b.WriteString(choiceString(x))
	case float32:
		return writeTyped(b, float64(x))
	case int64, int, int32, bool, string:
		enc, err := json.Marshal(x)
		if err != nil {
			return err
		}
		b.Write(enc)
	case []string:
		enc, err := json.Marshal(x)
		if err != nil {
			return err
		}
		b.Write(enc)
	case []any:
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := writeTyped(b, e); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			kb, _ := json.Marshal(k)
			b.Write(kb)
			b.WriteByte(':')
			if err := writeTyped(b, x[k]); err != nil {
				return err
			}
		}
		b.WriteByte('}')
	default:
		return fmt.Errorf("cannot encode %T", v)
	}
	return nil
}

// untypedJSON decodes JSON keeping the int/float distinction typedJSON
// wrote.
func untypedJSON(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return retype(v), nil
}

func retype(v any) any {
	switch x := v.(type) {
	case json.Number:
		s := string(x)
		if !strings.ContainsAny(s, ".eE") {
			if i, err := x.Int64(); err == nil {
				return i
			}
		}
		f, _ := x.Float64()
		return f
	case []any:
		for i := range x {
			x[i] = retype(x[i])
		}
		return x
	case map[string]any:
		for k := range x {
			x[k] = retype(x[k])
		}
		return x
	}
	return v
}
