package sweep

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/lorasweep/lorasweep/kohya"
	"github.com/lorasweep/lorasweep/runner"
)

// trainerInfo is what the rest of the parse needs to know about the trainer
// block beyond runner.TrainerSpec: where things were written, for messages.
type trainerInfo struct {
	kind     string
	sdxl     bool
	node     *yaml.Node
	baseNode *yaml.Node
	// fixed maps a fixed key (as written) to its value node.
	fixed map[string]*yaml.Node
	// baseHas lists keys set by the base config file (not by fixed).
	baseHas map[string]bool
	// baseRaw holds the base config's path values as written in the file.
	baseRaw map[string]string
	// base is the base config with fixed applied.
	base kohya.Config
}

// baseValue returns a key's value in the base config with fixed applied.
func (t *trainerInfo) baseValue(key string) (any, bool) {
	v, ok := t.base[key]
	return v, ok
}

// checksNames says whether parameter and fixed names must be sd-scripts
// arguments or network args (kohya and builtin) or are free-form (command).
func (t *trainerInfo) checksNames() bool { return t.kind != "command" }

var trainerKinds = []string{"builtin", "kohya", "command"}

var trainerKeys = []string{
	"kind", "base", "fixed", "script", "python", "launcher", "sample_sampler",
	"command", "env", "loss_regex", "epoch_regex", "sample_regex", "sample_glob",
	"success_regex", "hang_timeout", "kill_grace",
}

// kohyaOnlyKeys and commandOnlyKeys are refused for the other kinds so a
// misplaced key is not silently ignored.
var kohyaOnlyKeys = []string{"script", "python", "launcher", "sample_sampler"}
var commandOnlyKeys = []string{"command", "loss_regex", "epoch_regex", "sample_regex", "sample_glob", "success_regex"}

// sampleSamplers are sd-scripts' --sample_sampler choices.
var sampleSamplers = []string{"ddim", "pndm", "lms", "euler", "euler_a", "heun", "dpm_2", "dpm_2_a", "dpmsolver", "dpmsolver++", "dpmsingle", "k_lms", "k_euler", "k_euler_a", "k_dpm_2", "k_dpm_2_a"}

// commandPlaceholders are the {name} placeholders a command template may use
// besides the search parameters.
var commandPlaceholders = []string{"config", "output_dir", "trial_dir", "output_name", "trial"}

func (p *specParser) parseTrainer(byKey map[string]entry, spec *Spec) *trainerInfo {
	info := &trainerInfo{fixed: map[string]*yaml.Node{}, baseHas: map[string]bool{}, baseRaw: map[string]string{}}
	e, ok := byKey["trainer"]
	if !ok {
		return info
	}
	info.node = e.k
	entries, ok := p.mapping(e.v, e.field, trainerKeys)
	if !ok {
		return info
	}
	tr := &spec.Trainer
	nodes := map[string]entry{}
	for _, f := range entries {
		nodes[f.key] = f
	}
	if f, ok := nodes["kind"]; ok {
		if s, ok := p.str(f.v, f.field); ok {
			if contains(trainerKinds, s) {
				tr.Kind = s
			} else {
				p.errf(f.v, f.field, "unknown trainer kind %q%s (kinds: builtin, kohya, command)", s, didYouMean(s, trainerKinds))
			}
		}
	} else {
		p.errf(e.v, "trainer.kind", "missing required key \"kind\" (builtin, kohya or command)")
	}
	info.kind = tr.Kind
	for _, f := range entries {
		switch {
		case tr.Kind != "kohya" && tr.Kind != "" && contains(kohyaOnlyKeys, f.key):
			p.errf(f.k, f.field, "%s applies to the kohya trainer only, not %s", f.key, tr.Kind)
			continue
		case tr.Kind != "command" && tr.Kind != "" && contains(commandOnlyKeys, f.key):
			p.errf(f.k, f.field, "%s applies to the command trainer only, not %s", f.key, tr.Kind)
			continue
		}
		switch f.key {
		case "script":
			if s, ok := p.str(f.v, f.field); ok {
				tr.Script = p.path(s)
				base := filepath.Base(tr.Script)
				info.sdxl = strings.Contains(base, "sdxl")
				if !strings.HasSuffix(base, "train_network.py") {
					p.warnf(f.v, f.field, "%s is not train_network.py or sdxl_train_network.py: lorasweep trains LoRAs with those two", base)
				}
				if _, err := os.Stat(tr.Script); err != nil {
					p.warnf(f.v, f.field, "%s does not exist on this machine: trials run here will fail", tr.Script)
				}
			}
		case "python":
			if s, ok := p.str(f.v, f.field); ok {
				if strings.ContainsRune(s, '/') || strings.HasPrefix(s, "~") {
					s = p.path(s)
					if _, err := os.Stat(s); err != nil {
						p.warnf(f.v, f.field, "%s does not exist on this machine: trials run here will fail", s)
					}
				}
				tr.Python = s
			}
		case "launcher":
			tr.Launcher, _ = p.strList(f.v, f.field)
		case "sample_sampler":
			if s, ok := p.str(f.v, f.field); ok {
				if !contains(sampleSamplers, s) {
					p.errf(f.v, f.field, "unknown sample sampler %q%s", s, didYouMean(s, sampleSamplers))
				}
				tr.SampleSampler = s
			}
		case "command":
			tr.Command, _ = p.strList(f.v, f.field)
			if len(tr.Command) == 0 && f.v.Kind == yaml.SequenceNode {
				p.errf(f.v, f.field, "empty command: give the trainer's argv, such as [python, train.py, --config, \"{config}\"]")
			}
		case "env":
			if es, ok := p.mapping(f.v, f.field, nil); ok {
				tr.Env = map[string]string{}
				for _, x := range es {
					if x.v.Kind == yaml.ScalarNode && x.v.Tag != "!!null" {
						tr.Env[x.key] = x.v.Value
					} else {
						p.errf(x.v, x.field, "expected a string, got %s", kindName(x.v))
					}
				}
			}
		case "loss_regex", "epoch_regex", "sample_regex", "success_regex":
			if s, ok := p.str(f.v, f.field); ok {
				if _, err := regexp.Compile(s); err != nil {
					p.errf(f.v, f.field, "invalid regular expression: %v", err)
				}
				switch f.key {
				case "loss_regex":
					tr.LossRegex = s
				case "epoch_regex":
					tr.EpochRegex = s
				case "sample_regex":
					tr.SampleRegex = s
				case "success_regex":
					tr.SuccessRegex = s
				}
			}
		case "sample_glob":
			if s, ok := p.str(f.v, f.field); ok {
				if _, err := filepath.Match(s, ""); err != nil {
					p.errf(f.v, f.field, "invalid glob %q: %v", s, err)
				}
				tr.SampleGlob = s
			}
		case "hang_timeout":
			tr.HangTimeout, _ = p.duration(f.v, f.field)
		case "kill_grace":
			tr.KillGrace, _ = p.duration(f.v, f.field)
		}
	}
	if tr.Kind == "kohya" && tr.Script == "" {
		p.errf(e.v, "trainer.script", "the kohya trainer needs script: the path of train_network.py or sdxl_train_network.py")
	}
	if tr.Kind == "command" && nodes["command"].v == nil {
		p.errf(e.v, "trainer.command", "the command trainer needs command: the trainer's argv with {config} and {param} placeholders")
	}

	base := kohya.Config{}
	if f, ok := nodes["base"]; ok {
		info.baseNode = f.v
		if s, ok := p.str(f.v, f.field); ok {
			tr.Base = p.path(s)
			base = p.loadBase(f, tr.Base, spec, info)
			for k := range base {
				info.baseHas[k] = true
			}
		}
	}
	if f, ok := nodes["fixed"]; ok {
		p.applyFixed(f, base, info, spec)
	}
	if f, ok := nodes["base"]; ok && tr.Base != "" {
		p.checkBase(f, tr, base, spec, info)
	}
	spec.Base = map[string]any(base)
	info.base = base
	if len(tr.Fixed) == 0 {
		tr.Fixed = nil
	}
	return info
}

// loadBase reads the base config (a kohya TOML or a kohya_ss GUI JSON) and
// makes its relative paths absolute against the base file's own folder, so
// trials do not depend on the directory they are started from.
func (p *specParser) loadBase(f entry, path string, spec *Spec, info *trainerInfo) kohya.Config {
	if _, err := os.Stat(path); err != nil {
		if spec.Demo != "" && within(spec.Demo, path) {
			return kohya.Config{}
		}
		p.errf(f.v, f.field, "%s does not exist", path)
		return kohya.Config{}
	}
	cfg, warnings, err := kohya.LoadBase(path)
	if err != nil {
		p.errf(f.v, f.field, "%v", err)
		return kohya.Config{}
	}
	for _, w := range warnings {
		p.warnf(f.v, f.field, "%s", w)
	}
	dir := filepath.Dir(path)
	for k, v := range cfg {
		if s, ok := v.(string); ok && pathArgs[k] != pathNone && pathArgs[k] != pathOut && s != "" && !kohya.IsHubID(k, s, dir) {
			info.baseRaw[k] = s
			if !windowsPath(s) {
				cfg[k] = resolvePath(dir, s)
			}
		} else if ok && pathArgs[k] == pathOut && s != "" {
			cfg[k] = resolvePath(dir, s)
		}
	}
	if _, ok := cfg["stop_text_encoder_training"]; ok {
		p.warnf(f.v, f.field, "base sets stop_text_encoder_training, which train_network.py does not support: sd-scripts ignores it in a config file")
		delete(cfg, "stop_text_encoder_training")
	}
	return cfg
}

// checkBase checks what the base config says against the spec, after fixed
// has replaced what it sets: a GUI config's sdxl checkbox must match the
// script (the GUI would pick the other one, and SDXL-only arguments would
// reach the wrong script), and the base's paths must exist, as spec paths
// must. A GUI config's paths were written for the GUI's machine and folder:
// Windows-style and relative ones get a message naming the key.
func (p *specParser) checkBase(f entry, tr *runner.TrainerSpec, base kohya.Config, spec *Spec, info *trainerInfo) {
	isGUI := strings.EqualFold(filepath.Ext(tr.Base), ".json")
	if isGUI && tr.Kind == "kohya" && tr.Script != "" {
		if data, err := os.ReadFile(tr.Base); err == nil {
			if gui := kohya.GUIIsSDXL(data); gui != info.sdxl {
				want := map[bool]string{true: "sdxl_train_network.py", false: "train_network.py"}[gui]
				p.errf(f.v, f.field, "%s has the GUI's sdxl checkbox %s, but trainer.script is %s: the GUI trains it with %s (set script to that, or change the checkbox in the GUI and save again)",
					tr.Base, map[bool]string{true: "ticked", false: "unticked"}[gui], filepath.Base(tr.Script), want)
			}
		}
	}
	for _, k := range base.Keys() {
		raw, ok := info.baseRaw[k]
		if !ok || tr.Fixed[k] != nil {
			continue
		}
		resolved, _ := base[k].(string)
		if windowsPath(raw) {
			p.errf(f.v, f.field, "%s in %s is %q, a Windows path: set %s in trainer.fixed to a path on this machine", k, filepath.Base(tr.Base), raw, k)
			continue
		}
		if isGUI && !filepath.IsAbs(raw) && !strings.HasPrefix(raw, "~") {
			p.warnf(f.v, f.field, "%s in %s is the relative path %q: the GUI reads it against the folder it was started in, lorasweep against the JSON's folder (%s)", k, filepath.Base(tr.Base), raw, resolved)
		}
		switch pathArgs[k] {
		case pathDir, pathFile:
			if _, err := os.Stat(resolved); err != nil && !(spec.Demo != "" && within(spec.Demo, resolved)) {
				p.errf(f.v, f.field, "%s in %s: %s does not exist (set %s in trainer.fixed to override it)", k, filepath.Base(tr.Base), resolved, k)
			} else if st, err := os.Stat(resolved); err == nil && st.IsDir() != (pathArgs[k] == pathDir) {
				p.errf(f.v, f.field, "%s in %s: %s is a %s, expected a %s", k, filepath.Base(tr.Base), resolved,
					map[bool]string{true: "folder", false: "file"}[st.IsDir()], map[bool]string{true: "folder", false: "file"}[pathArgs[k] == pathDir])
			}
		case pathModel:
			if _, err := os.Stat(resolved); err != nil {
				p.warnf(f.v, f.field, "%s in %s: %s does not exist on this machine (a Hugging Face model id is fine too)", k, filepath.Base(tr.Base), resolved)
			}
		}
	}
}

// windowsPath reports a drive-letter or backslash path (D:/x, C:\x, \\srv\x).
func windowsPath(s string) bool {
	if len(s) >= 2 && s[1] == ':' && (s[0] >= 'A' && s[0] <= 'Z' || s[0] >= 'a' && s[0] <= 'z') {
		return true
	}
	return strings.Contains(s, `\`)
}

// pathKind says how an argument's value is a path.
type pathKind int

const (
	pathNone  pathKind = iota
	pathDir            // a folder that must exist
	pathFile           // a file that must exist
	pathModel          // a model file or folder, or a Hugging Face id (kohya.IsHubID): warned about when missing
	pathCache          // a folder sd-scripts fills when it is missing (tokenizer_cache_dir)
	pathOut            // written by the trainer: set per trial by lorasweep
)

// pathArgs are the sd-scripts arguments whose values are paths.
var pathArgs = map[string]pathKind{
	"train_data_dir": pathDir, "reg_data_dir": pathDir, "conditioning_data_dir": pathDir,
	"sample_prompts": pathFile, "dataset_config": pathFile, "network_weights": pathFile,
	"in_json": pathFile, "log_tracker_config": pathFile,
	"pretrained_model_name_or_path": pathModel, "vae": pathModel, "tokenizer_cache_dir": pathCache,
	"output_dir": pathOut, "logging_dir": pathOut,
}

// datasetParams can be searched but are not sd-scripts arguments: they
// change the dataset (num_repeats replaces the N_ prefix of every subset).
var datasetParams = []string{"num_repeats"}

// argNames lists every name a kohya/builtin parameter or fixed key may use.
func argNames() []string {
	names := append(kohya.ArgNames(), kohya.NetworkArgNames()...)
	return append(names, datasetParams...)
}

func (p *specParser) applyFixed(f entry, base kohya.Config, info *trainerInfo, spec *Spec) {
	entries, ok := p.mapping(f.v, f.field, nil)
	if !ok {
		return
	}
	tr := &spec.Trainer
	tr.Fixed = map[string]any{}
	for _, x := range entries {
		info.fixed[x.key] = x.v
		v, ok := p.value(x.v, x.field)
		if !ok {
			continue
		}
		if !info.checksNames() {
			tr.Fixed[x.key] = v
			base[x.key] = v
			continue
		}
		if x.key == "stop_text_encoder_training" {
			p.errf(x.k, x.field, "%s", msgStopTE)
			continue
		}
		if contains(datasetParams, x.key) {
			p.errf(x.k, x.field, "%s is a dataset option: set it in the folder names (N_name) or dataset_config, or search it", x.key)
			continue
		}
		if na, ok := kohya.LookupNetworkArg(x.key); ok {
			if _, isArg := kohya.LookupArg(x.key); !isArg {
				cv, msg := convertNetworkArg(na, v)
				if msg != "" {
					p.errf(x.v, x.field, "%s", msg)
					continue
				}
				tr.Fixed[x.key] = cv
				base["network_args"] = mergeNetworkArg(base["network_args"], x.key, cv)
				continue
			}
		}
		arg, ok := kohya.LookupArg(x.key)
		if !ok {
			p.errf(x.k, x.field, "unknown sd-scripts argument %q%s", x.key, didYouMean(x.key, argNames()))
			continue
		}
		if arg.SDXLOnly && info.kind == "kohya" && !info.sdxl {
			p.errf(x.k, x.field, "%s is an argument of sdxl_train_network.py only, and the script is not an SDXL one", x.key)
			continue
		}
		cv, msg := convertArg(arg, v)
		if msg != "" {
			p.errf(x.v, x.field, "%s", msg)
			continue
		}
		if s, ok := cv.(string); ok {
			switch pathArgs[x.key] {
			case pathOut:
				p.errf(x.k, x.field, "%s is set per trial by lorasweep (under output_root): remove it", x.key)
				continue
			case pathDir, pathFile:
				cv = p.path(s)
				p.checkPath(x.v, x.field, cv.(string), spec, pathArgs[x.key] == pathDir)
			case pathModel:
				if !kohya.IsHubID(x.key, s, p.dir) {
					cv = p.path(s)
					if _, err := os.Stat(cv.(string)); err != nil {
						p.warnf(x.v, x.field, "%s does not exist on this machine (a Hugging Face model id is fine too)", cv)
					}
				}
			case pathCache:
				cv = p.path(s)
				if _, err := os.Stat(cv.(string)); err != nil {
					p.warnf(x.v, x.field, "%s does not exist: sd-scripts will fetch the tokenizer from the Hugging Face Hub and save it there (offline, that fails)", cv)
				}
			}
			if x.key == "output_name" && !plainName(s) {
				p.errf(x.v, x.field, "output_name %q is not a plain name: use letters, digits, '.', '_' and '-' (no '/', '..' or absolute paths: outputs stay in the trial's folder)", s)
				continue
			}
		}
		tr.Fixed[x.key] = cv
		if x.key == "network_args" {
			// Entries of fixed network_args replace the base's same keys
			// rather than duplicating them.
			for _, e := range cv.([]any) {
				k, val, _ := strings.Cut(e.(string), "=")
				base["network_args"] = mergeNetworkArgString(base["network_args"], k, val)
			}
			continue
		}
		base[x.key] = cv
	}
}

// convertArg checks a value against an sd-scripts argument's TOML type and
// returns it as WriteTOML should write it; a non-empty string is the error.
func convertArg(arg kohya.Arg, v any) (any, string) {
	switch arg.Kind {
	case kohya.KindInt:
		if i, ok := v.(int64); ok {
			return i, ""
		}
		return nil, fmt.Sprintf("%s is an integer argument, got %s", arg.Name, describeValue(v))
	case kohya.KindFloat:
		switch x := v.(type) {
		case int64:
			return float64(x), ""
		case float64:
			return x, ""
		}
		return nil, fmt.Sprintf("%s is a number argument, got %s", arg.Name, describeValue(v))
	case kohya.KindIntOrFloat:
		switch x := v.(type) {
		case int64:
			return x, ""
		case float64:
			if x >= 1 {
				return nil, fmt.Sprintf("%s = %s is a float, which sd-scripts reads as a ratio of the total steps: write an integer for steps (%d) or a value below 1 for a ratio", arg.Name, strconv.FormatFloat(x, 'g', -1, 64), int64(x))
			}
			return x, ""
		}
		return nil, fmt.Sprintf("%s takes an integer (steps) or a float below 1 (a ratio), got %s", arg.Name, describeValue(v))
	case kohya.KindBool:
		if b, ok := v.(bool); ok {
			return b, ""
		}
		return nil, fmt.Sprintf("%s is a flag: write true or false, got %s", arg.Name, describeValue(v))
	case kohya.KindString:
		s, ok := v.(string)
		if !ok {
			if arg.Name == "resolution" {
				return nil, fmt.Sprintf("resolution must be a string such as \"512,512\" (sd-scripts splits it on commas; a number crashes it), got %s", describeValue(v))
			}
			return nil, fmt.Sprintf("%s is a string argument, got %s", arg.Name, describeValue(v))
		}
		if len(arg.Choices) > 0 && !contains(arg.Choices, s) {
			return nil, fmt.Sprintf("%q is not a choice of %s%s (choices: %s)", s, arg.Name, didYouMean(s, arg.Choices), strings.Join(arg.Choices, ", "))
		}
		return s, ""
	case kohya.KindStringList:
		list, ok := v.([]any)
		if !ok {
			if s, isStr := v.(string); isStr {
				return nil, fmt.Sprintf("%s is a list: write [%q]", arg.Name, s)
			}
			return nil, fmt.Sprintf("%s is a list of strings, got %s", arg.Name, describeValue(v))
		}
		for _, e := range list {
			if _, ok := e.(string); !ok {
				return nil, fmt.Sprintf("%s is a list of strings, got an entry %s", arg.Name, describeValue(e))
			}
		}
		return list, ""
	case kohya.KindFloatList:
		switch x := v.(type) {
		case int64:
			return float64(x), ""
		case float64:
			return x, ""
		case []any:
			out := make([]any, len(x))
			for i, e := range x {
				f, ok := toFloat(e)
				if !ok {
					return nil, fmt.Sprintf("%s is a number or a list of numbers, got an entry %s", arg.Name, describeValue(e))
				}
				out[i] = f
			}
			return out, ""
		}
		return nil, fmt.Sprintf("%s is a number or a list of numbers, got %s", arg.Name, describeValue(v))
	}
	return v, ""
}

// convertNetworkArg checks a network arg's value (written as "key=value").
func convertNetworkArg(na kohya.NetworkArg, v any) (any, string) {
	switch na.Kind {
	case kohya.KindInt:
		if i, ok := v.(int64); ok {
			return i, ""
		}
		return nil, fmt.Sprintf("network arg %s is an integer, got %s", na.Name, describeValue(v))
	case kohya.KindFloat:
		if f, ok := toFloat(v); ok {
			return f, ""
		}
		return nil, fmt.Sprintf("network arg %s is a number, got %s", na.Name, describeValue(v))
	}
	switch v.(type) {
	case string, int64, float64, bool:
		return v, ""
	}
	return nil, fmt.Sprintf("network arg %s is a single value, got %s", na.Name, describeValue(v))
}

func toFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case int64:
		return float64(x), true
	case int:
		return float64(x), true
	case float64:
		return x, true
	}
	return 0, false
}

func describeValue(v any) string {
	switch x := v.(type) {
	case string:
		return fmt.Sprintf("the string %q", x)
	case int64:
		return fmt.Sprintf("the integer %d", x)
	case float64:
		return "the number " + strconv.FormatFloat(x, 'g', -1, 64)
	case bool:
		return fmt.Sprintf("%t", x)
	case []any:
		return "a list"
	}
	return fmt.Sprintf("%v", v)
}

// formatValue renders a value the way it appears in a network_args entry.
func formatValue(v any) string {
	switch x := v.(type) {
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case int64:
		return strconv.FormatInt(x, 10)
	case int:
		return strconv.Itoa(x)
	case bool:
		if x {
			return "True"
		}
		return "False"
	case string:
		return x
	}
	return fmt.Sprint(v)
}

// mergeNetworkArg sets key=value in a network_args list, replacing an entry
// with the same key, keeping the others in order.
func mergeNetworkArg(list any, key string, v any) []any {
	return mergeNetworkArgString(list, key, formatValue(v))
}

func mergeNetworkArgString(list any, key, value string) []any {
	var in []any
	switch x := list.(type) {
	case []any:
		in = x
	case []string:
		for _, s := range x {
			in = append(in, s)
		}
	}
	out := make([]any, 0, len(in)+1)
	replaced := false
	for _, e := range in {
		s, _ := e.(string)
		k, _, _ := strings.Cut(s, "=")
		if strings.TrimSpace(k) == key {
			if !replaced {
				out = append(out, key+"="+value)
				replaced = true
			}
			continue
		}
		out = append(out, e)
	}
	if !replaced {
		out = append(out, key+"="+value)
	}
	return out
}
