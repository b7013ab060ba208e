package builtin

import (
	"encoding/json"
	"errors"
	"fmt"
	"image"
	_ "image/jpeg" // sd-scripts datasets hold JPEGs too
	"image/png"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/lorasweep/lorasweep/kohya"
)

const noDataMsg = "No data found. Please verify arguments (train_data_dir must be the parent of folders with images) / 画像がありません。引数指定を確認してください（train_data_dirには画像があるフォルダではなく、画像があるフォルダの親フォルダを指定する必要があります）"

// item is one training example: a caption's embedding and the image latent.
type item struct {
	emb    []float32
	toks   []float32
	target []float32
	reg    bool
}

// trainer holds one run's state.
type trainer struct {
	o              options
	stdout, stderr io.Writer
	base           *baseModel
	net            *network
	params         []*param
	groups         []group
	opt            optimizer
	sched          kohya.Schedule
	warmup         int
	items          []item
	valItems       []item // held out by validation_split, once each
	numTrain       int    // images × repeats
	numReg         int
	batches        int
	epochs, steps  int
	seed           int64
	prompts        []kohya.Prompt
	started        time.Time
	sessionID      int64
	dirs, regDirs  map[string]map[string]int
	tagFreq        map[string]map[string]int
	adafactorSched bool
	png            *png.Encoder
	bar            *progress
}

func (t *trainer) logf(level, format string, a ...any) {
	if t.bar != nil && t.bar.dirty {
		// tqdm.write-style: end the bar's line so the log line stands alone
		fmt.Fprintln(t.stderr)
		t.bar.dirty = false
	}
	fmt.Fprintf(t.stderr, "%-8s %s\n", level, fmt.Sprintf(format, a...))
}

// Main runs the built-in trainer with sd-scripts' command line (e.g.
// --config_file trial.toml plus overrides) and returns the process exit
// code: 0 on success and for an empty dataset (no model), 2 for argument
// errors (with a usage line), 1 for any other failure.
func Main(args []string, stdout, stderr io.Writer) int {
	for _, a := range args {
		if a == "-h" || a == "--help" {
			fmt.Fprintln(stdout, usageLine)
			fmt.Fprintln(stdout, "\nThe lorasweep built-in trainer reads train_network.py's arguments; see `lorasweep demo init`.")
			return 0
		}
	}
	cfg, ignored, err := loadConfig(args)
	if err == nil && len(ignored) > 0 {
		fmt.Fprintf(stderr, "%-8s builtin trainer: ignoring keys it does not use: %s\n", "WARNING", strings.Join(ignored, ", "))
	}
	var o options
	if err == nil {
		o, err = resolveOptions(cfg)
	}
	if err != nil {
		return exitFor(err, stderr)
	}
	t := &trainer{o: o, stdout: stdout, stderr: stderr, base: newBaseModel(), started: time.Now(), png: newPNGEncoder()}
	if err := t.run(); err != nil {
		if errors.Is(err, errNoData) {
			return 0
		}
		return exitFor(err, stderr)
	}
	return 0
}

const usageLine = "usage: lorasweep train-builtin [-h] [--config_file CONFIG_FILE] [--<train_network.py argument> VALUE ...]"

func exitFor(err error, stderr io.Writer) int {
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintln(stderr, usageLine)
		fmt.Fprintf(stderr, "lorasweep train-builtin: error: %s\n", ue.msg)
		return 2
	}
	fmt.Fprintln(stderr, err.Error())
	return 1
}

func (t *trainer) run() error {
	o := &t.o
	if err := t.loadData(); err != nil {
		return err
	}
	if t.numTrain == 0 {
		t.logf("ERROR", "%s", noDataMsg)
		return errNoData
	}
	n := len(t.items)
	t.batches = (n + o.batch - 1) / o.batch
	if o.maxEpochs > 0 {
		t.steps = o.maxEpochs * t.batches
		fmt.Fprintf(t.stdout, "override steps. steps for %d epochs is / 指定エポックまでのステップ数: %d\n", o.maxEpochs, t.steps)
	} else {
		t.steps = o.maxSteps
	}
	if t.steps < 1 {
		return &fatalError{"AssertionError: max_train_steps should be greater than initial step"}
	}
	t.epochs = (t.steps + t.batches - 1) / t.batches
	t.seed = o.seed
	if !o.hasSeed {
		t.seed = int64(rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1)).Uint32())
	}
	t.sessionID = int64(rand.New(rand.NewPCG(uint64(t.seed), 0x5e55)).Uint32() >> 1)
	if err := t.buildNetwork(); err != nil {
		return err
	}
	if err := t.buildOptimizer(); err != nil {
		return err
	}
	if err := t.loadPrompts(); err != nil {
		return err
	}
	t.printSummary()
	return t.train()
}

// loadData scans the dataset folders and encodes every image.
func (t *trainer) loadData() error {
	o := &t.o
	t.dirs, t.regDirs, t.tagFreq = map[string]map[string]int{}, map[string]map[string]int{}, map[string]map[string]int{}
	if o.trainDir == "" {
		return nil
	}
	subsets, warns, err := kohya.ScanDreamBoothDir(o.trainDir, false, o.captionExt)
	if err != nil {
		return &fatalError{fmt.Sprintf("FileNotFoundError: %v", err)}
	}
	var regSubsets []kohya.Subset
	if o.regDir != "" {
		rs, w2, err := kohya.ScanDreamBoothDir(o.regDir, true, o.captionExt)
		if err != nil {
			return &fatalError{fmt.Sprintf("FileNotFoundError: %v", err)}
		}
		regSubsets = rs
		warns = append(warns, w2...)
	}
	for _, w := range warns {
		t.logf("WARNING", "%s", w)
	}
	cache := map[string][2][]float32{}
	load := func(s kohya.Subset, into *[]item, counts map[string]map[string]int) error {
		base := filepath.Base(s.Dir)
		images, held := s.Images, map[string]bool{}
		if !s.IsReg && o.valSplit > 0 {
			// sd-scripts holds out a seeded random share of each
			// subset's images (validation_seed, else seed) for the
			// validation loss; they are not trained on.
			shuffled := append([]string(nil), images...)
			rand.New(rand.NewPCG(uint64(o.valSeedOr(t.seed)), 0x7a1)).Shuffle(len(shuffled), func(i, j int) {
				shuffled[i], shuffled[j] = shuffled[j], shuffled[i]
			})
			for _, img := range shuffled[:int(float64(len(shuffled))*o.valSplit)] {
				held[img] = true
			}
		}
		counts[base] = map[string]int{"n_repeats": s.Repeats, "img_count": len(images) - len(held)}
		freq := map[string]int{}
		for _, img := range images {
			lat, err := loadLatent(img)
			if err != nil {
				return &fatalError{fmt.Sprintf("load image %s: %v", img, err)}
			}
			caption := kohya.ReadCaption(img, o.captionExt, s.ClassTokens)
			for _, tag := range strings.Split(caption, ",") {
				if tag = strings.TrimSpace(tag); tag != "" {
					freq[tag]++
				}
			}
			emb, ok := cache[caption]
			if !ok {
				emb = [2][]float32{promptEmbedding(caption), promptTokens(caption)}
				cache[caption] = emb
			}
			if held[img] {
				t.valItems = append(t.valItems, item{emb: emb[0], toks: emb[1], target: lat})
				continue
			}
			for r := 0; r < s.Repeats; r++ {
				*into = append(*into, item{emb: emb[0], toks: emb[1], target: lat, reg: s.IsReg})
			}
		}
		t.tagFreq[base] = freq
		return nil
	}
	var train, reg []item
	for _, s := range subsets {
		if err := load(s, &train, t.dirs); err != nil {
			return err
		}
	}
	for _, s := range regSubsets {
		if err := load(s, &reg, t.regDirs); err != nil {
			return err
		}
	}
	t.numTrain = len(train)
	t.items = train
	if len(reg) > 0 && len(train) > 0 {
		// sd-scripts registers reg images repeatedly until they match the
		// number of training images (with repeats).
		if len(reg) > len(train) {
			t.logf("WARNING", "some of reg images are not used / 正則化画像の数が多いので、一部使用されない正則化画像があります")
		}
		for i := 0; i < len(train); i++ {
			t.items = append(t.items, reg[i%len(reg)])
		}
		t.numReg = len(train)
	}
	return nil
}

func loadLatent(path string) ([]float32, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	img, _, err := image.Decode(f)
	if err != nil {
		return nil, err
	}
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	pix := make([]uint8, w*h*3)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			r, g, bb, _ := img.At(b.Min.X+x, b.Min.Y+y).RGBA()
			i := (y*w + x) * 3
			pix[i], pix[i+1], pix[i+2] = uint8(r>>8), uint8(g>>8), uint8(bb>>8)
		}
	}
	return encode(pix, w, h), nil
}

func (t *trainer) buildNetwork() error {
	o := &t.o
	enabled := [3]bool{!o.unetOnly, !o.teOnly, !o.teOnly}
	initRNG := rand.New(rand.NewPCG(uint64(t.seed), 0x1417))
	dim, alpha := o.dim, o.alpha
	var loaded map[string][]float32
	var hdr kohya.SafetensorsHeader
	if o.networkWeights != "" {
		var err error
		hdr, loaded, err = kohya.ReadSafetensors(o.networkWeights)
		if err != nil {
			return &fatalError{fmt.Sprintf("load network weights: %v", err)}
		}
		if o.dimFromWeights {
			from, err := networkFromTensors(loaded, hdr.Tensors)
			if err != nil {
				return &fatalError{fmt.Sprintf("create network from weights: %v", err)}
			}
			for _, m := range from.mods {
				if m.enabled {
					dim, alpha = m.rank, float64(m.alpha)
					break
				}
			}
			o.dim, o.alpha = dim, alpha
		}
	}
	t.net = newNetwork(dim, alpha, initRNG, enabled)
	if loaded != nil {
		n := 0
		for _, m := range t.net.mods {
			for suffix, dst := range map[string][]float32{".lora_down.weight": m.down, ".lora_up.weight": m.up} {
				src, ok := loaded[m.name+suffix]
				if !ok {
					continue
				}
				if len(src) != len(dst) {
					return &fatalError{fmt.Sprintf("RuntimeError: size mismatch for %s%s: copying a param with %d values, the current model has %d", m.name, suffix, len(src), len(dst))}
				}
				copy(dst, src)
				n++
			}
		}
		fmt.Fprintf(t.stdout, "load network weights from %s: %d tensors loaded\n", o.networkWeights, n)
	}
	return nil
}

func (t *trainer) buildOptimizer() error {
	o := &t.o
	opt, notice, err := newOptimizer(o.optimizer, o.optimizerArgs)
	if err != nil {
		return &fatalError{err.Error()}
	}
	if notice != "" {
		t.logf("INFO", "%s", notice)
	}
	t.opt = opt
	teLR, unetLR := o.lr, o.lr
	if o.teLR != nil {
		teLR = *o.teLR
	}
	if o.unetLR != nil {
		unetLR = *o.unetLR
	}
	t.groups = []group{{desc: "textencoder", lr: teLR}, {desc: "unet", lr: unetLR}}
	if af, ok := opt.(*adafactor); ok && af.relative {
		t.adafactorSched = true
		t.logf("WARNING", "use adafactor_scheduler / スケジューラにadafactor_schedulerを使用します")
	}
	for l, m := range t.net.mods {
		if !m.enabled {
			continue
		}
		g := 1
		if l == 0 {
			g = 0
		}
		if t.groups[g].lr == 0 && !t.adafactorSched {
			continue // NO LR skipping: the group is not trained
		}
		t.params = append(t.params,
			&param{data: m.down, grad: m.gDown, rows: m.rank, cols: m.in, group: g},
			&param{data: m.up, grad: m.gUp, rows: m.out, cols: m.rank, group: g})
	}
	t.logf("INFO", "use %s optimizer | %s", strings.SplitN(opt.describe(), "(", 2)[0], o.optimizerArgs)
	name := o.scheduler
	if t.adafactorSched {
		name = "adafactor"
	}
	if name == "cosine_with_min_lr" && o.minLRRatio == nil {
		return &fatalError{"ValueError: cosine_with_min_lr needs lr_scheduler_min_lr_ratio"}
	}
	w, err := kohya.ResolveWarmup(o.warmupRaw, t.steps)
	if err != nil {
		return &fatalError{"ValueError: " + err.Error()}
	}
	t.warmup = w
	t.sched = kohya.Schedule{Name: name, Total: t.steps, Warmup: w, Cycles: o.cycles, Power: o.power, LRInit: o.lr, LREnd: o.lrEnd}
	if o.minLRRatio != nil {
		t.sched.MinLRRatio = *o.minLRRatio
	}
	if _, err := t.sched.Factor(0); err != nil {
		return &fatalError{"ValueError: " + err.Error()}
	}
	return nil
}

func (t *trainer) loadPrompts() error {
	o := &t.o
	if o.sampleEveryEpoch == 0 && o.sampleEveryStep == 0 && !o.sampleAtFirst {
		return nil
	}
	if o.samplePrompts == "" {
		return &fatalError{"TypeError: stat: path should be string, bytes, os.PathLike or integer, not NoneType"}
	}
	if _, err := os.Stat(o.samplePrompts); err != nil {
		t.logf("ERROR", "No prompt file / プロンプトファイルがありません: %s", o.samplePrompts)
		return nil
	}
	ps, err := kohya.ParsePromptFile(o.samplePrompts)
	if err != nil {
		return &fatalError{err.Error()}
	}
	t.prompts = ps
	return nil
}

func (t *trainer) printSummary() {
	o := &t.o
	fmt.Fprintln(t.stdout, "prepare optimizer, data loader etc.")
	fmt.Fprintln(t.stdout, "running training / 学習開始")
	fmt.Fprintf(t.stdout, "  num train images * repeats / 学習画像の数×繰り返し回数: %d\n", t.numTrain)
	fmt.Fprintf(t.stdout, "  num validation images * repeats / 学習画像の数×繰り返し回数: %d\n", len(t.valItems))
	fmt.Fprintf(t.stdout, "  num reg images / 正則化画像の数: %d\n", t.numReg)
	fmt.Fprintf(t.stdout, "  num batches per epoch / 1epochのバッチ数: %d\n", t.batches)
	fmt.Fprintf(t.stdout, "  num epochs / epoch数: %d\n", t.epochs)
	fmt.Fprintf(t.stdout, "  batch size per device / バッチサイズ: %d\n", o.batch)
	fmt.Fprintf(t.stdout, "  gradient accumulation steps / 勾配を合計するステップ数 = %d\n", 1)
	fmt.Fprintf(t.stdout, "  total optimization steps / 学習ステップ数: %d\n", t.steps)
}

// lossRecorder is sd-scripts' LossRecorder: epoch 0 averages everything so
// far; later epochs replace the value at the same step position.
type lossRecorder struct {
	list  []float64
	total float64
}

func (r *lossRecorder) add(epoch, step int, loss float64) {
	if epoch == 0 || step >= len(r.list) {
		r.list = append(r.list, loss)
	} else {
		r.total -= r.list[step]
		r.list[step] = loss
	}
	r.total += loss
}

func (r *lossRecorder) mean() float64 { return r.total / float64(len(r.list)) }

func (t *trainer) train() error {
	o := &t.o
	dataRNG := rand.New(rand.NewPCG(uint64(t.seed), 0xda7a))
	noiseRNG := rand.New(rand.NewPCG(uint64(t.seed), 0x401e))
	drop := &dropouts{network: o.netDropout, rank: o.rankDropout, module: o.moduleDropout,
		rng: rand.New(rand.NewPCG(uint64(t.seed), 0xd809))}
	states := make([]*forwardState, o.batch)
	for i := range states {
		states[i] = newForwardState(t.net.mods[0].rank)
	}
	z := make([]float32, noiseDim)
	lrs := make([]float64, len(t.groups))
	order := make([]int, len(t.items))
	bar := newProgress(t.stderr, t.steps)
	t.bar = bar
	if o.sampleAtFirst {
		if err := t.sample(0, 0); err != nil {
			return err
		}
	}
	var rec lossRecorder
	step := 0
	for epoch := 0; epoch < t.epochs && step < t.steps; epoch++ {
		fmt.Fprintf(t.stdout, "\nepoch %d/%d\n\n", epoch+1, t.epochs)
		for i := range order {
			order[i] = i
		}
		dataRNG.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		for b := 0; b < t.batches && step < t.steps; b++ {
			lo, hi := b*o.batch, min(len(order), (b+1)*o.batch)
			for _, m := range t.net.mods {
				clear(m.gDown)
				clear(m.gUp)
			}
			var loss float64
			bs := float32(hi - lo)
			drop.newStep()
			for k, idx := range order[lo:hi] {
				it := t.items[idx]
				for i := range z {
					z[i] = float32(noiseRNG.NormFloat64() * noiseGain)
				}
				f := states[k]
				out := forward(t.base, t.net, f, it.emb, it.toks, z, drop)
				w := float32(1)
				if it.reg {
					w = float32(o.priorLossWeight)
				}
				var l float64
				for i, v := range out {
					d := v - it.target[i]
					l += float64(d) * float64(d)
					f.gOut[i] = 2 * d / latentDim * w / bs
				}
				loss += l / latentDim * float64(w)
				backward(t.base, t.net, f, f.gOut)
			}
			loss /= float64(bs)
			t.clipGrads()
			for g := range t.groups {
				lam, err := t.sched.Factor(step)
				if err != nil {
					return &fatalError{"ValueError: " + err.Error()}
				}
				lrs[g] = t.groups[g].lr * lam
			}
			t.opt.step(t.params, lrs)
			var postfix []string
			if o.maxNorm > 0 {
				scaled, mean, _ := t.maxNormRegularize(o.maxNorm)
				postfix = append(postfix, "Keys Scaled="+strconv.Itoa(scaled), "Average key norm="+formatNum(mean))
			}
			step++
			rec.add(epoch, b, loss)
			postfix = append(postfix, "avr_loss="+formatNum(rec.mean()))
			bar.update(step, strings.Join(postfix, ", "))
			if o.sampleEveryEpoch == 0 && o.sampleEveryStep > 0 && step%o.sampleEveryStep == 0 {
				if err := t.sample(-1, step); err != nil {
					return err
				}
			}
			if o.saveEverySteps > 0 && step%o.saveEverySteps == 0 {
				path := filepath.Join(o.outDir, kohya.StepCheckpointName(o.outName, step, "safetensors"))
				fmt.Fprintf(t.stdout, "\nsaving checkpoint: %s\n", path)
				if err := t.save(path, epoch+1, step); err != nil {
					return err
				}
			}
		}
		ep := epoch + 1
		if o.saveEvery > 0 && ep%o.saveEvery == 0 && ep < t.epochs {
			path := filepath.Join(o.outDir, kohya.CheckpointName(o.outName, ep, "safetensors"))
			fmt.Fprintf(t.stdout, "\nsaving checkpoint: %s\n", path)
			if err := t.save(path, ep, step); err != nil {
				return err
			}
		}
		if len(t.valItems) > 0 {
			t.validate()
		}
		if o.sampleEveryEpoch > 0 && ep%o.sampleEveryEpoch == 0 {
			if err := t.sample(ep, step); err != nil {
				return err
			}
		}
	}
	bar.close()
	name := o.outName
	if name == "" {
		name = "last"
	}
	path := filepath.Join(o.outDir, name+".safetensors")
	if err := t.save(path, t.epochs, step); err != nil {
		return err
	}
	t.logf("INFO", "model saved.")
	return nil
}

// clipGrads is torch's clip_grad_norm_ over all trained parameters (a NaN
// or Inf norm poisons the gradients, as in torch).
func (t *trainer) clipGrads() {
	if t.o.maxGradNorm == 0 {
		return
	}
	var s float64
	for _, p := range t.params {
		for _, g := range p.grad {
			s += float64(g) * float64(g)
		}
	}
	coef := t.o.maxGradNorm / (math.Sqrt(s) + 1e-6)
	if coef >= 1 {
		return
	}
	c := float32(coef)
	for _, p := range t.params {
		for i := range p.grad {
			p.grad[i] *= c
		}
	}
}

// maxNormRegularize is networks.lora's apply_max_norm_regularization.
func (t *trainer) maxNormRegularize(maxNorm float64) (scaled int, mean, maxv float64) {
	var norms []float64
	for _, m := range t.net.mods {
		if !m.enabled {
			continue
		}
		var s float64
		r := m.rank
		for o := 0; o < m.out; o++ {
			for i := 0; i < m.in; i++ {
				var acc float64
				for k := 0; k < r; k++ {
					acc += float64(m.up[o*r+k]) * float64(m.down[k*m.in+i])
				}
				s += acc * acc
			}
		}
		norm := math.Sqrt(s) * float64(m.scale())
		clamped := math.Max(norm, maxNorm/2)
		desired := math.Min(clamped, maxNorm)
		ratio := desired / clamped
		if ratio != 1 {
			scaled++
			sq := float32(math.Sqrt(ratio))
			for i := range m.up {
				m.up[i] *= sq
			}
			for i := range m.down {
				m.down[i] *= sq
			}
		}
		norms = append(norms, norm*ratio)
	}
	for _, n := range norms {
		mean += n
		maxv = math.Max(maxv, n)
	}
	if len(norms) > 0 {
		mean /= float64(len(norms))
	}
	return scaled, mean, maxv
}

// savedTensors returns the tensors as the file will hold them.
func (t *trainer) savedTensors() []kohya.NamedTensor {
	ts := networkTensors(t.net)
	roundTensors(ts, t.o.dtype())
	return ts
}

func (t *trainer) save(path string, epoch, step int) error {
	if err := os.MkdirAll(t.o.outDir, 0o755); err != nil {
		return &fatalError{fmt.Sprintf("OSError: %v", err)}
	}
	if err := kohya.WriteSafetensors(path, t.savedTensors(), t.metadata(epoch, step), t.o.dtype()); err != nil {
		return &fatalError{fmt.Sprintf("OSError: %v", err)}
	}
	return nil
}

// validationTimestep is what sd-scripts' validation bar shows as its fixed
// timestep; the builtin model has no timesteps, so it is a constant.
const validationTimestep = 500

// validate prints the epoch's validation loss the way sd-scripts does: an
// `epoch validation steps` bar whose postfix carries val_epoch_avg_loss,
// one update per held-out image. The noise is seeded per image, so the
// loss changes only with the weights. No dropout: the network is in eval.
func (t *trainer) validate() {
	z := make([]float32, noiseDim)
	var sum float64
	n := len(t.valItems)
	f := newForwardState(t.net.mods[0].rank)
	fmt.Fprintln(t.stderr)
	for i, it := range t.valItems {
		rng := rand.New(rand.NewPCG(uint64(t.o.valSeedOr(t.seed)), uint64(i)))
		for k := range z {
			z[k] = float32(rng.NormFloat64() * noiseGain)
		}
		out := forward(t.base, t.net, f, it.emb, it.toks, z, nil)
		var l float64
		for k, v := range out {
			d := float64(v - it.target[k])
			l += d * d
		}
		sum += l / latentDim
		full := (i + 1) * 10 / n
		fmt.Fprintf(t.stderr, "\repoch validation steps: %3d%%|%s| %d/%d [00:00<00:00, 10.00it/s, val_epoch_avg_loss=%s, timestep=%d]",
			(i+1)*100/n, strings.Repeat("█", full)+strings.Repeat(" ", 10-full), i+1, n, formatNum(sum/float64(i+1)), validationTimestep)
	}
	fmt.Fprintln(t.stderr)
}

// sample renders every prompt with the weights as they would be saved now.
// epoch -1 means step-based naming.
func (t *trainer) sample(epoch, step int) error {
	if len(t.prompts) == 0 {
		return nil
	}
	o := &t.o
	fmt.Fprintln(t.stdout)
	t.logf("INFO", "generating sample images at step / サンプル画像生成 ステップ: %d", step)
	ts := t.savedTensors()
	m := map[string][]float32{}
	hdr := map[string]kohya.TensorInfo{}
	for _, x := range ts {
		m[x.Name] = x.Data
		hdr[x.Name] = kohya.TensorInfo{Shape: x.Shape}
	}
	net, err := networkFromTensors(m, hdr)
	if err != nil {
		return &fatalError{err.Error()}
	}
	dir := filepath.Join(o.outDir, "sample")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return &fatalError{fmt.Sprintf("OSError: %v", err)}
	}
	stamp := time.Now().Format("20060102150405")
	for _, p := range t.prompts {
		seed, has := sampleSeed(p, t.seed)
		w, h := sampleSize(p, o.resW, o.resH)
		data, err := renderPNG(t.png, t.base, net, p.Text, seed, w, h)
		if err != nil {
			return &fatalError{err.Error()}
		}
		n := kohya.SampleName{OutputName: o.outName, Epoch: epoch, Step: step, ByStep: epoch < 0,
			PromptIndex: p.Index, Timestamp: stamp, Seed: seed, HasSeed: has}
		if err := os.WriteFile(filepath.Join(dir, kohya.SampleFileName(n)), data, 0o644); err != nil {
			return &fatalError{fmt.Sprintf("OSError: %v", err)}
		}
	}
	return nil
}

func pyStr(s string) string {
	if s == "" {
		return "None"
	}
	return s
}

func pyOptFloat(f *float64) string {
	if f == nil {
		return "None"
	}
	return pyRepr(*f)
}

func (t *trainer) metadata(epoch, step int) map[string]string {
	o := &t.o
	jsonStr := func(v any) string { b, _ := json.Marshal(v); return string(b) }
	warm := "0"
	switch x := o.warmupRaw.(type) {
	case int64:
		warm = strconv.FormatInt(x, 10)
	case float64:
		warm = pyRepr(x)
	case string:
		warm = x
	}
	sched := o.scheduler
	if t.adafactorSched {
		sched = "adafactor:" + pyRepr(o.lr)
	}
	md := map[string]string{
		"ss_session_id":                  strconv.FormatInt(t.sessionID, 10),
		"ss_training_started_at":         strconv.FormatFloat(float64(t.started.UnixNano())/1e9, 'f', 6, 64),
		"ss_training_finished_at":        strconv.FormatFloat(float64(time.Now().UnixNano())/1e9, 'f', 6, 64),
		"ss_output_name":                 pyStr(o.outName),
		"ss_learning_rate":               pyRepr(o.lr),
		"ss_text_encoder_lr":             pyOptFloat(o.teLR),
		"ss_unet_lr":                     pyOptFloat(o.unetLR),
		"ss_num_train_images":            strconv.Itoa(t.numTrain),
		"ss_num_validation_images":       "0",
		"ss_num_reg_images":              strconv.Itoa(t.numReg),
		"ss_num_batches_per_epoch":       strconv.Itoa(t.batches),
		"ss_num_epochs":                  strconv.Itoa(t.epochs),
		"ss_epoch":                       strconv.Itoa(epoch),
		"ss_steps":                       strconv.Itoa(step),
		"ss_max_train_steps":             strconv.Itoa(t.steps),
		"ss_gradient_accumulation_steps": "1",
		"ss_gradient_checkpointing":      "False",
		"ss_lr_warmup_steps":             warm,
		"ss_lr_scheduler":                sched,
		"ss_network_module":              "networks.lora",
		"ss_network_dim":                 strconv.Itoa(o.dim),
		"ss_network_alpha":               pyRepr(o.alpha),
		"ss_network_dropout":             "None",
		"ss_mixed_precision":             "no",
		"ss_full_fp16":                   "False",
		"ss_v2":                          "False",
		"ss_base_model_version":          "lorasweep_builtin_v1",
		"ss_sd_model_name":               "lorasweep-builtin-base",
		"ss_seed":                        strconv.FormatInt(t.seed, 10),
		"ss_training_comment":            pyStr(o.comment),
		"ss_optimizer":                   t.opt.describe(),
		"ss_max_grad_norm":               pyRepr(o.maxGradNorm),
		"ss_scale_weight_norms":          "None",
		"ss_prior_loss_weight":           pyRepr(o.priorLossWeight),
		"ss_batch_size_per_device":       strconv.Itoa(o.batch),
		"ss_total_batch_size":            strconv.Itoa(o.batch),
		"ss_resolution":                  fmt.Sprintf("(%d, %d)", o.resW, o.resH),
		"ss_dataset_dirs":                jsonStr(t.dirs),
		"ss_reg_dataset_dirs":            jsonStr(t.regDirs),
		"ss_tag_frequency":               jsonStr(t.tagFreq),
		"ss_cache_latents":               "True",
		"ss_enable_bucket":               "False",
		"modelspec.sai_model_spec":       "1.0.1",
		"modelspec.architecture":         "lorasweep-builtin/lora",
		"modelspec.implementation":       "github.com/lorasweep/lorasweep",
		"modelspec.title":                pyStr(o.outName),
		"modelspec.resolution":           fmt.Sprintf("%dx%d", o.resW, o.resH),
	}
	if o.hasNetDropout {
		md["ss_network_dropout"] = pyRepr(o.netDropout)
	}
	if o.maxNorm > 0 {
		md["ss_scale_weight_norms"] = pyRepr(o.maxNorm)
	}
	if len(o.networkArgs) > 0 {
		// The network kwargs as JSON strings, with the "dropout" key
		// train_network injects (null without --network_dropout).
		na := map[string]any{}
		for _, a := range o.networkArgs {
			k, v, _ := strings.Cut(a, "=")
			na[k] = v
		}
		if o.hasNetDropout {
			na["dropout"] = o.netDropout
		} else {
			na["dropout"] = nil
		}
		md["ss_network_args"] = jsonStr(na)
	}
	return md
}

// formatNum is tqdm's format_num: 3 significant digits unless str() is
// shorter.
func formatNum(f float64) string {
	if math.IsNaN(f) {
		return "nan"
	}
	if math.IsInf(f, 0) {
		if f > 0 {
			return "inf"
		}
		return "-inf"
	}
	g := strconv.FormatFloat(f, 'g', 3, 64)
	g = strings.ReplaceAll(strings.ReplaceAll(g, "e+0", "e+"), "e-0", "e-")
	s := pyRepr(f)
	if len(g) < len(s) {
		return g
	}
	return s
}

// progress draws a tqdm-style bar with \r updates.
type progress struct {
	w     io.Writer
	total int
	start time.Time
	last  int
	dirty bool // the cursor is at the end of a bar line
}

func newProgress(w io.Writer, total int) *progress {
	p := &progress{w: w, total: total, start: time.Now()}
	fmt.Fprintf(w, "\rsteps:   0%%|          | 0/%d [00:00<?, ?it/s]", total)
	p.dirty = true
	return p
}

func fmtDur(d time.Duration) string {
	s := int(d.Seconds())
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%02d:%02d", s/60, s%60)
}

func (p *progress) update(n int, postfix string) {
	el := time.Since(p.start)
	frac := float64(n) / float64(max(1, p.total))
	full := int(frac * 10)
	bar := strings.Repeat("█", full) + strings.Repeat(" ", 10-full)
	rate := float64(n) / math.Max(el.Seconds(), 1e-9)
	remaining := time.Duration(float64(p.total-n) / rate * float64(time.Second))
	fmt.Fprintf(p.w, "\rsteps: %3.0f%%|%s| %d/%d [%s<%s, %5.2fit/s, %s]", frac*100, bar, n, p.total,
		fmtDur(el), fmtDur(remaining), rate, postfix)
	p.last = n
	p.dirty = true
}

func (p *progress) close() {
	if p.dirty {
		fmt.Fprintln(p.w)
		p.dirty = false
	}
}
