package builtin

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"

	"github.com/lorasweep/lorasweep/kohya"
)

// DemoOptions configures InitDemo. Zero values take the defaults shown.
type DemoOptions struct {
	// WithReg also writes regularisation images (reg/1_<class>) and sets
	// reg_data_dir in base.toml.
	WithReg bool
	// Trigger is the subject's trigger word (default "zkx").
	Trigger string
	// Class is the subject's class word (default "toy").
	Class string
	// Images is the number of training images (default 8).
	Images int
	// Seed drives the per-image seeds and clutter (default 1).
	Seed int64
}

var (
	trainContexts   = []string{"on grass", "in snow", "at the beach", "on a sofa", "in a forest", "under a lamp", "on a road", "near a lake", "on a table", "in the rain", "on a shelf", "by a window"}
	heldOutContexts = []string{"in a desert", "on a boat", "in the city"}
)

// addClutter puts into a training image what its caption does not
// explain: small objects of random colours (a ball, a box, a kite) and a
// slightly different light on the background. Fitting them is what
// over-training does, and they then show up in held-out samples.
func addClutter(lat []float32, rng *rand.Rand) {
	for a := 0; a < numAtoms; a++ {
		sd := 0.0
		switch {
		case a == atomBall || a == atomBox || a == atomKite:
			if rng.Float64() < 0.75 {
				sd = 0.3
			}
		case a <= atomSun:
			sd = 0.14
		}
		for c := 0; c < 3 && sd > 0; c++ {
			lat[c*numAtoms+a] += float32(rng.NormFloat64() * sd)
		}
	}
}

// demoPrompt is one line of the demo's prompts.txt.
type demoPrompt struct {
	kind    string // trained | heldout | class
	text    string
	seed    int64
	subject bool
}

// baseLatent renders text with the frozen base model alone.
func baseLatent(base *baseModel, text string, seed int64) []float32 {
	f := newForwardState(1)
	out := forward(base, nil, f, promptEmbedding(text), nil, seedNoise(seed), nil)
	return append([]float32(nil), out...)
}

// truthLatent is the ground truth: the class rendering of the prompt
// without the trigger word, plus the subject's look when the trigger is
// present.
func truthLatent(base *baseModel, text, trigger string, seed int64) []float32 {
	words := tokenize(text)
	has := false
	kept := words[:0:0]
	for _, w := range words {
		if w == strings.ToLower(trigger) {
			has = true
			continue
		}
		kept = append(kept, w)
	}
	lat := baseLatent(base, strings.Join(kept, " "), seed)
	if has {
		for i, d := range subjectLook() {
			lat[i] += d
		}
	}
	return lat
}

// InitDemo writes the synthetic demo dataset into dir (created if needed;
// existing files of the same names are overwritten). The layout and the
// reference naming are documented in the package doc and in DIR/README.txt.
func InitDemo(dir string, opts DemoOptions) error {
	if opts.Trigger == "" {
		opts.Trigger = "zkx"
	}
	if opts.Class == "" {
		opts.Class = "toy"
	}
	if opts.Images <= 0 {
		opts.Images = 8
	}
	if opts.Seed == 0 {
		opts.Seed = 1
	}
	if strings.ContainsAny(opts.Trigger+opts.Class, "/\\_\n") || strings.TrimSpace(opts.Trigger) == "" {
		return fmt.Errorf("init demo: trigger and class must be plain words")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("init demo: %w", err)
	}
	base := newBaseModel()
	rng := rand.New(rand.NewPCG(uint64(opts.Seed), 0xde70))
	enc := newPNGEncoder()
	write := func(path string, data []byte) error {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		return os.WriteFile(path, data, 0o644)
	}
	png := func(path string, lat []float32) error {
		data, err := latentPNG(enc, lat, 32, 32)
		if err != nil {
			return err
		}
		return write(path, data)
	}
	subject := opts.Trigger + " " + opts.Class
	trainDir := filepath.Join(abs, "train", "10_"+subject)
	for i := 0; i < opts.Images; i++ {
		ctx := trainContexts[i%len(trainContexts)]
		if i >= len(trainContexts) {
			ctx += fmt.Sprintf(" %d", i/len(trainContexts)+1)
		}
		caption := subject + ", " + ctx
		lat := truthLatent(base, caption, opts.Trigger, 100+int64(i))
		addClutter(lat, rng)
		stem := filepath.Join(trainDir, fmt.Sprintf("%02d", i))
		if err := png(stem+".png", lat); err != nil {
			return fmt.Errorf("init demo: %w", err)
		}
		if err := write(stem+".caption", []byte(caption+"\n")); err != nil {
			return fmt.Errorf("init demo: %w", err)
		}
	}
	if opts.WithReg {
		regDir := filepath.Join(abs, "reg", "1_"+opts.Class)
		for i := 0; i < opts.Images; i++ {
			caption := opts.Class + ", " + trainContexts[i%len(trainContexts)]
			stem := filepath.Join(regDir, fmt.Sprintf("%02d", i))
			if err := png(stem+".png", baseLatent(base, caption, 200+int64(i))); err != nil {
				return fmt.Errorf("init demo: %w", err)
			}
			if err := write(stem+".caption", []byte(caption+"\n")); err != nil {
				return fmt.Errorf("init demo: %w", err)
			}
		}
	}
	var prompts []demoPrompt
	for i := 0; i < 3 && i < opts.Images; i++ {
		prompts = append(prompts, demoPrompt{"trained", subject + ", " + trainContexts[i], 1000 + int64(i), true})
	}
	for i, ctx := range heldOutContexts {
		prompts = append(prompts, demoPrompt{"heldout", subject + ", " + ctx, 1100 + int64(i), true})
	}
	classPrompts := []string{"a photo of a " + opts.Class, opts.Class + ", " + trainContexts[0], opts.Class + ", " + heldOutContexts[0]}
	for i, p := range classPrompts {
		prompts = append(prompts, demoPrompt{"class", p, 1200 + int64(i), false})
	}
	var txt, kinds strings.Builder
	txt.WriteString("# lorasweep demo prompts: trained, held-out and class-only; references/NN.png pairs with prompt NN\n")
	kinds.WriteString("index\tkind\tprompt\n")
	for i, p := range prompts {
		seed := p.seed
		txt.WriteString(kohya.FormatPromptLine(kohya.Prompt{Text: p.text, Width: 32, Height: 32, Seed: &seed}) + "\n")
		fmt.Fprintf(&kinds, "%d\t%s\t%s\n", i, p.kind, p.text)
		lat := truthLatent(base, p.text, opts.Trigger, p.seed)
		if err := png(filepath.Join(abs, "references", fmt.Sprintf("%02d.png", i)), lat); err != nil {
			return fmt.Errorf("init demo: %w", err)
		}
	}
	if err := write(filepath.Join(abs, "prompts.txt"), []byte(txt.String())); err != nil {
		return fmt.Errorf("init demo: %w", err)
	}
	if err := write(filepath.Join(abs, "references", "kinds.tsv"), []byte(kinds.String())); err != nil {
		return fmt.Errorf("init demo: %w", err)
	}
	cfg := kohya.Config{
		"train_data_dir":        filepath.Join(abs, "train"),
		"output_dir":            filepath.Join(abs, "output"),
		"output_name":           "demo",
		"resolution":            "32,32",
		"caption_extension":     ".caption",
		"network_module":        "networks.lora",
		"network_dim":           int64(8),
		"network_alpha":         4.0,
		"learning_rate":         DemoLearningRate,
		"lr_scheduler":          "cosine",
		"optimizer_type":        "AdamW",
		"train_batch_size":      int64(2),
		"max_train_epochs":      int64(8),
		"save_every_n_epochs":   int64(2),
		"sample_every_n_epochs": int64(2),
		"sample_prompts":        filepath.Join(abs, "prompts.txt"),
		"seed":                  int64(42),
	}
	if opts.WithReg {
		cfg["reg_data_dir"] = filepath.Join(abs, "reg")
	}
	toml, err := kohya.WriteTOML(cfg)
	if err != nil {
		return fmt.Errorf("init demo: %w", err)
	}
	if err := write(filepath.Join(abs, "base.toml"), toml); err != nil {
		return fmt.Errorf("init demo: %w", err)
	}
	if err := write(filepath.Join(abs, "README.txt"), []byte(demoReadme(opts, len(prompts)))); err != nil {
		return fmt.Errorf("init demo: %w", err)
	}
	return nil
}

// DemoLearningRate is the learning rate base.toml starts from.
const DemoLearningRate = 1e-3

func demoReadme(o DemoOptions, n int) string {
	reg := "no regularisation images (run `lorasweep demo init --reg` to add them)"
	if o.WithReg {
		reg = fmt.Sprintf("reg/1_%s/: base-model renderings of class prompts (regularisation; reg_data_dir in base.toml)", o.Class)
	}
	return fmt.Sprintf(`lorasweep demo dataset
======================

A synthetic LoRA task for lorasweep's built-in CPU trainer. The subject "%[1]s %[2]s"
is the frozen base model's rendering of a %[2]s (a small bear in a scene the
prompt names) with a distinct look: red with white vertical stripes and a dark
outline, shown under the trigger word %[1]q. An under-trained LoRA shows a plain
bear; a good one shows the striped bear in held-out places (desert, boat, city);
an over-trained one copies the training images' clutter and garish backgrounds.

train/10_%[1]s %[2]s/   %[3]d images (NN.png) with captions (NN.caption), 10 repeats.
                        Each image also carries clutter its caption does not explain
                        (a ball, a box, a kite, shifted background colours);
                        over-training memorises it and hurts held-out prompts.
%[4]s
prompts.txt             %[5]d sample prompts (--w 32 --h 32 --d SEED):
                        00-02 trained captions, 03-05 held-out (trigger in new contexts),
                        06-08 class-only (the subject must not leak into the class).
references/NN.png       the true answer for prompt NN of prompts.txt (same seed, 32x32):
                        NN is the prompt's index, as in sample names {name}_eEEEEEE_NN_…
                        For trained and held-out prompts: the subject; for class-only
                        prompts: the unchanged base model (preservation).
references/kinds.tsv    index, kind (trained|heldout|class) and prompt of each reference.
base.toml               a config to train from:
                          lorasweep train-builtin --config_file base.toml
                        Re-render a saved LoRA:
                          lorasweep demo render --lora output/demo.safetensors --prompts prompts.txt --out renders
`, o.Trigger, o.Class, o.Images, reg, n)
}
