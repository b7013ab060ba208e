package kohya

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// trainNetworkArgs lists every argument train_network.py's parser defines
// (kohya-ss/sd-scripts main@48d368fa, in parser order), the three that
// sdxl_train_network.py adds, and one DreamBooth-only argument users carry
// over by mistake. Kinds are the TOML types sd-scripts needs, which differ
// from argparse's type where TOML values skip argparse conversion: nargs="*"
// arguments are TOML arrays, int_or_float stays distinct because its float
// form means a ratio. Defaults are argparse's (nil for None); choices omit
// None, which TOML cannot express.
var trainNetworkArgs = []Arg{
	{Name: "console_log_level", Kind: KindString, Choices: []string{"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}},
	{Name: "console_log_file", Kind: KindString},
	{Name: "console_log_simple", Kind: KindBool, Default: false},
	{Name: "v2", Kind: KindBool, Default: false},
	{Name: "v_parameterization", Kind: KindBool, Default: false},
	{Name: "pretrained_model_name_or_path", Kind: KindString},
	{Name: "tokenizer_cache_dir", Kind: KindString},
	{Name: "metadata_title", Kind: KindString},
	{Name: "metadata_author", Kind: KindString},
	{Name: "metadata_description", Kind: KindString},
	{Name: "metadata_license", Kind: KindString},
	{Name: "metadata_tags", Kind: KindString},
	{Name: "metadata_usage_hint", Kind: KindString},
	{Name: "metadata_thumbnail", Kind: KindString},
	{Name: "metadata_merged_from", Kind: KindString},
	{Name: "metadata_trigger_phrase", Kind: KindString},
	{Name: "metadata_preprocessor", Kind: KindString},
	{Name: "metadata_is_negative_embedding", Kind: KindString},
	{Name: "train_data_dir", Kind: KindString},
	{Name: "cache_info", Kind: KindBool, Default: false},
	{Name: "shuffle_caption", Kind: KindBool, Default: false},
	{Name: "caption_separator", Kind: KindString, Default: ","},
	{Name: "caption_extension", Kind: KindString, Default: ".caption"},
	{Name: "caption_extention", Kind: KindString},
	{Name: "keep_tokens", Kind: KindInt, Default: int64(0)},
	{Name: "keep_tokens_separator", Kind: KindString, Default: ""},
	{Name: "secondary_separator", Kind: KindString},
	{Name: "enable_wildcard", Kind: KindBool, Default: false},
	{Name: "caption_prefix", Kind: KindString},
	{Name: "caption_suffix", Kind: KindString},
	{Name: "color_aug", Kind: KindBool, Default: false},
	{Name: "flip_aug", Kind: KindBool, Default: false},
	{Name: "face_crop_aug_range", Kind: KindString},
	{Name: "random_crop", Kind: KindBool, Default: false},
	{Name: "debug_dataset", Kind: KindBool, Default: false},
	{Name: "resolution", Kind: KindString},
	{Name: "cache_latents", Kind: KindBool, Default: false},
	{Name: "vae_batch_size", Kind: KindInt, Default: int64(1)},
	{Name: "cache_latents_to_disk", Kind: KindBool, Default: false},
	{Name: "skip_cache_check", Kind: KindBool, Default: false},
	{Name: "enable_bucket", Kind: KindBool, Default: false},
	{Name: "min_bucket_reso", Kind: KindInt, Default: int64(256)},
	{Name: "max_bucket_reso", Kind: KindInt, Default: int64(1024)},
	{Name: "bucket_reso_steps", Kind: KindInt, Default: int64(64)},
	{Name: "bucket_no_upscale", Kind: KindBool, Default: false},
	{Name: "resize_interpolation", Kind: KindString, Choices: []string{"lanczos", "nearest", "bilinear", "linear", "bicubic", "cubic", "area"}},
	{Name: "token_warmup_min", Kind: KindInt, Default: int64(1)},
	{Name: "token_warmup_step", Kind: KindFloat, Default: 0.0},
	{Name: "alpha_mask", Kind: KindBool, Default: false},
	{Name: "dataset_class", Kind: KindString},
	{Name: "caption_dropout_rate", Kind: KindFloat, Default: 0.0},
	{Name: "caption_dropout_every_n_epochs", Kind: KindInt, Default: int64(0)},
	{Name: "caption_tag_dropout_rate", Kind: KindFloat, Default: 0.0},
	{Name: "reg_data_dir", Kind: KindString},
	{Name: "in_json", Kind: KindString},
	{Name: "dataset_repeats", Kind: KindInt, Default: int64(1)},
	{Name: "output_dir", Kind: KindString},
	{Name: "output_name", Kind: KindString},
	{Name: "huggingface_repo_id", Kind: KindString},
	{Name: "huggingface_repo_type", Kind: KindString},
	{Name: "huggingface_path_in_repo", Kind: KindString},
	{Name: "huggingface_token", Kind: KindString},
	{Name: "huggingface_repo_visibility", Kind: KindString},
	{Name: "save_state_to_huggingface", Kind: KindBool, Default: false},
	{Name: "resume_from_huggingface", Kind: KindBool, Default: false},
	{Name: "async_upload", Kind: KindBool, Default: false},
	{Name: "save_precision", Kind: KindString, Choices: []string{"float", "fp16", "bf16"}},
	{Name: "save_every_n_epochs", Kind: KindInt},
	{Name: "save_every_n_steps", Kind: KindInt},
	{Name: "save_n_epoch_ratio", Kind: KindInt},
	{Name: "save_last_n_epochs", Kind: KindInt},
	{Name: "save_last_n_epochs_state", Kind: KindInt},
	{Name: "save_last_n_steps", Kind: KindInt},
	{Name: "save_last_n_steps_state", Kind: KindInt},
	{Name: "save_state", Kind: KindBool, Default: false},
	{Name: "save_state_on_train_end", Kind: KindBool, Default: false},
	{Name: "resume", Kind: KindString},
	{Name: "train_batch_size", Kind: KindInt, Default: int64(1)},
	{Name: "max_token_length", Kind: KindInt, Choices: []string{"150", "225"}},
	{Name: "mem_eff_attn", Kind: KindBool, Default: false},
	{Name: "torch_compile", Kind: KindBool, Default: false},
	{Name: "dynamo_backend", Kind: KindString, Choices: []string{"eager", "aot_eager", "inductor", "aot_ts_nvfuser", "nvprims_nvfuser", "cudagraphs", "ofi", "fx2trt", "onnxrt", "tensort", "ipex", "tvm"}, Default: "inductor"},
	{Name: "xformers", Kind: KindBool, Default: false},
	{Name: "sdpa", Kind: KindBool, Default: false},
	{Name: "vae", Kind: KindString},
	{Name: "max_train_steps", Kind: KindInt, Default: int64(1600)},
	{Name: "max_train_epochs", Kind: KindInt},
	{Name: "max_data_loader_n_workers", Kind: KindInt, Default: int64(8)},
	{Name: "persistent_data_loader_workers", Kind: KindBool, Default: false},
	{Name: "seed", Kind: KindInt},
	{Name: "gradient_checkpointing", Kind: KindBool, Default: false},
	{Name: "gradient_accumulation_steps", Kind: KindInt, Default: int64(1)},
	{Name: "mixed_precision", Kind: KindString, Choices: []string{"no", "fp16", "bf16"}, Default: "no"},
	{Name: "full_fp16", Kind: KindBool, Default: false},
	{Name: "full_bf16", Kind: KindBool, Default: false},
	{Name: "fp8_base", Kind: KindBool, Default: false},
	{Name: "ddp_timeout", Kind: KindInt},
	{Name: "ddp_gradient_as_bucket_view", Kind: KindBool, Default: false},
	{Name: "ddp_static_graph", Kind: KindBool, Default: false},
	{Name: "clip_skip", Kind: KindInt},
	{Name: "logging_dir", Kind: KindString},
	{Name: "log_with", Kind: KindString, Choices: []string{"tensorboard", "wandb", "all"}},
	{Name: "log_prefix", Kind: KindString},
	{Name: "log_tracker_name", Kind: KindString},
	{Name: "wandb_run_name", Kind: KindString},
	{Name: "log_tracker_config", Kind: KindString},
	{Name: "wandb_api_key", Kind: KindString},
	{Name: "log_config", Kind: KindBool, Default: false},
	{Name: "noise_offset", Kind: KindFloat},
	{Name: "noise_offset_random_strength", Kind: KindBool, Default: false},
	{Name: "multires_noise_iterations", Kind: KindInt},
	{Name: "ip_noise_gamma", Kind: KindFloat},
	{Name: "ip_noise_gamma_random_strength", Kind: KindBool, Default: false},
	{Name: "multires_noise_discount", Kind: KindFloat, Default: 0.3},
	{Name: "adaptive_noise_scale", Kind: KindFloat},
	{Name: "zero_terminal_snr", Kind: KindBool, Default: false},
	{Name: "min_timestep", Kind: KindInt},
	{Name: "max_timestep", Kind: KindInt},
	{Name: "loss_type", Kind: KindString, Choices: []string{"l1", "l2", "huber", "smooth_l1"}, Default: "l2"},
	{Name: "huber_schedule", Kind: KindString, Choices: []string{"constant", "exponential", "snr"}, Default: "snr"},
	{Name: "huber_c", Kind: KindFloat, Default: 0.1},
	{Name: "huber_scale", Kind: KindFloat, Default: 1.0},
	{Name: "lowram", Kind: KindBool, Default: false},
	{Name: "highvram", Kind: KindBool, Default: false},
	{Name: "sample_every_n_steps", Kind: KindInt},
	{Name: "sample_at_first", Kind: KindBool, Default: false},
	{Name: "sample_every_n_epochs", Kind: KindInt},
	{Name: "sample_prompts", Kind: KindString},
	{Name: "sample_sampler", Kind: KindString, Choices: []string{"ddim", "pndm", "lms", "euler", "euler_a", "heun", "dpm_2", "dpm_2_a", "dpmsolver", "dpmsolver++", "dpmsingle", "k_lms", "k_euler", "k_euler_a", "k_dpm_2", "k_dpm_2_a"}, Default: "ddim"},
	{Name: "config_file", Kind: KindString},
	{Name: "output_config", Kind: KindBool, Default: false},
	{Name: "prior_loss_weight", Kind: KindFloat, Default: 1.0},
	{Name: "conditioning_data_dir", Kind: KindString},
	{Name: "masked_loss", Kind: KindBool, Default: false},
	{Name: "deepspeed", Kind: KindBool, Default: false},
	{Name: "zero_stage", Kind: KindInt, Choices: []string{"0", "1", "2", "3"}, Default: int64(2)},
	{Name: "offload_optimizer_device", Kind: KindString, Choices: []string{"cpu", "nvme"}},
	{Name: "offload_optimizer_nvme_path", Kind: KindString},
	{Name: "offload_param_device", Kind: KindString, Choices: []string{"cpu", "nvme"}},
	{Name: "offload_param_nvme_path", Kind: KindString},
	{Name: "zero3_init_flag", Kind: KindBool, Default: false},
	{Name: "zero3_save_16bit_model", Kind: KindBool, Default: false},
	{Name: "fp16_master_weights_and_gradients", Kind: KindBool, Default: false},
	{Name: "optimizer_type", Kind: KindString, Default: ""},
	{Name: "use_8bit_adam", Kind: KindBool, Default: false},
	{Name: "use_lion_optimizer", Kind: KindBool, Default: false},
	{Name: "learning_rate", Kind: KindFloat, Default: 2e-06},
	{Name: "max_grad_norm", Kind: KindFloat, Default: 1.0},
	{Name: "optimizer_args", Kind: KindStringList},
	{Name: "lr_scheduler_type", Kind: KindString, Default: ""},
	{Name: "lr_scheduler_args", Kind: KindStringList},
	{Name: "lr_scheduler", Kind: KindString, Default: "constant"},
	{Name: "lr_warmup_steps", Kind: KindIntOrFloat, Default: int64(0)},
	{Name: "lr_decay_steps", Kind: KindIntOrFloat, Default: int64(0)},
	{Name: "lr_scheduler_num_cycles", Kind: KindInt, Default: int64(1)},
	{Name: "lr_scheduler_power", Kind: KindFloat, Default: 1.0},
	{Name: "fused_backward_pass", Kind: KindBool, Default: false},
	{Name: "lr_scheduler_timescale", Kind: KindInt},
	{Name: "lr_scheduler_min_lr_ratio", Kind: KindFloat},
	{Name: "dataset_config", Kind: KindString},
	{Name: "min_snr_gamma", Kind: KindFloat},
	{Name: "scale_v_pred_loss_like_noise_pred", Kind: KindBool, Default: false},
	{Name: "v_pred_like_loss", Kind: KindFloat},
	{Name: "debiased_estimation_loss", Kind: KindBool, Default: false},
	{Name: "weighted_captions", Kind: KindBool, Default: false},
	{Name: "cpu_offload_checkpointing", Kind: KindBool, Default: false},
	{Name: "no_metadata", Kind: KindBool, Default: false},
	{Name: "save_model_as", Kind: KindString, Choices: []string{"ckpt", "pt", "safetensors"}, Default: "safetensors"},
	{Name: "unet_lr", Kind: KindFloat},
	{Name: "text_encoder_lr", Kind: KindFloatList},
	{Name: "fp8_base_unet", Kind: KindBool, Default: false},
	{Name: "network_weights", Kind: KindString},
	{Name: "network_module", Kind: KindString},
	{Name: "network_dim", Kind: KindInt},
	{Name: "network_alpha", Kind: KindFloat, Default: 1.0},
	{Name: "network_dropout", Kind: KindFloat},
	{Name: "network_args", Kind: KindStringList},
	{Name: "network_train_unet_only", Kind: KindBool, Default: false},
	{Name: "network_train_text_encoder_only", Kind: KindBool, Default: false},
	{Name: "training_comment", Kind: KindString},
	{Name: "dim_from_weights", Kind: KindBool, Default: false},
	{Name: "scale_weight_norms", Kind: KindFloat},
	{Name: "base_weights", Kind: KindStringList},
	{Name: "base_weights_multiplier", Kind: KindFloatList},
	{Name: "no_half_vae", Kind: KindBool, Default: false},
	{Name: "skip_until_initial_step", Kind: KindBool, Default: false},
	{Name: "initial_epoch", Kind: KindInt},
	{Name: "initial_step", Kind: KindInt},
	{Name: "validation_seed", Kind: KindInt},
	{Name: "validation_split", Kind: KindFloat, Default: 0.0},
	{Name: "validate_every_n_steps", Kind: KindInt},
	{Name: "validate_every_n_epochs", Kind: KindInt},
	{Name: "max_validation_steps", Kind: KindInt},
	// sdxl_train_network.py adds these on top of train_network.py's parser.
	{Name: "cache_text_encoder_outputs", Kind: KindBool, Default: false, SDXLOnly: true},
	{Name: "cache_text_encoder_outputs_to_disk", Kind: KindBool, Default: false, SDXLOnly: true},
	{Name: "disable_mmap_load_safetensors", Kind: KindBool, Default: false, SDXLOnly: true},
	// train_db.py only: kept so the spec layer can name the mistake.
	{Name: "stop_text_encoder_training", Kind: KindInt, TrainDBOnly: true},
}

// networkArgs lists the --network_args keys lorasweep knows: those
// networks.lora reads (values are strings it parses itself; comma lists are
// KindString), then those the kohya_ss GUI emits for LyCORIS (lycoris.kohya)
// and DyLoRA. Flags LyCORIS reads as Python booleans are KindBool ("True" /
// "False").
var networkArgs = []NetworkArg{
	// networks.lora
	{Name: "conv_dim", Kind: KindInt},
	{Name: "conv_alpha", Kind: KindFloat},
	{Name: "block_dims", Kind: KindString},
	{Name: "block_alphas", Kind: KindString},
	{Name: "conv_block_dims", Kind: KindString},
	{Name: "conv_block_alphas", Kind: KindString},
	{Name: "down_lr_weight", Kind: KindString},
	{Name: "mid_lr_weight", Kind: KindString},
	{Name: "up_lr_weight", Kind: KindString},
	{Name: "block_lr_zero_threshold", Kind: KindFloat},
	{Name: "rank_dropout", Kind: KindFloat},
	{Name: "module_dropout", Kind: KindFloat},
	{Name: "loraplus_lr_ratio", Kind: KindFloat},
	{Name: "loraplus_unet_lr_ratio", Kind: KindFloat},
	{Name: "loraplus_text_encoder_lr_ratio", Kind: KindFloat},
	// networks.dylora
	{Name: "unit", Kind: KindInt},
	// lycoris.kohya, as the kohya_ss GUI writes them
	{Name: "preset", Kind: KindString},
	{Name: "algo", Kind: KindString},
	{Name: "block_size", Kind: KindInt},
	{Name: "factor", Kind: KindInt},
	{Name: "constraint", Kind: KindFloat},
	{Name: "use_tucker", Kind: KindBool},
	{Name: "use_scalar", Kind: KindBool},
	{Name: "use_cp", Kind: KindBool},
	{Name: "decompose_both", Kind: KindBool},
	{Name: "bypass_mode", Kind: KindBool},
	{Name: "dora_wd", Kind: KindBool},
	{Name: "rank_dropout_scale", Kind: KindBool},
	{Name: "rescaled", Kind: KindBool},
	{Name: "train_norm", Kind: KindBool},
	{Name: "train_on_input", Kind: KindBool},
}

// The index is derived from the immutable table above, built once on first
// use so that importing the package costs nothing.
var (
	argIndexOnce sync.Once
	argIndexMap  map[string]Arg
	argNameList  []string
)

func buildArgIndex() {
	argIndexMap = make(map[string]Arg, len(trainNetworkArgs))
	for _, a := range trainNetworkArgs {
		argIndexMap[a.Name] = a
		argNameList = append(argNameList, a.Name)
	}
	sort.Strings(argNameList)
}

func argIndex() map[string]Arg { argIndexOnce.Do(buildArgIndex); return argIndexMap }

func sortedArgNames() []string {
	argIndexOnce.Do(buildArgIndex)
	return append([]string(nil), argNameList...)
}

// CheckValue reports whether v, a value as it would appear in a
// --config_file TOML (string, int64/int, float64, bool, []any or []string),
// has the type sd-scripts needs for a. sd-scripts passes TOML values to the
// trainer without argparse's conversion or choice check, so a wrong type
// either crashes mid-run or silently changes meaning; the error says what to
// write instead. A nil v (unset) is always fine.
func CheckValue(a Arg, v any) error {
	if v == nil {
		return nil
	}
	switch a.Kind {
	case KindString:
		s, ok := v.(string)
		if !ok {
			if a.Name == "resolution" {
				if n, isInt := asInt(v); isInt {
					return fmt.Errorf("resolution must be a string \"W,H\", not the number %d (sd-scripts splits it on commas and crashes): write resolution = \"%d,%d\"", n, n, n)
				}
				return fmt.Errorf("resolution must be a string \"W,H\" such as \"512,512\", got %s", describe(v))
			}
			return fmt.Errorf("%s must be a string, got %s: quote it", a.Name, describe(v))
		}
		if a.Name == "resolution" {
			if err := checkResolution(s); err != nil {
				return err
			}
		}
		return checkChoice(a, s)
	case KindInt:
		n, ok := asInt(v)
		if !ok {
			if f, isFloat := v.(float64); isFloat && f == math.Trunc(f) && !math.IsInf(f, 0) {
				return fmt.Errorf("%s must be an integer, got the float %s: write %d without a decimal point", a.Name, fmtFloat(f), int64(f))
			}
			return fmt.Errorf("%s must be an integer, got %s", a.Name, describe(v))
		}
		return checkChoice(a, strconv.FormatInt(n, 10))
	case KindFloat:
		if _, ok := asFloat(v); !ok {
			if s, isStr := v.(string); isStr {
				if _, err := strconv.ParseFloat(s, 64); err == nil {
					return fmt.Errorf("%s must be a number, got the string %q (sd-scripts would keep it a string): write %s without quotes", a.Name, s, s)
				}
			}
			return fmt.Errorf("%s must be a number, got %s", a.Name, describe(v))
		}
		return nil
	case KindBool:
		if _, ok := v.(bool); !ok {
			return fmt.Errorf("%s is a flag and must be true or false, got %s", a.Name, describe(v))
		}
		return nil
	case KindIntOrFloat:
		if n, ok := asInt(v); ok {
			if n < 0 {
				return fmt.Errorf("%s must not be negative, got %d", a.Name, n)
			}
			return nil
		}
		f, ok := v.(float64)
		if !ok {
			return fmt.Errorf("%s must be an integer number of steps or a float ratio below 1, got %s", a.Name, describe(v))
		}
		if f < 0 || math.IsNaN(f) {
			return fmt.Errorf("%s must not be negative, got %s", a.Name, fmtFloat(f))
		}
		if f >= 1 {
			return fmt.Errorf("%s = %s is a float, which sd-scripts reads as a ratio of the total steps (%s × steps): write %s for a number of steps, or a value below 1 for a ratio", a.Name, fmtFloat(f), fmtFloat(f), strconv.FormatInt(int64(f), 10))
		}
		return nil
	case KindStringList:
		items, ok := asList(v)
		if !ok {
			return fmt.Errorf("%s must be a list of strings such as [\"key=value\"], got %s", a.Name, describe(v))
		}
		for i, it := range items {
			s, isStr := it.(string)
			if !isStr {
				return fmt.Errorf("%s[%d] must be a string, got %s: quote it", a.Name, i, describe(it))
			}
			if keyValueList(a.Name) && !strings.Contains(s, "=") {
				return fmt.Errorf("%s[%d] = %q is not key=value", a.Name, i, s)
			}
		}
		return nil
	case KindFloatList:
		if _, ok := asFloat(v); ok {
			if a.Name == "text_encoder_lr" {
				return nil // train_network.py keeps a scalar for backward compatibility
			}
			return fmt.Errorf("%s must be a list of numbers, got %s: write [%s]", a.Name, describe(v), fmtAny(v))
		}
		items, ok := asList(v)
		if !ok {
			return fmt.Errorf("%s must be a list of numbers, got %s", a.Name, describe(v))
		}
		for i, it := range items {
			if _, isNum := asFloat(it); !isNum {
				return fmt.Errorf("%s[%d] must be a number, got %s", a.Name, i, describe(it))
			}
		}
		return nil
	}
	return fmt.Errorf("%s: unknown argument kind %d", a.Name, a.Kind)
}

// keyValueList names the list arguments whose entries sd-scripts splits at
// "=" (an entry without one raises ValueError when training starts).
func keyValueList(name string) bool {
	return name == "network_args" || name == "optimizer_args" || name == "lr_scheduler_args"
}

func checkResolution(s string) error {
	parts := strings.Split(s, ",")
	if len(parts) > 2 {
		return fmt.Errorf("resolution %q has %d parts: write \"W,H\" or a single size", s, len(parts))
	}
	for _, p := range parts {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || n <= 0 {
			return fmt.Errorf("resolution %q must be \"W,H\" with positive integers, such as \"512,512\"", s)
		}
	}
	return nil
}

func checkChoice(a Arg, s string) error {
	if len(a.Choices) == 0 {
		return nil
	}
	for _, c := range a.Choices {
		if c == s {
			return nil
		}
	}
	msg := fmt.Sprintf("%s = %q is not one of %s", a.Name, s, strings.Join(a.Choices, ", "))
	if near, ok := Nearest(s, a.Choices); ok {
		msg += fmt.Sprintf(" (did you mean %q?)", near)
	}
	return errors.New(msg)
}

func asInt(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case int:
		return int64(x), true
	case int32:
		return int64(x), true
	}
	return 0, false
}

func asFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case float32:
		return float64(x), true
	}
	n, ok := asInt(v)
	return float64(n), ok
}

func asList(v any) ([]any, bool) {
	switch x := v.(type) {
	case []any:
		return x, true
	case []string:
		out := make([]any, len(x))
		for i, s := range x {
			out[i] = s
		}
		return out, true
	case []float64:
		out := make([]any, len(x))
		for i, f := range x {
			out[i] = f
		}
		return out, true
	}
	return nil, false
}

// describe names a value's TOML type for error messages.
func describe(v any) string {
	switch x := v.(type) {
	case string:
		return fmt.Sprintf("the string %q", x)
	case bool:
		return fmt.Sprintf("the boolean %t", x)
	case float64, float32:
		return "the float " + fmtAny(x)
	case int, int32, int64:
		return "the integer " + fmtAny(x)
	case []any, []string, []float64:
		return "a list"
	case map[string]any:
		return "a table"
	}
	return fmt.Sprintf("a %T", v)
}

func fmtAny(v any) string {
	if f, ok := v.(float64); ok {
		return fmtFloat(f)
	}
	return fmt.Sprint(v)
}

// fmtFloat writes a float the way TOML and Python would show it: always with
// a decimal point or an exponent, so it reads as a float.
func fmtFloat(f float64) string {
	s, _ := tomlFloat(f)
	return s
}
