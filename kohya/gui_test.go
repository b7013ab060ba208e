package kohya

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
)

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "gui", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestImportGUIFixtures(t *testing.T) {
	// Expectations are the TOML the GUI's own train_model writes for these
	// files (its loader and translation code run on them at guiVersion),
	// with the package's documented differences.
	tests := []struct {
		name     string
		file     string
		want     Config
		warnKeys []string // keys the warnings must name, in order
		sdxl     bool
	}{
		{
			name: "preset-like partial SDXL config",
			file: "preset_sdxl_standard.json",
			sdxl: true,
			want: Config{
				"bucket_no_upscale": true, "bucket_reso_steps": int64(32), "cache_latents": true,
				"cache_latents_to_disk": true, "cache_text_encoder_outputs": true, "caption_dropout_rate": 0.1,
				"caption_extension": ".txt", "clip_skip": int64(1), "enable_bucket": true, "flip_aug": true,
				"gradient_accumulation_steps": int64(2), "gradient_checkpointing": true, "keep_tokens": int64(1),
				"learning_rate": 1e-4, "lr_scheduler": "cosine",
				"lr_scheduler_num_cycles":   int64(1), // "" is 1 after the GUI's loader
				"lr_warmup_steps":           0.1,      // 10 percent
				"max_data_loader_n_workers": int64(2), "max_token_length": int64(225), "max_train_epochs": int64(12),
				"min_snr_gamma": 5.0, "mixed_precision": "bf16", "network_alpha": 16.0,
				"network_args": []any{"module_dropout=0.05"}, "network_dim": int64(32),
				"network_module": "networks.lora", "network_train_unet_only": true, "no_half_vae": true,
				"noise_offset": 0.0357, "optimizer_type": "Prodigy",
				"optimizer_args": []any{"decouple=True", "weight_decay=0.01", "use_bias_correction=True"},
				"resolution":     "1024,1024", "save_every_n_epochs": int64(3), "save_precision": "bf16",
				"train_batch_size": int64(2), "unet_lr": 1.0, "xformers": true,
				// Absent from the file: a fresh GUI's values.
				"huber_c": 0.1, "huber_scale": 1.0, "huber_schedule": "snr", "loss_type": "l2",
				"lr_scheduler_power": 1.0, // "" is 1.0 after the loader
				"max_bucket_reso":    int64(2048), "max_grad_norm": 1.0, "max_timestep": int64(1000),
				"min_bucket_reso": int64(256), "output_name": "last", "prior_loss_weight": 1.0,
				"pretrained_model_name_or_path": "runwayml/stable-diffusion-v1-5", "sample_sampler": "euler_a",
				"save_model_as": "safetensors",
			},
		},
		{
			name: "full-saved-like SD1.5 Kohya LoCon config",
			file: "saved_sd15_locon.json",
			want: Config{
				"bucket_reso_steps": int64(64), "cache_latents": true, "caption_extension": ".txt",
				"clip_skip": int64(2), "enable_bucket": true, "gradient_checkpointing": true, "huber_c": 0.1,
				"huber_schedule": "snr", "learning_rate": 2e-4, "logging_dir": "/data/logs", "loss_type": "l2",
				"lr_decay_steps": int64(100), "lr_scheduler": "cosine_with_restarts",
				"lr_scheduler_num_cycles": int64(3), "lr_scheduler_power": 1.0, "lr_warmup_steps": 0.05,
				"max_bucket_reso": int64(1280), "max_data_loader_n_workers": int64(0),
				"max_train_epochs": int64(6), // epoch, since both max_train_* are 0
				"min_bucket_reso":  int64(320), "min_snr_gamma": 5.0, "mixed_precision": "bf16",
				"multires_noise_discount": 0.3, "multires_noise_iterations": int64(6), "network_alpha": 8.0,
				"network_args": []any{"conv_dim=8", "conv_alpha=4", "rank_dropout=0.1"},
				"network_dim":  int64(16), "network_dropout": 0.05, "network_module": "networks.lora",
				"optimizer_args": []any{"weight_decay=0.01", "betas=0.9,0.99"}, "optimizer_type": "AdamW8bit",
				"output_dir": "/data/out", "output_name": "my-sd15-locon", "persistent_data_loader_workers": true,
				"pretrained_model_name_or_path": "/models/v1-5-pruned.safetensors", "prior_loss_weight": 1.0,
				"resolution": "768,768", "sample_every_n_epochs": int64(2), "sample_sampler": "euler_a",
				"save_every_n_epochs": int64(2), "save_model_as": "safetensors", "save_precision": "bf16",
				"scale_weight_norms": 1.5, "sdpa": true, "seed": int64(1234), "text_encoder_lr": 5e-5,
				"train_batch_size": int64(2), "train_data_dir": "/data/img", "unet_lr": 2e-4,
				"zero_terminal_snr": true,
			},
			warnKeys: []string{"my_custom_note", "sample_prompts", "stop_text_encoder_training", "additional_parameters"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := readFixture(t, tt.file)
			got, warnings, err := ImportGUI(tt.file, data)
			if err != nil {
				t.Fatal(err)
			}
			diffConfigs(t, got, tt.want)
			if len(warnings) != len(tt.warnKeys) {
				t.Fatalf("warnings = %q, want %d naming %v", warnings, len(tt.warnKeys), tt.warnKeys)
			}
			for i, w := range warnings {
				if !strings.HasPrefix(w, tt.file+": "+tt.warnKeys[i]+": ") {
					t.Errorf("warning %d = %q, want it to name %s and %s", i, w, tt.file, tt.warnKeys[i])
				}
			}
			if GUIIsSDXL(data) != tt.sdxl {
				t.Errorf("GUIIsSDXL = %t, want %t", !tt.sdxl, tt.sdxl)
			}
		})
	}
}

func diffConfigs(t *testing.T, got, want Config) {
	t.Helper()
	for _, k := range want.Keys() {
		if !reflect.DeepEqual(got[k], want[k]) {
			t.Errorf("%s = %#v, want %#v", k, got[k], want[k])
		}
	}
	for _, k := range got.Keys() {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected %s = %#v", k, got[k])
		}
	}
}

func TestImportGUICases(t *testing.T) {
	// Each want is what the GUI's loader + train_model pass for the JSON
	// (kohya_ss@45088f04), checked keys only; a nil value means absent.
	tests := []struct {
		name    string
		json    string
		want    Config
		wantErr string
		warn    string
	}{
		{"fresh GUI defaults for absent keys", `{"LoRA_type":"Standard"}`,
			Config{"max_train_steps": int64(1600), "max_train_epochs": nil, "lr_warmup_steps": 0.1, "lr_scheduler": "cosine",
				"caption_extension": ".txt", "enable_bucket": true, "cache_latents": true, "mixed_precision": "fp16",
				"max_bucket_reso": int64(2048), "learning_rate": 1e-4, "unet_lr": 1e-4, "text_encoder_lr": 1e-4,
				"network_dim": int64(8), "network_alpha": 1.0, "optimizer_type": "AdamW", "xformers": true,
				"lr_scheduler_num_cycles": int64(1), "max_data_loader_n_workers": int64(0), "network_args": nil}, "", ""},
		{"use_8bit_adam picks the optimizer", `{"LoRA_type":"Standard","use_8bit_adam":true}`,
			Config{"optimizer_type": "AdamW8bit"}, "", ""},
		{"quotes stripped from additional_parameters", `{"LoRA_type":"Standard","additional_parameters":"--lr_scheduler_type \"CosineAnnealingLR\" --lr_scheduler_args \"T_max=1000\" \"eta_min=0\""}`,
			Config{"lr_scheduler_type": "CosineAnnealingLR", "lr_scheduler_args": []any{"T_max=1000", "eta_min=0"}}, "", ""},
		{"quotes stripped from optimizer_args", `{"LoRA_type":"Standard","optimizer_args":"\"decouple=True\" betas=\"0.9,0.99\""}`,
			Config{"optimizer_args": []any{"decouple=True", "betas=0.9,0.99"}}, "", ""},
		{"empty cycles is 1", `{"LoRA_type":"Standard","epoch":12,"lr_scheduler_num_cycles":""}`,
			Config{"lr_scheduler_num_cycles": int64(1)}, "", ""},
		{"fractional warmup percent truncated", `{"LoRA_type":"Standard","lr_warmup":7.5}`,
			Config{"lr_warmup_steps": 0.07}, "", ""},
		{"warmup percent string that int() refuses", `{"LoRA_type":"Standard","lr_warmup":"7.5"}`,
			Config{"lr_warmup_steps": nil}, "", ""},
		{"empty worker count is 0", `{"LoRA_type":"Standard","max_data_loader_n_workers":""}`,
			Config{"max_data_loader_n_workers": int64(0)}, "", ""},
		{"use_wandb", `{"LoRA_type":"Standard","use_wandb":"True","output_name":"x"}`,
			Config{"log_with": "wandb", "wandb_run_name": "x"}, "", ""},
		{"use_wandb boolean is not the string the loader compares", `{"LoRA_type":"Standard","use_wandb":true}`,
			Config{"log_with": nil}, "", ""},
		{"epoch used when steps are 0", `{"LoRA_type":"Standard","epoch":3,"max_train_steps":0}`,
			Config{"max_train_epochs": int64(3), "max_train_steps": nil}, "", ""},
		{"epochs win over epoch", `{"LoRA_type":"Standard","epoch":3,"max_train_epochs":7}`,
			Config{"max_train_epochs": int64(7), "max_train_steps": int64(1600)}, "", ""},
		{"lycoris lokr", `{"LoRA_type":"LyCORIS/LoKr","LyCORIS_preset":"attn-mlp","conv_dim":4,"conv_alpha":2,"factor":8,"use_cp":true}`,
			Config{"network_module": "lycoris.kohya", "network_args": []any{"preset=attn-mlp", "conv_dim=4", "conv_alpha=2",
				"use_tucker=False", "rank_dropout=0", "bypass_mode=False", "dora_wd=False", "module_dropout=0", "factor=8",
				"use_cp=True", "use_scalar=False", "decompose_both=False", "rank_dropout_scale=False", "algo=lokr", "train_norm=False"}}, "", ""},
		{"lycoris boft", `{"LoRA_type":"LyCORIS/BOFT","constrain":1,"rescaled":true}`,
			Config{"network_args": []any{"preset=full", "conv_dim=1", "conv_alpha=1", "module_dropout=0", "use_tucker=False",
				"rank_dropout=0", "rank_dropout_scale=False", "algo=boft", "train_norm=False"}}, "", ""},
		{"lycoris diag-oft", `{"LoRA_type":"LyCORIS/Diag-OFT","constrain":0.5}`,
			Config{"network_args": []any{"preset=full", "conv_dim=1", "conv_alpha=1", "module_dropout=0", "use_tucker=False",
				"rank_dropout=0", "rank_dropout_scale=False", "constraint=0.5", "rescaled=False", "algo=diag-oft", "train_norm=False"}}, "", ""},
		{"lycoris glora keeps use_tucker", `{"LoRA_type":"LyCORIS/GLoRA","use_tucker":true}`,
			Config{"network_args": []any{"preset=full", "conv_dim=1", "conv_alpha=1", "use_tucker=True", "rank_dropout=0",
				"module_dropout=0", "rank_dropout_scale=False", "algo=glora", "train_norm=False"}}, "", ""},
		{"lycoris native fine-tuning", `{"LoRA_type":"LyCORIS/Native Fine-Tuning","use_tucker":true,"use_scalar":true}`,
			Config{"network_args": []any{"preset=full", "rank_dropout=0", "module_dropout=0", "rank_dropout_scale=False", "algo=full", "train_norm=False"}}, "", ""},
		{"lycoris dylora block size", `{"LoRA_type":"LyCORIS/DyLoRA","conv_dim":4,"unit":4}`,
			Config{"network_args": []any{"preset=full", "conv_dim=4", "conv_alpha=1", "use_tucker=False", "block_size=4",
				"rank_dropout=0", "module_dropout=0", "algo=dylora", "train_norm=False"}}, "", ""},
		{"kohya dylora unit", `{"LoRA_type":"Kohya DyLoRA","unit":8}`,
			Config{"network_module": "networks.dylora", "network_args": []any{"conv_dim=1", "conv_alpha=1", "unit=8"}}, "", ""},
		{"kohya locon always writes conv", `{"LoRA_type":"Kohya LoCon","conv_dim":0}`,
			Config{"network_module": "networks.lora", "network_args": []any{"conv_dim=0", "conv_alpha=1"}}, "", ""},
		{"kohya lokr", `{"LoRA_type":"Kohya LoKr","sdxl":true,"conv_dim":0,"use_tucker":true,"factor":4}`,
			Config{"network_module": "networks.lokr", "network_args": []any{"use_tucker=True", "factor=4"}}, "", "feat-support-lokr-loha"},
		{"kohya loha conv", `{"LoRA_type":"Kohya LoHa","sdxl":true,"conv_dim":8,"conv_alpha":4,"rank_dropout":0.1}`,
			Config{"network_module": "networks.loha", "network_args": []any{"conv_dim=8", "conv_alpha=4", "rank_dropout=0.1"}}, "", "feat-support-lokr-loha"},
		{"kohya loha needs sdxl", `{"LoRA_type":"Kohya LoHa"}`, nil, "needs the sdxl checkbox", ""},
		{"legacy LoCon name", `{"LoRA_type":"LoCon"}`, Config{"network_module": "lycoris.kohya"}, "", ""},
		{"lora-fa", `{"LoRA_type":"LoRA-FA","down_lr_weight":"1,1,1"}`,
			Config{"network_module": "networks.lora_fa", "network_args": []any{"down_lr_weight=1,1,1"}}, "", ""},
		{"loraplus appended", `{"LoRA_type":"Standard","loraplus_lr_ratio":16}`,
			Config{"network_args": []any{"loraplus_lr_ratio=16"}}, "", ""},
		{"network_args is not a GUI field", `{"LoRA_type":"Standard","network_args":"foo=1"}`,
			Config{"network_args": nil}, "", "network_args: not a field"},
		{"settings the LoRA tab does not forward for SD", `{"LoRA_type":"Standard","fp8_base_unet":true,"cpu_offload_checkpointing":true,"dataset_repeats":4}`,
			Config{"fp8_base_unet": nil, "cpu_offload_checkpointing": nil, "dataset_repeats": nil}, "", "dataset_repeats"},
		{"warmup steps win over percent", `{"LoRA_type":"Standard","lr_warmup":10,"lr_warmup_steps":50}`,
			Config{"lr_warmup_steps": int64(50)}, "", ""},
		{"percent with dataset_config and steps", `{"LoRA_type":"Standard","lr_warmup":10,"dataset_config":"d.toml","max_train_steps":1000}`,
			Config{"lr_warmup_steps": int64(100), "max_train_steps": int64(1000), "dataset_config": "d.toml"}, "", ""},
		{"constant drops warmup", `{"LoRA_type":"Standard","lr_warmup":10,"lr_scheduler":"constant"}`,
			Config{"lr_warmup_steps": nil}, "", "lr_warmup"},
		{"constant with the default warmup is silent", `{"LoRA_type":"Standard","lr_scheduler":"constant"}`,
			Config{"lr_warmup_steps": nil}, "", ""},
		{"text encoder only", `{"LoRA_type":"Standard","text_encoder_lr":1e-5,"unet_lr":0}`,
			Config{"network_train_text_encoder_only": true, "text_encoder_lr": 1e-5, "unet_lr": nil}, "", ""},
		{"t5xxl rate makes a list", `{"LoRA_type":"Standard","sdxl":true,"text_encoder_lr":1e-5,"t5xxl_lr":2e-5}`,
			Config{"text_encoder_lr": []any{1e-5, 2e-5}}, "", ""},
		{"all learning rates zero", `{"LoRA_type":"Standard","learning_rate":0,"unet_lr":0,"text_encoder_lr":0}`, nil, "all 0", ""},
		{"xformers none", `{"LoRA_type":"Standard","xformers":"none"}`, Config{"xformers": nil, "sdpa": nil}, "", ""},
		{"legacy xformers checkbox", `{"LoRA_type":"Standard","xformers":false}`, Config{"xformers": nil}, "", ""},
		{"max_token_length 75 is the default", `{"LoRA_type":"Standard","max_token_length":75}`, Config{"max_token_length": nil}, "", ""},
		{"sdxl fields ignored without sdxl", `{"LoRA_type":"Standard","sdxl_no_half_vae":true}`, Config{"no_half_vae": nil}, "", ""},
		{"legacy network weights", `{"LoRA_type":"Standard","lora_network_weights":"w.safetensors"}`, Config{"network_weights": "w.safetensors"}, "", ""},
		{"unknown key suggests", `{"LoRA_type":"Standard","netwrok_dim":8}`, Config{"network_dim": int64(8)}, "", `did you mean "network_dim"`},
		{"older field with a value", `{"LoRA_type":"Standard","conv_dims":"4,4"}`, Config{}, "", "conv_dims: ignored"},
		{"dreambooth refused", `{"learning_rate_te":1e-5,"max_resolution":"512,512"}`, nil, "DreamBooth tab", ""},
		{"textual inversion refused", `{"token_string":"sks","init_word":"*","learning_rate_te":1e-5}`, nil, "textual inversion tab", ""},
		{"finetune refused", `{"train_dir":"/x","image_folder":"/y"}`, nil, "finetune tab", ""},
		{"not a GUI config", `{"a.jpg":{"caption":"x"}}`, nil, "not a kohya_ss GUI config", ""},
		{"flux refused", `{"LoRA_type":"Flux1","flux1_checkbox":true}`, nil, "FLUX.1", ""},
		{"flux LoRA type refused", `{"LoRA_type":"Flux1"}`, nil, "Flux1", ""},
		{"wrong type", `{"network_dim":[1]}`, nil, "network_dim must be a number", ""},
		{"not a number string", `{"network_dim":"lots"}`, nil, `network_dim = "lots" is not a number`, ""},
		{"not an object", `[1,2]`, nil, "decode GUI config", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, warnings, err := ImportGUI("x.json", []byte(tt.json))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for k, want := range tt.want {
				if !reflect.DeepEqual(got[k], want) {
					t.Errorf("%s = %#v, want %#v", k, got[k], want)
				}
			}
			joined := strings.Join(warnings, "\n")
			if tt.warn == "" && len(warnings) > 0 || tt.warn != "" && !strings.Contains(joined, tt.warn) {
				t.Errorf("warnings = %q, want %q", warnings, tt.warn)
			}
		})
	}
}

// effective is the value sd-scripts would use for k: the config's, or the
// argument's default; text_encoder_lr lists reduce to the first element,
// which is all networks.lora reads, and numbers of float kind compare as
// float64.
func effective(c Config, k string) any {
	v, ok := c[k]
	a, known := LookupArg(k)
	if !ok && known {
		v = a.Default
	}
	if l, isList := v.([]any); isList && k == "text_encoder_lr" && len(l) > 0 {
		v = l[0]
	}
	if k == "network_args" && c["network_module"] == "lycoris.kohya" {
		return lycorisArgs(v)
	}
	// A text encoder rate does nothing when only the U-Net trains (the GUI
	// expresses that as text_encoder_lr 0).
	if k == "text_encoder_lr" && c["network_train_unet_only"] == true {
		return nil
	}
	if known && a.Kind == KindFloat {
		if f, isNum := asFloat(v); isNum {
			return f
		}
	}
	return v
}

func TestGUIRoundTrip(t *testing.T) {
	dir := t.TempDir()
	prompts := filepath.Join(dir, "prompts.txt")
	if err := os.WriteFile(prompts, []byte("a photo of sks cat --w 512 --h 512 --d 7\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	base := Config{
		"pretrained_model_name_or_path": "/m/sd15.safetensors", "train_data_dir": "/d/img",
		"output_dir": "/d/out", "output_name": "trial-0007", "save_precision": "fp16",
		"network_module": "networks.lora", "network_dim": int64(32), "network_alpha": 16.0,
		"learning_rate": 1e-4, "unet_lr": 3e-4, "text_encoder_lr": []any{5e-5, 5e-5},
		"lr_scheduler": "cosine_with_restarts", "lr_scheduler_num_cycles": int64(3),
		"lr_warmup_steps": 0.07, "optimizer_type": "AdamW8bit", "optimizer_args": []any{"weight_decay=0.01"},
		"network_dropout": 0.1, "network_args": []any{"conv_dim=8", "conv_alpha=4", "rank_dropout=0.2", "module_dropout=0.1"},
		"scale_weight_norms": 1.0, "train_batch_size": int64(2), "max_train_epochs": int64(10),
		"resolution": "512,640", "seed": int64(42), "save_every_n_epochs": int64(2),
		"sample_every_n_epochs": int64(2), "sample_sampler": "euler_a", "sdpa": true,
		"mixed_precision": "fp16", "max_data_loader_n_workers": int64(2), "cache_latents": true,
		"multires_noise_iterations": int64(6), "multires_noise_discount": 0.25,
		// No GUI field: these travel in additional_parameters.
		"zero_terminal_snr": true, "lr_decay_steps": int64(100), "base_weights": []any{"/w/a.safetensors", "/w/b.safetensors"},
		"sample_prompts": prompts,
	}
	tests := []struct {
		name string
		mod  func(Config)
		sdxl bool
	}{
		{"sd15 kohya locon", func(Config) {}, false},
		{"sdxl lycoris locon", func(c Config) {
			c["network_module"] = "lycoris.kohya"
			c["network_args"] = []any{"preset=attn-mlp", "conv_dim=4", "conv_alpha=1", "rank_dropout=0.1", "algo=locon"}
			c["cache_text_encoder_outputs"] = true
			c["network_train_unet_only"] = true
			c["text_encoder_lr"] = nil
			c["lr_warmup_steps"] = int64(30)
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base.Clone()
			tt.mod(c)
			for k, v := range c {
				if v == nil {
					delete(c, k)
				}
			}
			data, _, err := ExportGUI(c, tt.sdxl)
			if err != nil {
				t.Fatal(err)
			}
			back, warnings, err := ImportGUI("export.json", data)
			if err != nil {
				t.Fatal(err)
			}
			if len(warnings) != 1 || !strings.Contains(warnings[0], "sample_prompts") {
				t.Errorf("warnings = %q, want only the sample_prompts one", warnings)
			}
			info, err := ReadGUIInfo(data)
			if err != nil {
				t.Fatal(err)
			}
			if info.SDXL != tt.sdxl || !strings.HasPrefix(info.SamplePrompts, "a photo of sks cat") {
				t.Errorf("info = %+v", info)
			}
			delete(c, "sample_prompts")
			keys := map[string]bool{}
			for k := range c {
				keys[k] = true
			}
			for k := range back {
				keys[k] = true
			}
			for k := range keys {
				if g, w := effective(back, k), effective(c, k); !reflect.DeepEqual(g, w) {
					t.Errorf("%s: round trip gives %#v, want %#v", k, g, w)
				}
			}
		})
	}
}

func TestExportGUIKeySet(t *testing.T) {
	var want map[string]string
	if err := json.Unmarshal(readFixture(t, "export_keys.json"), &want); err != nil {
		t.Fatal(err)
	}
	configs := map[string]Config{
		"empty":  {},
		"filled": {"network_dim": int64(8), "resolution": "768,768", "lr_warmup_steps": 0.1, "xformers": true, "text_encoder_lr": 1e-5, "optimizer_args": []any{"a=1"}},
	}
	for name, c := range configs {
		t.Run(name, func(t *testing.T) {
			data, _, err := ExportGUI(c, true)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(string(data), "{\n  \"") {
				t.Errorf("not 2-space indented: %.20q", data)
			}
			var got map[string]any
			if err := json.Unmarshal(data, &got); err != nil {
				t.Fatal(err)
			}
			assertKeyTypes(t, got, want, true)
			// Keys must come sorted, as the GUI's SaveConfigFile writes them.
			prev := ""
			for _, line := range strings.Split(string(data), "\n") {
				if k, _, ok := strings.Cut(strings.TrimSpace(line), `":`); ok && strings.HasPrefix(k, `"`) {
					if k < prev {
						t.Errorf("key %s after %s", k, prev)
					}
					prev = k
				}
			}
			// The current LoRA tab's key list (save_configuration's
			// parameters at guiVersion), where this machine has it.
			ref, err := os.ReadFile(filepath.Join("..", "..", "shared", "kohya", "gui_lora_config_keys.json"))
			if err != nil {
				return
			}
			var refDoc struct {
				Keys []string `json:"saved_json_keys"`
			}
			if err := json.Unmarshal(ref, &refDoc); err != nil {
				t.Fatal(err)
			}
			if len(refDoc.Keys) != len(got) {
				t.Errorf("export has %d keys, the GUI saves %d", len(got), len(refDoc.Keys))
			}
			for _, k := range refDoc.Keys {
				if _, ok := got[k]; !ok {
					t.Errorf("missing GUI key %s", k)
				}
			}
		})
	}
}

// TestGUIPresetTypes: every key a GUI preset holds that the current GUI
// still has is exported with the JSON type the preset has it in (presets
// written by older GUIs hold some numbers as strings: skipped).
func TestGUIPresetTypes(t *testing.T) {
	data, _, err := ExportGUI(Config{}, true)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	for name, preset := range readGUIPresets(t) {
		var doc map[string]any
		if err := json.Unmarshal(preset, &doc); err != nil {
			t.Fatal(err)
		}
		for k, v := range doc {
			g, ok := got[k]
			if !ok || v == nil {
				continue
			}
			if _, isStr := v.(string); isStr && jsonKind(g) == "number" {
				continue
			}
			if _, isBool := v.(bool); isBool && k == "xformers" {
				continue // the old checkbox; the loader turns it into the dropdown's string
			}
			if jsonKind(g) != jsonKind(v) {
				t.Errorf("%s: %s is %s in the export, %s in the preset", name, k, jsonKind(g), jsonKind(v))
			}
		}
	}
}

func jsonKind(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case bool:
		return "boolean"
	case float64:
		return "number"
	}
	return "other"
}

func assertKeyTypes(t *testing.T, got map[string]any, want map[string]string, exact bool) {
	t.Helper()
	for k, typ := range want {
		v, ok := got[k]
		if !ok {
			t.Errorf("missing key %s", k)
			continue
		}
		if jsonKind(v) != typ {
			t.Errorf("%s is %s, want %s", k, jsonKind(v), typ)
		}
	}
	if exact {
		for k := range got {
			if _, ok := want[k]; !ok {
				t.Errorf("extra key %s", k)
			}
		}
	}
}

func TestExportGUIErrors(t *testing.T) {
	tests := []struct {
		name    string
		c       Config
		sdxl    bool
		wantErr string
	}{
		{"unknown key", Config{"netwrok_dim": int64(8)}, false, "did you mean network_dim"},
		{"flux module", Config{"network_module": "networks.lora_flux"}, false, "no kohya_ss GUI LoRA type"},
		{"network arg without field", Config{"network_args": []any{"foo=1"}}, false, "foo has no field"},
		{"sdxl-only arg", Config{"cache_text_encoder_outputs": true}, false, "sdxl_train_network.py option"},
		{"both noise kinds", Config{"noise_offset": 0.05, "multires_noise_iterations": int64(6)}, false, "both set"},
		{"optimizer arg with space", Config{"optimizer_args": []any{"betas=(0.9, 0.99)"}}, false, "whitespace"},
		{"float warmup above one", Config{"lr_warmup_steps": 100.0}, false, "ratio of the total steps"},
		{"db-only arg", Config{"stop_text_encoder_training": int64(5)}, false, "train_db.py only"},
		{"missing prompt file", Config{"sample_prompts": "/nonexistent/p.txt"}, false, "read sample_prompts"},
		{"toml prompt file", Config{"sample_prompts": "p.toml"}, false, "only a .txt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := ExportGUI(tt.c, tt.sdxl)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("err = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func BenchmarkImportGUI(b *testing.B) {
	data, err := os.ReadFile(filepath.Join("testdata", "gui", "saved_sd15_locon.json"))
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, _, err := ImportGUI("x.json", data); err != nil {
			b.Fatal(err)
		}
	}
}

// lycorisArgs is network_args as LyCORIS reads them: a set, where the
// GUI's explicit False / 0 equal leaving the entry out (LyCORIS's own
// defaults), except decompose_both, which LyCORIS takes as on whenever it
// is given.
func lycorisArgs(v any) any {
	l, _ := v.([]any)
	var out []string
	for _, e := range l {
		s, _ := e.(string)
		k, val, _ := strings.Cut(s, "=")
		if k != "decompose_both" && (val == "False" || val == "0") {
			continue
		}
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

func TestExportGUICases(t *testing.T) {
	tests := []struct {
		name string
		c    Config
		sdxl bool
		want map[string]any // JSON values of the export
		note string
	}{
		{"no conv for a lycoris trial without it: the network's own rank",
			Config{"network_module": "lycoris.kohya", "network_dim": int64(16), "network_alpha": 8.0, "network_args": []any{"algo=locon"}}, false,
			map[string]any{"LoRA_type": "LyCORIS/LoCon", "conv_dim": 16.0, "conv_alpha": 8.0}, ""},
		{"no conv invented for kohya dylora",
			Config{"network_module": "networks.dylora", "network_args": []any{"unit=4"}}, false,
			map[string]any{"LoRA_type": "Kohya DyLoRA", "conv_dim": 0.0, "conv_alpha": 0.0, "unit": 4.0}, ""},
		{"no conv invented for native lokr",
			Config{"network_module": "networks.lokr"}, true,
			map[string]any{"LoRA_type": "Kohya LoKr", "conv_dim": 0.0, "factor": -1.0}, ""},
		{"kohya locon conv_alpha defaults as networks.lora does",
			Config{"network_module": "networks.lora", "network_args": []any{"conv_dim=8"}}, false,
			map[string]any{"LoRA_type": "Kohya LoCon", "conv_dim": 8.0, "conv_alpha": 1.0}, ""},
		{"lycoris dylora block size default",
			Config{"network_module": "lycoris.kohya", "network_args": []any{"algo=dylora"}}, false,
			map[string]any{"LoRA_type": "LyCORIS/DyLoRA", "unit": 4.0, "LyCORIS_preset": "full"}, ""},
		{"lokr without decompose_both",
			Config{"network_module": "lycoris.kohya", "network_args": []any{"algo=lokr"}}, false,
			map[string]any{"LoRA_type": "LyCORIS/LoKr"}, "decompose_both"},
		{"whole warmup percent",
			Config{"lr_scheduler": "cosine", "lr_warmup_steps": 0.07}, false,
			map[string]any{"lr_warmup": 7.0, "lr_warmup_steps": 0.0}, ""},
		{"fractional percent with known steps becomes steps",
			Config{"lr_scheduler": "cosine", "lr_warmup_steps": 0.0437, "max_train_steps": int64(1000)}, false,
			map[string]any{"lr_warmup": 0.0, "lr_warmup_steps": 43.0}, ""},
		{"fractional percent with epochs is rounded, with a note",
			Config{"lr_scheduler": "cosine", "lr_warmup_steps": 0.0437, "max_train_epochs": int64(10)}, false,
			map[string]any{"lr_warmup": 4.0, "lr_warmup_steps": 0.0}, "whole percent"},
		{"constant scheduler takes no warmup",
			Config{"lr_scheduler": "constant", "lr_warmup_steps": int64(20)}, false,
			map[string]any{"lr_warmup": 0.0, "lr_warmup_steps": 0.0}, "constant"},
		{"unset keys do not take the GUI's defaults",
			Config{}, false,
			map[string]any{"cache_latents": false, "enable_bucket": false, "caption_extension": ".caption", "max_train_steps": 1600.0,
				"mixed_precision": "no", "xformers": "none", "max_bucket_reso": 1024.0, "max_data_loader_n_workers": 8.0,
				"optimizer": "AdamW", "lr_scheduler": "constant", "lr_warmup": 0.0, "clip_skip": 0.0, "max_timestep": 0.0,
				"train_inpainting": false, "t5xxl_lr": 0.0}, ""},
		{"a zero the GUI would drop goes on the command line",
			Config{"max_grad_norm": 0.0}, false,
			map[string]any{"max_grad_norm": 0.0, "additional_parameters": "--max_grad_norm 0.0"}, ""},
		{"flux-only options the LoRA tab does not forward go on the command line",
			Config{"fp8_base_unet": true}, false,
			map[string]any{"fp8_base_unet": false, "additional_parameters": "--fp8_base_unet"}, ""},
		{"t5xxl rate", Config{"text_encoder_lr": []any{1e-5, 2e-5}}, true,
			map[string]any{"text_encoder_lr": 1e-5, "t5xxl_lr": 2e-5}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, notes, err := ExportGUI(tt.c, tt.sdxl)
			if err != nil {
				t.Fatal(err)
			}
			var got map[string]any
			if err := json.Unmarshal(data, &got); err != nil {
				t.Fatal(err)
			}
			for k, w := range tt.want {
				if !reflect.DeepEqual(got[k], w) {
					t.Errorf("%s = %#v, want %#v", k, got[k], w)
				}
			}
			joined := strings.Join(notes, "\n")
			if tt.note == "" && len(notes) > 0 || tt.note != "" && !strings.Contains(joined, tt.note) {
				t.Errorf("notes = %q, want %q", notes, tt.note)
			}
		})
	}
}
