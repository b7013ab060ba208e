package kohya

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// The kohya_ss GUI (bmaltais/kohya_ss) saves its LoRA tab as a flat JSON
// object of its own field names. Loading one keeps the GUI's current value
// for every key the file lacks; training translates the fields into the
// sd-scripts TOML (lora_gui.py train_model). ImportGUI does both, from a
// freshly started GUI, following the table in gui_table.go (guiVersion).
// Where lorasweep differs on purpose:
//
//   - epoch with max_train_steps 0: the GUI counts the user's images to turn
//     epochs into max_train_steps (⌈Σ repeats×images / batch / grad-accum ×
//     epoch⌉). A base config cannot count a trial's images, so epoch becomes
//     max_train_epochs: the same epochs; sd-scripts counts batches per
//     bucket, so the step count can be a few steps higher.
//   - text_encoder_lr: the GUI writes [te, te]; lorasweep writes the scalar
//     te, which sd-scripts reads the same way, so a sweep can search it as
//     one float. With a T5XXL rate set it writes [te, t5xxl_lr] as the GUI.
//   - max_token_length 75 and dynamo_backend "no" are left out: the first is
//     what sd-scripts does without it, the second is accelerate's setting.
//   - wandb_run_name falls back to output_name only when logging to wandb.
//   - train_inpainting is not passed: the sd-scripts lorasweep targets has no
//     such option (a warning says so).
//   - The GUI writes use_tucker twice for LyCORIS LoCon/LoHa; sd-scripts
//     keeps one, and so does ImportGUI.
//   - sdxl and sample_prompts are not sd-scripts arguments (the first picks
//     the script, the second holds prompt text the GUI writes to a file):
//     ReadGUIInfo returns them beside the Config.

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
	st := loadGUIState(doc)
	info := GUIInfo{SDXL: st.flag("sdxl")}
	info.SamplePrompts, _ = st.str("sample_prompts")
	return info, nil
}

// GUIIsSDXL reports whether a GUI config JSON has its sdxl checkbox set.
// Unreadable data is not SDXL.
func GUIIsSDXL(data []byte) bool {
	info, err := ReadGUIInfo(data)
	return err == nil && info.SDXL
}

// ImportGUI translates a kohya_ss GUI LoRA config JSON (a saved config or a
// partial preset) into the Config the GUI would hand to sd-scripts when it
// loads the file into a freshly started GUI and trains. Warnings name the
// file (name) and the key: unknown keys (with a suggestion), settings the
// GUI ignores or lorasweep cannot carry over. It fails on data that is not
// a JSON object, on values of the wrong type, on configs the GUI refuses to
// train, on configs of the GUI's other tabs (DreamBooth, textual inversion,
// finetune) and on model families other than SD 1.x/2.x/SDXL.
func ImportGUI(name string, data []byte) (Config, []string, error) {
	doc, err := decodeGUI(data)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	im := guiImporter{name: name, out: Config{}}
	if err := im.run(doc); err != nil {
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

// guiState is the GUI's field values after loading a file: the file's
// value where it has one (after the loader's conversions), the fresh GUI's
// default otherwise. Values are what JSON decoding gives (json.Number,
// string, bool) or, for converted keys and defaults, float64.
type guiState map[string]any

// loadGUIState applies the loader (update_my_data, then
// open_configuration) to a decoded file.
func loadGUIState(doc map[string]any) guiState {
	my := make(map[string]any, len(doc))
	for k, v := range doc {
		my[k] = v
	}
	if _, ok := my["optimizer"]; !ok {
		my["optimizer"] = "AdamW"
		if pyTruthy(my["use_8bit_adam"]) {
			my["optimizer"] = "AdamW8bit"
		}
	}
	for k, c := range guiLoaderCoerce {
		if v, ok := my[k]; ok && v != nil {
			my[k] = pyCoerce(v, c)
		}
	}
	if s, ok := my["LoRA_type"].(string); ok && s == "LoCon" {
		my["LoRA_type"] = "LyCORIS/LoCon"
	}
	if b, ok := my["xformers"].(bool); ok {
		my["xformers"] = map[bool]string{true: "xformers", false: "none"}[b]
	}
	if s, ok := my["use_wandb"].(string); ok && s == "True" {
		my["log_with"] = "wandb"
	}
	if v, ok := my["lora_network_weights"]; ok && v != nil {
		my["network_weights"] = v
	}
	st := make(guiState, len(guiFields))
	for k, f := range guiFieldIndex() {
		if v, ok := my[k]; ok && v != nil {
			st[k] = v
		} else {
			st[k] = f.Default
		}
	}
	return st
}

// pyTruthy is Python's truth value of a decoded JSON value.
func pyTruthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case string:
		return x != ""
	case json.Number:
		f, err := x.Float64()
		return err != nil || f != 0
	case float64:
		return x != 0
	case []any:
		return len(x) > 0
	case map[string]any:
		return len(x) > 0
	}
	return true
}

// pyCoerce is Python's int() or float() of a decoded JSON value, with the
// loader's fallback where Python raises ValueError. A value Python would
// raise TypeError on (a list) is left for the field's type check.
func pyCoerce(v any, c guiCoerce) any {
	var f float64
	switch x := v.(type) {
	case bool:
		f = map[bool]float64{true: 1}[x]
	case json.Number:
		n, err := x.Float64()
		if err != nil {
			return c.Fallback
		}
		f = n
	case string:
		s := strings.TrimSpace(x)
		if c.Int {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return c.Fallback
			}
			return float64(n)
		}
		n, err := strconv.ParseFloat(s, 64)
		if err != nil || s == "" {
			return c.Fallback
		}
		f = n
	default:
		return v
	}
	if c.Int {
		f = math.Trunc(f)
	}
	return f
}

// num reads a number field the way the GUI's Number and Slider fields take
// a loaded value: numbers, numeric strings ("2"); "" is 0.
func (st guiState) num(key string) (float64, error) {
	switch x := st[key].(type) {
	case nil:
		return 0, nil
	case float64:
		return x, nil
	case json.Number:
		f, err := x.Float64()
		if err != nil {
			return 0, fmt.Errorf("%s: %w", key, err)
		}
		return f, nil
	case string:
		s := strings.TrimSpace(x)
		if s == "" {
			return 0, nil
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return 0, fmt.Errorf("%s = %q is not a number", key, x)
		}
		return f, nil
	case bool:
		if x {
			return 1, nil
		}
		return 0, nil
	}
	return 0, fmt.Errorf("%s must be a number, got %s", key, jsonType(st[key]))
}

func (st guiState) str(key string) (string, error) {
	switch x := st[key].(type) {
	case nil:
		return "", nil
	case string:
		return x, nil
	case json.Number:
		return x.String(), nil
	case float64:
		return pyNum(x), nil
	case bool:
		return map[bool]string{true: "True", false: "False"}[x], nil
	}
	return "", fmt.Errorf("%s must be a string, got %s", key, jsonType(st[key]))
}

// flag is a checkbox: true, or a truthy string/number as Python sees it
// ("false" in any case counts as false, as the checkbox shows it).
func (st guiState) flag(key string) bool {
	switch x := st[key].(type) {
	case bool:
		return x
	case string:
		return x != "" && !strings.EqualFold(x, "false")
	case json.Number, float64:
		f, _ := st.num(key)
		return f != 0
	}
	return false
}

// pyNum formats a number as Python's str() does for the value a GUI field
// hands back: whole numbers without a decimal point (the browser returns
// 4.0 as 4), others in Python's shortest form (0.0001, 1e-05).
func pyNum(f float64) string {
	if f == math.Trunc(f) && math.Abs(f) < 1e15 {
		return strconv.FormatInt(int64(f), 10)
	}
	exp := 0
	if f != 0 {
		exp = int(math.Floor(math.Log10(math.Abs(f))))
	}
	if exp < -4 || exp >= 16 {
		s := strconv.FormatFloat(f, 'e', -1, 64)
		return s
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
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
	st       guiState
	doc      map[string]any
	name     string
	out      Config
	warnings []string
}

func (im *guiImporter) warnf(key, format string, args ...any) {
	im.warnings = append(im.warnings, fmt.Sprintf("%s: %s: %s", im.name, key, fmt.Sprintf(format, args...)))
}

// has reports whether the file itself set key (not null).
func (im *guiImporter) has(key string) bool {
	v, ok := im.doc[key]
	return ok && v != nil
}

func (im *guiImporter) run(doc map[string]any) error {
	im.doc = doc
	if err := checkLoRATab(doc); err != nil {
		return err
	}
	for _, k := range sortedKeys(guiOtherFamilies) {
		if pyTruthy(doc[k]) && !strings.EqualFold(fmt.Sprint(doc[k]), "false") {
			return fmt.Errorf("%s is set: this is a %s config, and lorasweep drives train_network.py / sdxl_train_network.py only", k, guiOtherFamilies[k])
		}
	}
	im.st = loadGUIState(doc)
	for _, k := range sortedKeys(doc) {
		if _, ok := lookupGUIField(k); ok {
			if err := checkGUIType(k, doc[k]); err != nil {
				return err
			}
			continue
		}
		if why, ok := guiLegacyKeys[k]; ok {
			if why != "read by the loader" && pyTruthy(doc[k]) {
				im.warnf(k, "ignored: %s", why)
			}
			continue
		}
		msg := "not a field of the kohya_ss GUI's LoRA tab (" + guiVersion + "); the GUI ignores it"
		if near, ok := Nearest(k, guiKeyNames()); ok {
			msg += fmt.Sprintf(" (did you mean %q?)", near)
		}
		im.warnf(k, "%s", msg)
	}
	sdxl := im.st.flag("sdxl")
	for _, f := range guiFields {
		if f.Fwd == fwdArg {
			if err := im.passthrough(f.Key); err != nil {
				return err
			}
		}
	}
	for _, step := range []func(bool) error{im.schedule, im.learningRates, im.network, im.misc} {
		if err := step(sdxl); err != nil {
			return err
		}
	}
	return im.additional()
}

// checkLoRATab refuses configs saved by the GUI's other tabs: loading one
// into the LoRA tab keeps only the keys both share, and trains a LoRA with
// the LoRA tab's defaults for the rest, which is not what the file trained.
func checkLoRATab(doc map[string]any) error {
	for _, k := range guiLoRAOnlyKeys {
		if _, ok := doc[k]; ok {
			return nil
		}
	}
	// The most specific tab first: textual inversion and finetune configs
	// also carry DreamBooth-tab keys.
	for _, tab := range []string{"textual inversion", "finetune", "DreamBooth"} {
		for _, k := range sortedKeys(doc) {
			if guiOtherTabKeys[k] == tab {
				return fmt.Errorf("not a LoRA-tab config: it has %s, a field of the GUI's %s tab, and none of the LoRA tab's (%s…); the LoRA tab would train a LoRA with its own defaults for everything else. Save the config from the GUI's LoRA tab, or start from one of its LoRA presets",
					k, tab, strings.Join(guiLoRAOnlyKeys[:3], ", "))
			}
		}
	}
	known := 0
	for k := range doc {
		if _, ok := lookupGUIField(k); ok {
			known++
		}
	}
	if known == 0 && len(doc) > 0 {
		return fmt.Errorf("not a kohya_ss GUI config: none of its %d keys is a field of the GUI's LoRA tab", len(doc))
	}
	return nil
}

// checkGUIType refuses values a field of that type cannot take.
func checkGUIType(key string, v any) error {
	f, _ := lookupGUIField(key)
	switch v.(type) {
	case nil, string, bool, json.Number:
	default:
		return fmt.Errorf("%s must be a %s, got %s", key, f.Type, jsonType(v))
	}
	if f.Type == guiNumber {
		if _, err := (guiState{key: v}).num(key); err != nil {
			return err
		}
	}
	return nil
}

// guiKeyNames lists the table's keys, for suggestions.
func guiKeyNames() []string {
	names := make([]string, len(guiFields))
	for i, f := range guiFields {
		names[i] = f.Key
	}
	return names
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// passthrough copies a fwdArg field to the same-named sd-scripts argument,
// converted to the argument's TOML type and left out when the GUI filters
// it ("", false, 0).
func (im *guiImporter) passthrough(key string) error {
	a, ok := LookupArg(key)
	if !ok {
		// An option of the GUI's pinned sd-scripts that the argument table
		// does not know (metadata, upload): nothing a trial trains with.
		return nil
	}
	return im.setArg(a, key, key)
}

// setArg sets argument a from field key, dropping falsy values.
func (im *guiImporter) setArg(a Arg, key, arg string) error {
	st := im.st
	switch a.Kind {
	case KindBool:
		if st.flag(key) {
			im.out[arg] = true
		}
	case KindInt:
		f, err := st.num(key)
		if err != nil {
			return err
		}
		if f != 0 {
			if f != math.Trunc(f) {
				im.warnf(key, "%s is not an integer; using %d", pyNum(f), int64(f))
			}
			im.out[arg] = int64(f)
		}
	case KindFloat, KindFloatList:
		f, err := st.num(key)
		if err != nil {
			return err
		}
		if f != 0 {
			im.out[arg] = f
		}
	case KindString:
		s, err := st.str(key)
		if err != nil {
			return err
		}
		if s != "" {
			im.out[arg] = s
		}
	case KindStringList:
		s, err := st.str(key)
		if err != nil {
			return err
		}
		if l := splitGUIList(s); len(l) > 0 {
			im.out[arg] = l
		}
	default:
		return fmt.Errorf("%s: no GUI translation for argument kind %d", key, a.Kind)
	}
	return nil
}

// splitGUIList is how the GUI turns a text field into an argparse list:
// double quotes removed, then split on whitespace.
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
	st := im.st
	epoch, err := st.num("epoch")
	if err != nil {
		return err
	}
	epochs, err := st.num("max_train_epochs")
	if err != nil {
		return err
	}
	steps, err := st.num("max_train_steps")
	if err != nil {
		return err
	}
	dataset, err := st.str("dataset_config")
	if err != nil {
		return err
	}
	if epochs != 0 {
		im.out["max_train_epochs"] = int64(epochs)
	}
	if steps != 0 {
		im.out["max_train_steps"] = int64(steps)
	}
	if steps == 0 && epochs == 0 {
		switch {
		case dataset != "":
			im.warnf("max_train_steps", "0 with a dataset_config: sd-scripts trains its default 1600 steps")
		case epoch > 0:
			// See the package note on epoch.
			im.out["max_train_epochs"] = int64(epoch)
		}
	}

	// The loader has made cycles an integer ("" became 1).
	if n, err := st.num("lr_scheduler_num_cycles"); err != nil {
		return err
	} else if n != 0 {
		im.out["lr_scheduler_num_cycles"] = int64(n)
	}

	warmSteps, err := st.num("lr_warmup_steps")
	if err != nil {
		return err
	}
	pct, err := st.num("lr_warmup") // a whole percent after the loader
	if err != nil {
		return err
	}
	var warmup any
	switch {
	case warmSteps > 0:
		warmup = int64(warmSteps)
	case pct != 0 && dataset != "" && steps > 0:
		warmup = int64(math.RoundToEven(pct * math.Trunc(steps) / 100))
	case pct != 0:
		warmup = pct / 100
	}
	if sched, _ := st.str("lr_scheduler"); sched == "constant" && warmup != nil {
		// Selecting constant zeroes both warmup fields in the GUI
		// (class_basic_training.py), loading a config included.
		if im.has("lr_warmup") || im.has("lr_warmup_steps") {
			im.warnf("lr_warmup", "ignored: the GUI sets warmup to 0 for the constant scheduler (use constant_with_warmup)")
		}
		warmup = nil
	}
	if warmup != nil {
		im.out["lr_warmup_steps"] = warmup
	}
	return nil
}

func (im *guiImporter) learningRates(bool) error {
	st := im.st
	lr, err := st.num("learning_rate")
	if err != nil {
		return err
	}
	unet, err := st.num("unet_lr")
	if err != nil {
		return err
	}
	te, err := st.num("text_encoder_lr")
	if err != nil {
		return err
	}
	t5, err := st.num("t5xxl_lr")
	if err != nil {
		return err
	}
	if te == 0 && t5 > 0 {
		return errors.New("t5xxl_lr is set but text_encoder_lr is 0: the GUI refuses to train this")
	}
	if lr == 0 && unet == 0 && te == 0 {
		return errors.New("learning_rate, unet_lr and text_encoder_lr are all 0: the GUI refuses to train this (\"Please input learning rate values\")")
	}
	if lr != 0 {
		im.out["learning_rate"] = lr
	}
	if unet != 0 {
		im.out["unet_lr"] = unet
	}
	switch {
	case te > 0 && t5 > 0 && t5 != te:
		im.out["text_encoder_lr"] = []any{te, t5}
	case te > 0:
		im.out["text_encoder_lr"] = te
	}
	switch {
	case te == 0 && unet != 0:
		im.out["network_train_unet_only"] = true
	case te != 0 && unet == 0:
		im.out["network_train_text_encoder_only"] = true
	}
	return nil
}

// network turns LoRA_type and its fields into network_module and
// network_args (guiNetTypes).
func (im *guiImporter) network(sdxl bool) error {
	typ, err := im.st.str("LoRA_type")
	if err != nil {
		return err
	}
	nt, ok := lookupNetType(typ)
	if !ok {
		return fmt.Errorf("LoRA_type %q is not an SD 1.x/2.x/SDXL network lorasweep can translate (%s)", typ, strings.Join(guiNetTypeNames(), ", "))
	}
	if nt.SDXLOnly && !sdxl {
		return fmt.Errorf("LoRA_type %q needs the sdxl checkbox: the GUI trains %s for SDXL only", typ, nt.Module)
	}
	if nt.Module == "networks.loha" || nt.Module == "networks.lokr" {
		im.warnf("LoRA_type", "%s needs %s, which sd-scripts has only on its feat-support-lokr-loha branch", typ, nt.Module)
	}
	var parts []string
	for _, a := range append(append([]guiNetArg{}, nt.Args...), guiLoRAPlus...) {
		s, ok, err := im.netEntry(a)
		if err != nil {
			return err
		}
		if ok {
			parts = append(parts, s)
		}
	}
	im.out["network_module"] = nt.Module
	if l := splitGUIList(strings.Join(parts, " ")); len(l) > 0 {
		im.out["network_args"] = l
	}
	return nil
}

func guiNetTypeNames() []string {
	names := make([]string, len(guiNetTypes))
	for i, t := range guiNetTypes {
		names[i] = t.Type
	}
	return names
}

// netEntry formats one network_args entry as the GUI writes it; ok is false
// when the GUI leaves it out.
func (im *guiImporter) netEntry(a guiNetArg) (string, bool, error) {
	if a.When == netFixed {
		return a.Arg + "=" + a.Field, true, nil
	}
	f, _ := lookupGUIField(a.Field)
	var s string
	var n float64
	switch f.Type {
	case guiBool:
		b := im.st.flag(a.Field)
		s = map[bool]string{true: "True", false: "False"}[b]
		n = map[bool]float64{true: 1}[b]
	case guiNumber:
		var err error
		if n, err = im.st.num(a.Field); err != nil {
			return "", false, err
		}
		s = pyNum(n)
	default:
		var err error
		if s, err = im.st.str(a.Field); err != nil {
			return "", false, err
		}
		s = strings.TrimSpace(s)
		if s != "" {
			n = 1
		}
	}
	switch a.When {
	case netTruthy:
		if n == 0 {
			return "", false, nil
		}
	case netPositive:
		if n <= 0 {
			return "", false, nil
		}
		if a.Field == "conv_dim" {
			s = strconv.FormatInt(int64(n), 10)
		}
	case netConvSet:
		if d, _ := im.st.num("conv_dim"); d <= 0 {
			return "", false, nil
		}
	case netNotAuto:
		if int64(n) == -1 {
			return "", false, nil
		}
		s = strconv.FormatInt(int64(n), 10)
	}
	return a.Arg + "=" + s, true, nil
}

// misc handles the remaining fields whose name or meaning differs from
// sd-scripts'.
func (im *guiImporter) misc(sdxl bool) error {
	st := im.st
	if s, err := st.str("max_resolution"); err != nil {
		return err
	} else if s = strings.TrimSpace(s); s != "" {
		im.out["resolution"] = s
	}
	switch x, _ := st.str("xformers"); x {
	case "xformers":
		im.out["xformers"] = true
	case "sdpa":
		im.out["sdpa"] = true
	case "", "none":
	default:
		im.warnf("xformers", "unknown attention %q (xformers, sdpa or none); the GUI passes neither", x)
	}
	if opt, err := st.str("optimizer"); err != nil {
		return err
	} else if opt != "" {
		im.out["optimizer_type"] = opt
	}
	for _, k := range []string{"optimizer_args", "lr_scheduler_args"} {
		a, _ := LookupArg(k)
		if err := im.setArg(a, k, k); err != nil {
			return err
		}
	}
	// Noise: only the family noise_offset_type selects reaches sd-scripts.
	noise, err := st.str("noise_offset_type")
	if err != nil {
		return err
	}
	var noiseKeys []string
	switch noise {
	case "Original":
		noiseKeys = []string{"noise_offset", "adaptive_noise_scale", "noise_offset_random_strength"}
	case "Multires":
		noiseKeys = []string{"multires_noise_iterations", "multires_noise_discount"}
	default:
		im.warnf("noise_offset_type", "unknown value %q (Original or Multires): the GUI passes no noise offset", noise)
	}
	for _, k := range noiseKeys {
		a, _ := LookupArg(k)
		if err := im.setArg(a, k, k); err != nil {
			return err
		}
	}
	if sdxl {
		if st.flag("sdxl_cache_text_encoder_outputs") {
			im.out["cache_text_encoder_outputs"] = true
		}
		if st.flag("sdxl_no_half_vae") {
			im.out["no_half_vae"] = true
		}
	}
	// The GUI always writes the worker count, 0 included ("" is 0).
	if n, err := st.num("max_data_loader_n_workers"); err != nil {
		return err
	} else {
		im.out["max_data_loader_n_workers"] = int64(n)
	}
	if n, err := st.num("max_token_length"); err != nil {
		return err
	} else if n != 0 && n != 75 {
		im.out["max_token_length"] = int64(n)
	}
	if s, err := st.str("dynamo_backend"); err != nil {
		return err
	} else if _, known := LookupArg("dynamo_backend"); known && s != "" && s != "no" {
		im.out["dynamo_backend"] = s
	}
	if st.flag("resume_from_huggingface") {
		im.out["resume_from_huggingface"] = true
	}
	if s, err := st.str("wandb_run_name"); err != nil {
		return err
	} else if s != "" {
		im.out["wandb_run_name"] = s
	} else if lw, _ := st.str("log_with"); (lw == "wandb" || lw == "all") && im.out["output_name"] != nil {
		im.out["wandb_run_name"] = im.out["output_name"]
	}
	if s, err := st.str("sample_prompts"); err != nil {
		return err
	} else if strings.TrimSpace(s) != "" {
		im.warnf("sample_prompts", "the GUI keeps prompt text here, not a file; not imported: point sample_prompts at a prompt file in the sweep spec")
	}
	if n, err := st.num("stop_text_encoder_training"); err != nil {
		return err
	} else if n != 0 {
		im.warnf("stop_text_encoder_training", "ignored: train_network.py has no such option (the GUI ignores it too)")
	}
	if st.flag("train_inpainting") {
		im.warnf("train_inpainting", "ignored: not an option of the sd-scripts this project targets")
	}
	return nil
}

// additional reads additional_parameters, the raw command-line tokens the
// GUI appends after --config_file (double quotes removed, split on
// whitespace); being on the command line they override the TOML, so they
// are applied last.
func (im *guiImporter) additional() error {
	s, err := im.st.str("additional_parameters")
	if err != nil {
		return err
	}
	toks := strings.Fields(strings.ReplaceAll(s, `"`, ""))
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
