package builtin

import (
	"errors"
	"fmt"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/lorasweep/lorasweep/kohya"
)

// argType is how a key the trainer understands is typed on the command line.
type argType int

const (
	tString argType = iota
	tInt
	tFloat
	tBool // store_true
	tIntOrFloat
	tStringList
	tFloatList
)

// understood lists every key the builtin trainer reads; other keys are
// accepted and ignored with one warning line. Their TOML and command-line
// types come from the kohya argument table, like every other key's.
var understood = map[string]bool{
	"config_file": true, "network_dim": true, "network_alpha": true, "learning_rate": true, "unet_lr": true,
	"text_encoder_lr": true, "lr_scheduler": true, "lr_scheduler_num_cycles": true, "lr_scheduler_power": true,
	"lr_scheduler_min_lr_ratio": true, "lr_scheduler_args": true, "lr_warmup_steps": true,
	"optimizer_type": true, "optimizer_args": true, "network_dropout": true, "network_args": true,
	"scale_weight_norms": true, "train_batch_size": true, "max_train_epochs": true, "max_train_steps": true,
	"seed": true, "train_data_dir": true, "reg_data_dir": true, "caption_extension": true, "resolution": true,
	"output_dir": true, "output_name": true, "save_every_n_epochs": true, "save_model_as": true,
	"save_precision": true, "sample_prompts": true, "sample_every_n_epochs": true, "sample_every_n_steps": true,
	"sample_at_first": true, "network_train_unet_only": true, "network_train_text_encoder_only": true,
	"network_weights": true, "dim_from_weights": true, "training_comment": true, "max_grad_norm": true,
	"prior_loss_weight": true, "network_module": true,
}

// typeOfKind maps the kohya argument table's kinds to how a value is parsed.
func typeOfKind(k kohya.ArgKind) argType {
	switch k {
	case kohya.KindInt:
		return tInt
	case kohya.KindFloat:
		return tFloat
	case kohya.KindBool:
		return tBool
	case kohya.KindIntOrFloat:
		return tIntOrFloat
	case kohya.KindStringList:
		return tStringList
	case kohya.KindFloatList:
		return tFloatList
	}
	return tString
}

func lookupType(name string) (argType, bool) {
	if a, ok := kohya.LookupArg(name); ok {
		return typeOfKind(a.Kind), true
	}
	return 0, false
}

// usageError is an argparse-style error: exit 2 with a usage line.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// parseCommandLine reads argv as argparse would for train_network.py:
// --key value, --key=value, store_true flags and nargs="*" lists.
func parseCommandLine(args []string) (kohya.Config, error) {
	out := kohya.Config{}
	var unknown []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "--") || len(a) == 2 {
			unknown = append(unknown, a)
			continue
		}
		name, val, hasVal := strings.Cut(a[2:], "=")
		name = strings.ReplaceAll(name, "-", "_")
		t, ok := lookupType(name)
		if !ok {
			unknown = append(unknown, a)
			if !hasVal && i+1 < len(args) && !strings.HasPrefix(args[i+1], "--") {
				unknown = append(unknown, args[i+1])
				i++
			}
			continue
		}
		if t == tBool {
			if hasVal {
				return nil, &usageError{fmt.Sprintf("argument --%s: ignored explicit argument '%s'", name, val)}
			}
			out[name] = true
			continue
		}
		if t == tStringList || t == tFloatList {
			var vals []string
			if hasVal {
				vals = append(vals, val)
			}
			for i+1 < len(args) && !strings.HasPrefix(args[i+1], "--") {
				vals = append(vals, args[i+1])
				i++
			}
			list := make([]any, len(vals))
			for j, v := range vals {
				if t == tFloatList {
					f, err := strconv.ParseFloat(v, 64)
					if err != nil {
						return nil, &usageError{fmt.Sprintf("argument --%s: invalid float value: '%s'", name, v)}
					}
					list[j] = f
				} else {
					list[j] = v
				}
			}
			out[name] = list
			continue
		}
		if !hasVal {
			if i+1 >= len(args) || strings.HasPrefix(args[i+1], "--") {
				return nil, &usageError{fmt.Sprintf("argument --%s: expected one argument", name)}
			}
			val = args[i+1]
			i++
		}
		v, err := convertCLI(t, val)
		if err != nil {
			return nil, &usageError{fmt.Sprintf("argument --%s: %v", name, err)}
		}
		out[name] = v
	}
	if len(unknown) > 0 {
		return nil, &usageError{"unrecognized arguments: " + strings.Join(unknown, " ")}
	}
	return out, nil
}

func convertCLI(t argType, s string) (any, error) {
	switch t {
	case tInt:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("invalid int value: '%s'", s)
		}
		return n, nil
	case tFloat:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("invalid float value: '%s'", s)
		}
		return f, nil
	case tIntOrFloat:
		// sd-scripts' int_or_float: "10%" and values < 1 are ratios,
		// anything else must be an integer.
		if strings.HasSuffix(s, "%") {
			f, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
			if err != nil {
				return nil, fmt.Errorf("invalid int_or_float value: '%s'", s)
			}
			return f / 100, nil
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("invalid int_or_float value: '%s'", s)
		}
		if f < 1 {
			return f, nil
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("invalid int_or_float value: '%s'", s)
		}
		return n, nil
	}
	return s, nil
}

// loadConfig merges the --config_file TOML (flattened as sd-scripts does)
// with command-line values, which win. It returns the merged config and the
// sorted keys the trainer does not read.
func loadConfig(args []string) (kohya.Config, []string, error) {
	cli, err := parseCommandLine(args)
	if err != nil {
		return nil, nil, err
	}
	cfg := kohya.Config{}
	if cf, ok := cli["config_file"].(string); ok && cf != "" {
		path := cf
		if !strings.HasSuffix(path, ".toml") {
			path += ".toml"
		}
		if _, err := os.Stat(path); err != nil {
			return nil, nil, &fatalError{fmt.Sprintf("%s not found.", path)}
		}
		fileCfg, err := kohya.ReadConfigFile(path)
		if err != nil {
			return nil, nil, &fatalError{fmt.Sprintf("read config: %v", err)}
		}
		cfg = fileCfg
	}
	for k, v := range cli {
		cfg[k] = v
	}
	var ignored []string
	for k := range cfg {
		if _, ok := understood[k]; !ok {
			ignored = append(ignored, k)
		}
	}
	sort.Strings(ignored)
	return cfg, ignored, nil
}

// fatalError ends the run with exit 1 (an uncaught exception in sd-scripts).
type fatalError struct{ msg string }

func (e *fatalError) Error() string { return e.msg }

// options are the resolved training settings.
type options struct {
	dim              int
	alpha            float64
	lr               float64
	unetLR, teLR     *float64
	scheduler        string
	cycles           int
	power            float64
	minLRRatio       *float64
	lrEnd            float64
	warmupRaw        any
	optimizer        string
	optimizerArgs    []string
	netDropout       float64
	hasNetDropout    bool
	rankDropout      float64
	moduleDropout    float64
	networkArgs      []string
	maxNorm          float64
	batch            int
	maxEpochs        int
	maxSteps         int
	seed             int64
	hasSeed          bool
	trainDir, regDir string
	captionExt       string
	resW, resH       int
	resolution       string
	outDir, outName  string
	saveEvery        int
	saveAs           string
	precision        string
	samplePrompts    string
	sampleEveryEpoch int
	sampleEveryStep  int
	saveEverySteps   int // save_every_n_steps: a checkpoint per N steps
	sampleAtFirst    bool
	unetOnly, teOnly bool
	networkWeights   string
	dimFromWeights   bool
	comment          string
	maxGradNorm      float64
	priorLossWeight  float64
	valSplit         float64 // validation_split: share of each subset's images held out
	valSeed          *int64  // validation_seed; nil: the training seed
}

// configReader pulls typed values out of a Config, collecting the first
// type error.
type configReader struct {
	cfg kohya.Config
	err error
}

func (r *configReader) fail(key string, v any, want string) {
	if r.err == nil {
		r.err = &usageError{fmt.Sprintf("argument --%s: invalid %s value: '%v'", key, want, v)}
	}
}

func (r *configReader) float(key string) (float64, bool) {
	v, ok := r.cfg[key]
	if !ok || v == nil {
		return 0, false
	}
	switch x := v.(type) {
	case float64:
		return x, true
	case int64:
		return float64(x), true
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		if err == nil {
			return f, true
		}
	}
	r.fail(key, v, "float")
	return 0, false
}

func (r *configReader) int(key string) (int, bool) {
	v, ok := r.cfg[key]
	if !ok || v == nil {
		return 0, false
	}
	switch x := v.(type) {
	case int64:
		return int(x), true
	case float64:
		if x == math.Trunc(x) {
			return int(x), true
		}
	case string:
		n, err := strconv.Atoi(strings.TrimSpace(x))
		if err == nil {
			return n, true
		}
	}
	r.fail(key, v, "int")
	return 0, false
}

func (r *configReader) str(key string) string {
	v, ok := r.cfg[key]
	if !ok || v == nil {
		return ""
	}
	if s, ok := v.(string); ok {
		return s
	}
	r.fail(key, v, "str")
	return ""
}

func (r *configReader) boolean(key string) bool {
	v, ok := r.cfg[key]
	if !ok || v == nil {
		return false
	}
	if b, ok := v.(bool); ok {
		return b
	}
	r.fail(key, v, "bool")
	return false
}

func (r *configReader) strings(key string) []string {
	v, ok := r.cfg[key]
	if !ok || v == nil {
		return nil
	}
	switch x := v.(type) {
	case string:
		return strings.Fields(x)
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			out = append(out, fmt.Sprint(e))
		}
		return out
	}
	r.fail(key, v, "list")
	return nil
}

// resolveOptions turns the merged config into options, with sd-scripts'
// defaults.
func resolveOptions(cfg kohya.Config) (options, error) {
	r := &configReader{cfg: cfg}
	o := options{dim: 4, alpha: 1, lr: 2e-6, scheduler: "constant", cycles: 1, power: 1,
		batch: 1, maxSteps: 1600, captionExt: kohya.DefaultCaptionExtension, saveAs: "safetensors",
		maxGradNorm: 1, priorLossWeight: 1, lrEnd: 1e-7}
	if v, ok := r.int("network_dim"); ok {
		o.dim = v
	}
	if v, ok := r.float("network_alpha"); ok {
		o.alpha = v
	}
	if v, ok := r.float("learning_rate"); ok {
		o.lr = v
	}
	if v, ok := r.float("unet_lr"); ok {
		o.unetLR = &v
	}
	switch x := cfg["text_encoder_lr"].(type) {
	case nil:
	case []any:
		// networks.lora uses the first element of a list.
		if len(x) > 0 {
			sub := &configReader{cfg: kohya.Config{"text_encoder_lr": x[0]}}
			if v, ok := sub.float("text_encoder_lr"); ok {
				o.teLR = &v
			}
			if sub.err != nil && r.err == nil {
				r.err = sub.err
			}
		}
	default:
		if v, ok := r.float("text_encoder_lr"); ok {
			o.teLR = &v
		}
	}
	if s := r.str("lr_scheduler"); s != "" {
		o.scheduler = s
	}
	if v, ok := r.int("lr_scheduler_num_cycles"); ok {
		o.cycles = v
	}
	if v, ok := r.float("lr_scheduler_power"); ok {
		o.power = v
	}
	if v, ok := r.float("lr_scheduler_min_lr_ratio"); ok {
		o.minLRRatio = &v
	}
	for _, a := range r.strings("lr_scheduler_args") {
		k, v, _ := strings.Cut(a, "=")
		if strings.TrimSpace(k) == "lr_end" {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				return o, &fatalError{fmt.Sprintf("ValueError: lr_scheduler_args lr_end=%s", v)}
			}
			o.lrEnd = f
		}
	}
	o.warmupRaw = cfg["lr_warmup_steps"]
	o.optimizer = r.str("optimizer_type")
	o.optimizerArgs = r.strings("optimizer_args")
	if v, ok := r.float("network_dropout"); ok {
		o.netDropout, o.hasNetDropout = v, true
	}
	o.networkArgs = r.strings("network_args")
	for _, a := range o.networkArgs {
		k, v, _ := strings.Cut(a, "=")
		var dst *float64
		switch strings.TrimSpace(k) {
		case "rank_dropout":
			dst = &o.rankDropout
		case "module_dropout":
			dst = &o.moduleDropout
		default:
			continue // other network args do not apply to this network
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			return o, &fatalError{fmt.Sprintf("ValueError: could not convert string to float: '%s'", v)}
		}
		*dst = f
	}
	if v, ok := r.float("scale_weight_norms"); ok {
		o.maxNorm = v
	}
	if v, ok := r.int("train_batch_size"); ok {
		o.batch = v
	}
	if v, ok := r.int("max_train_epochs"); ok {
		o.maxEpochs = v
	}
	if v, ok := r.int("max_train_steps"); ok {
		o.maxSteps = v
	}
	if v, ok := r.int("seed"); ok {
		o.seed, o.hasSeed = int64(v), true
	}
	o.trainDir = r.str("train_data_dir")
	o.regDir = r.str("reg_data_dir")
	if s := r.str("caption_extension"); s != "" {
		o.captionExt = s
	}
	o.resolution = r.str("resolution")
	o.resW, o.resH = 32, 32
	if o.resolution != "" {
		ws, hs, two := strings.Cut(o.resolution, ",")
		w, err1 := strconv.Atoi(strings.TrimSpace(ws))
		h := w
		var err2 error
		if two {
			h, err2 = strconv.Atoi(strings.TrimSpace(hs))
		}
		if err1 != nil || err2 != nil || w <= 0 || h <= 0 {
			return o, &fatalError{fmt.Sprintf("ValueError: invalid resolution %q: use \"W,H\"", o.resolution)}
		}
		o.resW, o.resH = w, h
	}
	o.outDir = r.str("output_dir")
	o.outName = r.str("output_name")
	if v, ok := r.int("save_every_n_epochs"); ok {
		o.saveEvery = v
	}
	if v, ok := r.int("save_every_n_steps"); ok {
		o.saveEverySteps = v
	}
	if s := r.str("save_model_as"); s != "" {
		o.saveAs = s
	}
	o.precision = r.str("save_precision")
	o.samplePrompts = r.str("sample_prompts")
	if v, ok := r.int("sample_every_n_epochs"); ok {
		o.sampleEveryEpoch = v
	}
	if v, ok := r.int("sample_every_n_steps"); ok {
		o.sampleEveryStep = v
	}
	o.sampleAtFirst = r.boolean("sample_at_first")
	o.unetOnly = r.boolean("network_train_unet_only")
	o.teOnly = r.boolean("network_train_text_encoder_only")
	o.networkWeights = r.str("network_weights")
	o.dimFromWeights = r.boolean("dim_from_weights")
	o.comment = r.str("training_comment")
	if v, ok := r.float("max_grad_norm"); ok {
		o.maxGradNorm = v
	}
	if v, ok := r.float("prior_loss_weight"); ok {
		o.priorLossWeight = v
	}
	if v, ok := r.float("validation_split"); ok {
		o.valSplit = v
	}
	if v, ok := r.int("validation_seed"); ok {
		s := int64(v)
		o.valSeed = &s
	}
	if r.err != nil {
		return o, r.err
	}
	return o, o.validate()
}

func (o *options) validate() error {
	var errs []string
	if o.dim < 1 {
		errs = append(errs, fmt.Sprintf("network_dim must be ≥ 1, got %d", o.dim))
	}
	if o.alpha == 0 {
		o.alpha = float64(o.dim) // networks.lora: alpha 0/None means alpha = dim
	}
	if o.batch < 1 {
		errs = append(errs, fmt.Sprintf("train_batch_size must be ≥ 1, got %d", o.batch))
	}
	if o.outDir == "" {
		errs = append(errs, "output_dir is required")
	}
	for name, p := range map[string]float64{"network_dropout": o.netDropout, "rank_dropout": o.rankDropout, "module_dropout": o.moduleDropout} {
		if p < 0 || p >= 1 {
			errs = append(errs, fmt.Sprintf("%s must be in [0, 1), got %g", name, p))
		}
	}
	switch o.precision {
	case "", "float", "fp16", "bf16":
	default:
		errs = append(errs, fmt.Sprintf("save_precision must be float, fp16 or bf16, got %q", o.precision))
	}
	if o.saveAs != "safetensors" {
		errs = append(errs, fmt.Sprintf("the builtin trainer writes save_model_as = safetensors only, got %q", o.saveAs))
	}
	if o.unetOnly && o.teOnly {
		errs = append(errs, "network_train_unet_only and network_train_text_encoder_only cannot both be set")
	}
	if o.valSplit < 0 || o.valSplit >= 1 {
		errs = append(errs, fmt.Sprintf("validation_split must be in [0, 1), got %g", o.valSplit))
	}
	if o.sampleEveryEpoch < 0 || o.sampleEveryStep < 0 || o.saveEvery < 0 || o.saveEverySteps < 0 {
		errs = append(errs, "save/sample intervals must not be negative")
	}
	if len(errs) > 0 {
		return &fatalError{"ValueError: " + strings.Join(errs, "; ")}
	}
	return nil
}

// dtypeOf maps save_precision to the safetensors dtype.
func (o *options) dtype() string {
	switch o.precision {
	case "fp16":
		return "F16"
	case "bf16":
		return "BF16"
	}
	return "F32"
}

var errNoData = errors.New("no data")

// valSeedOr is the seed of the validation split and noise: validation_seed
// when given, else the training seed.
func (o *options) valSeedOr(seed int64) int64 {
	if o.valSeed != nil {
		return *o.valSeed
	}
	return seed
}
