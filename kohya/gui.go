package kohya

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// The kohya_ss GUI (bmaltais/kohya_ss) saves its LoRA tab as a flat JSON
// object of its own field names and, at train time, translates it into the
// sd-scripts TOML (lora_gui.py train_model). ImportGUI performs that
// translation; ExportGUI inverts it. Decisions that are ours, not the GUI's:
//
//   - epoch: the GUI turns it into max_train_steps by counting images
//     (⌈Σ repeats×images / batch / grad-accum × epoch⌉). A leaf cannot count
//     the user's images, so when max_train_epochs and max_train_steps are
//     both 0 (and there is no dataset_config) epoch becomes max_train_epochs.
//     The epoch count is the same; the step count can be slightly higher,
//     because sd-scripts counts batches per bucket (a part-full batch in each
//     bucket) where the GUI divides the image total by the batch size, so
//     the GUI's last epoch could be cut a few steps short.
//   - text_encoder_lr: the GUI writes [te, te]; we import the scalar te.
//     networks.lora and LyCORIS read only the first element, and
//     train_network.py accepts a scalar for them, so training is identical
//     and a sweep can search the value as one float.
//   - sdxl and sample_prompts are not sd-scripts arguments (the first picks
//     the script, the second holds prompt text the GUI writes to a file):
//     ReadGUIInfo returns them beside the Config.
//   - sd-scripts arguments without a GUI field travel in
//     additional_parameters as command-line tokens, which the GUI appends
//     after --config_file; ImportGUI reads them back.

// GUIInfo is what a GUI config says beyond sd-scripts arguments.
type GUIInfo struct {
	// SDXL is the "sdxl" checkbox: train with sdxl_train_network.py.
	SDXL bool
	// SamplePrompts is the prompt text the GUI writes to
	// <output_dir>/sample/prompt.txt and passes as sample_prompts.
	SamplePrompts string
}

// ReadGUIInfo decodes the fields of a GUI config JSON that are not
// sd-scripts arguments. It fails only when data is not a JSON object.
func ReadGUIInfo(data []byte) (GUIInfo, error) {
	doc, err := decodeGUI(data)
	if err != nil {
		return GUIInfo{}, err
	}
	g := guiDoc{doc: doc}
	info := GUIInfo{SDXL: g.flag("sdxl")}
	info.SamplePrompts, _ = g.str("sample_prompts")
	return info, nil
}

// GUIIsSDXL reports whether a GUI config JSON has its sdxl checkbox set.
// Unreadable data is not SDXL.
func GUIIsSDXL(data []byte) bool {
	info, err := ReadGUIInfo(data)
	return err == nil && info.SDXL
}

// ImportGUI translates a kohya_ss GUI LoRA config JSON (a saved config or a
// partial preset) into the Config the GUI would hand to sd-scripts. Values
// the GUI drops (empty strings, false, 0) are left out. Warnings name the
// file (name) and the key: unknown keys (one each, with a suggestion),
// settings the GUI ignores (stop_text_encoder_training), values it cannot
// carry over (sample_prompts text). It fails on data that is not a JSON
// object, on values of the wrong type, and on configs for model families
// other than SD 1.x/2.x/SDXL.
func ImportGUI(name string, data []byte) (Config, []string, error) {
	doc, err := decodeGUI(data)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	im := guiImporter{g: guiDoc{doc: doc}, name: name, out: Config{}}
	if err := im.run(); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	return im.out, im.warnings, nil
}

func decodeGUI(data []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("decode GUI config: %w", err)
	}
	if doc == nil {
		return nil, errors.New("decode GUI config: not a JSON object")
	}
	return doc, nil
}

// guiDoc reads GUI fields with the GUI loader's leniency: numbers may be
// strings ("1"), "" means unset.
type guiDoc struct {
	doc map[string]any
}

// num returns the field as a number; ok is false when it is absent, null
// or "".
func (g guiDoc) num(key string) (float64, bool, error) {
	switch x := g.doc[key].(type) {
	case nil:
		return 0, false, nil
	case json.Number:
		f, err := x.Float64()
		if err != nil {
			return 0, false, fmt.Errorf("%s: %w", key, err)
		}
		return f, true, nil
	case string:
		s := strings.TrimSpace(x)
		if s == "" {
			return 0, false, nil
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return 0, false, fmt.Errorf("%s = %q is not a number", key, x)
		}
		return f, true, nil
	case bool:
		if x {
			return 1, true, nil
		}
		return 0, true, nil
	}
	return 0, false, fmt.Errorf("%s must be a number, got %s", key, jsonType(g.doc[key]))
}

// numOr is num with 0 for unset.
func (g guiDoc) numOr(key string) (float64, error) {
	f, _, err := g.num(key)
	return f, err
}

func (g guiDoc) str(key string) (string, error) {
	switch x := g.doc[key].(type) {
	case nil:
		return "", nil
	case string:
		return x, nil
	case json.Number:
		return x.String(), nil
	}
	return "", fmt.Errorf("%s must be a string, got %s", key, jsonType(g.doc[key]))
}

// flag is a checkbox: true, or a truthy string/number as Python sees it.
func (g guiDoc) flag(key string) bool {
	switch x := g.doc[key].(type) {
	case bool:
		return x
	case string:
		return x != "" && !strings.EqualFold(x, "false")
	case json.Number:
		f, err := x.Float64()
		return err == nil && f != 0
	}
	return false
}

func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case json.Number, float64, int64, int:
		return "a number"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

type guiImporter struct {
	g        guiDoc
	name     string
	out      Config
	warnings []string
}

func (im *guiImporter) warnf(key, format string, args ...any) {
	im.warnings = append(im.warnings, fmt.Sprintf("%s: %s: %s", im.name, key, fmt.Sprintf(format, args...)))
}

// otherFamilies are GUI checkboxes that switch to another trainer script;
// importing such a config as SD/SDXL would silently train something else.
var otherFamilies = map[string]string{
	"flux1_checkbox":         "FLUX.1",
	"sd3_checkbox":           "SD3",
	"anima_checkbox":         "Anima",
	"lumina_checkbox":        "Lumina",
	"hunyuan_image_checkbox": "HunyuanImage",
}

func (im *guiImporter) run() error {
	g := im.g
	for _, k := range sortedKeys(otherFamilies) {
		if g.flag(k) {
			return fmt.Errorf("%s is set: this is a %s config, and lorasweep drives train_network.py / sdxl_train_network.py only", k, otherFamilies[k])
		}
	}
	sdxl := g.flag("sdxl")
	for _, k := range sortedKeys(g.doc) {
		if guiSpecial[k] || guiIgnored[k] {
			continue
		}
		a, ok := LookupArg(k)
		if !ok || a.TrainDBOnly {
			msg := "not a kohya_ss GUI LoRA field; ignored"
			if near, ok := Nearest(k, guiKnownKeys()); ok {
				msg += fmt.Sprintf(" (did you mean %q?)", near)
			}
			im.warnf(k, "%s", msg)
			continue
		}
		if err := im.passthrough(a, k); err != nil {
			return err
		}
	}
	steps := []func(sdxl bool) error{im.schedule, im.learningRates, im.network, im.misc}
	for _, f := range steps {
		if err := f(sdxl); err != nil {
			return err
		}
	}
	return im.additional()
}

// passthrough copies a field that has an sd-scripts argument of the same
// name, converted to the argument's TOML type and dropped when the GUI drops
// it ("", false, 0).
func (im *guiImporter) passthrough(a Arg, key string) error {
	g := im.g
	switch a.Kind {
	case KindBool:
		if g.flag(key) {
			im.out[key] = true
		}
	case KindInt:
		f, ok, err := g.num(key)
		if err != nil {
			return err
		}
		if ok && f != 0 {
			if f != math.Trunc(f) {
				im.warnf(key, "%s is not an integer; using %d as the GUI does", strconv.FormatFloat(f, 'g', -1, 64), int64(f))
			}
			im.out[key] = int64(f)
		}
	case KindFloat:
		f, ok, err := g.num(key)
		if err != nil {
			return err
		}
		if ok && f != 0 {
			im.out[key] = f
		}
	case KindString:
		s, err := g.str(key)
		if err != nil {
			return err
		}
		if s != "" {
			im.out[key] = s
		}
	case KindStringList:
		s, err := g.str(key)
		if err != nil {
			return err
		}
		if l := splitGUIList(s); len(l) > 0 {
			im.out[key] = l
		}
	default:
		return fmt.Errorf("%s: no GUI translation for argument kind %d", key, a.Kind)
	}
	return nil
}

// splitGUIList is how the GUI turns a text field into an argparse list:
// double quotes removed, split on whitespace.
func splitGUIList(s string) []any {
	var out []any
	for _, f := range strings.Fields(strings.ReplaceAll(s, `"`, "")) {
		out = append(out, f)
	}
	return out
}

// schedule handles length, warmup and cycles, which the GUI derives from
// several fields together.
func (im *guiImporter) schedule(bool) error {
	g := im.g
	epoch, err := g.numOr("epoch")
	if err != nil {
		return err
	}
	epochs, err := g.numOr("max_train_epochs")
	if err != nil {
		return err
	}
	steps, err := g.numOr("max_train_steps")
	if err != nil {
		return err
	}
	dataset, err := g.str("dataset_config")
	if err != nil {
		return err
	}
	if epochs > 0 {
		im.out["max_train_epochs"] = int64(epochs)
	}
	if steps > 0 {
		im.out["max_train_steps"] = int64(steps)
	}
	if epochs <= 0 && steps <= 0 {
		switch {
		case dataset != "":
			im.warnf("max_train_steps", "0 with a dataset_config: sd-scripts trains its default %d steps", 1600)
		case epoch > 0:
			// See the package note on epoch: same epochs, steps counted by sd-scripts.
			im.out["max_train_epochs"] = int64(epoch)
		}
	}

	cycles, hasCycles := g.doc["lr_scheduler_num_cycles"]
	if s, isStr := cycles.(string); hasCycles && isStr && strings.TrimSpace(s) == "" {
		if epoch > 0 {
			im.out["lr_scheduler_num_cycles"] = int64(epoch) // the GUI's fallback for an empty field
		}
	} else if n, _, err := g.num("lr_scheduler_num_cycles"); err != nil {
		return err
	} else if n != 0 {
		im.out["lr_scheduler_num_cycles"] = int64(n)
	}

	warmSteps, err := g.numOr("lr_warmup_steps")
	if err != nil {
		return err
	}
	pct, err := g.numOr("lr_warmup")
	if err != nil {
		return err
	}
	var warmup any
	switch {
	case warmSteps > 0:
		warmup = int64(warmSteps)
	case pct > 0 && dataset != "" && steps > 0:
		warmup = int64(math.Round(pct * steps / 100))
	case pct > 0:
		warmup = pct / 100
	}
	if warmup != nil {
		sched, _ := g.str("lr_scheduler")
		if sched == "constant" {
			im.warnf("lr_warmup", "ignored: the constant scheduler takes no warmup (sd-scripts raises ValueError); use constant_with_warmup")
		} else {
			im.out["lr_warmup_steps"] = warmup
		}
	}
	return nil
}

func (im *guiImporter) learningRates(bool) error {
	g := im.g
	lr, err := g.numOr("learning_rate")
	if err != nil {
		return err
	}
	unet, err := g.numOr("unet_lr")
	if err != nil {
		return err
	}
	te, err := g.numOr("text_encoder_lr")
	if err != nil {
		return err
	}
	if lr != 0 {
		im.out["learning_rate"] = lr
	}
	if unet != 0 {
		im.out["unet_lr"] = unet
	}
	if te != 0 {
		im.out["text_encoder_lr"] = te
	}
	switch {
	case te == 0 && unet != 0:
		im.out["network_train_unet_only"] = true
	case te != 0 && unet == 0:
		im.out["network_train_text_encoder_only"] = true
	case lr == 0 && unet == 0 && te == 0:
		im.warnf("learning_rate", "learning_rate, unet_lr and text_encoder_lr are all 0 (the GUI refuses to train): set one in the sweep")
	}
	return nil
}

// lycorisAlgo maps the GUI's LyCORIS types to lycoris.kohya's algo and the
// GUI fields it writes for each, in the GUI's order. Dropouts are written
// only when non-zero, boolean options only when true (LyCORIS's defaults).
var lycorisAlgo = map[string]struct {
	algo   string
	fields []string
}{
	"LyCORIS/LoCon":              {"locon", []string{"conv_dim", "conv_alpha", "rank_dropout", "bypass_mode", "dora_wd", "module_dropout", "use_tucker", "use_scalar", "rank_dropout_scale", "train_norm"}},
	"LyCORIS/LoHa":               {"loha", []string{"conv_dim", "conv_alpha", "rank_dropout", "bypass_mode", "dora_wd", "module_dropout", "use_tucker", "use_scalar", "rank_dropout_scale", "train_norm"}},
	"LyCORIS/LoKr":               {"lokr", []string{"conv_dim", "conv_alpha", "rank_dropout", "bypass_mode", "dora_wd", "module_dropout", "factor", "use_cp", "use_scalar", "decompose_both", "rank_dropout_scale", "train_norm"}},
	"LyCORIS/iA3":                {"ia3", []string{"conv_dim", "conv_alpha", "train_on_input"}},
	"LyCORIS/DyLoRA":             {"dylora", []string{"conv_dim", "conv_alpha", "use_tucker", "unit", "rank_dropout", "module_dropout", "train_norm"}},
	"LyCORIS/GLoRA":              {"glora", []string{"conv_dim", "conv_alpha", "rank_dropout", "module_dropout", "rank_dropout_scale", "train_norm"}},
	"LyCORIS/Diag-OFT":           {"diag-oft", []string{"conv_dim", "conv_alpha", "module_dropout", "use_tucker", "rank_dropout", "rank_dropout_scale", "constrain", "rescaled", "train_norm"}},
	"LyCORIS/BOFT":               {"boft", []string{"conv_dim", "conv_alpha", "module_dropout", "use_tucker", "rank_dropout", "rank_dropout_scale", "constrain", "rescaled", "train_norm"}},
	"LyCORIS/Native Fine-Tuning": {"full", []string{"rank_dropout", "module_dropout", "use_tucker", "use_scalar", "rank_dropout_scale", "train_norm"}},
}

// kohyaNetworkFields are the GUI fields networks.lora / lora_fa / dylora
// receive when set, in the GUI's order.
var kohyaNetworkFields = []string{"down_lr_weight", "mid_lr_weight", "up_lr_weight", "block_lr_zero_threshold", "block_dims", "block_alphas", "conv_block_dims", "conv_block_alphas", "rank_dropout", "module_dropout"}

// guiToNetArg renames GUI fields whose network arg key differs (LyCORIS's
// DyLoRA calls the GUI's unit block_size).
var guiToNetArg = map[string]string{"constrain": "constraint"}

// network turns LoRA_type and its fields into network_module and
// network_args.
func (im *guiImporter) network(sdxl bool) error {
	g := im.g
	typ, err := g.str("LoRA_type")
	if err != nil {
		return err
	}
	if typ == "" {
		typ = "Standard"
	}
	if typ == "LoCon" { // the GUI's legacy name
		typ = "LyCORIS/LoCon"
	}
	var args []string
	add := func(field string, always bool) error {
		key := field
		if k, ok := guiToNetArg[field]; ok {
			key = k
		}
		v, set, err := im.netValue(field, key)
		if err != nil {
			return err
		}
		if set || always && v != "" {
			args = append(args, key+"="+v)
		}
		return nil
	}
	module := ""
	switch typ {
	case "Standard", "Kohya LoCon", "LoRA-FA":
		module = "networks.lora"
		if typ == "LoRA-FA" {
			module = "networks.lora_fa"
		}
		if typ == "Kohya LoCon" {
			for _, f := range []string{"conv_dim", "conv_alpha"} {
				if err := add(f, true); err != nil {
					return err
				}
			}
		}
		for _, f := range kohyaNetworkFields {
			if err := add(f, false); err != nil {
				return err
			}
		}
	case "Kohya DyLoRA":
		module = "networks.dylora"
		for _, f := range append([]string{"conv_dim", "conv_alpha"}, append(kohyaNetworkFields, "unit")...) {
			if err := add(f, false); err != nil {
				return err
			}
		}
	case "Kohya LoHa", "Kohya LoKr":
		module = "networks." + strings.ToLower(strings.TrimPrefix(typ, "Kohya "))
		im.warnf("LoRA_type", "%s needs %s, which sd-scripts has only on its feat-support-lokr-loha branch", typ, module)
		if !sdxl {
			im.warnf("LoRA_type", "the GUI offers %s for SDXL only", typ)
		}
		for _, f := range []string{"conv_dim", "conv_alpha", "rank_dropout", "module_dropout"} {
			if err := add(f, false); err != nil {
				return err
			}
		}
	default:
		spec, ok := lycorisAlgo[typ]
		if !ok {
			return fmt.Errorf("LoRA_type %q is not an SD 1.x/2.x/SDXL network lorasweep can translate", typ)
		}
		module = "lycoris.kohya"
		preset, err := g.str("LyCORIS_preset")
		if err != nil {
			return err
		}
		if preset == "" {
			preset = "full"
		}
		args = append(args, "preset="+preset)
		for _, f := range spec.fields {
			always := f == "conv_dim" || f == "conv_alpha" || f == "factor" || f == "constrain"
			key := f
			if k, ok := guiToNetArg[f]; ok {
				key = k
			}
			if f == "unit" {
				key = "block_size"
			}
			v, set, err := im.netValue(f, key)
			if err != nil {
				return err
			}
			if set || always && v != "" {
				args = append(args, key+"="+v)
			}
		}
		args = append(args, "algo="+spec.algo)
	}
	for _, f := range []string{"loraplus_lr_ratio", "loraplus_unet_lr_ratio", "loraplus_text_encoder_lr_ratio"} {
		if err := add(f, false); err != nil {
			return err
		}
	}
	if extra, err := g.str("network_args"); err != nil {
		return err
	} else if extra != "" {
		args = append(args, extra)
	}
	im.out["network_module"] = module
	if l := splitGUIList(strings.Join(args, " ")); len(l) > 0 {
		im.out["network_args"] = l
	}
	return nil
}

// netValue formats a GUI field as a network arg value, the way the GUI's
// f-strings do (Python bools as True/False). set is false for values the
// GUI leaves out (0, "", false); v is still returned for fields it always
// writes.
func (im *guiImporter) netValue(field, key string) (v string, set bool, err error) {
	raw, present := im.g.doc[field]
	if !present || raw == nil {
		if def, ok := guiFields[field]; ok {
			raw = def
		} else {
			return "", false, nil
		}
	}
	kind := KindString
	if na, ok := LookupNetworkArg(key); ok {
		kind = na.Kind
	}
	switch x := raw.(type) {
	case bool:
		if x {
			return "True", true, nil
		}
		return "False", false, nil
	case string:
		s := strings.TrimSpace(x)
		if kind == KindString || s == "" {
			return s, s != "", nil
		}
		f, perr := strconv.ParseFloat(s, 64)
		if perr != nil {
			return "", false, fmt.Errorf("%s = %q is not a number", field, x)
		}
		return formatNetNumber(f, kind), f != 0, nil
	case json.Number, int64, float64:
		f, ok := asFloat(raw)
		if n, isNum := x.(json.Number); isNum {
			var perr error
			f, perr = n.Float64()
			ok = perr == nil
		}
		if !ok {
			return "", false, fmt.Errorf("%s is not a number", field)
		}
		return formatNetNumber(f, kind), f != 0, nil
	}
	return "", false, fmt.Errorf("%s must be a number or a string, got %s", field, jsonType(raw))
}

func formatNetNumber(f float64, kind ArgKind) string {
	if kind == KindInt || f == math.Trunc(f) && math.Abs(f) < 1e15 {
		return strconv.FormatInt(int64(f), 10)
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// misc handles the remaining fields whose name or meaning differs from
// sd-scripts'.
func (im *guiImporter) misc(sdxl bool) error {
	g := im.g
	// Resolution is a "W,H" string in both; the GUI calls it max_resolution.
	if v, ok := g.doc["max_resolution"]; ok && v != nil {
		s, err := g.str("max_resolution")
		if err != nil {
			return err
		}
		if s = strings.TrimSpace(s); s != "" {
			im.out["resolution"] = s
		}
	}
	switch x := g.doc["xformers"].(type) {
	case string:
		switch x {
		case "xformers":
			im.out["xformers"] = true
		case "sdpa":
			im.out["sdpa"] = true
		case "", "none":
		default:
			im.warnf("xformers", "unknown attention %q (xformers, sdpa or none); ignored", x)
		}
	case bool: // legacy checkbox
		if x {
			im.out["xformers"] = true
		}
	case nil:
	default:
		return fmt.Errorf("xformers must be a string, got %s", jsonType(x))
	}
	opt, err := g.str("optimizer")
	if err != nil {
		return err
	}
	if opt == "" && g.flag("use_8bit_adam") {
		opt = "AdamW8bit"
	}
	if opt != "" {
		im.out["optimizer_type"] = opt
	}
	for _, k := range []string{"optimizer_args", "lr_scheduler_args"} {
		s, err := g.str(k)
		if err != nil {
			return err
		}
		if l := splitGUIList(s); len(l) > 0 {
			im.out[k] = l
		}
	}
	// Noise: only the family noise_offset_type selects reaches sd-scripts.
	noise, err := g.str("noise_offset_type")
	if err != nil {
		return err
	}
	var noiseKeys []string
	switch noise {
	case "", "Original":
		noiseKeys = []string{"noise_offset", "adaptive_noise_scale", "noise_offset_random_strength"}
	case "Multires":
		noiseKeys = []string{"multires_noise_iterations", "multires_noise_discount"}
	default:
		im.warnf("noise_offset_type", "unknown value %q (Original or Multires); no noise offset imported", noise)
	}
	for _, k := range noiseKeys {
		a, _ := LookupArg(k)
		if err := im.passthrough(a, k); err != nil {
			return err
		}
	}
	if sdxl {
		if g.flag("sdxl_cache_text_encoder_outputs") {
			im.out["cache_text_encoder_outputs"] = true
		}
		if g.flag("sdxl_no_half_vae") {
			im.out["no_half_vae"] = true
		}
	}
	// The GUI always writes the worker count, 0 included.
	if n, ok, err := g.num("max_data_loader_n_workers"); err != nil {
		return err
	} else if ok {
		im.out["max_data_loader_n_workers"] = int64(n)
	}
	// 75 tokens is what sd-scripts uses when max_token_length is unset, and
	// 75 is not one of its choices.
	if n, err := g.numOr("max_token_length"); err != nil {
		return err
	} else if n != 0 && n != 75 {
		im.out["max_token_length"] = int64(n)
	}
	// "no" is the GUI's accelerate setting, meaningless to sd-scripts.
	if s, err := g.str("dynamo_backend"); err != nil {
		return err
	} else if s != "" && s != "no" {
		im.out["dynamo_backend"] = s
	}
	if g.flag("resume_from_huggingface") {
		im.out["resume_from_huggingface"] = true
	}
	if s, err := g.str("wandb_run_name"); err != nil {
		return err
	} else if s != "" {
		im.out["wandb_run_name"] = s
	} else if lw, _ := g.str("log_with"); (lw == "wandb" || lw == "all") && im.out["output_name"] != nil {
		im.out["wandb_run_name"] = im.out["output_name"]
	}
	if s, _ := g.str("network_weights"); s == "" {
		if legacy, _ := g.str("lora_network_weights"); legacy != "" {
			im.out["network_weights"] = legacy
		}
	}
	if s, err := g.str("sample_prompts"); err != nil {
		return err
	} else if strings.TrimSpace(s) != "" {
		im.warnf("sample_prompts", "the GUI keeps prompt text here, not a file; not imported: point sample_prompts at a prompt file in the sweep spec")
	}
	for _, k := range []string{"stop_text_encoder_training", "stop_text_encoder_training_pct"} {
		if n, err := g.numOr(k); err != nil {
			return err
		} else if n != 0 {
			im.warnf(k, "ignored: train_network.py has no such option (the GUI ignores it too)")
		}
	}
	if g.flag("train_inpainting") {
		im.warnf("train_inpainting", "ignored: not an option of the sd-scripts this project targets")
	}
	return nil
}

// additional reads additional_parameters, the raw command-line tokens the
// GUI appends after --config_file; being on the command line they override
// the TOML, so they are applied last.
func (im *guiImporter) additional() error {
	s, err := im.g.str("additional_parameters")
	if err != nil {
		return err
	}
	toks := strings.Fields(s)
	for i := 0; i < len(toks); {
		tok := toks[i]
		i++
		if !strings.HasPrefix(tok, "--") {
			im.warnf("additional_parameters", "token %q is not an --option; ignored", tok)
			continue
		}
		name, val, hasEq := strings.Cut(strings.TrimPrefix(tok, "--"), "=")
		var vals []string
		if hasEq {
			vals = []string{val}
		}
		for i < len(toks) && !strings.HasPrefix(toks[i], "--") {
			vals = append(vals, toks[i])
			i++
		}
		a, ok := LookupArg(name)
		if !ok || a.TrainDBOnly {
			msg := "--" + name + " is not a train_network.py option; ignored"
			if near, ok := Nearest(name, ArgNames()); ok {
				msg += fmt.Sprintf(" (did you mean --%s?)", near)
			}
			im.warnf("additional_parameters", "%s", msg)
			continue
		}
		v, err := parseCLIValue(a, vals)
		if err != nil {
			im.warnf("additional_parameters", "%v; ignored", err)
			continue
		}
		im.out[name] = v
	}
	return nil
}

// parseCLIValue converts command-line tokens as argparse would.
func parseCLIValue(a Arg, vals []string) (any, error) {
	one := func() (string, error) {
		if len(vals) != 1 {
			return "", fmt.Errorf("--%s takes one value, got %d", a.Name, len(vals))
		}
		return vals[0], nil
	}
	switch a.Kind {
	case KindBool:
		if len(vals) != 0 {
			return nil, fmt.Errorf("--%s is a flag and takes no value", a.Name)
		}
		return true, nil
	case KindStringList:
		out := make([]any, len(vals))
		for i, v := range vals {
			out[i] = v
		}
		return out, nil
	case KindFloatList:
		out := make([]any, len(vals))
		for i, v := range vals {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return nil, fmt.Errorf("--%s: %q is not a number", a.Name, v)
			}
			out[i] = f
		}
		return out, nil
	}
	s, err := one()
	if err != nil {
		return nil, err
	}
	switch a.Kind {
	case KindInt:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("--%s: %q is not an integer", a.Name, s)
		}
		return n, nil
	case KindFloat:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("--%s: %q is not a number", a.Name, s)
		}
		return f, nil
	case KindIntOrFloat:
		if strings.HasSuffix(s, "%") {
			f, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
			if err != nil {
				return nil, fmt.Errorf("--%s: %q is not a percentage", a.Name, s)
			}
			return f / 100, nil
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("--%s: %q is not a number", a.Name, s)
		}
		if f >= 1 {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("--%s: %q: a value of 1 or more must be an integer number of steps", a.Name, s)
			}
			return n, nil
		}
		return f, nil
	}
	return s, nil
}

// ExportGUI writes c as a kohya_ss GUI LoRA config JSON that the GUI's "Load
// config" accepts and that trains what c trains: every key of guiFields with
// its JSON type, sorted keys, two-space indentation. sdxl sets the GUI's
// sdxl checkbox. Warmup becomes the GUI's percent when it is a ratio,
// resolution becomes max_resolution, network_module and network_args become
// LoRA_type and its fields, sample_prompts (a file path) becomes the file's
// text, and sd-scripts arguments without a GUI field go to
// additional_parameters. It fails when c holds something the GUI cannot
// express: an unknown key, a network module or network arg the GUI has no
// field for, list entries containing whitespace, an unreadable prompt file.
func ExportGUI(c Config, sdxl bool) ([]byte, error) {
	ex := guiExporter{c: c, out: make(map[string]any, len(guiFields))}
	for k, v := range guiFields {
		ex.out[k] = v
	}
	ex.out["sdxl"] = sdxl
	if err := ex.run(sdxl); err != nil {
		return nil, fmt.Errorf("export GUI config: %w", err)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(ex.out); err != nil {
		return nil, fmt.Errorf("export GUI config: %w", err)
	}
	return buf.Bytes(), nil
}

type guiExporter struct {
	c     Config
	out   map[string]any
	extra []string // additional_parameters tokens
}

// exportSpecial are Config keys the exporter maps by hand.
var exportSpecial = map[string]bool{
	"resolution": true, "lr_warmup_steps": true, "max_train_epochs": true, "max_train_steps": true,
	"learning_rate": true, "unet_lr": true, "text_encoder_lr": true,
	"network_train_unet_only": true, "network_train_text_encoder_only": true,
	"network_module": true, "network_args": true, "xformers": true, "sdpa": true,
	"optimizer_type": true, "optimizer_args": true, "lr_scheduler_args": true,
	"noise_offset": true, "adaptive_noise_scale": true, "noise_offset_random_strength": true,
	"multires_noise_iterations": true, "multires_noise_discount": true,
	"cache_text_encoder_outputs": true, "no_half_vae": true, "sample_prompts": true,
	"resume_from_huggingface": true,
}

func (ex *guiExporter) run(sdxl bool) error {
	c := ex.c
	for _, k := range c.Keys() {
		v := c[k]
		if v == nil || exportSpecial[k] {
			continue
		}
		a, ok := LookupArg(k)
		if !ok {
			msg := fmt.Sprintf("%s is not an sd-scripts argument", k)
			if near, ok := Nearest(k, ArgNames()); ok {
				msg += fmt.Sprintf(" (did you mean %s?)", near)
			}
			return errors.New(msg)
		}
		if a.SDXLOnly && !sdxl {
			return fmt.Errorf("%s is an sdxl_train_network.py option, and the export is not SDXL", k)
		}
		if a.TrainDBOnly {
			return fmt.Errorf("%s is not a train_network.py option (train_db.py only)", k)
		}
		if _, isField := guiFields[k]; isField {
			fv, err := toGUIField(k, v)
			if err != nil {
				return err
			}
			ex.out[k] = fv
			continue
		}
		if err := ex.addCLI(a, v); err != nil {
			return err
		}
	}
	steps := []func(bool) error{ex.schedule, ex.learningRates, ex.network, ex.misc}
	for _, f := range steps {
		if err := f(sdxl); err != nil {
			return err
		}
	}
	ex.out["additional_parameters"] = strings.Join(ex.extra, " ")
	return nil
}

// toGUIField converts a TOML value to the JSON type of GUI field key.
func toGUIField(key string, v any) (any, error) {
	switch guiFields[key].(type) {
	case string:
		switch x := v.(type) {
		case string:
			return x, nil
		case int64, int, float64:
			return fmtAny(x), nil
		}
	case bool:
		if b, ok := v.(bool); ok {
			return b, nil
		}
	case int64, float64:
		if f, ok := asFloat(v); ok {
			if n, isInt := asInt(v); isInt {
				return n, nil
			}
			return f, nil
		}
	}
	return nil, fmt.Errorf("%s: %s does not fit the GUI field (%s)", key, describe(v), jsonType(guiFields[key]))
}

// addCLI appends an argument as command-line tokens.
func (ex *guiExporter) addCLI(a Arg, v any) error {
	if err := CheckValue(a, v); err != nil {
		return err
	}
	if b, ok := v.(bool); ok {
		if b {
			ex.extra = append(ex.extra, "--"+a.Name)
		}
		return nil
	}
	var vals []string
	if l, ok := asList(v); ok {
		for _, e := range l {
			vals = append(vals, fmtAny(e))
		}
	} else {
		vals = []string{fmtAny(v)}
	}
	for _, s := range vals {
		if s == "" || strings.ContainsAny(s, " \t\n\"") {
			return fmt.Errorf("%s: value %q cannot travel in the GUI's additional_parameters (empty, whitespace or quotes)", a.Name, s)
		}
	}
	ex.extra = append(ex.extra, "--"+a.Name)
	ex.extra = append(ex.extra, vals...)
	return nil
}

func (ex *guiExporter) schedule(bool) error {
	c := ex.c
	if v, ok := c["resolution"]; ok && v != nil {
		switch x := v.(type) {
		case string:
			ex.out["max_resolution"] = x
		case int64, int:
			ex.out["max_resolution"] = fmt.Sprintf("%v,%v", x, x)
		default:
			return fmt.Errorf("resolution: %s is not \"W,H\"", describe(v))
		}
	}
	epochs, hasEpochs := asInt(c["max_train_epochs"])
	if c["max_train_epochs"] != nil && !hasEpochs {
		return fmt.Errorf("max_train_epochs: %s is not an integer", describe(c["max_train_epochs"]))
	}
	if hasEpochs && epochs > 0 {
		ex.out["max_train_epochs"] = epochs
		ex.out["epoch"] = epochs
		// With epochs set, steps 0 lets the GUI derive them; sd-scripts
		// overrides steps with epochs anyway.
		ex.out["max_train_steps"] = int64(0)
	}
	if v, ok := c["max_train_steps"]; ok && v != nil {
		n, isInt := asInt(v)
		if !isInt {
			return fmt.Errorf("max_train_steps: %s is not an integer", describe(v))
		}
		ex.out["max_train_steps"] = n
	}
	if v, ok := c["lr_warmup_steps"]; ok && v != nil {
		a, _ := LookupArg("lr_warmup_steps")
		if err := CheckValue(a, v); err != nil {
			return err
		}
		if n, isInt := asInt(v); isInt {
			ex.out["lr_warmup_steps"] = n
			ex.out["lr_warmup"] = int64(0)
		} else {
			f, _ := asFloat(v)
			// Rounded so 0.07 exports as 7, not 7.000000000000001.
			ex.out["lr_warmup"] = math.Round(f*100*1e9) / 1e9
			ex.out["lr_warmup_steps"] = int64(0)
		}
	}
	return nil
}

func (ex *guiExporter) learningRates(bool) error {
	c := ex.c
	num := func(k string) (float64, bool, error) {
		v, ok := c[k]
		if !ok || v == nil {
			return 0, false, nil
		}
		if l, isList := asList(v); isList {
			if len(l) == 0 {
				return 0, false, nil
			}
			v = l[0] // networks.lora reads the first text-encoder lr only
		}
		f, isNum := asFloat(v)
		if !isNum {
			return 0, false, fmt.Errorf("%s: %s is not a number", k, describe(v))
		}
		return f, true, nil
	}
	lr, hasLR, err := num("learning_rate")
	if err != nil {
		return err
	}
	if !hasLR {
		lr = guiFields["learning_rate"].(float64)
	}
	unet, hasUnet, err := num("unet_lr")
	if err != nil {
		return err
	}
	te, hasTE, err := num("text_encoder_lr")
	if err != nil {
		return err
	}
	unetOnly, teOnly := c["network_train_unet_only"] == true, c["network_train_text_encoder_only"] == true
	// The GUI has no checkboxes for these: it derives them from which LR is
	// 0, and a missing LR falls back to learning_rate in sd-scripts.
	if !hasUnet {
		unet = lr
	}
	if !hasTE {
		te = lr
	}
	switch {
	case unetOnly && teOnly:
		return errors.New("network_train_unet_only and network_train_text_encoder_only are both set")
	case unetOnly:
		te = 0
	case teOnly:
		unet = 0
	}
	ex.out["learning_rate"] = lr
	ex.out["unet_lr"] = unet
	ex.out["text_encoder_lr"] = te
	return nil
}

// network maps network_module + network_args onto LoRA_type and its fields.
func (ex *guiExporter) network(bool) error {
	c := ex.c
	module := "networks.lora"
	if v, ok := c["network_module"]; ok && v != nil {
		s, isStr := v.(string)
		if !isStr {
			return fmt.Errorf("network_module: %s is not a string", describe(v))
		}
		module = s
	}
	kv := map[string]string{}
	var order []string
	if v, ok := c["network_args"]; ok && v != nil {
		l, isList := asList(v)
		if !isList {
			return fmt.Errorf("network_args: %s is not a list", describe(v))
		}
		for _, e := range l {
			s, isStr := e.(string)
			k, val, hasEq := strings.Cut(s, "=")
			if !isStr || !hasEq {
				return fmt.Errorf("network_args: entry %v is not key=value", e)
			}
			if strings.ContainsAny(val, " \t\"") {
				return fmt.Errorf("network_args: %s=%q: the GUI splits network args on whitespace", k, val)
			}
			kv[k] = val
			order = append(order, k)
		}
	}
	var allowed []string
	typ := ""
	switch module {
	case "networks.lora":
		typ = "Standard"
		allowed = kohyaNetworkFields
		if _, ok := kv["conv_dim"]; ok {
			typ = "Kohya LoCon"
			allowed = append([]string{"conv_dim", "conv_alpha"}, kohyaNetworkFields...)
		}
	case "networks.lora_fa":
		typ, allowed = "LoRA-FA", kohyaNetworkFields
	case "networks.dylora":
		typ, allowed = "Kohya DyLoRA", append([]string{"conv_dim", "conv_alpha", "unit"}, kohyaNetworkFields...)
	case "networks.loha", "networks.lokr":
		typ = "Kohya " + map[string]string{"networks.loha": "LoHa", "networks.lokr": "LoKr"}[module]
		allowed = []string{"conv_dim", "conv_alpha", "rank_dropout", "module_dropout"}
	case "lycoris.kohya":
		algo := kv["algo"]
		for name, spec := range lycorisAlgo {
			if spec.algo == algo {
				typ, allowed = name, spec.fields
			}
		}
		if typ == "" {
			return fmt.Errorf("network_args: LyCORIS algo %q has no kohya_ss GUI type", algo)
		}
		ex.out["LyCORIS_preset"] = "full"
		if p, ok := kv["preset"]; ok {
			ex.out["LyCORIS_preset"] = p
		}
		delete(kv, "preset")
		delete(kv, "algo")
		if v, ok := kv["block_size"]; ok {
			kv["unit"] = v
			delete(kv, "block_size")
		}
		if v, ok := kv["constraint"]; ok {
			kv["constrain"] = v
			delete(kv, "constraint")
		}
	default:
		return fmt.Errorf("network_module %q has no kohya_ss GUI LoRA type for SD 1.x/2.x/SDXL", module)
	}
	ex.out["LoRA_type"] = typ
	allowed = append(allowed, "loraplus_lr_ratio", "loraplus_unet_lr_ratio", "loraplus_text_encoder_lr_ratio")
	ok := map[string]bool{}
	for _, f := range allowed {
		ok[f] = true
	}
	sort.Strings(order)
	for _, k := range sortedKeys(kv) {
		if !ok[k] {
			return fmt.Errorf("network_args: %s has no field in the GUI's %s type", k, typ)
		}
		val := kv[k]
		switch def := guiFields[k].(type) {
		case string:
			ex.out[k] = val
		case bool:
			ex.out[k] = strings.EqualFold(val, "true")
		case int64, float64:
			f, err := strconv.ParseFloat(val, 64)
			if err != nil {
				return fmt.Errorf("network_args: %s=%q is not a number", k, val)
			}
			if _, isInt := def.(int64); isInt && f == math.Trunc(f) {
				ex.out[k] = int64(f)
			} else {
				ex.out[k] = f
			}
		}
	}
	return nil
}

func (ex *guiExporter) misc(sdxl bool) error {
	c := ex.c
	switch {
	case c["xformers"] == true && c["sdpa"] == true:
		return errors.New("xformers and sdpa are both set; the GUI picks one")
	case c["xformers"] == true:
		ex.out["xformers"] = "xformers"
	case c["sdpa"] == true:
		ex.out["xformers"] = "sdpa"
	}
	if v, ok := c["optimizer_type"]; ok && v != nil {
		s, isStr := v.(string)
		if !isStr {
			return fmt.Errorf("optimizer_type: %s is not a string", describe(v))
		}
		if s != "" {
			ex.out["optimizer"] = s
		}
	}
	for _, k := range []string{"optimizer_args", "lr_scheduler_args"} {
		v, ok := c[k]
		if !ok || v == nil {
			continue
		}
		l, isList := asList(v)
		if !isList {
			return fmt.Errorf("%s: %s is not a list", k, describe(v))
		}
		parts := make([]string, len(l))
		for i, e := range l {
			s, isStr := e.(string)
			if !isStr || strings.ContainsAny(s, " \t\n\"") {
				return fmt.Errorf("%s: entry %v cannot be written in the GUI, which splits on whitespace and drops quotes", k, e)
			}
			parts[i] = s
		}
		ex.out[k] = strings.Join(parts, " ")
	}
	origKeys := []string{"noise_offset", "adaptive_noise_scale", "noise_offset_random_strength"}
	multiKeys := []string{"multires_noise_iterations", "multires_noise_discount"}
	hasOrig := c["noise_offset"] != nil || c["adaptive_noise_scale"] != nil
	if n, _ := asFloat(c["multires_noise_iterations"]); n != 0 {
		if hasOrig {
			return errors.New("noise_offset and multires_noise_iterations are both set; the GUI picks one (noise_offset_type)")
		}
		ex.out["noise_offset_type"] = "Multires"
	}
	for _, k := range append(origKeys, multiKeys...) {
		if v, ok := c[k]; ok && v != nil {
			fv, err := toGUIField(k, v)
			if err != nil {
				return err
			}
			ex.out[k] = fv
		}
	}
	for cfgKey, field := range map[string]string{"cache_text_encoder_outputs": "sdxl_cache_text_encoder_outputs", "no_half_vae": "sdxl_no_half_vae"} {
		v, ok := c[cfgKey]
		if !ok || v == nil {
			continue
		}
		b, isBool := v.(bool)
		if !isBool {
			return fmt.Errorf("%s: %s is not true or false", cfgKey, describe(v))
		}
		if sdxl {
			ex.out[field] = b
		} else if b {
			// The GUI sends these only for SDXL; train_network.py knows
			// no_half_vae, so it can go on the command line.
			a, _ := LookupArg(cfgKey)
			if a.SDXLOnly {
				return fmt.Errorf("%s is an sdxl_train_network.py option, and the export is not SDXL", cfgKey)
			}
			if err := ex.addCLI(a, true); err != nil {
				return err
			}
		}
	}
	if b, ok := c["resume_from_huggingface"].(bool); ok && b {
		ex.out["resume_from_huggingface"] = "true"
	}
	if v, ok := c["sample_prompts"]; ok && v != nil {
		p, isStr := v.(string)
		if !isStr {
			return fmt.Errorf("sample_prompts: %s is not a path", describe(v))
		}
		if ext := strings.ToLower(filepath.Ext(p)); ext != ".txt" {
			return fmt.Errorf("sample_prompts %s: the GUI takes prompt text, so only a .txt prompt file can be exported", p)
		}
		text, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("read sample_prompts: %w", err)
		}
		ex.out["sample_prompts"] = string(text)
	}
	return nil
}

// guiSpecial are GUI fields ImportGUI translates by hand rather than copying
// them to a same-named sd-scripts argument.
var guiSpecial = map[string]bool{
	"LoRA_type": true, "LyCORIS_preset": true, "conv_dim": true, "conv_alpha": true,
	"block_dims": true, "block_alphas": true, "conv_block_dims": true, "conv_block_alphas": true,
	"down_lr_weight": true, "mid_lr_weight": true, "up_lr_weight": true, "block_lr_zero_threshold": true,
	"rank_dropout": true, "module_dropout": true, "loraplus_lr_ratio": true, "loraplus_unet_lr_ratio": true,
	"loraplus_text_encoder_lr_ratio": true, "unit": true, "factor": true, "use_tucker": true,
	"use_scalar": true, "use_cp": true, "decompose_both": true, "bypass_mode": true, "dora_wd": true,
	"rank_dropout_scale": true, "train_norm": true, "train_on_input": true, "constrain": true,
	"rescaled": true, "network_args": true,
	"max_resolution": true, "epoch": true, "max_train_epochs": true, "max_train_steps": true,
	"lr_scheduler_num_cycles": true, "lr_warmup": true, "lr_warmup_steps": true,
	"learning_rate": true, "unet_lr": true, "text_encoder_lr": true,
	"xformers": true, "optimizer": true, "use_8bit_adam": true, "optimizer_args": true, "lr_scheduler_args": true,
	"noise_offset_type": true, "noise_offset": true, "adaptive_noise_scale": true,
	"noise_offset_random_strength": true, "multires_noise_iterations": true, "multires_noise_discount": true,
	"sdxl": true, "sdxl_cache_text_encoder_outputs": true, "sdxl_no_half_vae": true,
	"max_data_loader_n_workers": true, "max_token_length": true, "dynamo_backend": true,
	"resume_from_huggingface": true, "wandb_run_name": true, "network_weights": true,
	"lora_network_weights": true, "sample_prompts": true, "stop_text_encoder_training": true,
	"stop_text_encoder_training_pct": true, "train_inpainting": true, "additional_parameters": true,
}

// guiIgnored are GUI fields that never reach train_network.py /
// sdxl_train_network.py: accelerate launcher settings, GUI state, other
// model families' options and DreamBooth-tab leftovers of older schemas.
var guiIgnored = map[string]bool{
	"ae": true, "anima_attn_mode": true, "anima_cache_text_encoder_outputs": true,
	"anima_cache_text_encoder_outputs_to_disk": true, "anima_checkbox": true, "anima_compile": true,
	"anima_compile_backend": true, "anima_compile_cache_size_limit": true, "anima_compile_dynamic": true,
	"anima_compile_fullgraph": true, "anima_compile_mode": true, "anima_discrete_flow_shift": true,
	"anima_llm_adapter_path": true, "anima_qwen3": true, "anima_qwen3_max_token_length": true,
	"anima_qwen_image_vae_2d": true, "anima_sigmoid_scale": true, "anima_split_attn": true,
	"anima_t5_max_token_length": true, "anima_t5_tokenizer_path": true, "anima_timestep_sampling": true,
	"anima_torch_compile": true, "anima_unsloth_offload_checkpointing": true, "anima_vae": true,
	"anima_vae_chunk_size": true, "anima_vae_disable_cache": true, "apply_t5_attn_mask": true,
	"blocks_to_swap": true, "blockwise_fused_optimizers": true, "clip_g": true, "clip_g_dropout_rate": true,
	"clip_l": true, "discrete_flow_shift": true, "double_blocks_to_swap": true, "dynamo_mode": true,
	"dynamo_use_dynamic": true, "dynamo_use_fullgraph": true, "enable_all_linear": true,
	"extra_accelerate_launch_args": true, "flux1_cache_text_encoder_outputs": true,
	"flux1_cache_text_encoder_outputs_to_disk": true, "flux1_checkbox": true, "flux1_clip_l": true,
	"flux1_t5xxl": true, "flux_fused_backward_pass": true, "fused_optimizer_groups": true, "ggpo_beta": true,
	"ggpo_sigma": true, "gpu_ids": true, "guidance_scale": true, "hunyuan_attn_mode": true,
	"hunyuan_byt5": true, "hunyuan_discrete_flow_shift": true, "hunyuan_fp8_scaled": true,
	"hunyuan_fp8_vl": true, "hunyuan_image_cache_text_encoder_outputs": true,
	"hunyuan_image_cache_text_encoder_outputs_to_disk": true, "hunyuan_image_checkbox": true,
	"hunyuan_model_prediction_type": true, "hunyuan_sigmoid_scale": true, "hunyuan_split_attn": true,
	"hunyuan_text_encoder": true, "hunyuan_text_encoder_cpu": true, "hunyuan_timestep_sampling": true,
	"hunyuan_vae": true, "hunyuan_vae_chunk_size": true, "img_attn_dim": true, "img_mlp_dim": true,
	"img_mod_dim": true, "in_dims": true, "learning_rate_te": true, "learning_rate_te1": true,
	"learning_rate_te2": true, "logit_mean": true, "logit_std": true, "lowvram": true, "lumina_ae": true,
	"lumina_cache_text_encoder_outputs": true, "lumina_cache_text_encoder_outputs_to_disk": true,
	"lumina_checkbox": true, "lumina_discrete_flow_shift": true, "lumina_gemma2": true,
	"lumina_gemma2_max_token_length": true, "lumina_model_prediction_type": true, "lumina_sigmoid_scale": true,
	"lumina_system_prompt": true, "lumina_timestep_sampling": true, "lumina_use_flash_attn": true,
	"lumina_use_sage_attn": true, "main_process_port": true, "mem_eff_save": true, "mode_scale": true,
	"model_list": true, "model_prediction_type": true, "model_type": true, "multi_gpu": true,
	"no_token_padding": true, "num_cpu_threads_per_process": true, "num_machines": true, "num_processes": true,
	"pos_emb_random_crop_rate": true, "save_as_bool": true, "save_clip": true, "save_t5xxl": true,
	"sd3_cache_text_encoder_outputs": true, "sd3_cache_text_encoder_outputs_to_disk": true,
	"sd3_checkbox": true, "sd3_clip_l": true, "sd3_clip_l_dropout_rate": true,
	"sd3_disable_mmap_load_safetensors": true, "sd3_enable_scaled_pos_embed": true,
	"sd3_fused_backward_pass": true, "sd3_t5_dropout_rate": true, "sd3_t5xxl": true,
	"sd3_text_encoder_batch_size": true, "show_timesteps": true, "show_timesteps_resolution": true,
	"single_blocks_to_swap": true, "single_dim": true, "single_mod_dim": true, "split_mode": true,
	"split_qkv": true, "t5xxl": true, "t5xxl_device": true, "t5xxl_dtype": true, "t5xxl_lr": true,
	"t5xxl_max_token_length": true, "timestep_sampling": true, "train_blocks": true,
	"train_double_block_indices": true, "train_lora_ggpo": true, "train_single_block_indices": true,
	"train_t5xxl": true, "txt_attn_dim": true, "txt_mlp_dim": true, "txt_mod_dim": true,
	"weighting_scheme": true,
}

// guiKnownKeys lists every GUI key ImportGUI recognises, for suggestions.
func guiKnownKeys() []string {
	seen := map[string]bool{}
	for _, m := range []map[string]bool{guiSpecial, guiIgnored} {
		for k := range m {
			seen[k] = true
		}
	}
	for k := range guiFields {
		seen[k] = true
	}
	return sortedKeys(seen)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// guiFields is the key set of the LoRA config JSON that ExportGUI writes,
// with the value each key takes when the Config does not set it. The keys
// are those of a complete kohya_ss GUI saved config (test/config/
// SDXL-Standard-AdamW.json at kohya_ss@45088f04) plus the LoRA-tab fields
// that schema lacks (LoRA_type, network_dim, the LR and dropout fields, the
// LyCORIS options). The Go type of each value fixes its JSON type. Values:
// sd-scripts' argparse default where the key is an sd-scripts argument (so
// the GUI passes on what sd-scripts would assume anyway), the GUI's own
// default where it is GUI-only or where sd-scripts' default is not one of
// the GUI's dropdown choices (dynamo_backend, max_token_length,
// save_precision).
var guiFields = map[string]any{
	"LoRA_type":                        "Standard",
	"LyCORIS_preset":                   "full",
	"adaptive_noise_scale":             int64(0),
	"additional_parameters":            "",
	"ae":                               "",
	"apply_t5_attn_mask":               false,
	"async_upload":                     false,
	"block_alphas":                     "",
	"block_dims":                       "",
	"block_lr_zero_threshold":          "",
	"blocks_to_swap":                   int64(0),
	"blockwise_fused_optimizers":       false,
	"bucket_no_upscale":                false,
	"bucket_reso_steps":                int64(64),
	"bypass_mode":                      false,
	"cache_latents":                    false,
	"cache_latents_to_disk":            false,
	"caption_dropout_every_n_epochs":   int64(0),
	"caption_dropout_rate":             0.0,
	"caption_extension":                ".caption",
	"clip_g":                           "",
	"clip_l":                           "",
	"clip_skip":                        int64(0),
	"color_aug":                        false,
	"constrain":                        0.0,
	"conv_alpha":                       int64(1),
	"conv_block_alphas":                "",
	"conv_block_dims":                  "",
	"conv_dim":                         int64(1),
	"cpu_offload_checkpointing":        false,
	"dataset_config":                   "",
	"debiased_estimation_loss":         false,
	"decompose_both":                   false,
	"dim_from_weights":                 false,
	"disable_mmap_load_safetensors":    false,
	"discrete_flow_shift":              int64(3),
	"dora_wd":                          false,
	"double_blocks_to_swap":            int64(0),
	"down_lr_weight":                   "",
	"dynamo_backend":                   "no",
	"dynamo_mode":                      "default",
	"dynamo_use_dynamic":               false,
	"dynamo_use_fullgraph":             false,
	"enable_bucket":                    false,
	"epoch":                            int64(1),
	"extra_accelerate_launch_args":     "",
	"factor":                           int64(-1),
	"flip_aug":                         false,
	"flux1_cache_text_encoder_outputs": false,
	"flux1_cache_text_encoder_outputs_to_disk": false,
	"flux1_checkbox":                         false,
	"flux1_clip_l":                           "",
	"flux1_t5xxl":                            "",
	"flux_fused_backward_pass":               false,
	"fp8_base":                               false,
	"fp8_base_unet":                          false,
	"full_bf16":                              false,
	"full_fp16":                              false,
	"fused_backward_pass":                    false,
	"fused_optimizer_groups":                 int64(0),
	"gpu_ids":                                "",
	"gradient_accumulation_steps":            int64(1),
	"gradient_checkpointing":                 false,
	"guidance_scale":                         3.5,
	"highvram":                               false,
	"huber_c":                                0.1,
	"huber_scale":                            1.0,
	"huber_schedule":                         "snr",
	"huggingface_path_in_repo":               "",
	"huggingface_repo_id":                    "",
	"huggingface_repo_type":                  "",
	"huggingface_repo_visibility":            "",
	"huggingface_token":                      "",
	"ip_noise_gamma":                         int64(0),
	"ip_noise_gamma_random_strength":         false,
	"keep_tokens":                            int64(0),
	"learning_rate":                          2e-06,
	"learning_rate_te":                       1e-05,
	"learning_rate_te1":                      1e-05,
	"learning_rate_te2":                      1e-05,
	"log_config":                             false,
	"log_tracker_config":                     "",
	"log_tracker_name":                       "",
	"log_with":                               "",
	"logging_dir":                            "",
	"logit_mean":                             int64(0),
	"logit_std":                              int64(1),
	"loraplus_lr_ratio":                      int64(0),
	"loraplus_text_encoder_lr_ratio":         int64(0),
	"loraplus_unet_lr_ratio":                 int64(0),
	"loss_type":                              "l2",
	"lr_scheduler":                           "constant",
	"lr_scheduler_args":                      "",
	"lr_scheduler_num_cycles":                int64(1),
	"lr_scheduler_power":                     1.0,
	"lr_scheduler_type":                      "",
	"lr_warmup":                              int64(0),
	"lr_warmup_steps":                        int64(0),
	"main_process_port":                      int64(0),
	"masked_loss":                            false,
	"max_bucket_reso":                        int64(1024),
	"max_data_loader_n_workers":              int64(8),
	"max_grad_norm":                          1.0,
	"max_resolution":                         "512,512",
	"max_timestep":                           int64(0),
	"max_token_length":                       int64(75),
	"max_train_epochs":                       int64(0),
	"max_train_steps":                        int64(1600),
	"mem_eff_attn":                           false,
	"mem_eff_save":                           false,
	"metadata_author":                        "",
	"metadata_description":                   "",
	"metadata_license":                       "",
	"metadata_tags":                          "",
	"metadata_title":                         "",
	"mid_lr_weight":                          "",
	"min_bucket_reso":                        int64(256),
	"min_snr_gamma":                          int64(0),
	"min_timestep":                           int64(0),
	"mixed_precision":                        "no",
	"mode_scale":                             1.29,
	"model_list":                             "custom",
	"model_prediction_type":                  "sigma_scaled",
	"module_dropout":                         int64(0),
	"multi_gpu":                              false,
	"multires_noise_discount":                0.3,
	"multires_noise_iterations":              int64(0),
	"network_alpha":                          1.0,
	"network_dim":                            int64(0),
	"network_dropout":                        int64(0),
	"network_weights":                        "",
	"no_token_padding":                       false,
	"noise_offset":                           int64(0),
	"noise_offset_random_strength":           false,
	"noise_offset_type":                      "Original",
	"num_cpu_threads_per_process":            int64(2),
	"num_machines":                           int64(1),
	"num_processes":                          int64(1),
	"optimizer":                              "AdamW",
	"optimizer_args":                         "",
	"output_dir":                             "",
	"output_name":                            "",
	"persistent_data_loader_workers":         false,
	"pretrained_model_name_or_path":          "",
	"prior_loss_weight":                      1.0,
	"random_crop":                            false,
	"rank_dropout":                           int64(0),
	"rank_dropout_scale":                     false,
	"reg_data_dir":                           "",
	"rescaled":                               false,
	"resume":                                 "",
	"resume_from_huggingface":                "",
	"sample_every_n_epochs":                  int64(0),
	"sample_every_n_steps":                   int64(0),
	"sample_prompts":                         "",
	"sample_sampler":                         "ddim",
	"save_as_bool":                           false,
	"save_clip":                              false,
	"save_every_n_epochs":                    int64(0),
	"save_every_n_steps":                     int64(0),
	"save_last_n_epochs":                     int64(0),
	"save_last_n_epochs_state":               int64(0),
	"save_last_n_steps":                      int64(0),
	"save_last_n_steps_state":                int64(0),
	"save_model_as":                          "safetensors",
	"save_precision":                         "float",
	"save_state":                             false,
	"save_state_on_train_end":                false,
	"save_state_to_huggingface":              false,
	"save_t5xxl":                             false,
	"scale_v_pred_loss_like_noise_pred":      false,
	"scale_weight_norms":                     int64(0),
	"sd3_cache_text_encoder_outputs":         false,
	"sd3_cache_text_encoder_outputs_to_disk": false,
	"sd3_checkbox":                           false,
	"sd3_fused_backward_pass":                false,
	"sd3_text_encoder_batch_size":            int64(1),
	"sdxl":                                   false,
	"sdxl_cache_text_encoder_outputs":        false,
	"sdxl_no_half_vae":                       false,
	"seed":                                   int64(0),
	"shuffle_caption":                        false,
	"single_blocks_to_swap":                  int64(0),
	"skip_cache_check":                       false,
	"split_mode":                             false,
	"stop_text_encoder_training":             int64(0),
	"t5xxl":                                  "",
	"t5xxl_device":                           "",
	"t5xxl_dtype":                            "bf16",
	"t5xxl_max_token_length":                 int64(512),
	"text_encoder_lr":                        int64(0),
	"timestep_sampling":                      "sigma",
	"train_batch_size":                       int64(1),
	"train_blocks":                           "all",
	"train_data_dir":                         "",
	"train_norm":                             false,
	"train_on_input":                         true,
	"training_comment":                       "",
	"unet_lr":                                int64(0),
	"unit":                                   int64(1),
	"up_lr_weight":                           "",
	"use_cp":                                 false,
	"use_scalar":                             false,
	"use_tucker":                             false,
	"v2":                                     false,
	"v_parameterization":                     false,
	"v_pred_like_loss":                       int64(0),
	"vae":                                    "",
	"vae_batch_size":                         int64(1),
	"wandb_api_key":                          "",
	"wandb_run_name":                         "",
	"weighted_captions":                      false,
	"weighting_scheme":                       "logit_normal",
	"xformers":                               "none",
}
