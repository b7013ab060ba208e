package kohya

import "sync"

// This file is lorasweep's table of the kohya_ss GUI's LoRA tab: every key
// the GUI's loader reads from a saved config JSON, the JSON type the GUI
// saves it with, the value a freshly started GUI holds in that field (the
// GUI keeps its current value for keys a loaded JSON lacks, so these are
// what a preset trains with for the keys it leaves out), and what the GUI's
// train_model does with the key for SD 1.x/2.x/SDXL. ImportGUI and
// ExportGUI both read it. Facts were read from the GUI's source at the
// version each row names (guiSource); a newer GUI gets new rows, not edits
// of old ones.

// guiSource names the GUI file and version a table row was read from.
type guiSource struct {
	File    string
	Version string
}

// guiVersion is the kohya_ss commit the table follows.
const guiVersion = "kohya_ss@45088f04"

var (
	basicTab       = guiSource{"kohya_gui/class_basic_training.py (LoRA tab: lr 1e-4, cosine, 10 % warmup)", guiVersion}
	advancedTab    = guiSource{"kohya_gui/class_advanced_training.py", guiVersion}
	sourceTab      = guiSource{"kohya_gui/class_source_model.py", guiVersion}
	foldersTab     = guiSource{"kohya_gui/class_folders.py", guiVersion}
	accelerateTab  = guiSource{"kohya_gui/class_accelerate_launch.py", guiVersion}
	sdxlTab        = guiSource{"kohya_gui/class_sdxl_parameters.py", guiVersion}
	samplesTab     = guiSource{"kohya_gui/class_sample_images.py", guiVersion}
	huggingfaceTab = guiSource{"kohya_gui/class_huggingface.py", guiVersion}
	metadataTab    = guiSource{"kohya_gui/class_metadata.py", guiVersion}
	loraTab        = guiSource{"kohya_gui/lora_gui.py lora_tab", guiVersion}
	flux1Tab       = guiSource{"kohya_gui/class_flux1.py", guiVersion}
	sd3Tab         = guiSource{"kohya_gui/class_sd3.py", guiVersion}
	hunyuanTab     = guiSource{"kohya_gui/class_hunyuan_image.py", guiVersion}
	animaTab       = guiSource{"kohya_gui/class_anima.py", guiVersion}
	luminaTab      = guiSource{"kohya_gui/class_lumina.py", guiVersion}
)

// guiType is the JSON type the GUI saves a field with.
type guiType int

const (
	guiString guiType = iota // Textbox, Dropdown, Radio
	guiNumber                // Number, Slider (and the numeric max_token_length Dropdown)
	guiBool                  // Checkbox
)

func (t guiType) String() string {
	return [...]string{"string", "number", "boolean"}[t]
}

// guiFwd is what train_model does with a field for SD 1.x/2.x/SDXL.
type guiFwd int

const (
	// fwdNone: never reaches train_network.py / sdxl_train_network.py
	// (accelerate settings, GUI state, other model families' options).
	fwdNone guiFwd = iota
	// fwdArg: copied to the sd-scripts argument of the same name, and left
	// out when "", false or 0 (the GUI filters values equal to "", False or
	// None, and 0 == False in Python).
	fwdArg
	// fwdNet: read into network_args by the LoRA type's list (guiNetTypes).
	fwdNet
	// fwdSpecial: translated by hand in gui_import.go (renamed, derived from
	// several fields, or conditional on another field).
	fwdSpecial
)

// guiField is one key of the GUI's saved LoRA config.
type guiField struct {
	Key     string
	Type    guiType
	Default any // string, float64 or bool: a fresh GUI's value
	Fwd     guiFwd
	From    guiSource
}

// guiFields lists every key of the current LoRA tab's saved config (its
// save_configuration parameters), sorted. Number defaults are written as Go
// constants and normalised to float64 by guiFieldIndex.
var guiFields = []guiField{
	{"LoRA_type", guiString, "Standard", fwdSpecial, loraTab},
	{"LyCORIS_preset", guiString, "full", fwdNet, loraTab},
	{"adaptive_noise_scale", guiNumber, 0, fwdSpecial, advancedTab},
	{"additional_parameters", guiString, "", fwdSpecial, advancedTab},
	{"ae", guiString, "", fwdNone, flux1Tab},
	{"anima_attn_mode", guiString, "torch", fwdNone, animaTab},
	{"anima_cache_text_encoder_outputs", guiBool, false, fwdNone, animaTab},
	{"anima_cache_text_encoder_outputs_to_disk", guiBool, false, fwdNone, animaTab},
	{"anima_checkbox", guiBool, false, fwdNone, sourceTab},
	{"anima_compile", guiBool, false, fwdNone, animaTab},
	{"anima_compile_backend", guiString, "inductor", fwdNone, animaTab},
	{"anima_compile_cache_size_limit", guiNumber, 0, fwdNone, animaTab},
	{"anima_compile_dynamic", guiString, "auto", fwdNone, animaTab},
	{"anima_compile_fullgraph", guiBool, false, fwdNone, animaTab},
	{"anima_compile_mode", guiString, "default", fwdNone, animaTab},
	{"anima_discrete_flow_shift", guiNumber, 1.0, fwdNone, animaTab},
	{"anima_llm_adapter_path", guiString, "", fwdNone, animaTab},
	{"anima_qwen3", guiString, "", fwdNone, animaTab},
	{"anima_qwen3_max_token_length", guiNumber, 512, fwdNone, animaTab},
	{"anima_qwen_image_vae_2d", guiBool, false, fwdNone, animaTab},
	{"anima_sigmoid_scale", guiNumber, 1.0, fwdNone, animaTab},
	{"anima_split_attn", guiBool, false, fwdNone, animaTab},
	{"anima_t5_max_token_length", guiNumber, 512, fwdNone, animaTab},
	{"anima_t5_tokenizer_path", guiString, "", fwdNone, animaTab},
	{"anima_timestep_sampling", guiString, "sigmoid", fwdNone, animaTab},
	{"anima_torch_compile", guiBool, false, fwdNone, animaTab},
	{"anima_unsloth_offload_checkpointing", guiBool, false, fwdNone, animaTab},
	{"anima_vae", guiString, "", fwdNone, animaTab},
	{"anima_vae_chunk_size", guiNumber, 0, fwdNone, animaTab},
	{"anima_vae_disable_cache", guiBool, false, fwdNone, animaTab},
	{"apply_t5_attn_mask", guiBool, false, fwdNone, flux1Tab},
	{"async_upload", guiBool, false, fwdArg, huggingfaceTab},
	{"block_alphas", guiString, "", fwdNet, loraTab},
	{"block_dims", guiString, "", fwdNet, loraTab},
	{"block_lr_zero_threshold", guiString, "", fwdNet, loraTab},
	{"blocks_to_swap", guiNumber, 0, fwdNone, advancedTab},
	{"bucket_no_upscale", guiBool, true, fwdArg, advancedTab},
	{"bucket_reso_steps", guiNumber, 64, fwdArg, advancedTab},
	{"bypass_mode", guiBool, false, fwdNet, loraTab},
	{"cache_latents", guiBool, true, fwdArg, basicTab},
	{"cache_latents_to_disk", guiBool, false, fwdArg, basicTab},
	{"caption_dropout_every_n_epochs", guiNumber, 0, fwdArg, advancedTab},
	{"caption_dropout_rate", guiNumber, 0, fwdArg, advancedTab},
	{"caption_extension", guiString, ".txt", fwdArg, basicTab},
	{"clip_g", guiString, "", fwdNone, sd3Tab},
	{"clip_g_dropout_rate", guiNumber, 0.0, fwdNone, sd3Tab},
	{"clip_l", guiString, "", fwdNone, flux1Tab},
	{"clip_skip", guiNumber, 1, fwdArg, advancedTab},
	{"color_aug", guiBool, false, fwdArg, advancedTab},
	{"constrain", guiNumber, 0.0, fwdNet, loraTab},
	{"conv_alpha", guiNumber, 1, fwdNet, loraTab},
	{"conv_block_alphas", guiString, "", fwdNet, loraTab},
	{"conv_block_dims", guiString, "", fwdNet, loraTab},
	{"conv_dim", guiNumber, 1, fwdNet, loraTab},
	{"cpu_offload_checkpointing", guiBool, false, fwdNone, flux1Tab},
	{"dataset_config", guiString, "", fwdArg, sourceTab},
	{"debiased_estimation_loss", guiBool, false, fwdArg, advancedTab},
	{"decompose_both", guiBool, false, fwdNet, loraTab},
	{"dim_from_weights", guiBool, false, fwdArg, loraTab},
	{"discrete_flow_shift", guiNumber, 3.0, fwdNone, flux1Tab},
	{"dora_wd", guiBool, false, fwdNet, loraTab},
	{"double_blocks_to_swap", guiNumber, 0, fwdNone, flux1Tab},
	{"down_lr_weight", guiString, "", fwdNet, loraTab},
	{"dynamo_backend", guiString, "no", fwdSpecial, accelerateTab},
	{"dynamo_mode", guiString, "default", fwdNone, accelerateTab},
	{"dynamo_use_dynamic", guiBool, false, fwdNone, accelerateTab},
	{"dynamo_use_fullgraph", guiBool, false, fwdNone, accelerateTab},
	{"enable_all_linear", guiBool, false, fwdNone, flux1Tab},
	{"enable_bucket", guiBool, true, fwdArg, basicTab},
	{"epoch", guiNumber, 1, fwdSpecial, basicTab},
	{"extra_accelerate_launch_args", guiString, "", fwdNone, accelerateTab},
	{"factor", guiNumber, -1, fwdNet, loraTab},
	{"flip_aug", guiBool, false, fwdArg, advancedTab},
	{"flux1_cache_text_encoder_outputs", guiBool, false, fwdNone, flux1Tab},
	{"flux1_cache_text_encoder_outputs_to_disk", guiBool, false, fwdNone, flux1Tab},
	{"flux1_checkbox", guiBool, false, fwdNone, sourceTab},
	{"fp8_base", guiBool, false, fwdArg, advancedTab},
	{"fp8_base_unet", guiBool, false, fwdNone, advancedTab},
	{"full_bf16", guiBool, false, fwdArg, advancedTab},
	{"full_fp16", guiBool, false, fwdArg, advancedTab},
	{"ggpo_beta", guiNumber, 0.01, fwdNone, loraTab},
	{"ggpo_sigma", guiNumber, 0.03, fwdNone, loraTab},
	{"gpu_ids", guiString, "", fwdNone, accelerateTab},
	{"gradient_accumulation_steps", guiNumber, 1, fwdArg, advancedTab},
	{"gradient_checkpointing", guiBool, false, fwdArg, advancedTab},
	{"guidance_scale", guiNumber, 3.5, fwdNone, flux1Tab},
	{"highvram", guiBool, false, fwdArg, advancedTab},
	{"huber_c", guiNumber, 0.1, fwdArg, advancedTab},
	{"huber_scale", guiNumber, 1.0, fwdArg, advancedTab},
	{"huber_schedule", guiString, "snr", fwdArg, advancedTab},
	{"huggingface_path_in_repo", guiString, "", fwdArg, huggingfaceTab},
	{"huggingface_repo_id", guiString, "", fwdArg, huggingfaceTab},
	{"huggingface_repo_type", guiString, "", fwdArg, huggingfaceTab},
	{"huggingface_repo_visibility", guiString, "", fwdArg, huggingfaceTab},
	{"huggingface_token", guiString, "", fwdArg, huggingfaceTab},
	{"hunyuan_attn_mode", guiString, "torch", fwdNone, hunyuanTab},
	{"hunyuan_byt5", guiString, "", fwdNone, hunyuanTab},
	{"hunyuan_discrete_flow_shift", guiNumber, 5.0, fwdNone, hunyuanTab},
	{"hunyuan_fp8_scaled", guiBool, false, fwdNone, hunyuanTab},
	{"hunyuan_fp8_vl", guiBool, false, fwdNone, hunyuanTab},
	{"hunyuan_image_cache_text_encoder_outputs", guiBool, false, fwdNone, hunyuanTab},
	{"hunyuan_image_cache_text_encoder_outputs_to_disk", guiBool, false, fwdNone, hunyuanTab},
	{"hunyuan_image_checkbox", guiBool, false, fwdNone, sourceTab},
	{"hunyuan_model_prediction_type", guiString, "raw", fwdNone, hunyuanTab},
	{"hunyuan_sigmoid_scale", guiNumber, 1.0, fwdNone, hunyuanTab},
	{"hunyuan_split_attn", guiBool, false, fwdNone, hunyuanTab},
	{"hunyuan_text_encoder", guiString, "", fwdNone, hunyuanTab},
	{"hunyuan_text_encoder_cpu", guiBool, false, fwdNone, hunyuanTab},
	{"hunyuan_timestep_sampling", guiString, "sigma", fwdNone, hunyuanTab},
	{"hunyuan_vae", guiString, "", fwdNone, hunyuanTab},
	{"hunyuan_vae_chunk_size", guiNumber, 0, fwdNone, hunyuanTab},
	{"img_attn_dim", guiString, "", fwdNone, flux1Tab},
	{"img_mlp_dim", guiString, "", fwdNone, flux1Tab},
	{"img_mod_dim", guiString, "", fwdNone, flux1Tab},
	{"in_dims", guiString, "", fwdNone, flux1Tab},
	{"ip_noise_gamma", guiNumber, 0, fwdArg, advancedTab},
	{"ip_noise_gamma_random_strength", guiBool, false, fwdArg, advancedTab},
	{"keep_tokens", guiNumber, 0, fwdArg, advancedTab},
	{"learning_rate", guiNumber, 1e-4, fwdSpecial, basicTab},
	{"log_config", guiBool, false, fwdArg, advancedTab},
	{"log_tracker_config", guiString, "", fwdArg, advancedTab},
	{"log_tracker_name", guiString, "", fwdArg, advancedTab},
	{"log_with", guiString, "", fwdArg, advancedTab},
	{"logging_dir", guiString, "", fwdArg, foldersTab},
	{"logit_mean", guiNumber, 0.0, fwdNone, sd3Tab},
	{"logit_std", guiNumber, 1.0, fwdNone, sd3Tab},
	{"loraplus_lr_ratio", guiNumber, 0, fwdNet, loraTab},
	{"loraplus_text_encoder_lr_ratio", guiNumber, 0, fwdNet, loraTab},
	{"loraplus_unet_lr_ratio", guiNumber, 0, fwdNet, loraTab},
	{"loss_type", guiString, "l2", fwdArg, advancedTab},
	{"lowvram", guiBool, false, fwdNone, advancedTab},
	{"lr_scheduler", guiString, "cosine", fwdArg, basicTab},
	{"lr_scheduler_args", guiString, "", fwdSpecial, basicTab},
	{"lr_scheduler_num_cycles", guiNumber, 1, fwdSpecial, basicTab},
	{"lr_scheduler_power", guiNumber, 1.0, fwdArg, basicTab},
	{"lr_scheduler_type", guiString, "", fwdArg, basicTab},
	{"lr_warmup", guiNumber, 10, fwdSpecial, basicTab},
	{"lr_warmup_steps", guiNumber, 0, fwdSpecial, basicTab},
	{"lumina_ae", guiString, "", fwdNone, luminaTab},
	{"lumina_cache_text_encoder_outputs", guiBool, false, fwdNone, luminaTab},
	{"lumina_cache_text_encoder_outputs_to_disk", guiBool, false, fwdNone, luminaTab},
	{"lumina_checkbox", guiBool, false, fwdNone, sourceTab},
	{"lumina_discrete_flow_shift", guiNumber, 6.0, fwdNone, luminaTab},
	{"lumina_gemma2", guiString, "", fwdNone, luminaTab},
	{"lumina_gemma2_max_token_length", guiNumber, 256, fwdNone, luminaTab},
	{"lumina_model_prediction_type", guiString, "raw", fwdNone, luminaTab},
	{"lumina_sigmoid_scale", guiNumber, 1.0, fwdNone, luminaTab},
	{"lumina_system_prompt", guiString, "", fwdNone, luminaTab},
	{"lumina_timestep_sampling", guiString, "shift", fwdNone, luminaTab},
	{"lumina_use_flash_attn", guiBool, false, fwdNone, luminaTab},
	{"lumina_use_sage_attn", guiBool, false, fwdNone, luminaTab},
	{"main_process_port", guiNumber, 0, fwdNone, accelerateTab},
	{"masked_loss", guiBool, false, fwdArg, advancedTab},
	{"max_bucket_reso", guiNumber, 2048, fwdArg, basicTab},
	{"max_data_loader_n_workers", guiNumber, 0, fwdSpecial, advancedTab},
	{"max_grad_norm", guiNumber, 1.0, fwdArg, basicTab},
	{"max_resolution", guiString, "512,512", fwdSpecial, basicTab},
	{"max_timestep", guiNumber, 1000, fwdArg, advancedTab},
	{"max_token_length", guiNumber, 75, fwdSpecial, advancedTab},
	{"max_train_epochs", guiNumber, 0, fwdSpecial, basicTab},
	{"max_train_steps", guiNumber, 1600, fwdSpecial, basicTab},
	{"mem_eff_attn", guiBool, false, fwdArg, advancedTab},
	{"mem_eff_save", guiBool, false, fwdNone, flux1Tab},
	{"metadata_author", guiString, "", fwdArg, metadataTab},
	{"metadata_description", guiString, "", fwdArg, metadataTab},
	{"metadata_license", guiString, "", fwdArg, metadataTab},
	{"metadata_tags", guiString, "", fwdArg, metadataTab},
	{"metadata_title", guiString, "", fwdArg, metadataTab},
	{"mid_lr_weight", guiString, "", fwdNet, loraTab},
	{"min_bucket_reso", guiNumber, 256, fwdArg, basicTab},
	{"min_snr_gamma", guiNumber, 0, fwdArg, advancedTab},
	{"min_timestep", guiNumber, 0, fwdArg, advancedTab},
	{"mixed_precision", guiString, "fp16", fwdArg, accelerateTab},
	{"mode_scale", guiNumber, 1.29, fwdNone, sd3Tab},
	{"model_list", guiString, "", fwdNone, sourceTab},
	{"model_prediction_type", guiString, "sigma_scaled", fwdNone, flux1Tab},
	{"model_type", guiString, "flux", fwdNone, flux1Tab},
	{"module_dropout", guiNumber, 0.0, fwdNet, loraTab},
	{"multi_gpu", guiBool, false, fwdNone, accelerateTab},
	{"multires_noise_discount", guiNumber, 0.3, fwdSpecial, advancedTab},
	{"multires_noise_iterations", guiNumber, 0, fwdSpecial, advancedTab},
	{"network_alpha", guiNumber, 1, fwdArg, loraTab},
	{"network_dim", guiNumber, 8, fwdArg, loraTab},
	{"network_dropout", guiNumber, 0, fwdArg, loraTab},
	{"network_weights", guiString, "", fwdArg, loraTab},
	{"noise_offset", guiNumber, 0, fwdSpecial, advancedTab},
	{"noise_offset_random_strength", guiBool, false, fwdSpecial, advancedTab},
	{"noise_offset_type", guiString, "Original", fwdSpecial, advancedTab},
	{"num_cpu_threads_per_process", guiNumber, 2, fwdNone, accelerateTab},
	{"num_machines", guiNumber, 1, fwdNone, accelerateTab},
	{"num_processes", guiNumber, 1, fwdNone, accelerateTab},
	{"optimizer", guiString, "AdamW8bit", fwdSpecial, basicTab},
	{"optimizer_args", guiString, "", fwdSpecial, basicTab},
	{"output_dir", guiString, "", fwdArg, foldersTab},
	{"output_name", guiString, "last", fwdArg, sourceTab},
	{"persistent_data_loader_workers", guiBool, false, fwdArg, advancedTab},
	{"pos_emb_random_crop_rate", guiNumber, 0.0, fwdNone, sd3Tab},
	{"pretrained_model_name_or_path", guiString, "runwayml/stable-diffusion-v1-5", fwdArg, sourceTab},
	{"prior_loss_weight", guiNumber, 1.0, fwdArg, advancedTab},
	{"random_crop", guiBool, false, fwdArg, advancedTab},
	{"rank_dropout", guiNumber, 0, fwdNet, loraTab},
	{"rank_dropout_scale", guiBool, false, fwdNet, loraTab},
	{"reg_data_dir", guiString, "", fwdArg, foldersTab},
	{"rescaled", guiBool, false, fwdNet, loraTab},
	{"resume", guiString, "", fwdArg, advancedTab},
	{"resume_from_huggingface", guiString, "", fwdSpecial, huggingfaceTab},
	{"sample_every_n_epochs", guiNumber, 0, fwdArg, samplesTab},
	{"sample_every_n_steps", guiNumber, 0, fwdArg, samplesTab},
	{"sample_prompts", guiString, "", fwdSpecial, samplesTab},
	{"sample_sampler", guiString, "euler_a", fwdArg, samplesTab},
	{"save_as_bool", guiBool, false, fwdNone, loraTab},
	{"save_clip", guiBool, false, fwdNone, sd3Tab},
	{"save_every_n_epochs", guiNumber, 1, fwdArg, basicTab},
	{"save_every_n_steps", guiNumber, 0, fwdArg, advancedTab},
	{"save_last_n_epochs", guiNumber, 0, fwdArg, advancedTab},
	{"save_last_n_epochs_state", guiNumber, 0, fwdArg, advancedTab},
	{"save_last_n_steps", guiNumber, 0, fwdArg, advancedTab},
	{"save_last_n_steps_state", guiNumber, 0, fwdArg, advancedTab},
	{"save_model_as", guiString, "safetensors", fwdArg, sourceTab},
	{"save_precision", guiString, "fp16", fwdArg, sourceTab},
	{"save_state", guiBool, false, fwdArg, advancedTab},
	{"save_state_on_train_end", guiBool, false, fwdArg, advancedTab},
	{"save_state_to_huggingface", guiBool, false, fwdArg, huggingfaceTab},
	{"save_t5xxl", guiBool, false, fwdNone, sd3Tab},
	{"scale_v_pred_loss_like_noise_pred", guiBool, false, fwdArg, advancedTab},
	{"scale_weight_norms", guiNumber, 0, fwdArg, loraTab},
	{"sd3_cache_text_encoder_outputs", guiBool, false, fwdNone, sd3Tab},
	{"sd3_cache_text_encoder_outputs_to_disk", guiBool, false, fwdNone, sd3Tab},
	{"sd3_checkbox", guiBool, false, fwdNone, sourceTab},
	{"sd3_clip_l", guiString, "", fwdNone, sd3Tab},
	{"sd3_clip_l_dropout_rate", guiNumber, 0.0, fwdNone, sd3Tab},
	{"sd3_disable_mmap_load_safetensors", guiBool, false, fwdNone, sd3Tab},
	{"sd3_enable_scaled_pos_embed", guiBool, false, fwdNone, sd3Tab},
	{"sd3_fused_backward_pass", guiBool, false, fwdNone, sd3Tab},
	{"sd3_t5_dropout_rate", guiNumber, 0.0, fwdNone, sd3Tab},
	{"sd3_t5xxl", guiString, "", fwdNone, sd3Tab},
	{"sd3_text_encoder_batch_size", guiNumber, 1, fwdNone, sd3Tab},
	{"sdxl", guiBool, false, fwdSpecial, sourceTab},
	{"sdxl_cache_text_encoder_outputs", guiBool, false, fwdSpecial, sdxlTab},
	{"sdxl_no_half_vae", guiBool, false, fwdSpecial, sdxlTab},
	{"seed", guiNumber, 0, fwdArg, basicTab},
	{"show_timesteps", guiString, "", fwdNone, advancedTab},
	{"show_timesteps_resolution", guiString, "1024", fwdNone, advancedTab},
	{"shuffle_caption", guiBool, false, fwdArg, advancedTab},
	{"single_blocks_to_swap", guiNumber, 0, fwdNone, flux1Tab},
	{"single_dim", guiString, "", fwdNone, flux1Tab},
	{"single_mod_dim", guiString, "", fwdNone, flux1Tab},
	{"skip_cache_check", guiBool, false, fwdArg, advancedTab},
	{"split_mode", guiBool, false, fwdNone, flux1Tab},
	{"split_qkv", guiBool, false, fwdNone, flux1Tab},
	{"stop_text_encoder_training", guiNumber, 0, fwdSpecial, basicTab},
	{"t5xxl", guiString, "", fwdNone, flux1Tab},
	{"t5xxl_device", guiString, "", fwdNone, sd3Tab},
	{"t5xxl_dtype", guiString, "bf16", fwdNone, sd3Tab},
	{"t5xxl_lr", guiNumber, 0, fwdSpecial, loraTab},
	{"t5xxl_max_token_length", guiNumber, 512, fwdNone, flux1Tab},
	{"text_encoder_lr", guiNumber, 1e-4, fwdSpecial, loraTab},
	{"timestep_sampling", guiString, "sigma", fwdNone, flux1Tab},
	{"train_batch_size", guiNumber, 1, fwdArg, basicTab},
	{"train_blocks", guiString, "all", fwdNone, flux1Tab},
	{"train_data_dir", guiString, "", fwdArg, sourceTab},
	{"train_double_block_indices", guiString, "all", fwdNone, flux1Tab},
	{"train_inpainting", guiBool, false, fwdSpecial, loraTab},
	{"train_lora_ggpo", guiBool, false, fwdNone, loraTab},
	{"train_norm", guiBool, false, fwdNet, loraTab},
	{"train_on_input", guiBool, true, fwdNet, loraTab},
	{"train_single_block_indices", guiString, "all", fwdNone, flux1Tab},
	{"train_t5xxl", guiBool, false, fwdNone, flux1Tab},
	{"training_comment", guiString, "", fwdArg, sourceTab},
	{"txt_attn_dim", guiString, "", fwdNone, flux1Tab},
	{"txt_mlp_dim", guiString, "", fwdNone, flux1Tab},
	{"txt_mod_dim", guiString, "", fwdNone, flux1Tab},
	{"unet_lr", guiNumber, 1e-4, fwdSpecial, loraTab},
	{"unit", guiNumber, 1, fwdNet, loraTab},
	{"up_lr_weight", guiString, "", fwdNet, loraTab},
	{"use_cp", guiBool, false, fwdNet, loraTab},
	{"use_scalar", guiBool, false, fwdNet, loraTab},
	{"use_tucker", guiBool, false, fwdNet, loraTab},
	{"v2", guiBool, false, fwdArg, sourceTab},
	{"v_parameterization", guiBool, false, fwdArg, sourceTab},
	{"v_pred_like_loss", guiNumber, 0, fwdArg, advancedTab},
	{"vae", guiString, "", fwdArg, advancedTab},
	{"vae_batch_size", guiNumber, 0, fwdArg, advancedTab},
	{"wandb_api_key", guiString, "", fwdArg, advancedTab},
	{"wandb_run_name", guiString, "", fwdSpecial, advancedTab},
	{"weighted_captions", guiBool, false, fwdArg, advancedTab},
	{"weighting_scheme", guiString, "logit_normal", fwdNone, sd3Tab},
	{"xformers", guiString, "xformers", fwdSpecial, advancedTab},
}

var (
	guiIndexOnce sync.Once
	guiIndex     map[string]*guiField
)

// guiFieldIndex returns the table by key, numbers normalised to float64.
func guiFieldIndex() map[string]*guiField {
	guiIndexOnce.Do(func() {
		guiIndex = make(map[string]*guiField, len(guiFields))
		for i := range guiFields {
			f := &guiFields[i]
			if n, ok := f.Default.(int); ok {
				f.Default = float64(n)
			}
			guiIndex[f.Key] = f
		}
	})
	return guiIndex
}

func lookupGUIField(key string) (*guiField, bool) {
	f, ok := guiFieldIndex()[key]
	return f, ok
}

// The loader (common_gui.py update_my_data, then lora_gui.py
// open_configuration) rewrites some keys before the fields take them.
// guiCoerce is one of its conversions: Python's int() or float() of the
// saved value, and the value it falls back to when that raises ValueError
// (a string such as "", "7.5" for int, or "abc").
type guiCoerce struct {
	Int      bool    // int(): truncates numbers, accepts only integer strings
	Fallback float64 // the value on ValueError
}

var guiLoaderCoerce = map[string]guiCoerce{
	"clip_skip": {true, 0}, "epoch": {true, 0}, "gradient_accumulation_steps": {true, 0},
	"keep_tokens": {true, 0}, "lr_warmup": {true, 0}, "max_data_loader_n_workers": {true, 0},
	"max_train_epochs": {true, 0}, "save_every_n_epochs": {true, 0}, "seed": {true, 0},
	"lr_scheduler_num_cycles": {true, 1},
	"max_train_steps":         {true, 0}, "caption_dropout_every_n_epochs": {true, 0},
	"max_token_length":     {true, 75},
	"adaptive_noise_scale": {false, 0}, "noise_offset": {false, 0}, "learning_rate": {false, 0},
	"text_encoder_lr": {false, 0}, "unet_lr": {false, 0},
	"lr_scheduler_power": {false, 1},
}

// guiLegacyKeys are keys of older GUI versions the loader still reads:
// use_8bit_adam picks the optimizer when "optimizer" is absent,
// lora_network_weights replaces network_weights, and use_wandb set to the
// string "True" sets log_with to wandb. The rest are ignored by the current
// GUI; ImportGUI warns when they hold something.
var guiLegacyKeys = map[string]string{
	"use_8bit_adam":                  "read by the loader",
	"lora_network_weights":           "read by the loader",
	"use_wandb":                      "read by the loader",
	"stop_text_encoder_training_pct": "an older GUI's field; the current GUI ignores it",
	"conv_dims":                      "an older GUI's field; the current GUI ignores it (conv_dim is the field)",
	"conv_alphas":                    "an older GUI's field; the current GUI ignores it (conv_alpha is the field)",
	"no_token_padding":               "a DreamBooth-tab field; the LoRA tab ignores it",
	// Saved by older GUI versions' LoRA tab, and still by its DreamBooth tab.
	"learning_rate_te": olderField, "learning_rate_te1": olderField, "learning_rate_te2": olderField,
	"blockwise_fused_optimizers": olderField, "fused_backward_pass": olderField, "fused_optimizer_groups": olderField,
	"disable_mmap_load_safetensors": olderField, "flux1_clip_l": olderField, "flux1_t5xxl": olderField,
	"flux_fused_backward_pass": olderField,
}

const olderField = "a field of older GUI versions (and of the DreamBooth tab); the current LoRA tab ignores it"

// guiOtherTabKeys are keys only the GUI's DreamBooth, textual inversion and
// finetune tabs save (their save_configuration parameters at guiVersion).
// A config with one of them and none of guiLoRAOnlyKeys is refused.
var guiOtherTabKeys = map[string]string{
	"token_string": "textual inversion", "init_word": "textual inversion",
	"num_vectors_per_token": "textual inversion", "template": "textual inversion", "weights": "textual inversion",
	"train_dir": "finetune", "image_folder": "finetune", "caption_metadata_filename": "finetune",
	"latent_metadata_filename": "finetune", "full_path": "finetune", "create_caption": "finetune",
	"create_buckets": "finetune", "train_text_encoder": "finetune", "use_latent_files": "finetune",
	"dataset_repeats": "finetune", "block_lr": "finetune", "sdxl_checkbox": "finetune",
	"learning_rate_te": "DreamBooth", "learning_rate_te1": "DreamBooth", "learning_rate_te2": "DreamBooth",
	"no_token_padding": "DreamBooth", "fused_backward_pass": "DreamBooth",
	"blockwise_fused_optimizers": "DreamBooth", "fused_optimizer_groups": "DreamBooth",
}

// guiLoRAOnlyKeys are fields only the LoRA tab has.
var guiLoRAOnlyKeys = []string{"LoRA_type", "network_dim", "network_alpha", "LyCORIS_preset", "unet_lr",
	"text_encoder_lr", "network_weights", "lora_network_weights", "conv_dim", "conv_alpha"}

// guiNetWhen says when a LoRA type writes a field into network_args and
// how it formats the value (Python's str() of the field: True/False for
// checkboxes, integers without a decimal point).
type guiNetWhen int

const (
	netAlways   guiNetWhen = iota // always, even False or 0 (the LyCORIS f-strings, Kohya LoCon's conv_*)
	netTruthy                     // when not "", 0 or False
	netPositive                   // when > 0 (native LoHa/LoKr), conv_dim and factor as integers
	netConvSet                    // conv_alpha of native LoHa/LoKr: only when conv_dim > 0
	netNotAuto                    // factor of native LoKr: when not -1, as an integer
	netFixed                      // a constant (algo=…)
)

// guiNetArg is one network_args entry a LoRA type writes.
type guiNetArg struct {
	Field string // GUI key; the constant for netFixed
	Arg   string // network_args key
	When  guiNetWhen
}

// guiNetType is how train_model turns one LoRA_type into network_module
// and network_args, in the order the GUI writes them.
type guiNetType struct {
	Type     string
	Module   string
	Algo     string // lycoris.kohya algo
	Args     []guiNetArg
	SDXLOnly bool // the GUI refuses to train it without the sdxl checkbox
	From     guiSource
}

func always(fields ...string) []guiNetArg {
	out := make([]guiNetArg, len(fields))
	for i, f := range fields {
		out[i] = guiNetArg{Field: f, Arg: f, When: netAlways}
		switch f {
		case "constrain":
			out[i].Arg = "constraint"
		case "unit":
			out[i].Arg = "block_size"
		case "LyCORIS_preset":
			out[i].Arg = "preset"
		}
		if k, v, ok := cutFixed(f); ok {
			out[i] = guiNetArg{Field: v, Arg: k, When: netFixed}
		}
	}
	return out
}

func truthy(fields ...string) []guiNetArg {
	out := make([]guiNetArg, len(fields))
	for i, f := range fields {
		out[i] = guiNetArg{Field: f, Arg: f, When: netTruthy}
	}
	return out
}

// cutFixed splits "algo=locon" into a fixed entry.
func cutFixed(s string) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == '=' {
			return s[:i], s[i+1:], true
		}
	}
	return "", "", false
}

// kohyaBlockFields are the networks.lora block options, in train_model's
// parameter order (the order its vars() lists them).
var kohyaBlockFields = []string{"down_lr_weight", "mid_lr_weight", "up_lr_weight", "block_lr_zero_threshold",
	"block_dims", "block_alphas", "conv_block_dims", "conv_block_alphas"}

var loraGUITrain = guiSource{"kohya_gui/lora_gui.py train_model", guiVersion}

// guiNetTypes are the SD 1.x/2.x/SDXL LoRA types of the GUI. LoRA+ ratios
// (guiLoRAPlus) follow every type's list. FLUX.1, SD3, Anima, Lumina and
// HunyuanImage types are not here: lorasweep refuses them.
var guiNetTypes = []guiNetType{
	{Type: "Standard", Module: "networks.lora", Args: truthy(append(kohyaBlockFields, "rank_dropout", "module_dropout")...), From: loraGUITrain},
	{Type: "Kohya LoCon", Module: "networks.lora", Args: append(always("conv_dim", "conv_alpha"),
		truthy(append(kohyaBlockFields, "rank_dropout", "module_dropout")...)...), From: loraGUITrain},
	{Type: "LoRA-FA", Module: "networks.lora_fa", Args: truthy(append(kohyaBlockFields, "rank_dropout", "module_dropout")...), From: loraGUITrain},
	{Type: "Kohya DyLoRA", Module: "networks.dylora", Args: truthy(append(append([]string{"conv_dim", "conv_alpha"}, kohyaBlockFields...),
		"unit", "rank_dropout", "module_dropout")...), From: loraGUITrain},
	{Type: "Kohya LoHa", Module: "networks.loha", SDXLOnly: true, Args: []guiNetArg{
		{"conv_dim", "conv_dim", netPositive}, {"conv_alpha", "conv_alpha", netConvSet}, {"use_tucker", "use_tucker", netTruthy},
		{"rank_dropout", "rank_dropout", netPositive}, {"module_dropout", "module_dropout", netPositive}}, From: loraGUITrain},
	{Type: "Kohya LoKr", Module: "networks.lokr", SDXLOnly: true, Args: []guiNetArg{
		{"conv_dim", "conv_dim", netPositive}, {"conv_alpha", "conv_alpha", netConvSet}, {"use_tucker", "use_tucker", netTruthy},
		{"factor", "factor", netNotAuto}, {"rank_dropout", "rank_dropout", netPositive}, {"module_dropout", "module_dropout", netPositive}}, From: loraGUITrain},
	{Type: "LyCORIS/BOFT", Module: "lycoris.kohya", Algo: "boft", Args: always("LyCORIS_preset", "conv_dim", "conv_alpha", "module_dropout",
		"use_tucker", "rank_dropout", "rank_dropout_scale", "algo=boft", "train_norm"), From: loraGUITrain},
	{Type: "LyCORIS/Diag-OFT", Module: "lycoris.kohya", Algo: "diag-oft", Args: always("LyCORIS_preset", "conv_dim", "conv_alpha",
		"module_dropout", "use_tucker", "rank_dropout", "rank_dropout_scale", "constrain", "rescaled", "algo=diag-oft", "train_norm"), From: loraGUITrain},
	{Type: "LyCORIS/DyLoRA", Module: "lycoris.kohya", Algo: "dylora", Args: always("LyCORIS_preset", "conv_dim", "conv_alpha", "use_tucker",
		"unit", "rank_dropout", "module_dropout", "algo=dylora", "train_norm"), From: loraGUITrain},
	{Type: "LyCORIS/GLoRA", Module: "lycoris.kohya", Algo: "glora", Args: always("LyCORIS_preset", "conv_dim", "conv_alpha", "use_tucker",
		"rank_dropout", "module_dropout", "rank_dropout_scale", "algo=glora", "train_norm"), From: loraGUITrain},
	{Type: "LyCORIS/iA3", Module: "lycoris.kohya", Algo: "ia3", Args: always("LyCORIS_preset", "conv_dim", "conv_alpha", "train_on_input",
		"algo=ia3"), From: loraGUITrain},
	// The GUI writes use_tucker twice for LoCon and LoHa; sd-scripts keeps
	// one (network_args become a dict), so the second is left out here.
	{Type: "LyCORIS/LoCon", Module: "lycoris.kohya", Algo: "locon", Args: always("LyCORIS_preset", "conv_dim", "conv_alpha", "use_tucker",
		"rank_dropout", "bypass_mode", "dora_wd", "module_dropout", "use_scalar", "rank_dropout_scale", "algo=locon", "train_norm"), From: loraGUITrain},
	{Type: "LyCORIS/LoHa", Module: "lycoris.kohya", Algo: "loha", Args: always("LyCORIS_preset", "conv_dim", "conv_alpha", "use_tucker",
		"rank_dropout", "bypass_mode", "dora_wd", "module_dropout", "use_scalar", "rank_dropout_scale", "algo=loha", "train_norm"), From: loraGUITrain},
	{Type: "LyCORIS/LoKr", Module: "lycoris.kohya", Algo: "lokr", Args: always("LyCORIS_preset", "conv_dim", "conv_alpha", "use_tucker",
		"rank_dropout", "bypass_mode", "dora_wd", "module_dropout", "factor", "use_cp", "use_scalar", "decompose_both",
		"rank_dropout_scale", "algo=lokr", "train_norm"), From: loraGUITrain},
	{Type: "LyCORIS/Native Fine-Tuning", Module: "lycoris.kohya", Algo: "full", Args: always("LyCORIS_preset", "rank_dropout",
		"module_dropout", "rank_dropout_scale", "algo=full", "train_norm"), From: loraGUITrain},
}

// guiLoRAPlus are appended after every type's list when truthy.
var guiLoRAPlus = truthy("loraplus_lr_ratio", "loraplus_unet_lr_ratio", "loraplus_text_encoder_lr_ratio")

func lookupNetType(typ string) (*guiNetType, bool) {
	for i := range guiNetTypes {
		if guiNetTypes[i].Type == typ {
			return &guiNetTypes[i], true
		}
	}
	return nil, false
}

// guiOtherFamilies are the checkboxes that switch the GUI to another
// trainer script; such a config is refused rather than trained as SD/SDXL.
var guiOtherFamilies = map[string]string{
	"flux1_checkbox": "FLUX.1", "sd3_checkbox": "SD3", "anima_checkbox": "Anima",
	"lumina_checkbox": "Lumina", "hunyuan_image_checkbox": "HunyuanImage",
}
