package kohya

import (
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// guiPresetDir holds the 31 LoRA presets the kohya_ss GUI ships
// (presets/lora at guiVersion), shared reference data outside the repo.
var guiPresetDir = filepath.Join("..", "..", "shared", "kohya", "gui-presets")

func readGUIPresets(t *testing.T) map[string][]byte {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(guiPresetDir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Skipf("no GUI presets in %s", guiPresetDir)
	}
	out := map[string][]byte{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(f)] = data
	}
	return out
}

// guiPresetWant are the settings that decide what a preset trains, as the
// GUI passes them to sd-scripts: written from the GUI's own loader
// (common_gui.py update_my_data + open_configuration, with a fresh GUI's
// field values for absent keys) and train_model (lora_gui.py), which were
// run on each preset, with additional_parameters applied on top (they are
// command-line options, which override the TOML). Where the GUI derives
// max_train_steps by counting images (max_train_steps 0), lorasweep's
// documented max_train_epochs = epoch stands in. text_encoder_lr is the
// GUI's [te, te] as the scalar te; LoCon/LoHa's doubled use_tucker once. A
// nil value means the GUI does not pass the key. nil Config: refused.
var guiPresetWant = map[string]Config{
	"SDXL - 1 image LoRA v1.0.json":                {"max_train_steps": int64(160), "max_train_epochs": nil, "network_module": "lycoris.kohya", "network_args": []any{"preset=full", "conv_dim=100000", "conv_alpha=1", "use_tucker=False", "rank_dropout=0", "bypass_mode=False", "dora_wd=False", "module_dropout=0", "factor=6", "use_cp=False", "use_scalar=False", "decompose_both=False", "rank_dropout_scale=False", "algo=lokr", "train_norm=False"}, "network_dim": int64(100000), "network_alpha": 1.0, "learning_rate": 1.0, "unet_lr": 1.0, "text_encoder_lr": 1.0, "network_train_unet_only": nil, "network_train_text_encoder_only": nil, "lr_scheduler": "cosine", "lr_warmup_steps": nil, "lr_scheduler_num_cycles": int64(1), "lr_scheduler_type": "CosineAnnealingLR", "lr_scheduler_args": []any{"T_max=1000", "eta_min=0e-0"}, "optimizer_type": "Prodigy", "optimizer_args": []any{"d0=1e-5", "d_coef=1.0", "weight_decay=0.4", "decouple=True", "safeguard_warmup=True", "use_bias_correction=True"}, "caption_extension": ".txt", "train_batch_size": int64(1), "resolution": "1024,1024", "mixed_precision": "bf16", "max_data_loader_n_workers": int64(0)},
	"SDXL - LoHA AI_Characters v1.0.json":          {"max_train_steps": int64(1600), "max_train_epochs": int64(100), "network_module": "lycoris.kohya", "network_args": []any{"preset=full", "conv_dim=16", "conv_alpha=16", "use_tucker=False", "rank_dropout=0", "bypass_mode=False", "dora_wd=False", "module_dropout=0", "use_scalar=False", "rank_dropout_scale=False", "algo=loha", "train_norm=False"}, "network_dim": int64(32), "network_alpha": 32.0, "learning_rate": 0.001, "unet_lr": 0.001, "text_encoder_lr": 0.001, "network_train_unet_only": nil, "network_train_text_encoder_only": nil, "lr_scheduler": "constant", "lr_warmup_steps": nil, "lr_scheduler_num_cycles": int64(1), "lr_scheduler_type": nil, "lr_scheduler_args": nil, "optimizer_type": "AdamW8bit", "optimizer_args": nil, "caption_extension": ".txt", "train_batch_size": int64(8), "resolution": "1024,1024", "mixed_precision": "fp16", "max_data_loader_n_workers": int64(0)},
	"SDXL - LoKR v1.0.json":                        {"max_train_steps": int64(1600), "max_train_epochs": nil, "network_module": "lycoris.kohya", "network_args": []any{"preset=full", "conv_dim=64", "conv_alpha=64", "use_tucker=False", "rank_dropout=0.1", "bypass_mode=False", "dora_wd=False", "module_dropout=0.1", "factor=-1", "use_cp=True", "use_scalar=False", "decompose_both=False", "rank_dropout_scale=False", "algo=lokr", "train_norm=False"}, "network_dim": int64(64), "network_alpha": 64.0, "learning_rate": 1.0, "unet_lr": 1.0, "text_encoder_lr": 1.0, "network_train_unet_only": nil, "network_train_text_encoder_only": nil, "lr_scheduler": "constant", "lr_warmup_steps": nil, "lr_scheduler_num_cycles": int64(1), "lr_scheduler_type": nil, "lr_scheduler_args": nil, "optimizer_type": "Prodigy", "optimizer_args": nil, "caption_extension": ".txt", "train_batch_size": int64(8), "resolution": "1024,1024", "mixed_precision": "bf16", "max_data_loader_n_workers": int64(0)},
	"SDXL - LoRA AI_Now ADamW v1.0.json":           {"max_train_steps": int64(320), "max_train_epochs": nil, "network_module": "networks.lora", "network_args": nil, "network_dim": int64(32), "network_alpha": 32.0, "learning_rate": 0.0001, "unet_lr": 0.0001, "text_encoder_lr": 0.0001, "network_train_unet_only": nil, "network_train_text_encoder_only": nil, "lr_scheduler": "constant", "lr_warmup_steps": nil, "lr_scheduler_num_cycles": int64(1), "lr_scheduler_type": nil, "lr_scheduler_args": nil, "optimizer_type": "AdamW", "optimizer_args": nil, "caption_extension": ".txt-no", "train_batch_size": int64(4), "resolution": "1024,1024", "mixed_precision": "bf16", "max_data_loader_n_workers": int64(0)},
	"SDXL - LoRA AI_Now prodigy v1.0.json":         {"max_train_steps": int64(1600), "max_train_epochs": nil, "network_module": "networks.lora", "network_args": nil, "network_dim": int64(32), "network_alpha": 16.0, "learning_rate": 1.0, "unet_lr": 1.0, "text_encoder_lr": 1.0, "network_train_unet_only": nil, "network_train_text_encoder_only": nil, "lr_scheduler": "constant", "lr_warmup_steps": nil, "lr_scheduler_num_cycles": int64(1), "lr_scheduler_type": nil, "lr_scheduler_args": nil, "optimizer_type": "Prodigy", "optimizer_args": []any{"weight_decay=0.01", "decouple=True", "d0=0.0001", "use_bias_correction=True"}, "caption_extension": ".txt", "train_batch_size": int64(8), "resolution": "1024,1024", "mixed_precision": "bf16", "max_data_loader_n_workers": int64(0)},
	"SDXL - LoRA AI_characters standard v1.0.json": {"max_train_steps": nil, "max_train_epochs": int64(100), "network_module": "networks.lora", "network_args": nil, "network_dim": int64(32), "network_alpha": 32.0, "learning_rate": 2e-05, "unet_lr": 2e-05, "text_encoder_lr": 2e-05, "network_train_unet_only": nil, "network_train_text_encoder_only": nil, "lr_scheduler": "constant", "lr_warmup_steps": nil, "lr_scheduler_num_cycles": int64(1), "lr_scheduler_type": nil, "lr_scheduler_args": nil, "optimizer_type": "AdamW8bit", "optimizer_args": nil, "caption_extension": ".txt", "train_batch_size": int64(8), "resolution": "1024,1024", "mixed_precision": "fp16", "max_data_loader_n_workers": int64(0)},
	"SDXL - LoRA AI_characters standard v1.1.json": {"max_train_steps": nil, "max_train_epochs": int64(50), "network_module": "networks.lora", "network_args": nil, "network_dim": int64(32), "network_alpha": 32.0, "learning_rate": 3e-05, "unet_lr": 3e-05, "text_encoder_lr": 3e-05, "network_train_unet_only": nil, "network_train_text_encoder_only": nil, "lr_scheduler": "constant", "lr_warmup_steps": nil, "lr_scheduler_num_cycles": int64(1), "lr_scheduler_type": nil, "lr_scheduler_args": nil, "optimizer_type": "AdamW", "optimizer_args": nil, "caption_extension": ".txt", "train_batch_size": int64(3), "resolution": "1024,1024", "mixed_precision": "fp16", "max_data_loader_n_workers": int64(0)},
	"SDXL - LoRA adafactor v1.0.json":              {"max_train_steps": int64(1600), "max_train_epochs": int64(30), "network_module": "networks.lora", "network_args": nil, "network_dim": int64(128), "network_alpha": 128.0, "learning_rate": 1.0, "unet_lr": 1.0, "text_encoder_lr": 1.0, "network_train_unet_only": nil, "network_train_text_encoder_only": nil, "lr_scheduler": "adafactor", "lr_warmup_steps": nil, "lr_scheduler_num_cycles": int64(1), "lr_scheduler_type": nil, "lr_scheduler_args": nil, "optimizer_type": "Adafactor", "optimizer_args": nil, "caption_extension": ".txt2", "train_batch_size": int64(5), "resolution": "1024,1024", "mixed_precision": "bf16", "max_data_loader_n_workers": int64(0)},
	"SDXL - LoRA aitrepreneur clothing v1.0.json":  {"max_train_steps": nil, "max_train_epochs": int64(15) /* epoch: the GUI counts images */, "network_module": "networks.lora", "network_args": nil, "network_dim": int64(128), "network_alpha": 1.0, "learning_rate": 0.0009, "unet_lr": 0.0009, "text_encoder_lr": 0.0009, "network_train_unet_only": nil, "network_train_text_encoder_only": nil, "lr_scheduler": "constant", "lr_warmup_steps": nil, "lr_scheduler_num_cycles": int64(1), "lr_scheduler_type": nil, "lr_scheduler_args": nil, "optimizer_type": "Adafactor", "optimizer_args": []any{"scale_parameter=False", "relative_step=False", "warmup_init=False"}, "caption_extension": ".txt", "train_batch_size": int64(1), "resolution": "1024,1024", "mixed_precision": "bf16", "max_data_loader_n_workers": int64(0)},
	"SDXL - LoRA by malcolmrey training v1.0.json": {"max_train_steps": int64(1600), "max_train_epochs": int64(16), "network_module": "networks.lora", "network_args": nil, "network_dim": int64(32), "network_alpha": 13.0, "learning_rate": 0.0001, "unet_lr": 0.0001, "text_encoder_lr": 0.0001, "network_train_unet_only": nil, "network_train_text_encoder_only": nil, "lr_scheduler": "constant", "lr_warmup_steps": nil, "lr_scheduler_num_cycles": int64(1), "lr_scheduler_type": nil, "lr_scheduler_args": nil, "optimizer_type": "AdamW8bit", "optimizer_args": nil, "caption_extension": ".txt", "train_batch_size": int64(8), "resolution": "1024,1024", "mixed_precision": "bf16", "max_data_loader_n_workers": int64(0)},
	"SDXL - LoRA face dogu_cat v1.0.json":          {"max_train_steps": nil, "max_train_epochs": int64(10) /* epoch: the GUI counts images */, "network_module": "networks.lora", "network_args": nil, "network_dim": int64(92), "network_alpha": 46.0, "learning_rate": 0.0001, "unet_lr": 0.0001, "text_encoder_lr": 0.0001, "network_train_unet_only": nil, "network_train_text_encoder_only": nil, "lr_scheduler": "cosine", "lr_warmup_steps": nil, "lr_scheduler_num_cycles": int64(1), "lr_scheduler_type": nil, "lr_scheduler_args": nil, "optimizer_type": "AdamW8bit", "optimizer_args": nil, "caption_extension": ".txt", "train_batch_size": int64(1), "resolution": "1024,1024", "mixed_precision": "bf16", "max_data_loader_n_workers": int64(0)},
	"SDXL - LoRA finetuning phase 1_v1.1.json":     {"max_train_steps": int64(1600), "max_train_epochs": nil, "network_module": "networks.lora", "network_args": nil, "network_dim": int64(128), "network_alpha": 128.0, "learning_rate": 0.0001, "unet_lr": 0.0001, "text_encoder_lr": 0.0001, "network_train_unet_only": nil, "network_train_text_encoder_only": nil, "lr_scheduler": "constant", "lr_warmup_steps": nil, "lr_scheduler_num_cycles": int64(1), "lr_scheduler_type": nil, "lr_scheduler_args": nil, "optimizer_type": "AdamW", "optimizer_args": nil, "caption_extension": ".txt2", "train_batch_size": int64(8), "resolution": "1024,1024", "mixed_precision": "bf16", "max_data_loader_n_workers": int64(0)},
	"SDXL - LoRA finetuning phase 2_v1.1.json":     {"max_train_steps": int64(1600), "max_train_epochs": int64(1), "network_module": "networks.lora", "network_args": nil, "network_dim": int64(128), "network_alpha": 128.0, "learning_rate": 0.0001, "unet_lr": 0.0001, "text_encoder_lr": 0.0001, "network_train_unet_only": nil, "network_train_text_encoder_only": nil, "lr_scheduler": "constant", "lr_warmup_steps": nil, "lr_scheduler_num_cycles": int64(1), "lr_scheduler_type": nil, "lr_scheduler_args": nil, "optimizer_type": "AdamW", "optimizer_args": nil, "caption_extension": ".txt2", "train_batch_size": int64(1), "resolution": "1024,1024", "mixed_precision": "bf16", "max_data_loader_n_workers": int64(0)},
	"SDXL - LoRA kudou-reira dadaptadam v1.0.json": {"max_train_steps": int64(1600), "max_train_epochs": nil, "network_module": "networks.lora", "network_args": nil, "network_dim": int64(256), "network_alpha": 256.0, "learning_rate": 1.0, "unet_lr": 1.0, "text_encoder_lr": 1.0, "network_train_unet_only": true, "network_train_text_encoder_only": nil, "lr_scheduler": "cosine", "lr_warmup_steps": 0.05, "lr_scheduler_num_cycles": int64(1), "lr_scheduler_type": nil, "lr_scheduler_args": nil, "optimizer_type": "DAdaptAdam", "optimizer_args": []any{"decouple=True", "weight_decay=0.2", "betas=0.9,0.99", "growth_rate=1.02"}, "caption_extension": ".txt", "train_batch_size": int64(6), "resolution": "1024,1024", "mixed_precision": "bf16", "max_data_loader_n_workers": int64(0)},
	"SDXL - LoRA kudou-reira dadaptadam v1.1.json": {"max_train_steps": int64(1600), "max_train_epochs": nil, "network_module": "networks.lora", "network_args": nil, "network_dim": int64(64), "network_alpha": 64.0, "learning_rate": 1.0, "unet_lr": 1.0, "text_encoder_lr": 1.0, "network_train_unet_only": true, "network_train_text_encoder_only": nil, "lr_scheduler": "cosine", "lr_warmup_steps": 0.05, "lr_scheduler_num_cycles": int64(1), "lr_scheduler_type": nil, "lr_scheduler_args": nil, "optimizer_type": "DAdaptAdam", "optimizer_args": []any{"decouple=True", "weight_decay=0.1", "betas=0.9,0.91"}, "caption_extension": ".txt", "train_batch_size": int64(6), "resolution": "1024,1024", "mixed_precision": "bf16", "max_data_loader_n_workers": int64(0)},
	"SDXL - LoRA kudou-reira prodigy v4.0.json":    {"max_train_steps": int64(1600), "max_train_epochs": nil, "network_module": "networks.lora", "network_args": nil, "network_dim": int64(256), "network_alpha": 256.0, "learning_rate": 1.0, "unet_lr": 1.0, "text_encoder_lr": 1.0, "network_train_unet_only": true, "network_train_text_encoder_only": nil, "lr_scheduler": "cosine_with_restarts", "lr_warmup_steps": nil, "lr_scheduler_num_cycles": int64(1), "lr_scheduler_type": "CosineAnnealingLR", "lr_scheduler_args": []any{"T_max=30"}, "optimizer_type": "Prodigy", "optimizer_args": []any{"decouple=True", "weight_decay=0.45", "d_coef=2", "use_bias_correction=True", "safeguard_warmup=True"}, "caption_extension": ".txt", "train_batch_size": int64(6), "resolution": "1024,1024", "mixed_precision": "bf16", "max_data_loader_n_workers": int64(0)},
	"SDXL - edgLoRAXL AI_Now.json":                 {"max_train_steps": int64(320), "max_train_epochs": nil, "network_module": "networks.lora", "network_args": nil, "network_dim": int64(32), "network_alpha": 32.0, "learning_rate": 1.0, "unet_lr": 1.0, "text_encoder_lr": 1.0, "network_train_unet_only": nil, "network_train_text_encoder_only": nil, "lr_scheduler": "cosine", "lr_warmup_steps": nil, "lr_scheduler_num_cycles": int64(1), "lr_scheduler_type": nil, "lr_scheduler_args": nil, "optimizer_type": "Prodigy", "optimizer_args": []any{"decouple=True", "weight_decay=0.5", "betas=0.9,0.99", "use_bias_correction=False"}, "caption_extension": ".txt", "train_batch_size": int64(4), "resolution": "1024,1024", "mixed_precision": "bf16", "max_data_loader_n_workers": int64(0)},
	"SDXL - edgLoRAXL.json":                        {"max_train_steps": int64(1600), "max_train_epochs": nil, "network_module": "networks.lora", "network_args": nil, "network_dim": int64(32), "network_alpha": 32.0, "learning_rate": 1.0, "unet_lr": 1.0, "text_encoder_lr": 1.0, "network_train_unet_only": nil, "network_train_text_encoder_only": nil, "lr_scheduler": "cosine", "lr_warmup_steps": nil, "lr_scheduler_num_cycles": int64(1), "lr_scheduler_type": nil, "lr_scheduler_args": nil, "optimizer_type": "Prodigy", "optimizer_args": []any{"decouple=True", "weight_decay=0.5", "betas=0.9,0.99", "use_bias_correction=False"}, "caption_extension": ".txt", "train_batch_size": int64(4), "resolution": "1024,1024", "mixed_precision": "fp16", "max_data_loader_n_workers": int64(0)},
	"flux1D - adamw8bit fp8.json":                  nil, // FLUX.1: refused
	"iA3-Prodigy-sd15.json":                        {"max_train_steps": int64(1600), "max_train_epochs": nil, "network_module": "lycoris.kohya", "network_args": []any{"preset=full", "conv_dim=1", "conv_alpha=1", "train_on_input=True", "algo=ia3"}, "network_dim": int64(1024), "network_alpha": 1024.0, "learning_rate": 1.0, "unet_lr": 1.0, "text_encoder_lr": 1.0, "network_train_unet_only": nil, "network_train_text_encoder_only": nil, "lr_scheduler": "constant", "lr_warmup_steps": nil, "lr_scheduler_num_cycles": int64(1), "lr_scheduler_type": nil, "lr_scheduler_args": nil, "optimizer_type": "Prodigy", "optimizer_args": []any{"d_coef=1.0", "weight_decay=0.01", "safeguard_warmup=False", "use_bias_correction=False"}, "caption_extension": ".txt", "train_batch_size": int64(1), "resolution": "512,512", "mixed_precision": "fp16", "max_data_loader_n_workers": int64(0)},
	"ia3-sd15.json":                                {"max_train_steps": int64(1600), "max_train_epochs": nil, "network_module": "lycoris.kohya", "network_args": []any{"preset=full", "conv_dim=64", "conv_alpha=64", "train_on_input=True", "algo=ia3"}, "network_dim": int64(64), "network_alpha": 64.0, "learning_rate": 1.0, "unet_lr": 1.0, "text_encoder_lr": 1.0, "network_train_unet_only": nil, "network_train_text_encoder_only": nil, "lr_scheduler": "cosine", "lr_warmup_steps": nil, "lr_scheduler_num_cycles": int64(1), "lr_scheduler_type": nil, "lr_scheduler_args": nil, "optimizer_type": "Prodigy", "optimizer_args": nil, "caption_extension": ".none-use-foldername", "train_batch_size": int64(1), "resolution": "512,512", "mixed_precision": "bf16", "max_data_loader_n_workers": int64(0)},
	"locon-dadaptation-sdxl.json":                  {"max_train_steps": int64(1600), "max_train_epochs": nil, "network_module": "networks.lora", "network_args": nil, "network_dim": int64(64), "network_alpha": 64.0, "learning_rate": 4e-07, "unet_lr": 4e-07, "text_encoder_lr": nil, "network_train_unet_only": true, "network_train_text_encoder_only": nil, "lr_scheduler": "constant_with_warmup", "lr_warmup_steps": 0.08, "lr_scheduler_num_cycles": int64(1), "lr_scheduler_type": nil, "lr_scheduler_args": nil, "optimizer_type": "Adafactor", "optimizer_args": []any{"scale_parameter=False", "relative_step=False", "warmup_init=False"}, "caption_extension": ".none-use-foldername", "train_batch_size": int64(1), "resolution": "512,512", "mixed_precision": "bf16", "max_data_loader_n_workers": int64(0)},
	"loha-sd15.json":                               {"max_train_steps": int64(1600), "max_train_epochs": nil, "network_module": "lycoris.kohya", "network_args": []any{"preset=full", "conv_dim=8", "conv_alpha=4", "use_tucker=False", "rank_dropout=0", "bypass_mode=False", "dora_wd=False", "module_dropout=0", "use_scalar=False", "rank_dropout_scale=False", "algo=loha", "train_norm=False"}, "network_dim": int64(32), "network_alpha": 16.0, "learning_rate": 0.0001, "unet_lr": 0.0001, "text_encoder_lr": 0.0001, "network_train_unet_only": nil, "network_train_text_encoder_only": nil, "lr_scheduler": "cosine", "lr_warmup_steps": nil, "lr_scheduler_num_cycles": int64(1), "lr_scheduler_type": nil, "lr_scheduler_args": nil, "optimizer_type": "AdamW", "optimizer_args": nil, "caption_extension": ".none-use-foldername", "train_batch_size": int64(1), "resolution": "512,512", "mixed_precision": "bf16", "max_data_loader_n_workers": int64(0)},
	"lokr-sd15.json":                               {"max_train_steps": int64(1600), "max_train_epochs": nil, "network_module": "lycoris.kohya", "network_args": []any{"preset=full", "conv_dim=64", "conv_alpha=64", "use_tucker=False", "rank_dropout=0", "bypass_mode=False", "dora_wd=False", "module_dropout=0", "factor=-1", "use_cp=False", "use_scalar=False", "decompose_both=False", "rank_dropout_scale=False", "algo=lokr", "train_norm=False"}, "network_dim": int64(64), "network_alpha": 64.0, "learning_rate": 1.0, "unet_lr": 1.0, "text_encoder_lr": 1.0, "network_train_unet_only": nil, "network_train_text_encoder_only": nil, "lr_scheduler": "cosine", "lr_warmup_steps": nil, "lr_scheduler_num_cycles": int64(1), "lr_scheduler_type": nil, "lr_scheduler_args": nil, "optimizer_type": "Prodigy", "optimizer_args": nil, "caption_extension": ".none-use-foldername", "train_batch_size": int64(1), "resolution": "512,512", "mixed_precision": "bf16", "max_data_loader_n_workers": int64(0)},
	"sd15 - EDG_LoConOptiSettings.json":            {"max_train_steps": int64(1600), "max_train_epochs": nil, "network_module": "lycoris.kohya", "network_args": []any{"preset=full", "conv_dim=32", "conv_alpha=1", "use_tucker=False", "rank_dropout=0", "bypass_mode=False", "dora_wd=False", "module_dropout=0", "use_scalar=False", "rank_dropout_scale=False", "algo=locon", "train_norm=False"}, "network_dim": int64(64), "network_alpha": 64.0, "learning_rate": 0.0001, "unet_lr": 0.0001, "text_encoder_lr": 5e-05, "network_train_unet_only": nil, "network_train_text_encoder_only": nil, "lr_scheduler": "constant", "lr_warmup_steps": nil, "lr_scheduler_num_cycles": int64(1), "lr_scheduler_type": nil, "lr_scheduler_args": nil, "optimizer_type": "AdamW8bit", "optimizer_args": nil, "caption_extension": ".txt", "train_batch_size": int64(3), "resolution": "512,650", "mixed_precision": "bf16", "max_data_loader_n_workers": int64(1)},
	"sd15 - EDG_LoHaOptiSettings.json":             {"max_train_steps": int64(1600), "max_train_epochs": nil, "network_module": "lycoris.kohya", "network_args": []any{"preset=full", "conv_dim=32", "conv_alpha=1", "use_tucker=False", "rank_dropout=0", "bypass_mode=False", "dora_wd=False", "module_dropout=0", "use_scalar=False", "rank_dropout_scale=False", "algo=loha", "train_norm=False"}, "network_dim": int64(32), "network_alpha": 32.0, "learning_rate": 0.0001, "unet_lr": 0.0001, "text_encoder_lr": 5e-05, "network_train_unet_only": nil, "network_train_text_encoder_only": nil, "lr_scheduler": "constant", "lr_warmup_steps": nil, "lr_scheduler_num_cycles": int64(1), "lr_scheduler_type": nil, "lr_scheduler_args": nil, "optimizer_type": "AdamW8bit", "optimizer_args": nil, "caption_extension": ".txt", "train_batch_size": int64(3), "resolution": "512,650", "mixed_precision": "bf16", "max_data_loader_n_workers": int64(1)},
	"sd15 - EDG_LoraOptiSettings.json":             {"max_train_steps": int64(1600), "max_train_epochs": nil, "network_module": "networks.lora", "network_args": nil, "network_dim": int64(64), "network_alpha": 64.0, "learning_rate": 0.0001, "unet_lr": 0.0001, "text_encoder_lr": 5e-05, "network_train_unet_only": nil, "network_train_text_encoder_only": nil, "lr_scheduler": "constant", "lr_warmup_steps": nil, "lr_scheduler_num_cycles": int64(1), "lr_scheduler_type": nil, "lr_scheduler_args": nil, "optimizer_type": "AdamW8bit", "optimizer_args": nil, "caption_extension": ".txt", "train_batch_size": int64(3), "resolution": "512,650", "mixed_precision": "bf16", "max_data_loader_n_workers": int64(1)},
	"sd15 - GLoRA v1.0.json":                       {"max_train_steps": int64(113), "max_train_epochs": nil, "network_module": "lycoris.kohya", "network_args": []any{"preset=full", "conv_dim=100000", "conv_alpha=1", "use_tucker=False", "rank_dropout=0", "bypass_mode=False", "dora_wd=False", "module_dropout=0", "factor=6", "use_cp=True", "use_scalar=False", "decompose_both=True", "rank_dropout_scale=True", "algo=lokr", "train_norm=True"}, "network_dim": int64(100000), "network_alpha": 1.0, "learning_rate": 0.0001, "unet_lr": 0.0001, "text_encoder_lr": 0.0001, "network_train_unet_only": nil, "network_train_text_encoder_only": nil, "lr_scheduler": "constant", "lr_warmup_steps": nil, "lr_scheduler_num_cycles": int64(1), "lr_scheduler_type": nil, "lr_scheduler_args": nil, "optimizer_type": "AdamW", "optimizer_args": []any{"weight_decay=0.1", "betas=0.9,0.99"}, "caption_extension": ".txt", "train_batch_size": int64(1), "resolution": "768,768", "mixed_precision": "bf16", "max_data_loader_n_workers": int64(1)},
	"sd15 - LoKR v1.0.json":                        {"max_train_steps": int64(150), "max_train_epochs": nil, "network_module": "lycoris.kohya", "network_args": []any{"preset=full", "conv_dim=100000", "conv_alpha=1", "use_tucker=False", "rank_dropout=0", "bypass_mode=False", "dora_wd=False", "module_dropout=0", "factor=6", "use_cp=False", "use_scalar=False", "decompose_both=False", "rank_dropout_scale=False", "algo=lokr", "train_norm=False"}, "network_dim": int64(100000), "network_alpha": 1.0, "learning_rate": 0.0001, "unet_lr": 0.0001, "text_encoder_lr": 0.0001, "network_train_unet_only": nil, "network_train_text_encoder_only": nil, "lr_scheduler": "constant", "lr_warmup_steps": nil, "lr_scheduler_num_cycles": int64(1), "lr_scheduler_type": nil, "lr_scheduler_args": nil, "optimizer_type": "AdamW", "optimizer_args": []any{"weight_decay=0.1", "betas=0.9,0.99"}, "caption_extension": ".txt", "train_batch_size": int64(1), "resolution": "768,768", "mixed_precision": "bf16", "max_data_loader_n_workers": int64(1)},
	"sd15 - LoKr v1.1.json":                        {"max_train_steps": int64(113), "max_train_epochs": nil, "network_module": "lycoris.kohya", "network_args": []any{"preset=full", "conv_dim=100000", "conv_alpha=1", "use_tucker=False", "rank_dropout=0", "bypass_mode=False", "dora_wd=False", "module_dropout=0", "factor=6", "use_cp=True", "use_scalar=False", "decompose_both=True", "rank_dropout_scale=True", "algo=lokr", "train_norm=True"}, "network_dim": int64(100000), "network_alpha": 1.0, "learning_rate": 0.0001, "unet_lr": 0.0001, "text_encoder_lr": 0.0001, "network_train_unet_only": nil, "network_train_text_encoder_only": nil, "lr_scheduler": "constant", "lr_warmup_steps": nil, "lr_scheduler_num_cycles": int64(1), "lr_scheduler_type": nil, "lr_scheduler_args": nil, "optimizer_type": "AdamW", "optimizer_args": []any{"weight_decay=0.1", "betas=0.9,0.99"}, "caption_extension": ".txt", "train_batch_size": int64(1), "resolution": "768,768", "mixed_precision": "bf16", "max_data_loader_n_workers": int64(1)},
	"sd15 - LoKr v2.0.json":                        {"max_train_steps": nil, "max_train_epochs": int64(150) /* epoch: the GUI counts images */, "network_module": "lycoris.kohya", "network_args": []any{"preset=full", "conv_dim=100000", "conv_alpha=1", "use_tucker=False", "rank_dropout=0", "bypass_mode=False", "dora_wd=False", "module_dropout=0", "factor=6", "use_cp=False", "use_scalar=False", "decompose_both=False", "rank_dropout_scale=False", "algo=lokr", "train_norm=False"}, "network_dim": int64(100000), "network_alpha": 1.0, "learning_rate": 1.0, "unet_lr": 1.0, "text_encoder_lr": 1.0, "network_train_unet_only": nil, "network_train_text_encoder_only": nil, "lr_scheduler": "cosine", "lr_warmup_steps": nil, "lr_scheduler_num_cycles": int64(1), "lr_scheduler_type": "CosineAnnealingLR", "lr_scheduler_args": []any{"T_max=1000", "eta_min=0e-0"}, "optimizer_type": "Prodigy", "optimizer_args": []any{"d0=1e-5", "d_coef=1.0", "weight_decay=0.4", "decouple=True", "safeguard_warmup=True", "use_bias_correction=True"}, "caption_extension": ".txt", "train_batch_size": int64(2), "resolution": "512,512", "mixed_precision": "bf16", "max_data_loader_n_workers": int64(0)},
}

func TestImportGUIPresets(t *testing.T) {
	presets := readGUIPresets(t)
	if len(presets) != len(guiPresetWant) {
		t.Errorf("%d presets, %d expectations", len(presets), len(guiPresetWant))
	}
	for name, data := range presets {
		t.Run(name, func(t *testing.T) {
			want, ok := guiPresetWant[name]
			if !ok {
				t.Fatalf("no expectation for %s", name)
			}
			got, warnings, err := ImportGUI(name, data)
			if want == nil {
				if err == nil || !strings.Contains(err.Error(), "FLUX.1") {
					t.Fatalf("err = %v, want the FLUX.1 refusal", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range sortedKeys(want) {
				if !reflect.DeepEqual(got[k], want[k]) {
					t.Errorf("%s = %#v, the GUI passes %#v", k, got[k], want[k])
				}
			}
			for _, w := range warnings {
				if !strings.HasPrefix(w, name+": ") {
					t.Errorf("warning %q does not name the file", w)
				}
			}
			if _, err := WriteTOML(got); err != nil {
				t.Errorf("trial TOML: %v", err)
			}
		})
	}
}

// TestGUIPresetRoundTrip: preset → Config → trial TOML → GUI JSON → Config
// keeps every setting sd-scripts trains with.
func TestGUIPresetRoundTrip(t *testing.T) {
	for name, data := range readGUIPresets(t) {
		if guiPresetWant[name] == nil {
			continue
		}
		t.Run(name, func(t *testing.T) {
			first, _, err := ImportGUI(name, data)
			if err != nil {
				t.Fatal(err)
			}
			toml, err := WriteTOML(first)
			if err != nil {
				t.Fatal(err)
			}
			trial, err := ParseConfigTOML("trial.toml", toml)
			if err != nil {
				t.Fatal(err)
			}
			exported, notes, err := ExportGUI(trial, GUIIsSDXL(data))
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range notes {
				// Only the LoKr note is expected: GUI presets carry the
				// GUI's own decompose_both.
				t.Errorf("note: %s", n)
			}
			back, _, err := ImportGUI("export.json", exported)
			if err != nil {
				t.Fatal(err)
			}
			keys := map[string]bool{}
			for k := range first {
				keys[k] = true
			}
			for k := range back {
				keys[k] = true
			}
			var names []string
			for k := range keys {
				names = append(names, k)
			}
			sort.Strings(names)
			for _, k := range names {
				if g, w := effective(back, k), effective(first, k); !reflect.DeepEqual(g, w) {
					t.Errorf("%s: round trip gives %#v, want %#v", k, g, w)
				}
			}
		})
	}
}
