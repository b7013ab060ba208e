package kohya

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ExportGUI writes c as a kohya_ss GUI LoRA config JSON that the GUI's "Load
// config" (guiVersion) accepts and that trains what c trains: every key of
// the GUI's table (gui_table.go) with the GUI's JSON type, sorted keys,
// two-space indentation, as the GUI's SaveConfigFile writes them. sdxl sets
// the sdxl checkbox. A key c does not set gets the value that makes the GUI
// pass what sd-scripts assumes without it (not the GUI's own default, which
// would change the training); GUI-only keys get the GUI's default.
// Warmup becomes a whole percent or absolute steps, resolution becomes
// max_resolution, network_module and network_args become LoRA_type and its
// fields, sample_prompts (a .txt file) becomes the file's text, and
// sd-scripts arguments the LoRA tab does not forward go to
// additional_parameters. notes say where the GUI config cannot say exactly
// what c says. It fails when c holds something the GUI cannot express: an
// unknown key, a network module or network arg the GUI has no field for,
// values containing whitespace or quotes, an unreadable prompt file.
func ExportGUI(c Config, sdxl bool) (data []byte, notes []string, err error) {
	idx := guiFieldIndex()
	ex := guiExporter{c: c, out: make(map[string]any, len(idx))}
	for k, f := range idx {
		ex.out[k] = exportNeutral(f)
	}
	ex.out["sdxl"] = sdxl
	if err := ex.run(sdxl); err != nil {
		return nil, nil, fmt.Errorf("export GUI config: %w", err)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(ex.out); err != nil {
		return nil, nil, fmt.Errorf("export GUI config: %w", err)
	}
	return buf.Bytes(), ex.notes, nil
}

// exportNeutralSpecial are the values of hand-translated keys for a Config
// that does not set them: what sd-scripts does by default.
var exportNeutralSpecial = map[string]any{
	"LoRA_type": "Standard", "max_resolution": "", "optimizer": "AdamW", "optimizer_args": "",
	"lr_scheduler_args": "", "epoch": 1.0, "max_train_epochs": 0.0, "max_train_steps": 1600.0,
	"lr_scheduler_num_cycles": 1.0, "lr_warmup": 0.0, "lr_warmup_steps": 0.0, "learning_rate": 2e-6,
	"unet_lr": 0.0, "text_encoder_lr": 0.0, "t5xxl_lr": 0.0, "noise_offset_type": "Original",
	"noise_offset": 0.0, "adaptive_noise_scale": 0.0, "noise_offset_random_strength": false,
	"multires_noise_iterations": 0.0, "multires_noise_discount": 0.3, "xformers": "none",
	"sdxl_cache_text_encoder_outputs": false, "sdxl_no_half_vae": false,
	"max_data_loader_n_workers": 8.0, "max_token_length": 75.0, "dynamo_backend": "no",
	"wandb_run_name": "", "sample_prompts": "", "additional_parameters": "",
	"stop_text_encoder_training": 0.0, "train_inpainting": false, "resume_from_huggingface": "",
	// Network fields a LoRA type does not read; network() sets the rest.
	"conv_dim": 0.0, "conv_alpha": 0.0,
	// sd-scripts' None (save as trained) is not one of the GUI's choices;
	// float is what a LoRA's weights are trained in.
	"save_precision": "float",
}

// exportNeutral is the value of f for a Config that does not set it.
func exportNeutral(f *guiField) any {
	if v, ok := exportNeutralSpecial[f.Key]; ok {
		return v
	}
	if f.Fwd != fwdArg {
		return f.Default
	}
	if a, ok := LookupArg(f.Key); ok && a.Default != nil {
		if v, err := toGUIValue(f, a.Default); err == nil {
			return v
		}
	}
	return map[guiType]any{guiString: "", guiNumber: 0.0, guiBool: false}[f.Type]
}

type guiExporter struct {
	c     Config
	out   map[string]any
	extra []string // additional_parameters tokens
	notes []string
}

func (ex *guiExporter) notef(format string, args ...any) {
	ex.notes = append(ex.notes, fmt.Sprintf(format, args...))
}

// exportSpecial are Config keys the exporter maps by hand.
var exportSpecial = map[string]bool{
	"resolution": true, "lr_warmup_steps": true, "max_train_epochs": true, "max_train_steps": true,
	"learning_rate": true, "unet_lr": true, "text_encoder_lr": true,
	"network_train_unet_only": true, "network_train_text_encoder_only": true,
	"network_module": true, "network_args": true, "xformers": true, "sdpa": true,
	"optimizer_type": true, "optimizer_args": true, "lr_scheduler_args": true, "lr_scheduler_num_cycles": true,
	"noise_offset": true, "adaptive_noise_scale": true, "noise_offset_random_strength": true,
	"multires_noise_iterations": true, "multires_noise_discount": true,
	"cache_text_encoder_outputs": true, "no_half_vae": true, "sample_prompts": true,
	"resume_from_huggingface": true, "max_data_loader_n_workers": true, "max_token_length": true,
	"dynamo_backend": true, "wandb_run_name": true,
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
		if f, isField := lookupGUIField(k); isField && f.Fwd == fwdArg {
			fv, err := toGUIValue(f, v)
			if err != nil {
				return err
			}
			ex.out[k] = fv
			// The GUI leaves out "", false and 0, so sd-scripts' default
			// would apply: a value that differs from a non-zero default
			// goes on the command line too (max_grad_norm 0).
			if !pyTruthy(fv) && pyTruthy(a.Default) {
				if err := ex.addCLI(a, v); err != nil {
					return err
				}
			}
			continue
		}
		// The LoRA tab does not forward it for SD/SDXL: the command line.
		if err := ex.addCLI(a, v); err != nil {
			return err
		}
	}
	for _, step := range []func(bool) error{ex.schedule, ex.learningRates, ex.network, ex.misc} {
		if err := step(sdxl); err != nil {
			return err
		}
	}
	ex.out["additional_parameters"] = strings.Join(ex.extra, " ")
	return nil
}

// toGUIValue converts a TOML value to field f's JSON type.
func toGUIValue(f *guiField, v any) (any, error) {
	switch f.Type {
	case guiString:
		switch x := v.(type) {
		case string:
			return x, nil
		case int64, int, float64:
			return fmtAny(x), nil
		}
	case guiBool:
		if b, ok := v.(bool); ok {
			return b, nil
		}
	case guiNumber:
		if n, isInt := asInt(v); isInt {
			return float64(n), nil
		}
		if x, ok := asFloat(v); ok {
			return x, nil
		}
	}
	return nil, fmt.Errorf("%s: %s does not fit the GUI field (a %s)", f.Key, describe(v), f.Type)
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
		if s == "" || strings.ContainsAny(s, " \t\n\"") || strings.HasPrefix(s, "--") {
			return fmt.Errorf("%s: value %q cannot travel in the GUI's additional_parameters (empty, whitespace, quotes or a leading --)", a.Name, s)
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
	steps, hasSteps := asInt(c["max_train_steps"])
	if c["max_train_steps"] != nil && !hasSteps {
		return fmt.Errorf("max_train_steps: %s is not an integer", describe(c["max_train_steps"]))
	}
	if hasEpochs && epochs > 0 {
		ex.out["max_train_epochs"] = float64(epochs)
		ex.out["epoch"] = float64(epochs)
		// With epochs set, steps 0 lets the GUI derive them; sd-scripts
		// overrides steps with epochs anyway.
		ex.out["max_train_steps"] = 0.0
	}
	if hasSteps {
		ex.out["max_train_steps"] = float64(steps)
	}
	if v, ok := c["lr_scheduler_num_cycles"]; ok && v != nil {
		n, isInt := asInt(v)
		if !isInt {
			return fmt.Errorf("lr_scheduler_num_cycles: %s is not an integer", describe(v))
		}
		ex.out["lr_scheduler_num_cycles"] = float64(n)
	}
	v, ok := c["lr_warmup_steps"]
	if !ok || v == nil {
		return nil
	}
	a, _ := LookupArg("lr_warmup_steps")
	if err := CheckValue(a, v); err != nil {
		return err
	}
	if sched, _ := c["lr_scheduler"].(string); sched == "" || sched == "constant" {
		ex.notef("lr_warmup_steps %s is left out: the GUI sets warmup to 0 for the constant scheduler", fmtAny(v))
		return nil
	}
	if n, isInt := asInt(v); isInt {
		ex.out["lr_warmup_steps"] = float64(n)
		return nil
	}
	ratio, _ := asFloat(v)
	pct := ratio * 100
	switch whole := math.Round(pct); {
	case math.Abs(pct-whole) < 1e-9:
		// The GUI's loader keeps lr_warmup as a whole percent (int()).
		ex.out["lr_warmup"] = whole
	case hasSteps && !(hasEpochs && epochs > 0):
		// sd-scripts' own conversion of a ratio: int(ratio × steps).
		ex.out["lr_warmup_steps"] = math.Trunc(ratio * float64(steps))
	default:
		ex.out["lr_warmup"] = whole
		ex.notef("lr_warmup_steps %s (%s %%) is written as lr_warmup %s %%: the GUI's loader keeps only a whole percent", fmtAny(v), pyNum(pct), pyNum(whole))
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
		lr = exportNeutralSpecial["learning_rate"].(float64)
	}
	unet, hasUnet, err := num("unet_lr")
	if err != nil {
		return err
	}
	var te, t5 float64
	hasTE := false
	if l, isList := asList(c["text_encoder_lr"]); isList {
		switch len(l) {
		case 0:
		case 1, 2:
			var ok1, ok2 bool
			te, ok1 = asFloat(l[0])
			t5, ok2 = asFloat(l[len(l)-1])
			if !ok1 || !ok2 {
				return fmt.Errorf("text_encoder_lr: %s is not a list of numbers", describe(c["text_encoder_lr"]))
			}
			hasTE = true
			if t5 == te {
				t5 = 0
			}
		default:
			return fmt.Errorf("text_encoder_lr: the GUI writes at most two rates (text encoder, T5XXL), got %d", len(l))
		}
	} else if te, hasTE, err = num("text_encoder_lr"); err != nil {
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
		te, t5 = 0, 0
	case teOnly:
		unet = 0
	}
	ex.out["learning_rate"] = lr
	ex.out["unet_lr"] = unet
	ex.out["text_encoder_lr"] = te
	ex.out["t5xxl_lr"] = t5
	return nil
}

// network maps network_module + network_args onto LoRA_type and its fields
// (guiNetTypes, the table ImportGUI reads).
func (ex *guiExporter) network(sdxl bool) error {
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
			if strings.ContainsAny(val, " \t\n\"") {
				return fmt.Errorf("network_args: %s=%q: the GUI drops quotes and splits network args on whitespace", k, val)
			}
			kv[k] = val
		}
	}
	nt, err := exportNetType(module, kv)
	if err != nil {
		return err
	}
	if nt.SDXLOnly && !sdxl {
		return fmt.Errorf("network_module %s: the GUI's %s type trains SDXL only, and the export is not SDXL", module, nt.Type)
	}
	ex.out["LoRA_type"] = nt.Type
	args := append(append([]guiNetArg{}, nt.Args...), guiLoRAPlus...)
	byArg := map[string]guiNetArg{}
	for _, a := range args {
		byArg[a.Arg] = a
	}
	for _, k := range sortedKeys(kv) {
		a, ok := byArg[k]
		if !ok {
			return fmt.Errorf("network_args: %s has no field in the GUI's %s type (it passes %s)", k, nt.Type, strings.Join(netArgNames(args), ", "))
		}
		if a.When == netFixed && kv[k] != a.Field {
			return fmt.Errorf("network_args: %s=%s: the GUI's %s type passes %s=%s", k, kv[k], nt.Type, k, a.Field)
		}
	}
	for _, a := range args {
		if a.When == netFixed {
			continue
		}
		f, _ := lookupGUIField(a.Field)
		val, has := kv[a.Arg]
		if !has {
			ex.out[a.Field] = ex.netAbsent(nt, a, f)
			continue
		}
		switch f.Type {
		case guiBool:
			ex.out[a.Field] = strings.EqualFold(val, "true") || val == "1"
		case guiNumber:
			n, err := strconv.ParseFloat(val, 64)
			if err != nil {
				return fmt.Errorf("network_args: %s=%q is not a number", a.Arg, val)
			}
			ex.out[a.Field] = n
		default:
			ex.out[a.Field] = val
		}
	}
	// LyCORIS takes any non-empty decompose_both as on, and the GUI always
	// passes one ("False" when unchecked).
	if nt.Algo == "lokr" && kv["decompose_both"] == "" {
		ex.notef("LyCORIS LoKr: the GUI always passes decompose_both (False when unchecked), which LyCORIS reads as on; this trial had it off, so the GUI trains a different network at small ranks")
	}
	return nil
}

// exportNetType finds the GUI LoRA type that trains module with args kv.
func exportNetType(module string, kv map[string]string) (*guiNetType, error) {
	switch module {
	case "networks.lora":
		if _, ok := kv["conv_dim"]; ok {
			return lookupNetTypeOK("Kohya LoCon")
		}
		return lookupNetTypeOK("Standard")
	case "lycoris.kohya":
		algo := strings.ToLower(kv["algo"])
		if algo == "" || algo == "lora" {
			algo = "locon"
			kv["algo"] = "locon"
		}
		for i := range guiNetTypes {
			if guiNetTypes[i].Module == module && guiNetTypes[i].Algo == algo {
				kv["algo"] = algo
				return &guiNetTypes[i], nil
			}
		}
		return nil, fmt.Errorf("network_args: LyCORIS algo %q has no kohya_ss GUI type", algo)
	}
	for i := range guiNetTypes {
		if guiNetTypes[i].Module == module {
			return &guiNetTypes[i], nil
		}
	}
	return nil, fmt.Errorf("network_module %q has no kohya_ss GUI LoRA type for SD 1.x/2.x/SDXL", module)
}

func lookupNetTypeOK(typ string) (*guiNetType, error) {
	nt, _ := lookupNetType(typ)
	return nt, nil
}

func netArgNames(args []guiNetArg) []string {
	var out []string
	for _, a := range args {
		if a.When != netFixed {
			out = append(out, a.Arg)
		}
	}
	return out
}

// netAbsent is the field value that makes the GUI pass what the network
// module assumes when the trial's network_args lack the entry.
func (ex *guiExporter) netAbsent(nt *guiNetType, a guiNetArg, f *guiField) any {
	if nt.Module == "lycoris.kohya" {
		// LyCORIS uses the network's rank and alpha for conv layers, and a
		// block size of 4, when these are not given.
		switch a.Arg {
		case "conv_dim":
			if n, ok := asFloat(ex.c["network_dim"]); ok {
				return n
			}
			return 0.0
		case "conv_alpha":
			if n, ok := asFloat(ex.c["network_alpha"]); ok {
				return n
			}
			return 1.0
		case "block_size":
			return 4.0
		case "preset":
			return "full"
		}
	}
	if nt.Type == "Kohya LoCon" && a.Arg == "conv_alpha" {
		return 1.0 // networks.lora's default conv_alpha
	}
	if a.Arg == "factor" {
		return -1.0
	}
	return map[guiType]any{guiString: "", guiNumber: 0.0, guiBool: false}[f.Type]
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
				return fmt.Errorf("%s: entry %v cannot be written in the GUI, which drops quotes and splits on whitespace", k, e)
			}
			parts[i] = s
		}
		ex.out[k] = strings.Join(parts, " ")
	}
	origKeys := []string{"noise_offset", "adaptive_noise_scale", "noise_offset_random_strength"}
	multiKeys := []string{"multires_noise_iterations", "multires_noise_discount"}
	hasOrig := c["noise_offset"] != nil || c["adaptive_noise_scale"] != nil || c["noise_offset_random_strength"] == true
	if c["multires_noise_iterations"] != nil || c["multires_noise_discount"] != nil {
		if hasOrig {
			return errors.New("noise_offset and multires_noise_* are both set; the GUI picks one (noise_offset_type)")
		}
		ex.out["noise_offset_type"] = "Multires"
		// The GUI passes the discount whenever Multires is selected;
		// sd-scripts' default is 0.3.
		ex.out["multires_noise_discount"] = 0.3
	}
	for _, k := range append(origKeys, multiKeys...) {
		if v, ok := c[k]; ok && v != nil {
			f, _ := lookupGUIField(k)
			fv, err := toGUIValue(f, v)
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
	for _, k := range []string{"max_data_loader_n_workers", "max_token_length"} {
		if v, ok := c[k]; ok && v != nil {
			n, isInt := asInt(v)
			if !isInt {
				return fmt.Errorf("%s: %s is not an integer", k, describe(v))
			}
			ex.out[k] = float64(n)
		}
	}
	for _, k := range []string{"dynamo_backend", "wandb_run_name"} {
		if s, ok := c[k].(string); ok && s != "" {
			ex.out[k] = s
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
