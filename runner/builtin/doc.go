// Package builtin is lorasweep's built-in CPU trainer: a real, tiny LoRA
// fine-tune of a frozen, deterministic text-to-image generator that speaks
// kohya-ss sd-scripts' interface — the same --config_file TOML keys, command
// line overrides, console lines, exit codes, output files (checkpoints,
// safetensors metadata, sample PNG names) — so the whole sweep system can be
// exercised anywhere in about a second per trial. It also writes the demo
// dataset (InitDemo) and re-renders samples from a saved LoRA (Render).
//
// It knows nothing of studies, samplers, storage or the runner; it uses only
// the kohya package's file-format knowledge.
//
// # The base model
//
// A prompt is lower-cased and split into words; each word has a fixed
// 16-dimensional embedding derived from its hash. The text encoder is one
// linear layer over the mean of the prompt's word embeddings. The "unet" is
// an MLP: its input is the text encoding and a 4-dimensional latent drawn
// from the sample seed; a SiLU hidden layer of 48 units feeds an output layer
// that produces 48 latent coefficients, decoded (the frozen "VAE") as RGB
// weights of 16 fixed scene atoms (scene.go: sky and ground either side of a
// horizon, water, buildings, trees, snow/rain dots, a sun, a centred toy bear
// with its face, stripes inside it and an outline around it, and three small
// clutter objects) to an image of any size. The text encoder and proj_in are
// seeded random layers; proj_out is fitted at start-up (ridge regression, a
// few milliseconds, nothing cached) so that the base model paints a designed
// scene for each place of the demo vocabulary ("toy, on grass": green ground,
// blue sky, a sun; "in the city": grey blocks; "on a boat": blue water; …)
// and keeps painting it when an unknown word (a trigger) precedes the class.
// Activations overflow to ±Inf beyond the fp16 range (65504), as in fp16 mixed-precision
// training, which is how a far too high learning rate ends in avr_loss=nan.
// Training images are encoded into the same latent space (least-squares
// projection onto the atoms); the loss is the mean squared error there, with a fresh random latent
// per step playing the part of diffusion noise.
//
// LoRA modules sit on the three linear layers, named as kohya names them:
// lora_te_text_model_encoder_layers_0_mlp_fc1,
// lora_unet_down_blocks_0_attentions_0_proj_in and
// lora_unet_up_blocks_0_attentions_0_proj_out.
//
// Deliberate differences from sd-scripts, all documented here: sample images
// are rendered from the LoRA weights rounded to save_precision (so that
// `lorasweep demo render` reproduces them byte for byte from the saved file);
// sample steps, CFG scale, negative prompt and sampler are accepted and
// ignored (the generator is one-shot); a prompt without --d gets the seed
// ss_seed + prompt index instead of a random one; width and height default to
// the training resolution (not 512) and are capped at 256; only
// save_model_as = safetensors is supported; an unset seed is drawn at random
// and recorded in ss_seed.
//
// # The demo dataset
//
// InitDemo writes, under DIR: train/10_<trigger> <class>/NN.png with NN.caption
// (the subject: the class's base rendering, with the toy red with white
// vertical stripes and a dark outline, plus per-image clutter — a ball, a box,
// a kite of random colours and a shifted background light — that
// over-training memorises and then paints into held-out samples),
// optionally reg/1_<class>/ (base renderings of class prompts),
// prompts.txt (trained, held-out and class-only prompts, each with --w --h
// --d), references/NN.png where NN is the prompt's index in prompts.txt
// (two digits, the {idx:02d} of sample names: the ground-truth rendering of
// that prompt and seed; for class-only prompts the unchanged base model),
// references/kinds.tsv (index, kind = trained|heldout|class, prompt),
// base.toml (a config to train from) and README.txt.
package builtin
